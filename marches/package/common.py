"""What the parts of the packaging share."""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from marches.errors import InputError, display_path
from marches.findings import Finding
from marches.model import TABLES, load_tables
from marches.report import CSV_COLUMNS

NOT_FLAGS = frozenset({"duplicate-uid", "duplicate-uid-across-files"})  # resolved by deduplication
ROOTS = {"marche": "marches", "concession": "concessions"}
COMPUTED = {
    "marches": ("constats", "nombreModifications", "montantActuel", "dureeMoisActuelle", "titulairesActuels"),
    "concessions": ("constats", "nombreModifications", "valeurGlobaleActuelle", "dureeMoisActuelle"),
}
LICENCE = {
    "name": "etalab-2.0",
    "title": "Licence Ouverte / Open Licence version 2.0",
    "path": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
}
STATUTS = ("conforme", "signalé", "quarantaine", "supprimé", "doublon")


@dataclass
class PackageSummary:
    target: Path
    counts: dict[str, int] = field(default_factory=dict)  # records by statut
    records: int = 0
    sources_added: list[str] = field(default_factory=list)
    sources_skipped: list[tuple[str, str]] = field(default_factory=list)
    sources_unreadable: list[tuple[str, str]] = field(default_factory=list)  # (file, error), with skip_unreadable
    changed: bool = True


def file_digest(path: Path) -> str:
    """The SHA-256 of a file, as Frictionless writes it in a resource's ``hash``."""
    with path.open("rb") as fh:
        return "sha256:" + hashlib.file_digest(fh, "sha256").hexdigest()


def check_integrity(directory: Path, descriptor: dict[str, Any]) -> None:
    """Every table of a package is the one its descriptor describes (size and SHA-256), or InputError.

    A table truncated by a full disk or edited by hand would otherwise be read as it is, and
    the records it lost would vanish silently from the next update or publication.
    """
    hint = "Reconstruisez le paquet avec « marches package » (sans --update) à partir des fichiers d'origine"
    for resource in descriptor.get("resources", []):
        name, path = resource.get("name"), directory / str(resource.get("path", ""))
        recorded = resource.get("hash")
        if not recorded:
            raise InputError(
                display_path(directory),
                f"la table « {name} » n'a pas d'empreinte SHA-256 dans datapackage.json (paquet écrit par une "
                "version de marches antérieure, ou modifié) : son intégrité ne peut pas être vérifiée",
                hint=hint,
            )
        try:
            size = path.stat().st_size
            actual = file_digest(path) if size == resource.get("bytes", size) else None
        except OSError:
            raise InputError(
                display_path(directory), f"la table « {name} » ({path.name}) est absente", hint=hint
            ) from None
        if actual != recorded:
            raise InputError(
                display_path(directory),
                f"la table « {name} » ({path.name}) ne correspond pas à l'empreinte SHA-256 enregistrée dans "
                "datapackage.json : fichier tronqué ou modifié depuis l'empaquetage",
                hint=hint,
            )


def read_table(directory: Path, name: str) -> pl.DataFrame:
    """A table of a package (or of work tables) as text, with every column of its schema (empty if absent)."""
    return scan_table(directory, name).collect()


BATCH_ROWS = 50_000  # rows of a table read (and written) at a time, so that memory does not grow with the tables


def scan_table(directory: Path, name: str) -> pl.LazyFrame:
    """A table as ``read_table`` gives it, lazily: read when collected, or in batches with ``table_batches``."""
    path = directory / f"{name}.csv"
    fields = load_tables()[name].field_names
    if (directory / f"{name}.arrow").is_file():  # a work table already parsed (``arrow_tables``)
        scan = pl.scan_ipc(directory / f"{name}.arrow")
    elif not path.is_file():
        return pl.LazyFrame(schema=dict.fromkeys(fields, pl.String))
    else:
        scan = pl.scan_csv(path, infer_schema=False)
    present = set(scan.collect_schema().names())
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c in fields if c not in present]
    return scan.with_columns(missing).select(fields)


def arrow_tables(directory: Path) -> None:
    """Each CSV table of ``directory`` parsed once into an Arrow IPC file (``name.arrow``, the same text
    values and nulls) that ``scan_table`` reads from then on; the CSV file is removed. Its record batches
    hold ``BATCH_ROWS`` rows, so that ``stored_batches`` decodes one of them per batch."""
    for name in TABLES:
        path = directory / f"{name}.csv"
        if path.is_file():
            _sink_arrow(pl.scan_csv(path, infer_schema=False), directory / f"{name}.arrow")
            path.unlink()


def _sink_arrow(scan: pl.LazyFrame, path: Path) -> pl.LazyFrame:
    """``scan`` written, streaming, as an Arrow IPC file of ``BATCH_ROWS``-row record batches (what
    ``stored_batches`` reads one at a time); returns its scan."""
    scan.sink_ipc(path, compression="lz4", record_batch_size=BATCH_ROWS)
    return pl.scan_ipc(path)


def table_batches(scan: pl.LazyFrame, rows: int | None = None) -> Iterator[pl.DataFrame]:
    """The rows of ``scan`` in their order, ``rows`` at a time (``BATCH_ROWS`` by default).

    The query runs to its end in the background whatever the pace of the loop, and the batches the
    loop has not taken yet wait in memory: a loop slower than the reading ends up holding the whole
    table (``stored_batches`` does not)."""
    for frame in scan.collect_batches(chunk_size=rows or BATCH_ROWS, maintain_order=True):
        if frame.height:
            yield frame


