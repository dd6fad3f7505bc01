"""Reading the new inputs and the package already there, then deciding the fate of every record."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from marches import gcpause, parallel
from marches.convert import open_inputs
from marches.cpv import Nomenclature
from marches.errors import InputError, display_path, os_problem
from marches.findings import Finding
from marches.flatten import flatten
from marches.model import CONCESSION_TABLES, MARCHE_TABLES, TABLES, load_tables
from marches.package.common import (
    COMPUTED,
    NOT_FLAGS,
    ROOTS,
    Findings,
    PackageSummary,
    arrow_tables,
    check_integrity,
    read_table,
    scan_table,
    stored_batches,
)
from marches.readers.base import RawRecord
from marches.report import Report
from marches.rules import Config
from marches.sirene import Sirene
from marches.tables import TableWriter, csv_lines, json_text, text_frames
from marches.validate import Validator
from marches.validation.structure import typed_frame

# -- the package already there (for --update) -----------------------------------------------------------


@dataclass
class _Previous:
    directory: Path
    descriptor: dict[str, Any]
    records: pl.DataFrame

    @classmethod
    def load(cls, directory: Path) -> _Previous:
        try:
            descriptor = json.loads((directory / "datapackage.json").read_text(encoding="utf-8"))
            check_integrity(directory, descriptor)
            raw = read_table(directory, "enregistrements")
        except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
            raise InputError(
                display_path(directory), f"paquet existant illisible : {exc}", hint="Reconstruisez-le sans --update"
            ) from exc
        records, _ = typed_frame(raw, load_tables()["enregistrements"])
        return cls(directory, descriptor, records)

    @property
    def sources(self) -> list[dict[str, Any]]:
        return self.descriptor.get("sources", [])

    def counts(self) -> dict[str, int]:
        counts = self.records.group_by("statut").len()
        return dict(zip(counts["statut"].to_list(), counts["len"].to_list(), strict=True))

    def table(self, name: str) -> pl.DataFrame:
        return read_table(self.directory, name)

    def take_records(self) -> pl.DataFrame:
        """The records of the package already there, handed over once (``_decide`` weighs them with the
        new ones): this object keeps none of them (1.5 million at national scale, 0,4 GB)."""
        records, self.records = self.records, self.records.clear()
        return records


# -- reading the new inputs -----------------------------------------------------------------------------


@dataclass
class _New:
    work: Path
    sources: list[dict[str, Any]] = field(default_factory=list)
    reader_findings: list[Finding] = field(default_factory=list)
    sha_of: dict[str, str] = field(default_factory=dict)  # record_key prefix -> sha256
    name_of: dict[str, str] = field(default_factory=dict)  # record_key prefix -> file name as given
    order: dict[str, int] = field(default_factory=dict)  # record_key -> reading order, all files together
    blocking: set[str] = field(default_factory=set)  # records whose rows break the packaged tables' schemas
    ordre: pl.DataFrame | None = None  # ``order`` as a frame (record_key, ordre), once ``settle`` has run

    def settle(self) -> None:
        """Once every file is read: the work tables parsed once into Arrow IPC files (``arrow_tables``),
        and the reading order held as a frame (``ordre``) rather than a dict of every record."""
        arrow_tables(self.work)
        self.ordre = pl.DataFrame(
            {"record_key": list(self.order), "ordre": list(self.order.values())},
            schema={"record_key": pl.String, "ordre": pl.Int64},
        )
        self.order = {}


def _read_inputs(
    paths,
    work: Path,
    previous: _Previous | None,
    summary: PackageSummary,
    progress,
    skip_unreadable: bool = False,
    workers: int = 0,
) -> _New:
    """Flatten the new inputs into work tables, keeping each record as published on the side.

    With ``skip_unreadable``, a file that cannot be read (even after some of its records were)
    leaves nothing behind and goes to ``summary.sources_unreadable`` with its error. With
    ``workers`` > 1, large files are flattened in that many worker processes (same tables).
    """
    new = _New(work)
    known = {s["sha256"] for s in previous.sources} if previous else set()
    order = int(previous.records["ordre"].max() or 0) + 1 if previous is not None and previous.records.height else 0
    unreadable = summary.sources_unreadable if skip_unreadable else None
    writer = TableWriter(work)
    pool = parallel.Workers(workers, gcpause.paused_for_life)
    try:
        with (work / "published.jsonl").open("wb") as published:
            for opened, path, skipped in open_inputs(paths, unreadable):
                if opened is None:
                    summary.sources_skipped.append((path, skipped or ""))
                    continue
                source = opened.source
                if source.sha256 in known:
                    summary.sources_skipped.append((path, "déjà dans le paquet (même SHA-256) : rien à ajouter"))
                    continue
                tables_mark, published_mark, first = writer.mark(), published.tell(), order
                try:
                    order = _read_one(opened, writer, published, new, order, progress, pool)
                except (InputError, OSError) as exc:
                    if unreadable is None:
                        raise
                    writer.rollback(tables_mark)
                    published.seek(published_mark)
                    published.truncate()
                    for key in [k for k, v in new.order.items() if v >= first]:
                        del new.order[key]
                    new.reader_findings = [f for f in new.reader_findings if f.file != source.name]
                    problem = exc.describe_problem() if isinstance(exc, InputError) else os_problem(exc)
                    unreadable.append((path, problem))
                    order = first
                    continue
                summary.sources_added.append(source.name)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        pool.close()
    return new


READ_BATCH = 5_000  # records flattened together (in this process or a worker): a few MB of rows
COLLECT_EVERY = 10  # batches read between two runs of the cyclic collector (validate: one per 50 000 records)


@dataclass(slots=True)
class _Flattened:
    """A batch of records flattened: each table's rows as CSV text, each record as published (one
    JSON line of ``published.jsonl`` each), the records' keys and generations, the reading findings."""

    tables: dict[str, tuple[str, int]]  # table -> (CSV text of its rows, number of rows)
    published: bytes
    keys: list[str]
    generations: list[str]
    findings: list[Finding]


