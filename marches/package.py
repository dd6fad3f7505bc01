"""``marches package``: DECP files -> a Frictionless data package, lossless, deduplicated, updatable.

Every record read ends up in the package, in exactly one state (table ``enregistrements``):

* ``conforme`` / ``signalé``: in the main tables (``signalé`` lists its rule codes in ``constats``);
* ``quarantaine``: its values break the Table Schemas; kept exactly as published, with the codes
  and messages of its findings (table ``quarantaine``); ``--drop-invalid`` makes it ``supprimé``;
* ``doublon``: another copy of the same contract (same ``uid``) was retained; its content is kept
  in the table ``doublons``.

Copies of one contract are ranked by: latest ``datePublicationDonnees``, then most complete, then
most modifications, then first read; the first is retained. The package is built in a staging
directory and swapped in atomically; ``--update`` adds new files only (a file already in the
package, by SHA-256, changes nothing) without reading the old input files again.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from marches import __version__, unflatten
from marches.atomic import recover, replace_directory
from marches.convert import open_inputs
from marches.cpv import Nomenclature
from marches.errors import InputError, OutputError
from marches.findings import Finding
from marches.flatten import flatten
from marches.model import CONCESSION_TABLES, MARCHE_TABLES, PACKAGE_TABLES, TABLES, load_tables, schema_dir
from marches.readers.base import Source
from marches.report import CSV_COLUMNS, STRUCTURE, Report
from marches.rules import Config
from marches.tables import TableWriter
from marches.validate import Validator
from marches.validation.structure import typed_frame

STRUCTURAL = frozenset(STRUCTURE) - {"required-2022"}  # what makes a record break the Table Schemas
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
FAULT_POINT = "MARCHES_FAULT_POINT"  # tests: die at this point, as a crash or a kill would


def _fault(point: str) -> None:
    if os.environ.get(FAULT_POINT) == point:
        os.kill(os.getpid(), 9)


@dataclass
class PackageSummary:
    target: Path
    counts: dict[str, int] = field(default_factory=dict)  # records by statut
    records: int = 0
    sources_added: list[str] = field(default_factory=list)
    sources_skipped: list[tuple[str, str]] = field(default_factory=list)
    changed: bool = True


def package(
    paths: Iterable[Path],
    target: Path,
    *,
    update: bool = False,
    drop_invalid: bool = False,
    parquet: bool = False,
    config: Config | None = None,
    cpv: Nomenclature | None = None,
    title: str | None = None,
    progress: Callable[[Source], None] | None = None,
) -> PackageSummary:
    """Build (or, with ``update``, extend) the data package in ``target`` from ``paths``."""
    target = Path(target)
    recover(target)
    _remove_abandoned_staging(target)
    config = config or Config()
    summary = PackageSummary(target)
    previous = _Previous.load(target) if update and (target / "datapackage.json").is_file() else None
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        (staging / "work").mkdir(parents=True)
    except OSError as exc:
        raise OutputError(f"Impossible d'écrire dans {target.parent} : {exc.strerror}") from exc
    try:
        new = _read_inputs(paths, staging / "work", previous, summary, progress)
        if previous is not None and not new.sources:
            summary.changed = False
            summary.counts = previous.counts()
            summary.records = previous.records.height
            shutil.rmtree(staging, ignore_errors=True)
            return summary
        findings = _validate(new, config, cpv)
        _fault("validated")
        records = _decide(new, findings, previous, drop_invalid)
        _write(staging, new, findings, records, previous, drop_invalid, parquet, title or target.name, config, cpv)
        _fault("written")
        shutil.rmtree(staging / "work")
        replace_directory(staging, target, before_cleanup=lambda: _fault("swapped"))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    counts = records.group_by("statut").len()
    summary.counts = dict(zip(counts["statut"].to_list(), counts["len"].to_list(), strict=True))
    summary.records = records.height
    return summary


def _remove_abandoned_staging(target: Path) -> None:
    """Staging directories of runs that died (killed, power cut): their process is gone."""
    for path in target.parent.glob(f".{target.name}.tmp-*"):
        try:
            pid = int(path.name.rsplit("-", 1)[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (ValueError, PermissionError):
            continue


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
            raw = _read_table(directory, "enregistrements")
        except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
            raise InputError(
                str(directory), f"paquet existant illisible : {exc}", hint="Reconstruisez-le sans --update"
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
        return _read_table(self.directory, name)


def _read_table(directory: Path, name: str) -> pl.DataFrame:
    path = directory / f"{name}.csv"
    fields = load_tables()[name].field_names
    if not path.is_file():
        return pl.DataFrame(schema=dict.fromkeys(fields, pl.String))
    frame = pl.read_csv(path, infer_schema=False)
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c in fields if c not in frame.columns]
    return frame.with_columns(missing).select(fields)


# -- reading the new inputs -----------------------------------------------------------------------------


@dataclass
class _New:
    work: Path
    sources: list[dict[str, Any]] = field(default_factory=list)
    reader_findings: list[Finding] = field(default_factory=list)
    sha_of: dict[str, str] = field(default_factory=dict)  # record_key prefix -> sha256
    name_of: dict[str, str] = field(default_factory=dict)  # record_key prefix -> file name as given
    order: dict[str, int] = field(default_factory=dict)  # record_key -> reading order, all files together


def _read_inputs(paths, work: Path, previous: _Previous | None, summary: PackageSummary, progress) -> _New:
    """Flatten the new inputs into work tables, keeping each record as published on the side."""
    new = _New(work)
    known = {s["sha256"] for s in previous.sources} if previous else set()
    order = int(previous.records["ordre"].max() or 0) + 1 if previous is not None and previous.records.height else 0
    writer = TableWriter(work)
    try:
        with (work / "published.jsonl").open("wb") as published:
            for opened, path, skipped in open_inputs(paths):
                if opened is None:
                    summary.sources_skipped.append((path, skipped or ""))
                    continue
                source = opened.source
                if source.sha256 in known:
                    summary.sources_skipped.append((path, "déjà dans le paquet (même SHA-256) : rien à ajouter"))
                    continue
                generations: dict[str, int] = defaultdict(int)
                for raw in opened.records:
                    record = flatten(raw)
                    for table, rows in record.rows.items():
                        writer.write(table, rows)
                    new.reader_findings.extend(f for f in record.findings if not (f.code == "wrong-type" and f.field))
                    text, fmt = (raw.text, "xml") if raw.text is not None else (orjson.dumps(raw.data).decode(), "json")
                    published.write(orjson.dumps([record.record_key, text, fmt]) + b"\n")
                    new.order[record.record_key] = order
                    order += 1
                    generations[record.generation] += 1
                    if progress and raw.position % 500 == 0:
                        progress(source)
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
                summary.sources_added.append(source.name)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return new


def _validate(new: _New, config: Config, cpv: Nomenclature | None) -> list[Finding]:
    """Reader findings, then the validation of the new records' tables, pointing at the source files."""
    findings: list[Finding] = list(new.reader_findings)
    if not new.sources:
        return findings
    Validator(config, cpv, Report(examples_per_rule=0, sink=findings.append), point_at_tables=False).run([new.work])
    for f in findings:
        if f.record_key:
            f.file = new.name_of.get(f.record_key.split("-")[0], f.file)
    return findings


