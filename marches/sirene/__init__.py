"""The SIRENE register of companies and establishments, installed by the user from INSEE's stock files.

``marches sirene install StockEtablissement_utf8.zip StockUniteLegale_utf8.zip`` streams the official
files (CSV, zipped or not, or Parquet) into a compact SQLite store in the user cache (same cache as the
CPV nomenclature): one row per establishment keyed by its SIRET as an integer (the table's rowid, so
no separate index), one row per legal unit keyed by its SIREN, and the source date of the stock.

Privacy: an establishment or a legal unit whose diffusion status is partial (``P``, or the older
``N``) keeps no name and no place in the store at all, so that nothing downstream (validation
messages, the platform, its exports) can show them.

Validation and publishing read the store through :class:`Sirene`: distinct SIRETs are looked up
once (and remembered), and ``publish`` attaches the store to join it in SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from marches.cpv import cache_dir
from marches.errors import InputError
from marches.sirene.labels import PRIVATE

CACHE_NAME = "sirene.sqlite"
STORE_VERSION = "1"
LOOKUP_CHUNK = 500  # SIRETs per query (below SQLite's limit of bound parameters)
CACHE_LIMIT = 2_000_000  # SIRETs remembered between batches before the memory is given back

_PRIVATE_SQL = ", ".join(f"'{p}'" for p in PRIVATE)
# One establishment as marches shows it: the legal unit's name, the place, the codes. What a partial
# diffusion status hides is already absent from the store; the view masks it again, whatever the store.
FICHES_VIEW = f"""
CREATE VIEW fiches AS
SELECT siret, etat, date_debut, date_creation, siege,
       CASE WHEN prive THEN NULL ELSE coalesce(nom_unite, enseigne) END AS nom,
       CASE WHEN prive THEN NULL ELSE enseigne END AS enseigne,
       CASE WHEN prive THEN NULL ELSE code_commune END AS code_commune,
       CASE WHEN prive THEN NULL ELSE libelle_commune END AS commune,
       CASE WHEN prive THEN NULL ELSE code_postal END AS code_postal,
       CASE WHEN prive THEN NULL WHEN substr(code_commune, 1, 2) IN ('97', '98') THEN substr(code_commune, 1, 3)
            ELSE substr(code_commune, 1, 2) END AS departement,
       naf, tranche_effectifs, categorie_juridique, categorie_entreprise,
       CASE WHEN prive THEN coalesce(nullif(diffusion_etablissement, 'O'), diffusion_unite)
            ELSE coalesce(diffusion_etablissement, 'O') END AS diffusion
FROM (
    SELECT e.siret, e.etat, e.date_debut, e.date_creation, e.siege, e.enseigne, e.code_commune, e.code_postal, e.naf,
           e.tranche_effectifs, e.diffusion AS diffusion_etablissement, u.nom AS nom_unite, u.categorie_juridique,
           u.categorie_entreprise, u.diffusion AS diffusion_unite, c.libelle AS libelle_commune,
           coalesce(e.diffusion, 'O') IN ({_PRIVATE_SQL}) OR coalesce(u.diffusion, 'O') IN ({_PRIVATE_SQL}) AS prive
    FROM etablissements e
    LEFT JOIN unites_legales u ON u.siren = e.siret / 100000
    LEFT JOIN communes c ON c.code = e.code_commune
)
"""
SCHEMA = f"""
CREATE TABLE etablissements (
    siret INTEGER PRIMARY KEY, etat TEXT, date_debut TEXT, date_creation TEXT, siege INTEGER, enseigne TEXT,
    naf TEXT, tranche_effectifs TEXT, code_postal TEXT, code_commune TEXT, diffusion TEXT);
CREATE TABLE unites_legales (
    siren INTEGER PRIMARY KEY, nom TEXT, sigle TEXT, categorie_juridique TEXT, categorie_entreprise TEXT, etat TEXT,
    diffusion TEXT);