def _published_line(key: str, raw: RawRecord) -> bytes:
    """The line of ``published.jsonl`` of a record: ``[record_key, format, published]``, the published
    record as its JSON value when orjson writes it exactly (read back by ``published_entry``, this
    writes the text once instead of escaping it into a JSON string), else as its text."""
    if raw.text is not None:
        return json_text([key, "xml", raw.text]).encode() + b"\n"
    try:
        return orjson.dumps([key, "json", raw.data]) + b"\n"
    except TypeError:  # an integer beyond 64 bits, a lone surrogate
        return json_text([key, "json-text", json_text(raw.data)]).encode() + b"\n"


def published_entry(line: bytes) -> tuple[str, str, str]:
    """A line of ``published.jsonl`` back to (record_key, the record's text as published, "json" or "xml").

    The text of a JSON value is ``json_text`` of it, as ``marches.tables`` writes every published
    value: orjson reads back exactly the value it wrote."""
    key, fmt, value = orjson.loads(line)
    if fmt == "json":
        return key, json_text(value), "json"
    return key, value, "json" if fmt == "json-text" else fmt


def _flattened(raws: list[RawRecord]) -> _Flattened:
    """Flatten a batch of raw records (in this process, or in a worker: see ``_read_one``)."""
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    published, keys, generations, findings = [], [], [], []
    for raw in raws:
        record = flatten(raw)
        for table, table_rows in record.rows.items():
            rows[table].extend(table_rows)
        findings.extend(record.findings)
        published.append(_published_line(record.record_key, raw))
        keys.append(record.record_key)
        generations.append(record.generation)
    # the lines written by polars from text frames: the csv module costs twice as much (the same values read back)
    tables = {table: (csv_lines(frame), frame.height) for table, frame in text_frames(rows, load_tables()).items()}
    return _Flattened(tables, b"".join(published), keys, generations, findings)


_FLATTENED = itertools.count(1)  # batches a worker has flattened


def _flatten_in_worker(shipment: parallel.Shipment | parallel.UnparsedShipment) -> _Flattened:
    flattened = _flattened(shipment.unpack())
    if next(_FLATTENED) % COLLECT_EVERY == 0:
        gcpause.between_batches()
    return flattened


