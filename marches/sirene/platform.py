"""What the SIRENE register adds to the platform's database (``marches publish``).

The buyers and titulaires (tables ``acheteurs`` and ``titulaires``) get their SIRENE name, commune,
département, NAF code, legal and company categories, headcount band, administrative state and
closing date; each contract gets the names of its buyer and titulaires (``noms``, searched by the
full-text index) and the company category of its first titulaire. The store is attached to the
database being built and read through its ``fiches`` view, one lookup per distinct identifier.

Privacy: for an establishment under partial diffusion, SIRENE gives no name and no place, and the
names the buyers published (format 2019) are removed from the platform too — from the tables, the
records kept as published (quarantine, duplicates) and the validation findings. The data package
keeps the published data unchanged.
"""

from __future__ import annotations

import re

import sqlite_utils

from marches.sirene import Sirene
from marches.sirene.labels import PRIVATE

# Columns the entity tables carry, filled from SIRENE (empty without it).
ENTITY_COLUMNS = {
    "sirene": int,
    "commune": str,
    "departement": str,
    "naf": str,
    "categorie_juridique": str,
    "categorie_entreprise": str,
    "tranche_effectifs": str,
    "etat": str,
    "date_fermeture": str,
    "diffusion": str,
}
ENTITIES = {"acheteurs": ("acheteur_id", "nom"), "titulaires": ("titulaire_id", "denominationSociale")}
HIDDEN = "nom non diffusible"
HIDDEN_TEXT = (
    "Texte publié masqué sur la plateforme : il nomme un établissement en diffusion partielle dans SIRENE. "
    "Il reste dans le paquet de données."
)
HIDDEN_FINDING = "Nom publié masqué : l'établissement est en diffusion partielle dans SIRENE."
SIRET = re.compile(r"(?<!\d)\d{14}(?!\d)")
_PRIVATE_SQL = ", ".join(f"'{p}'" for p in PRIVATE)
# Where the platform shows a name published by the buyer: (table, identifier column, name column).
PUBLISHED_NAMES = (
    ("marches", "acheteur_id", "acheteur_nom"),
    ("concessions", "autoriteConcedante_id", "autoriteConcedante_nom"),
    ("marches_titulaires", "id", "denominationSociale"),
    ("marches_modifications_titulaires", "id", "denominationSociale"),
    ("concessions_concessionnaires", "id", "denominationSociale"),
)
# Text that quotes a published record whole.
RECORD_TEXTS = (
    ("quarantaine", "publie"),
    ("quarantaine", "format_publie"),
    ("quarantaine", "messages"),
    ("doublons", "publie"),
    ("doublons", "format_publie"),
)


def enrich(db: sqlite_utils.Database, store: Sirene | None) -> None:
    """Fill the entity tables from SIRENE and hide what partial diffusion forbids to show."""
    if store is None:
        return
    info = store.info()
    db["sirene"].insert(
        {
            "date_stock": info.date_stock or "",
            "installe_le": info.installe_le,
            "etablissements": info.etablissements,
            "unites_legales": info.unites_legales,
        }
    )
    db.execute("ATTACH DATABASE ? AS sirene", [str(store.path)])
    try:
        for table, (key, name) in ENTITIES.items():
            _entities(db, table, key, name)
        _hide_private(db)
    finally:
        db.conn.commit()
        db.execute("DETACH DATABASE sirene")


def categories(db: sqlite_utils.Database, store: Sirene | None) -> None:
    """Set ``marches.categorie_entreprise``: the SIRENE company category of each contract's first titulaire
    (the first by position with an identifier), as the derived column ``categorie_entreprise`` defines it.

    Done before the indexes on the column are built, from the store directly (the titulaires table gets
    the same category from it later): setting it afterwards moved the entries of four indexes row by row.
    Without SIRENE the column stays empty."""
    if store is None:
        return
    db.execute("ATTACH DATABASE ? AS sirene", [str(store.path)])
    try:
        db.execute("CREATE TEMP TABLE premiers (record_key TEXT PRIMARY KEY, id TEXT)")
        # the bare column id comes from the row of the smallest position (SQLite's min() rule)
        db.execute(
            "INSERT INTO temp.premiers SELECT record_key, id FROM (SELECT record_key, id, min(position) "
            "FROM marches_titulaires WHERE id IS NOT NULL GROUP BY record_key)"
        )
        db.execute("CREATE TEMP TABLE categories (id TEXT PRIMARY KEY, categorie TEXT)")
        db.execute(
            """INSERT INTO temp.categories SELECT d.id, f.categorie_entreprise FROM (
                SELECT DISTINCT id FROM temp.premiers WHERE length(id) = 14 AND id NOT GLOB '*[^0-9]*') d
            JOIN sirene.fiches f ON f.siret = CAST(d.id AS INTEGER) WHERE f.categorie_entreprise IS NOT NULL"""
        )
        db.execute(
            "UPDATE marches SET categorie_entreprise = c.categorie FROM temp.premiers p JOIN temp.categories c "
            "ON c.id = p.id WHERE p.record_key = marches.record_key"
        )
        db.execute("DROP TABLE temp.premiers")
        db.execute("DROP TABLE temp.categories")
    finally:
        db.conn.commit()
        db.execute("DETACH DATABASE sirene")


