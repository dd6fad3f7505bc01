"""``marches publish``: data packages -> one SQLite database for Datasette, built with sqlite-utils.

Tables are created explicitly from the Table Schemas (STRICT: SIRETs, codes and postal codes stay
text), with primary keys, foreign keys, indexes on the columns people filter and facet on, FTS5
with an accent-insensitive tokenizer, CPV labels when the nomenclature is installed, a flat
contract × titulaire view and pre-aggregated summary tables for the dashboards. The database is
built in a temporary file and renamed over the previous one: a running server never sees a
half-built database.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import sqlite_utils

from marches import enrich
from marches.cpv import Nomenclature
from marches.enrich import DERIVED, FOREIGN_KEYS, SUMMARIES
from marches.errors import InputError, OutputError
from marches.model import PACKAGE_TABLES, TABLES, Table, load_tables
from marches.sirene import Sirene
from marches.sirene import platform as sirene_platform
from marches.validation.structure import typed_frame

SQL_TYPES = {"string": str, "integer": int, "number": float, "boolean": int, "date": str, "array": str}
PUBLISHED = TABLES + PACKAGE_TABLES
TOKENIZER = "unicode61 remove_diacritics 2"  # "Marché" is found by "marche"


INDEXES = {
    "marches": [
        ["acheteur_id"],
        ["codeCPV"],
        ["cpv8"],
        ["division_cpv"],
        ["procedure"],
        ["nature"],
        ["annee_fiable"],
        ["date_fiable"],
        ["dateNotification"],
        ["departement"],
        ["lieuExecution_code"],
        ["uid"],
        ["montant"],
        ["montant_fiable"],
        ["ccag"],
        ["offresRecues"],
        ["generation"],
        ["hausse_pct"],
        ["typeGroupementOperateurs"],
        ["categorie_entreprise", "date_fiable"],  # contracts of a company category: sorted, counted, faceted
        ["categorie_entreprise", "annee_fiable"],
        ["categorie_entreprise", "procedure"],
        ["categorie_entreprise", "division_cpv"],
        ["acheteur_id", "date_fiable"],
        ["acheteur_id", "annee_fiable", "montant_fiable"],  # a buyer's page: its years from the index alone
        ["annee_fiable", "procedure"],
        ["annee_fiable", "division_cpv"],
        ["division_cpv", "procedure"],
    ],
    "marches_titulaires": [["record_key"], ["id"], ["typeIdentifiant"]],
    "marches_modifications": [["record_key"]],
    "marches_modifications_titulaires": [["record_key"], ["id"]],
    "marches_actes_sous_traitance": [["record_key"], ["sousTraitant_id"]],
    "marches_modifications_actes_sous_traitance": [["record_key"]],
    "concessions": [
        ["autoriteConcedante_id"],
        ["nature"],
        ["procedure"],
        ["annee_fiable"],
        ["date_fiable"],
        ["dateSignature"],
        ["departement"],
        ["uid"],
    ],
    "concessions_concessionnaires": [["record_key"], ["id"]],
    "concessions_modifications": [["record_key"]],
    "concessions_donnees_execution": [["record_key"]],
    "concessions_tarifs": [["record_key"]],
    "enregistrements": [["statut"], ["uid"], ["source_file"], ["kind"], ["ordre"]],
    "constats": [["code"], ["severity"], ["record_key"], ["file"]],
    "doublons": [["ordre"], ["retenu_record_key"]],
    "quarantaine": [["ordre"]],
}
FTS = {
    "marches": ["objet", "noms", "lieu"],
    "concessions": ["objet", "noms", "lieu"],
    "marches_titulaires": ["id", "denominationSociale"],
}


@dataclass
class PublishSummary:
    database: Path
    rows: dict[str, int] = field(default_factory=dict)
    packages: list[str] = field(default_factory=list)
    skipped: int = 0  # rows already present (the same source in two packages)


def publish(
    packages: Iterable[Path],
    out: Path,
    cpv: Nomenclature | None = None,
    progress: Callable[[str], None] | None = None,
    sirene: Sirene | None = None,
) -> PublishSummary:
    """Build the SQLite database ``out`` from one or more data packages, atomically (names, places and
    categories of the buyers and titulaires from the SIRENE register when given)."""
    out = Path(out)
    packages = [_package_dir(Path(p)) for p in packages]
    summary = PublishSummary(out, packages=[str(p) for p in packages])
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite_utils.Database(tmp)
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        models = load_tables()
        enrich.create_reference_tables(db)
        for name in PUBLISHED:
            _create(db, models[name])
        for directory in packages:
            for name in PUBLISHED:
                if progress:
                    progress(f"{directory.name} : {name}")
                inserted, skipped = _insert(db, directory, models[name])
                summary.rows[name] = summary.rows.get(name, 0) + inserted
                summary.skipped += skipped
        _cpv_labels(db, cpv)
        enrich.derive(db, _as_of(packages))
        for table, indexes in INDEXES.items():
            for columns in indexes:
                db[table].create_index(columns, if_not_exists=True)
        enrich.entities(db)
        sirene_platform.enrich(db, sirene)
        enrich.derive(db, _as_of(packages), stages=(3,))
        for table, columns in FTS.items():
            db[table].enable_fts(columns, fts_version="FTS5", tokenize=TOKENIZER, create_triggers=False)
        _packages_table(db, packages)
        _views(db)
        enrich.summaries(db)
        db.execute("ANALYZE")
        db.conn.commit()
        db.vacuum()
        db.close()
        _counts(tmp, out.with_name(out.stem + ".counts.json"))
        os.replace(tmp, out)
    except sqlite_utils.db.AlterError as exc:
        raise OutputError(f"Base {out} : {exc}") from exc
    except OSError as exc:
        raise OutputError(f"Impossible d'écrire {out} : {exc.strerror}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return summary


def _package_dir(path: Path) -> Path:
    directory = path.parent if path.name == "datapackage.json" else path
    if not (directory / "datapackage.json").is_file():
        raise InputError(str(path), "pas de datapackage.json : ce n'est pas un paquet de « marches package »")
    return directory


def _create(db: sqlite_utils.Database, model: Table) -> None:
    columns = {f["name"]: SQL_TYPES[f["type"]] for f in model.fields}
    for d in DERIVED:
        if d.table == model.name:
            columns[d.name] = d.type
    fks = []
    if model.name in TABLES and model.parent:
        root = "marches" if model.name.startswith("marches") else "concessions"
        fks = [("record_key", root, "record_key")]
    elif model.name in ("quarantaine", "doublons"):
        fks = [("record_key", "enregistrements", "record_key")]
    fks += [(column, *FOREIGN_KEYS[(table, column)]) for table, column in FOREIGN_KEYS if table == model.name]
    pk = model.primary_key or None
    db[model.name].create(
        columns,
        pk=pk if pk and len(pk) > 1 else (pk[0] if pk else None),
        foreign_keys=fks,
        strict=True,
        not_null={c for c in model.primary_key},
    )


def _insert(db: sqlite_utils.Database, directory: Path, model: Table) -> tuple[int, int]:
    path = directory / f"{model.name}.csv"
    if not path.is_file():
        return 0, 0
    raw = pl.read_csv(path, infer_schema=False)
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c in model.field_names if c not in raw.columns]
    raw = raw.with_columns(missing).select(model.field_names)
    typed, errors = typed_frame(raw, model)
    if errors.height:
        raise InputError(
            str(path),
            f"{errors.height} cellule(s) ne respectent pas leur type (par ex. "
            f"{errors.row(0)[1]} = « {errors.row(0)[2]} ») : ce paquet n'est pas valide",
        )
    converted = []
    for f in model.fields:
        name = f["name"]
        if f["type"] == "array":
            converted.append(raw.get_column(name))  # the JSON text as published in the package
        elif f["type"] == "boolean":
            converted.append(typed.get_column(name).cast(pl.Int64))
        elif f["type"] == "date":
            converted.append(raw.get_column(name))
        elif f["type"] == "integer":
            converted.append(typed.get_column(name).cast(pl.Int64))
        else:
            converted.append(typed.get_column(name))
    frame = pl.DataFrame(converted)
    placeholders = ", ".join("?" for _ in model.field_names)
    columns = ", ".join(f'"{c}"' for c in model.field_names)
    before = db.execute(f'SELECT count(*) FROM "{model.name}"').fetchone()[0]
    with db.conn:
        db.conn.executemany(
            f'INSERT OR IGNORE INTO "{model.name}" ({columns}) VALUES ({placeholders})', frame.iter_rows()
        )
    after = db.execute(f'SELECT count(*) FROM "{model.name}"').fetchone()[0]
    return after - before, frame.height - (after - before)


def _as_of(packages: list[Path]) -> str:
    """The reference date of the data: the latest validation date of the packages (dates after it are
    in the future of the data)."""
    dates = []
    for directory in packages:
        meta = json.loads((directory / "datapackage.json").read_text(encoding="utf-8"))
        as_of = meta.get("x-marches", {}).get("validation", {}).get("as_of")
        if as_of:
            dates.append(as_of)
    return max(dates) if dates else dt.date.today().isoformat()


def _packages_table(db: sqlite_utils.Database, packages: list[Path]) -> None:
    """Which packages the database was built from (shown on the about page)."""
    rows = []
    for directory in packages:
        meta = json.loads((directory / "datapackage.json").read_text(encoding="utf-8"))
        x = meta.get("x-marches", {})
        rows.append(
            {
                "nom": meta.get("name") or directory.name,
                "titre": meta.get("title") or directory.name,
                "chemin": str(directory.resolve()),
                "cree": meta.get("created"),
                "mis_a_jour": meta.get("updated"),
                "date_verification": x.get("validation", {}).get("as_of"),
                "enregistrements_lus": x.get("records", {}).get("read"),
                "sources": len(meta.get("sources", [])),
            }
        )
    db["paquets"].insert_all(rows)


def _cpv_labels(db: sqlite_utils.Database, cpv: Nomenclature | None) -> None:
    if cpv is not None:
        db["cpv"].insert_all(
            (
                {"code8": c, "code": f"{c}-{d}" if d else c, "division": c[:2], "libelle": cpv.labels.get(c, "")}
                for c, d in cpv.check_digits.items()
            ),
            batch_size=5000,
        )


def _views(db: sqlite_utils.Database) -> None:
    # a titulaire named twice in one contract is one row (its first position)
    db.create_view(
        "marches_par_titulaire",
        """
        SELECT m.record_key, m.uid, m.id, m.acheteur_id, m.acheteur_nom, m.objet, m.codeCPV, m.procedure,
               m.nature, m.dateNotification, m.annee_fiable, m.montant, m.montant_fiable, m.montantActuel,
               m.dureeMois, m.lieuExecution_code, m.departement, t.position AS titulaire_rang,
               t.typeIdentifiant AS titulaire_typeIdentifiant, t.id AS titulaire_id,
               t.denominationSociale AS titulaire_denominationSociale
        FROM marches m LEFT JOIN marches_titulaires t ON t.record_key = m.record_key AND t.repetition = 0
    """,
        replace=True,
    )


def _counts(database: Path, target: Path) -> None:
    """Datasette's inspect file: table counts known in advance, for immutable mode."""
    result = subprocess.run(
        [sys.executable, "-m", "datasette", "inspect", str(database)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise OutputError(f"datasette inspect a échoué : {result.stderr[-500:]}")
    data = json.loads(result.stdout)
    renamed = {Path(target.name.removesuffix(".counts.json")).name: next(iter(data.values()))}
    renamed[next(iter(renamed))]["file"] = target.name.removesuffix(".counts.json") + ".db"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(renamed, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, target)


__all__ = ["DERIVED", "FTS", "INDEXES", "SUMMARIES", "PublishSummary", "publish"]