def _read_one(
    opened, writer: TableWriter, published, new: _New, order: int, progress, workers: parallel.Workers
) -> int:
    """One input file into the work tables; returns the next reading order.

    The records are flattened by batches of ``READ_BATCH``, in worker processes for a large file
    when ``workers`` has them; the batches are written in reading order, so the work tables are
    the same byte for byte."""
    source = opened.source
    generations: dict[str, int] = defaultdict(int)
    with gcpause.paused():  # reading builds many small acyclic objects (see marches.gcpause)
        if workers.wanted(source):
            source.unparsed = True  # what the reader can hand unparsed, the workers parse
            jobs = ((shipment,) for shipment in parallel.shipments(opened.records, READ_BATCH, keep_text=True))
            results = workers.map(_flatten_in_worker, jobs)
        else:
            results = map(_flattened, parallel.batches(opened.records, READ_BATCH))
        for number, batch in enumerate(results, start=1):
            for table, (text, count) in batch.tables.items():
                writer.write_text(table, text, count)
            published.write(batch.published)
            new.reader_findings.extend(batch.findings)
            for key, generation in zip(batch.keys, batch.generations, strict=True):
                new.order[key] = order
                order += 1
                generations[generation] += 1
            if progress:
                progress(source)
            if number % COLLECT_EVERY == 0:  # a full collection walks every live object: not every batch
                gcpause.between_batches()
    new.reader_findings.extend(source.findings)
    new.sha_of[source.key_prefix] = source.sha256
    new.name_of[source.key_prefix] = source.name
    new.sources.append(
        {
            "title": Path(source.name).name,
            "path": Path(source.name).name,
            "sha256": source.sha256,
            "bytes": source.size,
            "format": source.shape,
            "records": source.records,
            "generations": dict(sorted(generations.items())),
            "added": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    )
    return order


def _validate(new: _New, config: Config, cpv: Nomenclature | None, sirene: Sirene | None = None) -> Findings:
    """Reader findings, then the validation of the new records' tables (with the SIRENE rules when a register
    is given), pointing at the source files."""
    findings = Findings(new.work, new.name_of)
    for f in new.reader_findings:
        findings.add(f)
    if not new.sources:
        return findings
    validator = Validator(
        config,
        cpv,
        Report(examples_per_rule=0, sink=findings.add),
        point_at_tables=False,
        blocking=new.blocking,
        sirene=sirene,
    )
    validator.consume(new.reader_findings)
    tables = {name: scan_table(new.work, name) for name in TABLES}
    validator.run_tables(new.work, tables)
    findings.flush()
    return findings


# -- deciding the fate of every record ------------------------------------------------------------------


def _summaries(new: _New) -> pl.DataFrame:
    """One row per new record: provenance, and what deduplication weighs."""
    parts = []
    for kind, root in ROOTS.items():
        scan = scan_table(new.work, root)
        columns = scan.collect_schema().names()
        decp = [
            c
            for c in columns
            if not c.startswith("source_")
            and c not in ("record_key", "uid", "generation", "extra_fields", "original_values", *COMPUTED[root])
        ]
        # only the columns kept here are held, batch by batch: never the whole table (the batches of a
        # scan would be: ``stored_batches``)
        completude = pl.sum_horizontal([pl.col(c).is_not_null().cast(pl.Int64) for c in decp]).alias("completude")
        frame = pl.concat(
            [
                pl.DataFrame(schema=dict.fromkeys(_SUMMARY_COLUMNS, pl.String)).with_columns(
                    pl.lit(0, dtype=pl.Int64).alias("completude")
                ),
                *(batch.select(*_SUMMARY_COLUMNS, completude) for batch in stored_batches(new.work, root)),
            ]
        )
        if frame.height == 0:
            continue
        frame = frame.with_columns(pl.lit(0, dtype=pl.Int64).alias("nombreModifications"))
        tables = MARCHE_TABLES if kind == "marche" else CONCESSION_TABLES
        for child in tables[1:]:
            counts = scan_table(new.work, child).group_by("record_key").len(name="_n").collect()
            frame = frame.join(counts, on="record_key", how="left").with_columns(
                (pl.col("completude") + pl.col("_n").fill_null(0)).alias("completude")
            )
            if child == f"{root}_modifications":
                frame = frame.with_columns(pl.col("_n").fill_null(0).cast(pl.Int64).alias("nombreModifications"))
            frame = frame.drop("_n")
        parts.append(
            frame.select(
                "record_key",
                pl.lit(kind).alias("kind"),
                "uid",
                "id",
                "generation",
                "source_file",
                pl.col("record_key").str.split("-").list.first().replace_strict(new.sha_of).alias("source_sha256"),
                pl.col("source_position").cast(pl.Int64, strict=False),
                "source_path",
                pl.col("source_line").cast(pl.Int64, strict=False),
                pl.col("datePublicationDonnees").str.to_date("%Y-%m-%d", strict=False),
                "completude",
                "nombreModifications",
            )
        )
    frame = pl.concat(parts) if parts else pl.DataFrame(schema=_RECORD_SCHEMA)
    return frame.join(new.ordre, on="record_key", how="left")


_SUMMARY_COLUMNS = (
    "record_key",
    "uid",
    "id",
    "generation",
    "source_file",
    "source_position",
    "source_path",
    "source_line",
    "datePublicationDonnees",
)
_RECORD_SCHEMA = {
    "record_key": pl.String,
    "kind": pl.String,
    "uid": pl.String,
    "id": pl.String,
    "generation": pl.String,
    "source_file": pl.String,
    "source_sha256": pl.String,
    "source_position": pl.Int64,
    "source_path": pl.String,
    "source_line": pl.Int64,
    "datePublicationDonnees": pl.Date,
    "completude": pl.Int64,
    "nombreModifications": pl.Int64,
}


def _decide(new: _New, findings: Findings, previous: _Previous | None, drop_invalid: bool) -> pl.DataFrame:
    """Every record, previous and new, with its statut, whether it is retained, and the copy retained."""
    structural = new.blocking
    flags = (  # the codes of each record's errors and warnings, each once, in the order found
        findings.scan()
        .filter(
            (pl.col("record_key") != "")
            & pl.col("severity").is_in(["error", "warning"])
            & ~pl.col("code").is_in(list(NOT_FLAGS))
        )
        .select("record_key", "code")
        .unique(keep="first", maintain_order=True)
        .group_by("record_key", maintain_order=True)
        .agg(pl.col("code").alias("constats"))
        .collect()
    )
    frame = _summaries(new)
    frame = frame.join(flags, on="record_key", how="left")
    frame = frame.with_columns(
        pl.when(pl.col("record_key").is_in(list(structural)))
        .then(pl.lit("supprimé" if drop_invalid else "quarantaine"))
        .otherwise(None)
        .alias("statut")
    )
    if previous is not None:  # an invalid record stays as it was; the others are weighed again with the new ones
        old = previous.take_records().with_columns(
            pl.when(pl.col("statut").is_in(["quarantaine", "supprimé"])).then(pl.col("statut")).otherwise(None)
        )
        frame = pl.concat([old.select(frame.columns), frame], how="vertical_relaxed")
        del old  # copied into ``frame``: every record of the package is not held twice
    # ranked by a few columns: copies of every column of 1.5 million records were this step's peak
    valid = frame.filter(pl.col("statut").is_null()).select(
        "record_key", "uid", "datePublicationDonnees", "completude", "nombreModifications", "ordre"
    )
    ranked = valid.sort(
        [pl.col("datePublicationDonnees").fill_null(dt.date(1, 1, 1)), "completude", "nombreModifications", "ordre"],
        descending=[True, True, True, False],
    )
    chosen = ranked.filter(pl.col("uid").is_not_null()).unique("uid", keep="first", maintain_order=True)
    retained = pl.concat([chosen.select("record_key"), valid.filter(pl.col("uid").is_null()).select("record_key")])
    frame = frame.with_columns(pl.col("record_key").is_in(retained["record_key"].implode()).alias("retenu"))
    frame = frame.join(chosen.select("uid", pl.col("record_key").alias("retenu_record_key")), on="uid", how="left")
    frame = frame.with_columns(
        pl.when(pl.col("statut").is_not_null())
        .then(pl.col("statut"))
        .when(~pl.col("retenu"))
        .then(pl.lit("doublon"))
        .when(pl.col("constats").list.len() > 0)
        .then(pl.lit("signalé"))
        .otherwise(pl.lit("conforme"))
        .alias("statut")
    )
    return frame.sort("ordre")