def _entities(db: sqlite_utils.Database, table: str, key: str, name: str) -> None:
    # one rowid lookup in the store per identifier (a join with the view would scan it)
    db.execute("DROP TABLE IF EXISTS temp.fiches")
    db.execute(
        f"""CREATE TEMP TABLE fiches AS
        SELECT e.{key} AS id, f.* FROM {table} e
        JOIN sirene.fiches f ON f.siret = CAST(e.{key} AS INTEGER)
        WHERE length(e.{key}) = 14 AND e.{key} NOT GLOB '*[^0-9]*'"""
    )
    db.execute("CREATE INDEX temp.fiches_id ON fiches (id)")
    db.execute(
        f"""UPDATE {table} SET
            sirene = CASE WHEN f.id IS NOT NULL THEN 1 END,
            {name} = CASE WHEN f.diffusion IN ({_PRIVATE_SQL}) THEN NULL ELSE coalesce(f.nom, {table}.{name}) END,
            commune = f.commune, departement = f.departement, naf = f.naf,
            categorie_juridique = f.categorie_juridique, categorie_entreprise = f.categorie_entreprise,
            tranche_effectifs = f.tranche_effectifs, etat = f.etat,
            date_fermeture = CASE WHEN f.etat = 'F' THEN f.date_debut END, diffusion = f.diffusion
        FROM temp.fiches f WHERE f.id = {table}.{key}"""
    )
    # a well-formed SIRET absent from SIRENE
    db.execute(
        f"UPDATE {table} SET sirene = 0 WHERE sirene IS NULL AND length({key}) = 14 AND {key} NOT GLOB '*[^0-9]*'"
    )
    db.execute("DROP TABLE temp.fiches")


def _hide_private(db: sqlite_utils.Database) -> None:
    """No published name of an establishment under partial diffusion anywhere in the database."""
    private = {
        row[0]
        for table, (key, _) in ENTITIES.items()
        for row in db.execute(f"SELECT {key} FROM {table} WHERE diffusion IN ({_PRIVATE_SQL})")
    }
    if not private:
        return
    db.execute("CREATE TEMP TABLE prives (id TEXT PRIMARY KEY)")
    db.conn.executemany("INSERT INTO temp.prives VALUES (?)", [(p,) for p in sorted(private)])
    names: set[str] = set()
    affected: set[str] = set()
    for table, id_column, name_column in PUBLISHED_NAMES:
        where = f"{id_column} IN (SELECT id FROM temp.prives)"
        for record_key, published in db.execute(f"SELECT record_key, {name_column} FROM {table} WHERE {where}"):
            affected.add(record_key)
            if published and len(published.strip()) >= 3:
                names.add(published)
        db.execute(f"UPDATE {table} SET {name_column} = NULL WHERE {where}")
    db.execute("DROP TABLE temp.prives")
    # records kept as published (quarantine, duplicates) that name such an establishment: their text is hidden
    for table in ("quarantaine", "doublons"):
        columns = [c for t, c in RECORD_TEXTS if t == table]
        hidden = [
            row[0]
            for row in db.execute(f"SELECT record_key, {', '.join(columns)} FROM {table}")
            if any(private & set(SIRET.findall(text or "")) for text in row[1:])
        ]
        affected.update(hidden)
        assignments = ", ".join(f"{c} = ?" for c in columns)
        db.conn.executemany(
            f"UPDATE {table} SET {assignments} WHERE record_key = ?",
            [(*[HIDDEN_TEXT] * len(columns), k) for k in hidden],
        )
    # findings of those records: a name field's value is hidden, a known name is replaced in any message
    # (read once and rewritten in Python: one UPDATE per name and group of records grew as their product)
    _hide_in_findings(db, sorted(affected), sorted(names, key=len, reverse=True))


def _hide_in_findings(db: sqlite_utils.Database, keys: list[str], names: list[str]) -> None:
    """Findings of the records ``keys``: value and message of a name field hidden; each of ``names`` (longest
    first) replaced by « nom non diffusible » in every message and value."""
    name_fields = {c for _, _, c in PUBLISHED_NAMES[:3]}
    changed = []
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        rows = db.execute(f"SELECT rowid, field, message, value FROM constats WHERE record_key IN ({marks})", chunk)
        for rowid, column, message, value in rows.fetchall():
            new_message, new_value = message, value
            if column in name_fields:
                new_message, new_value = HIDDEN_FINDING, None
            for name in names:
                if (new_message is not None and name in new_message) or (new_value is not None and name in new_value):
                    new_message = None if new_message is None else new_message.replace(name, HIDDEN)
                    new_value = None if new_value is None else new_value.replace(name, HIDDEN)
            if (new_message, new_value) != (message, value):
                changed.append((new_message, new_value, rowid))
    db.conn.executemany("UPDATE constats SET message = ?, value = ? WHERE rowid = ?", changed)
