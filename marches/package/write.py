"""Writing the package: main tables with the current state, side tables, schemas and descriptor."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from marches import __version__, unflatten
from marches.cpv import Nomenclature
from marches.findings import Finding
from marches.model import CONCESSION_TABLES, MARCHE_TABLES, PACKAGE_TABLES, TABLES, load_tables, schema_dir
from marches.package.common import COMPUTED, LICENCE, ROOTS, STATUTS
from marches.package.state import _New, _Previous, _read_table
from marches.report import CSV_COLUMNS
from marches.rules import Config
from marches.validation.structure import typed_frame

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