# -- deciding the fate of every record ------------------------------------------------------------------


def _summaries(new: _New) -> pl.DataFrame:
    """One row per new record: provenance, and what deduplication weighs."""
    parts = []
    for kind, root in ROOTS.items():
        frame = _read_table(new.work, root)
        if frame.height == 0:
            continue
        tables = MARCHE_TABLES if kind == "marche" else CONCESSION_TABLES
        decp = [
            c
            for c in frame.columns
            if not c.startswith("source_")
            and c not in ("record_key", "uid", "generation", "extra_fields", "original_values", *COMPUTED[root])
        ]
        frame = frame.with_columns(
            pl.sum_horizontal([pl.col(c).is_not_null().cast(pl.Int64) for c in decp]).alias("completude"),
            pl.lit(0, dtype=pl.Int64).alias("nombreModifications"),
        )
        for child in tables[1:]:
            counts = _read_table(new.work, child).group_by("record_key").len(name="_n")
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
    order = pl.DataFrame(
        {"record_key": list(new.order), "ordre": list(new.order.values())},
        schema={"record_key": pl.String, "ordre": pl.Int64},
    )
    return frame.join(order, on="record_key", how="left")


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


def _decide(new: _New, findings: list[Finding], previous: _Previous | None, drop_invalid: bool) -> pl.DataFrame:
    """Every record, previous and new, with its statut, whether it is retained, and the copy retained."""
    structural, flags = set(), defaultdict(list)
    for f in findings:
        if not f.record_key:
            continue
        if f.code in STRUCTURAL:
            structural.add(f.record_key)
        elif f.severity in ("error", "warning") and f.code not in NOT_FLAGS and f.code not in flags[f.record_key]:
            flags[f.record_key].append(f.code)
    frame = _summaries(new)
    frame = frame.join(
        pl.DataFrame(
            {"record_key": list(flags), "constats": list(flags.values())},
            schema={"record_key": pl.String, "constats": pl.List(pl.String)},
        ),
        on="record_key",
        how="left",
    )
    frame = frame.with_columns(
        pl.when(pl.col("record_key").is_in(list(structural)))
        .then(pl.lit("supprimé" if drop_invalid else "quarantaine"))
        .otherwise(None)
        .alias("statut")
    )
    if previous is not None:  # an invalid record stays as it was; the others are weighed again with the new ones
        old = previous.records.with_columns(
            pl.when(pl.col("statut").is_in(["quarantaine", "supprimé"])).then(pl.col("statut")).otherwise(None)
        )
        frame = pl.concat([old.select(frame.columns), frame], how="vertical_relaxed")
    valid = frame.filter(pl.col("statut").is_null())
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