CREATE TABLE communes (code TEXT PRIMARY KEY, libelle TEXT) WITHOUT ROWID;
CREATE TABLE source (cle TEXT PRIMARY KEY, valeur TEXT) WITHOUT ROWID;
{FICHES_VIEW};
"""
# What a lookup returns for each SIRET (polars frame, one row per distinct SIRET asked for).
LOOKUP_SCHEMA = {
    "siret": pl.String,
    "sirene_connu": pl.Boolean,
    "siren_connu": pl.Boolean,
    "etat": pl.String,
    "date_debut": pl.String,
    "nom": pl.String,
    "commune": pl.String,
    "departement": pl.String,
    "naf": pl.String,
    "categorie_juridique": pl.String,
    "categorie_entreprise": pl.String,
    "diffusion": pl.String,
}
_FICHE_COLUMNS = (
    "etat",
    "date_debut",
    "nom",
    "commune",
    "departement",
    "naf",
    "categorie_juridique",
    "categorie_entreprise",
    "diffusion",
)


def installed_path() -> Path:
    return cache_dir() / CACHE_NAME


@dataclass(frozen=True)
class StoreInfo:
    """What ``marches sirene info`` tells."""

    path: Path
    date_stock: str | None
    installe_le: str | None
    etablissements: int
    unites_legales: int
    fichiers: str
    octets: int


class Sirene:
    """A read-only SIRENE store; lookups of distinct SIRETs, remembered between batches."""

    def __init__(self, path: Path | str, conn: sqlite3.Connection | None = None):
        self.path = Path(path)
        if conn is None and not self.path.is_file():
            raise InputError(
                str(self.path),
                "répertoire SIRENE introuvable",
                hint="Installez-le avec « marches sirene install StockEtablissement… StockUniteLegale… »",
            )
        try:
            self.conn = conn or sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            meta = dict(self.conn.execute("SELECT cle, valeur FROM source").fetchall())
        except sqlite3.Error as exc:
            raise InputError(
                str(self.path),
                f"ce fichier n'est pas un répertoire SIRENE installé par marches ({exc})",
                hint="Réinstallez-le avec « marches sirene install »",
            ) from exc
        if meta.get("version") != STORE_VERSION:
            raise InputError(
                str(self.path),
                f"répertoire SIRENE d'une autre version de marches (version {meta.get('version')})",
                hint="Réinstallez-le avec « marches sirene install »",
            )
        self.meta = meta
        self.date_stock: str | None = meta.get("date_stock")
        self._cache: dict[str, tuple | None] = {}

    @classmethod
    def in_memory(cls, etablissements: list[dict], unites_legales: list[dict], date_stock: str) -> Sirene:
        """A small store held in memory (the rules' examples), built like an installed one."""
        conn = sqlite3.connect(":memory:", check_same_thread=False)
        conn.executescript(SCHEMA)
        for table, rows in (("etablissements", etablissements), ("unites_legales", unites_legales)):
            for row in rows:
                columns = ", ".join(row)
                conn.execute(
                    f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' for _ in row)})", list(row.values())
                )
        meta = {"version": STORE_VERSION, "date_stock": date_stock}
        conn.executemany("INSERT INTO source VALUES (?, ?)", meta.items())
        return cls(":memory:", conn)

    def info(self) -> StoreInfo:
        return StoreInfo(
            path=self.path,
            date_stock=self.date_stock,
            installe_le=self.meta.get("installe_le"),
            etablissements=int(self.meta.get("etablissements", 0)),
            unites_legales=int(self.meta.get("unites_legales", 0)),
            fichiers=self.meta.get("fichiers", ""),
            octets=self.path.stat().st_size,
        )

    def lookup(self, sirets: Iterable[str | None]) -> pl.DataFrame:
        """One row per distinct well-formed SIRET (14 digits): known or not, and what SIRENE says of it."""
        wanted = {s for s in sirets if s is not None and len(s) == 14 and s.isdigit()}
        missing = [s for s in wanted if s not in self._cache]
        if len(self._cache) + len(missing) > CACHE_LIMIT:
            self._cache.clear()
            missing = list(wanted)
        for start in range(0, len(missing), LOOKUP_CHUNK):
            self._fetch(missing[start : start + LOOKUP_CHUNK])
        rows = []
        for siret in sorted(wanted):
            entry = self._cache[siret]
            if entry is None:
                rows.append((siret, False, False, *([None] * len(_FICHE_COLUMNS))))
            elif entry[0] == "siren":
                rows.append((siret, False, True, *([None] * len(_FICHE_COLUMNS))))
            else:
                rows.append((siret, True, True, *entry[1:]))
        return pl.DataFrame(rows, schema=LOOKUP_SCHEMA, orient="row")

    def _fetch(self, chunk: list[str]) -> None:
        marks = ", ".join("?" for _ in chunk)
        query = f"SELECT siret, {', '.join(_FICHE_COLUMNS)} FROM fiches WHERE siret IN ({marks})"
        found = {f"{r[0]:014d}": ("siret", *r[1:]) for r in self.conn.execute(query, [int(s) for s in chunk])}
        unknown = [s for s in chunk if s not in found]
        sirens: set[str] = set()
        if unknown:
            marks = ", ".join("?" for _ in unknown)
            sirens = {
                f"{r[0]:09d}"
                for r in self.conn.execute(
                    f"SELECT siren FROM unites_legales WHERE siren IN ({marks})", [int(s[:9]) for s in unknown]
                )
            }
        for siret in chunk:
            self._cache[siret] = found.get(siret) or (("siren",) if siret[:9] in sirens else None)

    def close(self) -> None:
        self.conn.close()


def resolve(explicit: Path | None) -> Sirene | None:
    """The store to validate or publish with: ``--sirene``, else the installed one, else None."""
    if explicit is not None:
        return Sirene(explicit)
    if installed_path().is_file():
        return Sirene(installed_path())
    return None


NOTICE = (
    "Répertoire SIRENE non installé : l'existence des SIRET et la date de fermeture des établissements ne "
    "sont pas vérifiées. Installez-le avec « marches sirene install StockEtablissement… StockUniteLegale… » "
    "ou passez --sirene FICHIER."
)

__all__ = ["NOTICE", "Sirene", "StoreInfo", "installed_path", "resolve"]
