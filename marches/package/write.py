"""Writing the package: main tables with the current state, side tables, schemas and descriptor."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import shutil
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from marches import __version__
from marches.cpv import Nomenclature
from marches.model import PACKAGE_TABLES, TABLES, load_tables, schema_dir
from marches.package import common
from marches.package.common import (
    LICENCE,
    ROOTS,
    STATUTS,
    Findings,
    file_digest,
    json_lists,
    read_table,
    scan_table,
    stored_batches,
    write_batches,
)
from marches.package.contracts import MODIFICATIONS, current_state, merge_modifications, reconstructed
from marches.package.state import _New, _Previous, published_entry
from marches.report import CSV_COLUMNS
from marches.rules import Config
from marches.validation.structure import typed_frame

# the work directory's copy of the tables of the package already there (``--update``), as Arrow files
# read a batch at a time (``stored_batches``)
PREVIOUS_SPILL = "precedent"

# -- writing the package ---------------------------------------------------------------------------------


def _write(
    staging: Path,
    new: _New,
    findings: Findings,
    records: pl.DataFrame,
    previous: _Previous | None,
    drop_invalid: bool,
    parquet: bool,
    title: str,
    config: Config,
    cpv: Nomenclature | None,
    unreadable: list[tuple[str, str]] = (),
) -> None:
    retained = records.filter("retenu").select("record_key")
    # the copies set aside give their modifications to the retained copy: none is lost
    copies = records.filter(pl.col("statut") == "doublon").select(
        "record_key", "retenu_record_key", pl.col("ordre").alias("rang")
    )
    wanted = pl.concat([retained, copies.select("record_key")])
    models = load_tables()

    def every(name: str) -> pl.LazyFrame:
        """The rows of a table: those of the package already there, then the new ones."""
        parts = [scan_table(new.work, name)]
        if previous is not None:
            parts.insert(0, scan_table(previous.directory, name))
        return pl.concat(parts, how="vertical_relaxed")

    # built once for all the tables, not for each (0,35 s each time at 600 000 contracts)
    among = _among(retained.get_column("record_key"), records.get_column("record_key"))

    def kept(name: str) -> Iterator[pl.DataFrame]:
        """The rows of the retained records, batch by batch, each batch read when the writing asks for it
        (``stored_batches``): the current state of a batch of contracts takes longer than reading it."""
        for directory in ([previous.directory] if previous is not None else []) + [new.work]:
            for batch in stored_batches(directory, name, new.work / PREVIOUS_SPILL):
                yield batch.filter(among)

    # the modifications (a small part of the data) are merged whole; every other table goes by batches
    modification_tables = {t for name, holders, _ in MODIFICATIONS.values() for t in (name, holders) if t}
    wanted_keys = wanted.get_column("record_key").implode()
    merged = merge_modifications(
        {t: every(t).filter(pl.col("record_key").is_in(wanted_keys)).collect() for t in modification_tables}, copies
    )
    for name, frame in merged.items():
        frame.write_csv(staging / f"{name}.csv", null_value="")
    for name in TABLES:
        if name not in modification_tables and name not in ROOTS.values():
            write_batches(staging / f"{name}.csv", models[name].field_names, kept(name))
    flags = records.filter(pl.col("retenu") & (pl.col("constats").list.len() > 0)).select(
        "record_key", _json_list("constats")
    )
    for root in ROOTS.values():
        # the initial titulaires, read once: filtering the scan again for each batch decoded the whole
        # table each time (1.8 million rows at national scale: the peak memory of the command)
        holders = (
            every("marches_titulaires").select("record_key", "position", "id").collect() if root == "marches" else None
        )
        batches = (_current_state(root, batch, merged, flags, holders) for batch in kept(root))
        write_batches(staging / f"{root}.csv", models[root].field_names, batches)
    _write_side_tables(staging, new, findings, records, previous)
    if parquet:
        (staging / "parquet").mkdir()
        for name in TABLES:  # one table in memory at a time
            typed, _ = typed_frame(read_table(staging, name), models[name])
            typed.write_parquet(staging / "parquet" / f"{name}.parquet")
    (staging / "schemas").mkdir()
    for name in TABLES + PACKAGE_TABLES:
        shutil.copyfile(schema_dir() / f"{name}.json", staging / "schemas" / f"{name}.json")
    descriptor = _descriptor(title, new, findings, records, previous, staging, drop_invalid, parquet, config, cpv)
    for resource in descriptor["resources"]:  # what --update and publish check before trusting a table
        path = staging / resource["path"]
        resource["bytes"] = path.stat().st_size
        resource["hash"] = file_digest(path)
    if unreadable or (previous and previous.descriptor.get("x-marches", {}).get("unreadable")):
        added = {Path(s["path"]).name for s in new.sources}
        earlier = previous.descriptor.get("x-marches", {}).get("unreadable", []) if previous else []
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        descriptor["x-marches"]["unreadable"] = [e for e in earlier if Path(e["path"]).name not in added] + [
            {"path": Path(path).name, "error": error, "date": now} for path, error in unreadable
        ]
    (staging / "datapackage.json").write_text(
        json.dumps(descriptor, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )


def _json_list(column: str) -> pl.Expr:
    return pl.col(column).map_batches(json_lists, return_dtype=pl.String)


def _among(keys: pl.Series, every: pl.Series) -> pl.Expr:
    """Whether a row's ``record_key`` is one of ``keys``, for rows whose key is one of ``every`` (the keys of
    all the records, as every row of the tables has): tested against the fewer of ``keys`` and the other
    keys, since polars builds the set to look up again for each batch tested."""
    if 2 * len(keys) <= len(every):
        return pl.col("record_key").is_in(keys.implode())
    others = every.filter(~every.is_in(keys.implode()))
    return ~pl.col("record_key").is_in(others.implode())


def _current_state(
    root: str,
    frame: pl.DataFrame,
    merged: dict[str, pl.DataFrame],
    flags: pl.DataFrame,
    holders: pl.DataFrame | None,
) -> pl.DataFrame:
    """A batch of contracts after their modifications, with the codes of the rules each breaks (``constats``).

    ``merged`` holds the final modification tables; ``flags`` the codes (JSON list) of the retained
    records that break a rule; ``holders`` (marchés only) the record_key, position and id of every row
    of ``marches_titulaires``, among which the batch's initial titulaires.
    """
    keys = frame.get_column("record_key").implode()
    tables = {name: table.filter(pl.col("record_key").is_in(keys)) for name, table in merged.items()}
    if holders is not None:
        tables["marches_titulaires"] = holders.filter(pl.col("record_key").is_in(keys))
    frame = current_state(root, frame.drop("constats"), tables)
    frame = frame.join(flags, on="record_key", how="left", maintain_order="left")
    return frame.select(load_tables()[root].field_names)


def _write_side_tables(
    staging: Path,
    new: _New,
    findings: Findings,
    records: pl.DataFrame,
    previous: _Previous | None,
) -> None:
    """enregistrements, quarantaine, doublons and constats."""
    models = load_tables()
    new_keys = new.ordre.get_column("record_key").implode()
    wanted_quarantine = set(
        records.filter((pl.col("statut") == "quarantaine") & pl.col("record_key").is_in(new_keys))["record_key"]
    )
    wanted_copies = set(
        records.filter((pl.col("statut") == "doublon") & pl.col("record_key").is_in(new_keys))["record_key"]
    )
    published = {}
    with (new.work / "published.jsonl").open("rb") as fh:
        for line in fh:  # ["record_key", …]: the key read first, the rest only when wanted
            key = line[2 : line.index(b'"', 2)].decode()
            if key in wanted_quarantine or key in wanted_copies:
                key, text, fmt = published_entry(line)
                published[key] = (text, fmt)
    messages: dict[str, list[str]] = defaultdict(list)
    codes: dict[str, list[str]] = defaultdict(list)
    quarantined = (
        findings.scan()
        .filter(pl.col("record_key").is_in(list(wanted_quarantine)) & pl.col("severity").is_in(["error", "warning"]))
        .select("record_key", "path", "message", "code")
        .collect()
    )
    for key, path, message, code in quarantined.iter_rows():
        messages[key].append(f"{path or ''} : {message}")
        if code not in codes[key]:
            codes[key].append(code)
    quarantine = pl.DataFrame(
        [
            {
                "record_key": k,
                "codes": json.dumps(codes[k], ensure_ascii=False),
                "messages": json.dumps(messages[k], ensure_ascii=False),
                "publie": published[k][0],
                "format_publie": published[k][1],
            }
            for k in _in_reading_order(new, wanted_quarantine)
        ],
        schema=dict.fromkeys(models["quarantaine"].field_names, pl.String),
    )
    doubles = records.filter(pl.col("record_key").is_in(list(wanted_copies)))
    uid_of = dict(zip(doubles["record_key"].to_list(), doubles["uid"].to_list(), strict=True))
    retained_of = dict(zip(doubles["record_key"].to_list(), doubles["retenu_record_key"].to_list(), strict=True))
    copies = [
        {
            "record_key": k,
            "uid": uid_of[k],
            "retenu_record_key": retained_of[k],
            "publie": published[k][0],
            "format_publie": published[k][1],
        }
        for k in _in_reading_order(new, wanted_copies)
    ]
    if previous is not None:
        quarantine = pl.concat([previous.table("quarantaine"), quarantine])
        old_copies = (
            previous.table("doublons")
            .drop("retenu_record_key")
            .join(records.select("record_key", "retenu_record_key"), on="record_key", how="left", maintain_order="left")
            .select(models["doublons"].field_names)
        )
        demoted = records.filter(
            (pl.col("statut") == "doublon")
            & ~pl.col("record_key").is_in(new_keys)
            & ~pl.col("record_key").is_in(old_copies["record_key"].implode())
        )
        demoted_keys = demoted.get_column("record_key").implode()
        tables = {
            name: scan_table(previous.directory, name).filter(pl.col("record_key").is_in(demoted_keys)).collect()
            for name in (TABLES if demoted.height else ())
        }
        copies = [*old_copies.to_dicts(), *copies, *itertools.chain.from_iterable(reconstructed(tables, demoted))]
    copies_frame = pl.DataFrame(copies, schema=dict.fromkeys(models["doublons"].field_names, pl.String))
    quarantine.write_csv(staging / "quarantaine.csv", null_value="")
    copies_frame.select(models["doublons"].field_names).write_csv(staging / "doublons.csv", null_value="")
    found = stored_batches(previous.directory, "constats", new.work / PREVIOUS_SPILL) if previous else iter(())
    write_batches(staging / "constats.csv", list(CSV_COLUMNS), itertools.chain(found, findings.batches()))
    out = (
        records.slice(start, common.BATCH_ROWS).with_columns(
            pl.when(pl.col("constats").list.len() > 0).then(_json_list("constats")).alias("constats"),
            pl.col("retenu").cast(pl.String).str.to_lowercase(),
            pl.col("datePublicationDonnees").cast(pl.String),
        )
        for start in range(0, records.height, common.BATCH_ROWS)
    )
    write_batches(staging / "enregistrements.csv", models["enregistrements"].field_names, out)


def _in_reading_order(new: _New, keys: set[str]) -> list[str]:
    """These new records' keys in the order they were read."""
    return new.ordre.filter(pl.col("record_key").is_in(list(keys))).sort("ordre").get_column("record_key").to_list()


