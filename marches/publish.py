"""``marches publish``: data packages -> one SQLite database for Datasette, built with sqlite-utils (the
rows of the packages inserted through ADBC, straight from the frames' memory: ``marches.bulk``).

Tables are created explicitly from the Table Schemas (STRICT: SIRETs, codes and postal codes stay
text), with primary keys, foreign keys, indexes on the columns people filter and facet on, FTS5
with an accent-insensitive tokenizer, CPV labels when the nomenclature is installed, a flat
contract × titulaire view and pre-aggregated summary tables for the dashboards. A contract
retained in several packages is published once, with every modification of its copies. The
database is built in a temporary file and renamed over the previous one, one writer at a time,
with its table counts inside: it is replaced whole, by one rename.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import queue
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import sqlite_utils

from marches import bulk, enrich
from marches.atomic import Lock, fault, remove_leftovers, staging_path
from marches.cpv import Nomenclature
from marches.enrich import DERIVED, FOREIGN_KEYS, SUMMARIES
from marches.errors import InputError, OutputError, display_path, os_problem
from marches.model import PACKAGE_TABLES, TABLES, Table, load_tables
from marches.package.common import check_integrity, read_table, scan_table, table_batches
from marches.package.contracts import MODIFICATIONS, across_packages, current_state, merge_modifications, reconstructed
from marches.sirene import Sirene
from marches.sirene import platform as sirene_platform
from marches.validation.structure import typed_frame

SQL_TYPES = {"string": str, "integer": int, "number": float, "boolean": int, "date": str, "array": str}
PUBLISHED = TABLES + PACKAGE_TABLES
TOKENIZER = "unicode61 remove_diacritics 2"  # "Marché" is found by "marche"


# The database is a staging file renamed at the end: no journal, no syncs, one connection at a time, no zeroing
# of freed space. SQLite's page cache stays small: the file is in the system's cache, and a large page
# cache makes the sorts of CREATE INDEX and GROUP BY slower (their runs grow with it). Pages are read through
# a memory map rather than copied by a system call each: the index builds, the updates and the copy at the
# end read the tables many times (300 000 contracts, 2 GB map: 30 -> 9 s of system time). The pages mapped
# count in the process's resident size (file pages of the system's cache, not its memory): the map is
# bounded so that a national build (a 3.7 GB database) stays well under 2 GB resident.
BUILD_PRAGMAS = (
    "journal_mode = OFF",
    "synchronous = OFF",
    "locking_mode = EXCLUSIVE",
    "secure_delete = OFF",
    "mmap_size = 536870912",  # 512 MB
)
# The sorts of CREATE INDEX work in runs the size of the page cache, sorted in memory then merged: small runs
# stay in the processor's caches (1.5 million contracts, four indexes: 14.3 s with the default 2 MB, 12.7 s
# with 512 KB, 17.8 s with 256 MB). One thread: the sorter's helper threads (PRAGMA threads) cost 10 to 45 %
# more processor time, for a build shorter only while a core is free (300 000 contracts, machine load 1.2 to
# 1.5: 56 -> 52 s, 58 -> 64 s of processor; under load, no shorter).
INDEX_CACHE_KIB = 512

INDEXES = {
    "marches": [
        # a buyer's contracts (equality on acheteur_id) come from the first of its two indexes below
        ["codeCPV"],
        ["cpv8"],
        # a default facet (annee_fiable, procedure, division_cpv) clicked: the rows come in the page's
        # order (date_fiable) straight from the index, instead of sorting hundreds of thousands of rows
        ["division_cpv", "date_fiable"],
        ["procedure", "date_fiable"],
        ["nature"],
        ["annee_fiable", "date_fiable"],
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
        # two facets clicked: the third is counted from a covering index (the most common pair, a year
        # then a procedure, also gets its rows in order)
        ["annee_fiable", "procedure", "division_cpv"],
        ["annee_fiable", "division_cpv", "procedure"],
        ["division_cpv", "procedure", "annee_fiable"],
        ["annee_fiable", "procedure", "date_fiable"],
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
    duplicates: int = 0  # contracts retained in several packages: copies set aside (in « doublons »)


INSPECT_TABLE = "_inspect"  # Datasette's inspect data (row counts), inside the database it describes


def publish(
    packages: Iterable[Path],
    out: Path,
    cpv: Nomenclature | None = None,
    progress: Callable[[str], None] | None = None,
    on_wait: Callable[[int | None], None] | None = None,
    sirene: Sirene | None = None,
) -> PublishSummary:
    """Build the SQLite database ``out`` from one or more data packages, atomically; names, places and
    categories of the buyers and titulaires come from the SIRENE register when given.

    One writer at a time on ``out`` (a second run waits, ``on_wait`` is told); each package is
    locked for reading and checked against the SHA-256 its descriptor records. A contract
    retained in several packages is published once (see ``marches.package.contracts``). The
    table counts Datasette needs in immutable mode are stored inside the database, so the
    database and its counts are replaced together, by one rename.
    """
    out = Path(os.path.abspath(out))
    directories = [_package_dir(Path(p)) for p in packages]
    summary = PublishSummary(out, packages=[str(p) for p in directories])
    with contextlib.ExitStack() as locks:
        locks.enter_context(Lock(out, on_wait=on_wait))
        for directory in directories:
            locks.enter_context(Lock(directory, shared=True, on_wait=on_wait))
        remove_leftovers(out)
        for directory in directories:
            _checked(directory)
        tmp = staging_path(out)
        try:
            _build(tmp, directories, cpv, progress, summary, sirene)
            fault("built")
            os.replace(tmp, out)
        except (sqlite_utils.db.AlterError, bulk.Error) as exc:
            raise OutputError(f"Base {display_path(out)} : {exc}") from exc
        except OSError as exc:
            raise OutputError(f"Impossible d'écrire {display_path(out)} : {os_problem(exc)}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        out.with_name(out.stem + ".counts.json").unlink(missing_ok=True)  # written by earlier versions
    return summary


def _build(
    tmp: Path,
    directories: list[Path],
    cpv: Nomenclature | None,
    progress,
    summary: PublishSummary,
    sirene: Sirene | None,
) -> None:
    db = _connect(tmp)
    models = load_tables()
    enrich.create_reference_tables(db)
    for name in PUBLISHED:
        _create(db, models[name])
    db.close()  # the rows go in through the bulk writer's own connection
    plan = _Plan.of(directories)
    summary.duplicates = plan.copies.height
    as_of = _as_of(directories)
    insertion = enrich.Insertion(as_of, _flagged_dates(directories))
    with bulk.Writer(tmp, BUILD_PRAGMAS) as writer:
        for index, directory in enumerate(directories):
            for name in PUBLISHED:
                if progress:
                    progress(f"{directory.name} : {name}")
                rows = plan.rows(index, directory, name)
                inserted, skipped = _insert(writer, models[name], rows, directory, insertion)
                summary.rows[name] = summary.rows.get(name, 0) + inserted
                summary.skipped += skipped
        for name, frame in plan.merged.items():  # the modifications of contracts published in several packages
            inserted, _ = _insert(writer, models[name], [frame], directories[0], insertion)
            summary.rows[name] = summary.rows.get(name, 0) + inserted
    db = _connect(tmp)
    plan.set_aside(db)
    _cpv_labels(db, cpv)
    enrich.derive(db, as_of)
    sirene_platform.categories(db, sirene)  # before the indexes on it: no index entry moved row by row
    db.execute(f"PRAGMA cache_size = -{INDEX_CACHE_KIB}")
    for table, indexes in INDEXES.items():
        for columns in indexes:
            db[table].create_index(columns, if_not_exists=True)
    db.execute("PRAGMA cache_size = -2000")  # SQLite's default: the joins and updates below read at random
    enrich.entities(db)
    sirene_platform.enrich(db, sirene)
    enrich.derive(db, as_of, stages=(3,))
    for table, columns in FTS.items():
        db[table].enable_fts(columns, fts_version="FTS5", tokenize=TOKENIZER, create_triggers=False)
    _packages_table(db, directories)
    _views(db)
    enrich.summaries(db)
    db.execute("ANALYZE")
    db.conn.commit()
    _store_counts(db)
    # No VACUUM: the rows are inserted whole (the derived columns computed at insertion) and nothing is deleted;
    # it would reclaim under 1 % of the file (100 000 contracts: 235.3 -> 233.5 MB) for a copy of all of it
    # (1.5 million contracts: 28 s).
    db.close()


def _connect(path: Path) -> sqlite_utils.Database:
    db = sqlite_utils.Database(path)
    for pragma in BUILD_PRAGMAS:
        db.execute(f"PRAGMA {pragma}")
    return db


def _checked(directory: Path) -> None:
    try:
        descriptor = json.loads((directory / "datapackage.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(display_path(directory), f"datapackage.json illisible : {exc}") from exc
    check_integrity(directory, descriptor)


@dataclass
class _Plan:
    """Contracts retained in several packages: one copy published, the others set aside with provenance.

    Their modifications are merged into the copy kept (none is lost) and its current state
    computed again; each copy set aside becomes a ``doublon`` in ``enregistrements`` and has its
    content in ``doublons``.
    """

    directories: list[Path]
    copies: pl.DataFrame  # paquet, record_key, kind, uid, retenu_record_key, rang
    merged: dict[str, pl.DataFrame] = field(default_factory=dict)  # modification tables of the kept copies

    @classmethod
    def of(cls, directories: list[Path]) -> _Plan:
        empty = pl.DataFrame(
            schema={
                "paquet": pl.Int32,
                "record_key": pl.String,
                "kind": pl.String,
                "uid": pl.String,
                "retenu_record_key": pl.String,
                "rang": pl.Int64,
            }
        )
        if len(directories) < 2:
            return cls(directories, empty)
        retained = [read_table(d, "enregistrements").filter(pl.col("retenu") == "true") for d in directories]
        plan = cls(directories, across_packages(retained))
        if plan.copies.height:
            plan._merge()
        return plan

    @property
    def kept(self) -> pl.Series:
        return self.copies["retenu_record_key"].unique()

    def _involved(self) -> pl.Series:
        return pl.concat([self.kept, self.copies["record_key"]]).unique()

    def _merge(self) -> None:
        involved = self._involved().implode()
        tables = {}
        for name, holders, _ in MODIFICATIONS.values():
            for table in (name, holders) if holders else (name,):
                parts = [read_table(d, table).filter(pl.col("record_key").is_in(involved)) for d in self.directories]
                tables[table] = pl.concat(parts, how="vertical_relaxed").unique(maintain_order=True)
        self.merged = {
            name: frame.filter(pl.col("record_key").is_in(self.kept.implode()))
            for name, frame in merge_modifications(tables, self.copies).items()
        }

    def rows(self, index: int, directory: Path, name: str) -> Iterator[pl.DataFrame]:
        """The rows of one table of one package to insert, the copies set aside left out, batch by batch."""
        if (directory / f"{name}.csv").is_file():
            for frame in table_batches(scan_table(directory, name)):
                yield self._published(index, directory, name, frame)

    def _published(self, index: int, directory: Path, name: str, frame: pl.DataFrame) -> pl.DataFrame:
        """The rows of a batch to insert (see ``rows``)."""
        if self.copies.height == 0 or name not in TABLES:
            return frame
        aside = self.copies.filter(pl.col("paquet") == index)["record_key"].implode()
        frame = frame.filter(~pl.col("record_key").is_in(aside))
        if name in self.merged:  # inserted once merged, from every package
            return frame.filter(~pl.col("record_key").is_in(self.kept.implode()))
        root = name in ("marches", "concessions")
        changed = frame.filter(pl.col("record_key").is_in(self.kept.implode())) if root else None
        if changed is None or changed.height == 0:
            return frame
        tables = dict(self.merged)
        if name == "marches":
            tables["marches_titulaires"] = (
                scan_table(directory, "marches_titulaires")
                .filter(pl.col("record_key").is_in(changed["record_key"].implode()))
                .collect()
            )
        updated = current_state(name, changed, tables).select(frame.columns)
        return pl.concat([frame.filter(~pl.col("record_key").is_in(self.kept.implode())), updated])

    def set_aside(self, db: sqlite_utils.Database) -> None:
        """The copies set aside: ``doublon`` in enregistrements, their content in doublons."""
        if self.copies.height == 0:
            return
        for index, directory in enumerate(self.directories):
            copies = self.copies.filter(pl.col("paquet") == index)
            if copies.height:
                keys = copies["record_key"].implode()
                tables = {name: read_table(directory, name).filter(pl.col("record_key").is_in(keys)) for name in TABLES}
                for rows in reconstructed(tables, copies):
                    self._store_aside(db, rows)

    @staticmethod
    def _store_aside(db: sqlite_utils.Database, rows: list[dict]) -> None:
        with db.conn:
            db.conn.executemany(
                "UPDATE enregistrements SET statut = 'doublon', retenu = 0 WHERE record_key = ?",
                [(r["record_key"],) for r in rows],
            )
            db.conn.executemany(
                "INSERT OR IGNORE INTO doublons (record_key, uid, retenu_record_key, publie, format_publie) "
                "VALUES (:record_key, :uid, :retenu_record_key, :publie, :format_publie)",
                rows,
            )


def _package_dir(path: Path) -> Path:
    directory = path.parent if path.name == "datapackage.json" else path
    if not (directory / "datapackage.json").is_file():
        raise InputError(display_path(path), "pas de datapackage.json : ce n'est pas un paquet de « marches package »")
    return Path(os.path.abspath(directory))


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


def _insert(
    writer: bulk.Writer, model: Table, batches: Iterable[pl.DataFrame], origin: Path, insertion: enrich.Insertion
) -> tuple[int, int]:
    """Insert rows read as text, batch by batch, typed by their Table Schema, with the derived columns
    computed at insertion (``enrich.Insertion``); returns (inserted, already present).

    The batches are read, typed, converted and derived by a second thread while SQLite inserts the
    previous ones. A cell that does not respect its type stops the publication once the whole table is
    read, with the count of such cells in the table and its first example."""
    count = f'SELECT count(*) FROM "{model.name}"'
    before = writer.scalar(count)
    rows, wrong, example = 0, 0, None
    names = [*model.field_names, *insertion.names(model.name)]
    placeholders = ", ".join("?" for _ in names)
    columns = ", ".join(f'"{c}"' for c in names)
    statement = f'INSERT OR IGNORE INTO "{model.name}" ({columns}) VALUES ({placeholders})'
    for height, errors, part in _ahead(_prepared(model, batches, insertion)):
        if errors is not None:
            wrong += errors.height
            first = errors.row(0)  # errors come field by field: the example is the first field's first error
            if example is None or model.field_names.index(first[1]) < model.field_names.index(example[1]):
                example = first
            continue
        if not wrong:
            writer.execute(statement, part)
        rows += height
    if wrong:
        raise InputError(
            display_path(origin / f"{model.name}.csv"),
            f"{wrong} cellule(s) ne respectent pas leur type (par ex. "
            f"{example[1]} = « {example[2]} ») : ce paquet n'est pas valide",
        )
    inserted = writer.scalar(count) - before
    return inserted, rows - inserted


ROWS_AHEAD = 10_000  # rows handed to SQLite at a time by the thread that prepares them


def _prepared(
    model: Table, batches: Iterable[pl.DataFrame], insertion: enrich.Insertion
) -> Iterator[tuple[int, pl.DataFrame | None, pl.DataFrame | None]]:
    """(rows of the batch, its type errors or None, a part of its rows as SQLite values or None) for
    each part of each batch; a batch with type errors gives one item, without rows."""
    for raw in batches:
        if raw.height == 0:
            continue
        typed, errors = typed_frame(raw, model)
        if errors.height:
            yield raw.height, errors, None
            continue
        frame = insertion.frame(model.name, _sqlite_values(model, raw, typed))
        for start in range(0, frame.height, ROWS_AHEAD):
            yield (raw.height if start == 0 else 0), None, frame.slice(start, ROWS_AHEAD)


def _sqlite_values(model: Table, raw: pl.DataFrame, typed: pl.DataFrame) -> pl.DataFrame:
    """The columns of a batch as they are stored: arrays and dates as published, booleans as 0/1."""
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
    return pl.DataFrame(converted)


_DONE = object()


def _ahead(items: Iterable, depth: int = 3) -> Iterator:
    """The items of ``items`` in order, produced by another thread up to ``depth`` items ahead.

    Polars and SQLite release the GIL while they work: reading and typing the next batch takes the
    second core while SQLite inserts. An exception of the producer is raised here; leaving the loop
    early stops the producer."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ready.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, raised there
            ready.put((_DONE, exc))

    worker = threading.Thread(target=produce, name="marches-publish-read", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = ready.get()
            if item is _DONE:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                ready.get_nowait()
            except queue.Empty:
                worker.join(0.05)


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


def _flagged_dates(packages: list[Path]) -> pl.DataFrame:
    """(field, record_key) of the dates the packages' validation flagged (``enrich.DATE_FLAGS``): the
    reliable dates leave them out."""
    parts = [
        scan_table(directory, "constats")
        .filter(pl.col("code").is_in(enrich.DATE_FLAGS))
        .select("field", "record_key")
        .collect()
        for directory in packages
        if (directory / "constats.csv").is_file()
    ]
    return pl.concat(parts).unique() if parts else pl.DataFrame(schema={"field": pl.String, "record_key": pl.String})


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


def _store_counts(db: sqlite_utils.Database) -> None:
    """Datasette's inspect data (row counts, an identifier of this build), stored in the database itself.

    Counting 1.5 million rows at each start of a server is slow; a separate file could disagree
    with the database after a crash between two renames. ``marches serve`` writes the inspect
    file Datasette reads from this table (adding the file's name and size).
    """
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    tables = {name: {"count": db.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]} for name in names}
    tables[INSPECT_TABLE] = {"count": 1}
    build = hashlib.sha256(uuid.uuid4().bytes + json.dumps(tables).encode()).hexdigest()
    db[INSPECT_TABLE].insert({"donnees": json.dumps({"hash": build, "tables": tables})})
    db.conn.commit()


def stored_inspection(database: Path) -> dict | None:
    """The inspect data ``publish`` stored in ``database`` (None for a database of an earlier version)."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        (text,) = connection.execute(f'SELECT donnees FROM "{INSPECT_TABLE}"').fetchone()
        return json.loads(text)
    except (sqlite3.Error, TypeError, ValueError):
        return None
    finally:
        connection.close()


__all__ = ["DERIVED", "FTS", "INDEXES", "INSPECT_TABLE", "SUMMARIES", "PublishSummary", "publish", "stored_inspection"]