def stored_batches(directory: Path, name: str, spill: Path | None = None) -> Iterator[pl.DataFrame]:
    """The rows of a table as ``scan_table`` gives them, ``BATCH_ROWS`` at a time, each batch read when
    the loop asks for it.

    ``table_batches`` reads ahead of a slow loop without limit: writing the marchés with their current
    state, it held the whole decoded table (1.25 GB at 1.5 million contracts, the peak of ``marches
    package``). A work table (Arrow IPC, ``arrow_tables``) is read here one slice at a time, a slice
    being one of its record batches: as fast as ``table_batches``, and never more than a batch ahead.
    A CSV table (a package already there, for ``--update``) is first parsed into an Arrow file in the
    ``spill`` directory (streaming, memory bounded), then read the same way; a slice of a CSV file would
    be found by reading the file from its start. Without ``spill``, it goes through ``table_batches``.
    """
    scan = scan_table(directory, name)
    if not (directory / f"{name}.arrow").is_file():
        if spill is None:
            yield from table_batches(scan)
            return
        spill.mkdir(parents=True, exist_ok=True)
        scan = _sink_arrow(scan, spill / f"{name}.arrow")
    start = 0
    while True:
        frame = scan.slice(start, BATCH_ROWS).collect()
        if frame.height:
            yield frame
        if frame.height < BATCH_ROWS:
            return
        start += BATCH_ROWS


_ESCAPED = r'["\\\x00-\x1f]'  # what json.dumps(ensure_ascii=False) escapes in a string


def json_lists(values: pl.Series) -> pl.Series:
    """Each list of strings as ``json.dumps(list, ensure_ascii=False)`` writes it (null stays null).

    Lists of plain strings are joined by polars; the few with a null or a character JSON escapes
    are written by ``json.dumps`` itself, so the text is the same either way."""
    v = pl.col("v")
    frame = values.to_frame("v").select(
        pl.when(v.list.len() == 0)
        .then(pl.lit("[]"))
        .otherwise(pl.concat_str(pl.lit('["'), v.list.join('", "'), pl.lit('"]')))
        .alias("text"),
        v.list.eval(pl.element().is_null() | pl.element().str.contains(_ESCAPED))
        .list.any()
        .fill_null(False)
        .alias("special"),
    )
    out, special = frame.get_column("text"), frame.get_column("special")
    rows = special.arg_true()
    if len(rows):
        texts = [json.dumps(list(v), ensure_ascii=False) for v in values.gather(rows).to_list()]
        out = out.scatter(rows, pl.Series(texts, dtype=pl.String))
    return out.alias(values.name)


def write_batches(path: Path, fields: list[str], batches: Iterable[pl.DataFrame]) -> None:
    """A CSV file written batch by batch: the same bytes as the concatenated batches written at once."""
    with path.open("wb") as fh:
        pl.DataFrame(schema=dict.fromkeys(fields, pl.String)).write_csv(fh)
        for frame in batches:
            frame.select(fields).write_csv(fh, include_header=False, null_value="")


_CELLS = operator.attrgetter(*CSV_COLUMNS)


class Findings:
    """The findings of the new records, kept as rows of ``constats`` (every cell as text) in Arrow IPC
    files of the work directory, ``BATCH_ROWS`` at a time, rather than as objects in memory.

    ``add`` takes a finding (the reading's or the validation's) and points it at its source file as
    the user named it (``name_of``: record_key prefix -> file name); ``scan`` gives every row so far,
    in the order they were added, and ``batches`` the same rows a file at a time."""

    def __init__(self, work: Path, name_of: dict[str, str]):
        self.directory = work / "constats"
        self.directory.mkdir(exist_ok=True)
        self.name_of = name_of
        self.rows: list[tuple] = []
        self.parts: list[Path] = []

    def add(self, f: Finding) -> None:
        if f.record_key:
            f.file = self.name_of.get(f.record_key.split("-")[0], f.file)
        self.rows.append(_CELLS(f))
        if len(self.rows) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        frame = pl.DataFrame(
            [[None if v is None else str(v) for v in row] for row in self.rows],
            schema=dict.fromkeys(CSV_COLUMNS, pl.String),
            orient="row",
        )
        path = self.directory / f"{len(self.parts):06d}.arrow"
        frame.write_ipc(path, compression="lz4")
        self.parts.append(path)
        self.rows = []

    def scan(self) -> pl.LazyFrame:
        self.flush()
        if not self.parts:
            return pl.LazyFrame(schema=dict.fromkeys(CSV_COLUMNS, pl.String))
        return pl.scan_ipc(self.parts)

    def batches(self) -> Iterator[pl.DataFrame]:
        """The rows of ``scan``, a file (``BATCH_ROWS`` rows at most) at a time, each read when the loop
        asks for it: ``table_batches`` would read them all ahead of the writing (see ``stored_batches``)."""
        self.flush()
        for path in self.parts:
            yield pl.read_ipc(path)

    def severities(self) -> dict[str, int]:
        """Findings by severity, in the order each severity first appears."""
        counts = self.scan().group_by("severity", maintain_order=True).len().collect()
        return dict(zip(counts["severity"].to_list(), counts["len"].to_list(), strict=True))