# -- writing the package ---------------------------------------------------------------------------------


def _write(
    staging: Path,
    new: _New,
    findings: list[Finding],
    records: pl.DataFrame,
    previous: _Previous | None,
    drop_invalid: bool,
    parquet: bool,
    title: str,
    config: Config,
    cpv: Nomenclature | None,
) -> None:
    retained = records.filter("retenu").select("record_key")
    finals: dict[str, pl.DataFrame] = {}
    for name in TABLES:
        parts = [_read_table(new.work, name)]
        if previous is not None:
            parts.insert(0, previous.table(name))
        frame = pl.concat(parts, how="vertical_relaxed").join(
            retained, on="record_key", how="semi", maintain_order="left"
        )
        finals[name] = frame
    for root in ROOTS.values():
        finals[root] = _current_state(root, finals, records)
    for name, frame in finals.items():
        frame.write_csv(staging / f"{name}.csv", null_value="")
    _write_side_tables(staging, new, findings, records, previous, finals)
    if parquet:
        (staging / "parquet").mkdir()
        models = load_tables()
        for name, frame in finals.items():
            typed, _ = typed_frame(frame, models[name])
            typed.write_parquet(staging / "parquet" / f"{name}.parquet")
    (staging / "schemas").mkdir()
    for name in TABLES + PACKAGE_TABLES:
        shutil.copyfile(schema_dir() / f"{name}.json", staging / "schemas" / f"{name}.json")
    descriptor = _descriptor(title, new, findings, records, previous, finals, drop_invalid, parquet, config, cpv)
    (staging / "datapackage.json").write_text(
        json.dumps(descriptor, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )


def _json_list(column: str) -> pl.Expr:
    return pl.col(column).map_elements(lambda v: json.dumps(list(v), ensure_ascii=False), return_dtype=pl.String)


def _current_state(root: str, finals: dict[str, pl.DataFrame], records: pl.DataFrame) -> pl.DataFrame:
    """The contract after its modifications: amount (or value), duration, titulaires, number of modifications."""
    frame = finals[root].drop(COMPUTED[root])
    mods = finals[f"{root}_modifications"].with_columns(pl.col("position").cast(pl.Int64))
    date = "dateNotificationModification" if root == "marches" else "dateSignatureModification"
    mods = mods.sort(["record_key", date, "position"], nulls_last=False)
    amount, current = ("montant", "montantActuel") if root == "marches" else ("valeurGlobale", "valeurGlobaleActuelle")
    latest = mods.group_by("record_key", maintain_order=True).agg(
        pl.len().alias("nombreModifications"),
        pl.col(amount).drop_nulls().last().alias("_amount"),
        pl.col("dureeMois").drop_nulls().last().alias("_duration"),
    )
    flags = records.filter("retenu").select(
        "record_key", pl.when(pl.col("constats").list.len() > 0).then(_json_list("constats")).alias("constats")
    )
    frame = frame.join(latest, on="record_key", how="left").join(flags, on="record_key", how="left")
    frame = frame.with_columns(
        pl.col("nombreModifications").fill_null(0).cast(pl.String),
        pl.coalesce("_amount", amount).alias(current),
        pl.coalesce("_duration", "dureeMois").alias("dureeMoisActuelle"),
    ).drop("_amount", "_duration")
    if root == "marches":
        initial = (
            finals["marches_titulaires"]
            .sort("record_key", pl.col("position").cast(pl.Int64))
            .group_by("record_key", maintain_order=True)
            .agg(pl.col("id").alias("_initial"))
        )
        changed = finals["marches_modifications_titulaires"].join(
            mods.select(
                "record_key",
                pl.col("position").alias("modification_position").cast(pl.String),
                pl.col(date).alias("_date"),
            ),
            on=["record_key", "modification_position"],
            how="left",
        )
        changed = changed.sort(
            "record_key",
            "_date",
            pl.col("modification_position").cast(pl.Int64),
            pl.col("position").cast(pl.Int64),
            nulls_last=False,
        )
        last = changed.group_by("record_key", maintain_order=True).agg(
            pl.col("modification_position").last().alias("_last")
        )
        latest_holders = (
            changed.join(last, on="record_key")
            .filter(pl.col("modification_position") == pl.col("_last"))
            .group_by("record_key", maintain_order=True)
            .agg(pl.col("id").alias("_changed"))
        )
        frame = frame.join(initial, on="record_key", how="left").join(latest_holders, on="record_key", how="left")
        frame = (
            frame.with_columns(pl.coalesce("_changed", "_initial").alias("_holders"))
            .with_columns(
                pl.when(pl.col("_holders").is_not_null()).then(_json_list("_holders")).alias("titulairesActuels")
            )
            .drop("_initial", "_changed", "_holders")
        )
    return frame.select(load_tables()[root].field_names)


def _write_side_tables(
    staging: Path,
    new: _New,
    findings: list[Finding],
    records: pl.DataFrame,
    previous: _Previous | None,
    finals: dict[str, pl.DataFrame],
) -> None:
    """enregistrements, quarantaine, doublons and constats."""
    models = load_tables()
    new_keys = set(new.order)
    wanted_quarantine = set(
        records.filter((pl.col("statut") == "quarantaine") & pl.col("record_key").is_in(list(new_keys)))["record_key"]
    )
    wanted_copies = set(
        records.filter((pl.col("statut") == "doublon") & pl.col("record_key").is_in(list(new_keys)))["record_key"]
    )
    published = {}
    with (new.work / "published.jsonl").open("rb") as fh:
        for line in fh:
            key, text, fmt = orjson.loads(line)
            if key in wanted_quarantine or key in wanted_copies:
                published[key] = (text, fmt)
    messages: dict[str, list[str]] = defaultdict(list)
    codes: dict[str, list[str]] = defaultdict(list)
    for f in findings:
        if f.record_key in wanted_quarantine and f.severity in ("error", "warning"):
            messages[f.record_key].append(f"{f.path or ''} : {f.message}")
            if f.code not in codes[f.record_key]:
                codes[f.record_key].append(f.code)
    quarantine = pl.DataFrame(
        [
            {
                "record_key": k,
                "codes": json.dumps(codes[k], ensure_ascii=False),
                "messages": json.dumps(messages[k], ensure_ascii=False),
                "publie": published[k][0],
                "format_publie": published[k][1],
            }
            for k in sorted(wanted_quarantine, key=new.order.get)
        ],
        schema=dict.fromkeys(models["quarantaine"].field_names, pl.String),
    )
    retained_of = dict(zip(records["record_key"].to_list(), records["retenu_record_key"].to_list(), strict=True))
    copies = [
        {
            "record_key": k,
            "uid": records.filter(pl.col("record_key") == k)["uid"].item(),
            "retenu_record_key": retained_of[k],
            "publie": published[k][0],
            "format_publie": published[k][1],
        }
        for k in sorted(wanted_copies, key=new.order.get)
    ]
    if previous is not None:
        quarantine = pl.concat([previous.table("quarantaine"), quarantine])
        old_copies = previous.table("doublons").with_columns(
            pl.col("record_key").replace_strict(retained_of, default=None).alias("retenu_record_key")
        )
        demoted = records.filter(
            (pl.col("statut") == "doublon")
            & ~pl.col("record_key").is_in(list(new_keys))
            & ~pl.col("record_key").is_in(old_copies["record_key"].implode())
        )
        copies = (
            old_copies.to_dicts() + copies + [_reconstructed(previous, row) for row in demoted.iter_rows(named=True)]
        )
    copies_frame = pl.DataFrame(copies, schema=dict.fromkeys(models["doublons"].field_names, pl.String))
    quarantine.write_csv(staging / "quarantaine.csv", null_value="")
    copies_frame.select(models["doublons"].field_names).write_csv(staging / "doublons.csv", null_value="")
    rows = [{c: _cell(getattr(f, c)) for c in CSV_COLUMNS} for f in findings]
    found = pl.DataFrame(rows, schema=dict.fromkeys(CSV_COLUMNS, pl.String))
    if previous is not None:
        found = pl.concat([previous.table("constats"), found])
    found.write_csv(staging / "constats.csv", null_value="")
    out = records.with_columns(
        pl.when(pl.col("constats").list.len() > 0).then(_json_list("constats")).alias("constats"),
        pl.col("retenu").cast(pl.String).str.to_lowercase(),
        pl.col("datePublicationDonnees").cast(pl.String),
    )
    out.select(models["enregistrements"].field_names).write_csv(staging / "enregistrements.csv", null_value="")


def _cell(value: Any) -> str | None:
    return None if value is None else str(value)


def _reconstructed(previous: _Previous, row: dict) -> dict:
    """A copy retained before and outranked now: rebuilt from the package's tables in the 2022 JSON shape."""
    key = row["record_key"]
    tables = MARCHE_TABLES if row["kind"] == "marche" else CONCESSION_TABLES
    models = load_tables()
    rows = {}
    for name in tables:
        frame = previous.table(name).filter(pl.col("record_key") == key)
        typed, _ = typed_frame(frame, models[name])
        rows[name] = [{k: v for k, v in r.items() if not (isinstance(v, float) and v != v)} for r in typed.to_dicts()]
    build = unflatten.marche if row["kind"] == "marche" else unflatten.concession
    record = build(rows)
    return {
        "record_key": key,
        "uid": row["uid"],
        "retenu_record_key": row["retenu_record_key"],
        "publie": json.dumps(record, ensure_ascii=False, default=str),
        "format_publie": "json-reconstitué",
    }


def _descriptor(
    title: str,
    new: _New,
    findings: list[Finding],
    records: pl.DataFrame,
    previous: _Previous | None,
    finals: dict[str, pl.DataFrame],
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
                finals["marches"].select(pl.col("dateNotification").alias("d")),
                finals["concessions"].select(pl.col("dateSignature").alias("d")),
            ]
        )
        .get_column("d")
        .drop_nulls()
        .str.to_date("%Y-%m-%d", strict=False)
        .drop_nulls()
    )
    dates = dates.filter((dates.dt.year() >= config.year_floor) & (dates <= config.as_of))  # not the typos
    severities = defaultdict(int)
    for f in findings:
        severities[f.severity] += 1
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
    out = "".join(c.lower() if c.isalnum() else "-" for c in text).strip("-")
    return out or "decp"