def _descriptor(
    title: str,
    new: _New,
    findings: Findings,
    records: pl.DataFrame,
    previous: _Previous | None,
    staging: Path,
    drop_invalid: bool,
    parquet: bool,
    config: Config,
    cpv: Nomenclature | None,
) -> dict[str, Any]:
    models = load_tables()
    counts = {s: records.filter(pl.col("statut") == s).height for s in STATUTS}
    dates = (
        pl.concat(
            [
                scan_table(staging, "marches").select(pl.col("dateNotification").alias("d")),
                scan_table(staging, "concessions").select(pl.col("dateSignature").alias("d")),
            ]
        )
        .collect()
        .get_column("d")
        .drop_nulls()
        .str.to_date("%Y-%m-%d", strict=False)
        .drop_nulls()
    )
    dates = dates.filter((dates.dt.year() >= config.year_floor) & (dates <= config.as_of))  # not the typos
    severities = defaultdict(int, findings.severities())
    if previous is not None:
        for severity, n in previous.descriptor.get("x-marches", {}).get("validation", {}).get("findings", {}).items():
            severities[severity] += n
    resources = []
    for name in TABLES + PACKAGE_TABLES:
        model = models[name]
        resources.append(
            {
                "name": name,
                "title": model.descriptor.get("title"),
                "path": f"{name}.csv",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": f"schemas/{name}.json",
            }
        )
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return {
        "name": _slug(title),
        "title": f"Données essentielles de la commande publique — {title}",
        "description": (
            "Marchés publics et contrats de concession publiés au titre des données essentielles de la "
            "commande publique (DECP), lus, normalisés, validés et dédoublonnés par marches. Les "
            "enregistrements qui enfreignent les Table Schemas sont en quarantaine, tels que publiés ; "
            "les copies écartées d'un même contrat sont dans « doublons » ; « enregistrements » dit ce "
            "qu'est devenu chaque enregistrement lu."
        ),
        "licenses": [LICENCE],
        "sources": (previous.sources if previous else []) + new.sources,
        "created": (previous.descriptor.get("created") if previous else None) or now,
        "updated": now,
        "temporal": {
            "start": dates.min().isoformat() if len(dates) else None,
            "end": dates.max().isoformat() if len(dates) else None,
        },
        "x-marches": {
            "version": __version__,
            "records": {"read": records.height, **counts},
            "deduplication": "copies d'un même uid classées par datePublicationDonnees la plus récente, puis "
            "complétude, puis nombre de modifications, puis ordre de lecture ; la première est "
            "retenue",
            "drop_invalid": drop_invalid,
            "validation": {
                "as_of": config.as_of.isoformat(),
                "cpv_nomenclature": cpv is not None,
                "findings": dict(severities),
            },
            "parquet": [f"parquet/{name}.parquet" for name in TABLES] if parquet else [],
        },
        "resources": resources,
    }


def _slug(text: str) -> str:
    """A valid Frictionless name (lowercase ASCII letters, digits, '-', '_', '.'): « Démonstration » -> demonstration."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    out = re.sub(r"[^a-z0-9_.]+", "-", letters.lower()).strip("-.")
    return out or "decp"


_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss"})
