"""``marches sirene install``: INSEE's stock files, streamed into the compact SQLite store.

The files are read as INSEE publishes them (official column names, UTF-8): ``StockEtablissement``
and ``StockUniteLegale``, as CSV (zipped or not) or Parquet. Which is which is told by the columns.
Reading is by batches of rows (polars streaming scan for CSV and Parquet; a zipped CSV is cut into
blocks at record boundaries, quotes respected), so that memory stays bounded whatever the size of
the files (40 million establishments nationally). Only the columns marches needs are kept.

The store is written next to its final place and renamed over it when complete: an interrupted
install leaves the previous store intact.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import sqlite3
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from marches.errors import InputError, OutputError
from marches.sirene import SCHEMA, STORE_VERSION, installed_path
from marches.sirene.labels import PRIVATE

BATCH_ROWS = 250_000
BLOCK_BYTES = 32 << 20  # bytes of a zipped CSV decompressed at a time

ETABLISSEMENT_COLUMNS = (
    "siret",
    "statutDiffusionEtablissement",
    "dateCreationEtablissement",
    "trancheEffectifsEtablissement",
    "dateDernierTraitementEtablissement",
    "etablissementSiege",
    "codePostalEtablissement",
    "libelleCommuneEtablissement",
    "codeCommuneEtablissement",
    "dateDebut",
    "etatAdministratifEtablissement",
    "enseigne1Etablissement",
    "denominationUsuelleEtablissement",
    "activitePrincipaleEtablissement",
)
UNITE_LEGALE_COLUMNS = (
    "siren",
    "statutDiffusionUniteLegale",
    "dateDernierTraitementUniteLegale",
    "categorieEntreprise",
    "etatAdministratifUniteLegale",
    "nomUniteLegale",
    "nomUsageUniteLegale",
    "prenom1UniteLegale",
    "prenomUsuelUniteLegale",
    "denominationUniteLegale",
    "sigleUniteLegale",
    "categorieJuridiqueUniteLegale",
)
KINDS = {
    "etablissements": ("StockEtablissement", ETABLISSEMENT_COLUMNS),
    "unites_legales": ("StockUniteLegale", UNITE_LEGALE_COLUMNS),
}
MASKED = "[ND]"  # what INSEE writes in place of a value it does not diffuse


@dataclass
class InstallSummary:
    path: Path
    rows: dict[str, int] = field(default_factory=lambda: {"etablissements": 0, "unites_legales": 0})
    rejected: dict[str, int] = field(default_factory=lambda: {"etablissements": 0, "unites_legales": 0})
    private: dict[str, int] = field(default_factory=lambda: {"etablissements": 0, "unites_legales": 0})
    date_stock: str | None = None
    files: list[dict] = field(default_factory=list)


# -- reading the files ---------------------------------------------------------------------------------


def _csv_member(archive: zipfile.ZipFile, path: Path) -> str:
    members = [n for n in archive.namelist() if n.lower().endswith(".csv")]
    if len(members) != 1:
        raise InputError(str(path), f"l'archive doit contenir un seul fichier CSV ({len(members)} trouvé(s))")
    return members[0]


def header(path: Path) -> list[str]:
    """The column names of a stock file."""
    try:
        if path.suffix.lower() == ".parquet":
            return list(pl.read_parquet_schema(path))
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as archive, archive.open(_csv_member(archive, path)) as stream:
                line = stream.readline()
        else:
            with path.open("rb") as stream:
                line = stream.readline()
    except (OSError, zipfile.BadZipFile, pl.exceptions.PolarsError) as exc:
        raise InputError(str(path), f"fichier illisible : {exc}") from exc
    return [c.strip().strip('"') for c in line.decode("utf-8-sig", errors="replace").strip().split(",")]


def kind_of(path: Path, columns: list[str]) -> str:
    """« etablissements » or « unites_legales », told by the official column names."""
    if "siret" in columns and "etatAdministratifEtablissement" in columns:
        kind = "etablissements"
    elif "siren" in columns and "statutDiffusionUniteLegale" in columns:
        kind = "unites_legales"
    else:
        raise InputError(
            str(path),
            "ni StockEtablissement ni StockUniteLegale : colonnes officielles « siret » et "
            "« etatAdministratifEtablissement », ou « siren » et « statutDiffusionUniteLegale », introuvables",
            hint="Utilisez les fichiers de stock SIRENE publiés par l'INSEE (CSV, zippé ou non, ou Parquet)",
        )
    missing = [c for c in KINDS[kind][1] if c not in columns]
    if missing:
        raise InputError(
            str(path),
            f"fichier {KINDS[kind][0]} incomplet : colonne(s) {', '.join(missing)} absente(s)",
            hint="Utilisez le fichier de stock publié par l'INSEE, sans le modifier",
        )
    return kind


def _record_end(data: bytes) -> int:
    """The index of the last newline of ``data`` outside quotes (-1 when there is none)."""
    quotes = data.count(b'"')
    end = len(data)
    while True:
        end = data.rfind(b"\n", 0, end)
        if end < 0:
            return -1
        quotes_after = data.count(b'"', end)
        if (quotes - quotes_after) % 2 == 0:
            return end


def _zip_batches(path: Path, columns: tuple[str, ...]) -> Iterator[pl.DataFrame]:
    with zipfile.ZipFile(path) as archive, archive.open(_csv_member(archive, path)) as stream:
        head = stream.readline()
        rest = b""
        while True:
            block = stream.read(BLOCK_BYTES)
            data = rest + block
            if block:
                cut = _record_end(data)
                if cut < 0:
                    rest = data
                    continue
                data, rest = data[: cut + 1], data[cut + 1 :]
            if data.strip():
                yield pl.read_csv(io.BytesIO(head + data), columns=list(columns), infer_schema=False)
            if not block:
                return


def batches(path: Path, columns: tuple[str, ...]) -> Iterator[pl.DataFrame]:
    """The file's rows, only ``columns``, as text, a batch at a time."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".zip":
            yield from _zip_batches(path, columns)
            return
        scan = pl.scan_parquet(path) if suffix == ".parquet" else pl.scan_csv(path, infer_schema=False)
        scan = scan.select(pl.col(c).cast(pl.String) for c in columns)
        yield from scan.collect_batches(chunk_size=BATCH_ROWS)
    except (OSError, zipfile.BadZipFile, pl.exceptions.PolarsError) as exc:
        raise InputError(str(path), f"fichier illisible : {exc}") from exc


# -- what is kept --------------------------------------------------------------------------------------


def _value(column: str) -> pl.Expr:
    """The column's value, « [ND] » and blanks read as absent."""
    text = pl.col(column).str.strip_chars()
    return pl.when(text.is_in([MASKED, ""])).then(None).otherwise(text)


def _shown(private: pl.Expr, expr: pl.Expr) -> pl.Expr:
    return pl.when(private).then(None).otherwise(expr)


def etablissements(batch: pl.DataFrame, private_units: pl.Series) -> pl.DataFrame:
    """The establishments' columns kept. An establishment of a legal unit under partial diffusion is
    private too (an entrepreneur's sign often is their name): its name and place are never written."""
    siret = pl.col("siret").str.strip_chars()
    own = pl.col("statutDiffusionEtablissement").is_in(PRIVATE).fill_null(False)
    of_unit = (siret.cast(pl.Int64, strict=False) // 100000).is_in(private_units.implode()).fill_null(False)
    private = own | of_unit
    return batch.select(
        siret.cast(pl.Int64, strict=False).alias("siret"),
        _value("etatAdministratifEtablissement").alias("etat"),
        _value("dateDebut").str.slice(0, 10).alias("date_debut"),
        _value("dateCreationEtablissement").str.slice(0, 10).alias("date_creation"),
        (_value("etablissementSiege").str.to_lowercase() == "true").cast(pl.Int64).alias("siege"),
        _shown(
            private, pl.coalesce(_value("enseigne1Etablissement"), _value("denominationUsuelleEtablissement"))
        ).alias("enseigne"),
        _value("activitePrincipaleEtablissement").alias("naf"),
        _value("trancheEffectifsEtablissement").alias("tranche_effectifs"),
        _shown(private, _value("codePostalEtablissement")).alias("code_postal"),
        _shown(private, _value("codeCommuneEtablissement")).alias("code_commune"),
        pl.when(~own & of_unit).then(pl.lit("P")).otherwise(_value("statutDiffusionEtablissement")).alias("diffusion"),
        _shown(private, _value("libelleCommuneEtablissement")).alias("_commune"),
        _value("dateDernierTraitementEtablissement").str.slice(0, 10).alias("_traite"),
        siret.str.contains(r"^\d{14}$").fill_null(False).alias("_ok"),
    )


def unites_legales(batch: pl.DataFrame) -> pl.DataFrame:
    private = pl.col("statutDiffusionUniteLegale").is_in(PRIVATE).fill_null(False)
    person = pl.concat_str(
        pl.coalesce(_value("prenomUsuelUniteLegale"), _value("prenom1UniteLegale")),
        pl.coalesce(_value("nomUsageUniteLegale"), _value("nomUniteLegale")),
        separator=" ",
        ignore_nulls=True,
    )
    return batch.select(
        pl.col("siren").str.strip_chars().cast(pl.Int64, strict=False).alias("siren"),
        _shown(private, pl.coalesce(_value("denominationUniteLegale"), pl.when(person != "").then(person))).alias(
            "nom"
        ),
        _shown(private, _value("sigleUniteLegale")).alias("sigle"),
        _value("categorieJuridiqueUniteLegale").alias("categorie_juridique"),
        _value("categorieEntreprise").alias("categorie_entreprise"),
        _value("etatAdministratifUniteLegale").alias("etat"),
        _value("statutDiffusionUniteLegale").alias("diffusion"),
        _value("dateDernierTraitementUniteLegale").str.slice(0, 10).alias("_traite"),
        pl.col("siren").str.strip_chars().str.contains(r"^\d{9}$").fill_null(False).alias("_ok"),
    )


STORED = {
    "etablissements": (
        "siret",
        "etat",
        "date_debut",
        "date_creation",
        "siege",
        "enseigne",
        "naf",
        "tranche_effectifs",
        "code_postal",
        "code_commune",
        "diffusion",
    ),
    "unites_legales": ("siren", "nom", "sigle", "categorie_juridique", "categorie_entreprise", "etat", "diffusion"),
}


def install(
    paths: list[Path], target: Path | None = None, progress: Callable[[str, int], None] | None = None
) -> InstallSummary:
    """Read the stock files into a new store at ``target`` (the user cache by default), atomically."""
    target = Path(target) if target is not None else installed_path()
    kinds: dict[str, list[Path]] = {"etablissements": [], "unites_legales": []}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise InputError(str(path), "fichier introuvable")
        kinds[kind_of(path, header(path))].append(path)
    for kind, found in kinds.items():
        if not found:
            raise InputError(
                ", ".join(str(p) for p in paths),
                f"il manque le fichier {KINDS[kind][0]} : donnez les deux fichiers de stock ensemble",
                hint="Par exemple : marches sirene install StockEtablissement_utf8.zip StockUniteLegale_utf8.zip",
            )
    summary = InstallSummary(target)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.unlink(missing_ok=True)
        conn = sqlite3.connect(tmp)
        try:
            # secure_delete: a replaced row leaves none of its bytes in the file
            conn.executescript(
                "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144; "
                "PRAGMA secure_delete = ON;"
            )
            conn.executescript(SCHEMA)
            communes: dict[str, str] = {}
            dates: list[str] = []
            private: list[pl.Series] = []  # SIRENs under partial diffusion: read first, they hide establishments
            for kind in ("unites_legales", "etablissements"):
                for path in kinds[kind]:
                    rows = _load(conn, kind, path, summary, communes, dates, private, progress)
                    summary.files.append({"fichier": path.name, "type": KINDS[kind][0], "lignes": rows})
            conn.executemany("INSERT OR REPLACE INTO communes VALUES (?, ?)", sorted(communes.items()))
            summary.date_stock = max(dates) if dates else None
            meta = {
                "version": STORE_VERSION,
                "date_stock": summary.date_stock,
                "installe_le": dt.datetime.now().isoformat(timespec="seconds"),
                "etablissements": str(summary.rows["etablissements"]),
                "unites_legales": str(summary.rows["unites_legales"]),
                "fichiers": json.dumps(summary.files, ensure_ascii=False),
            }
            conn.executemany("INSERT INTO source VALUES (?, ?)", meta.items())
            conn.commit()
        finally:
            conn.close()
        os.replace(tmp, target)
    except sqlite3.Error as exc:
        raise OutputError(f"Impossible d'écrire le répertoire SIRENE {target} : {exc}") from exc
    except OSError as exc:
        raise OutputError(f"Impossible d'écrire le répertoire SIRENE {target} : {exc.strerror}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return summary


def _load(conn, kind, path, summary, communes, dates, private, progress) -> int:
    columns = STORED[kind]
    insert = f"INSERT OR REPLACE INTO {kind} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    read = 0
    private_units = pl.concat(private) if private else pl.Series([], dtype=pl.Int64)
    for batch in batches(path, KINDS[kind][1]):
        frame = etablissements(batch, private_units) if kind == "etablissements" else unites_legales(batch)
        good = frame.filter(pl.col("_ok"))
        summary.rejected[kind] += frame.height - good.height
        summary.rows[kind] += good.height
        summary.private[kind] += good.filter(pl.col("diffusion").is_in(PRIVATE)).height
        latest = good.get_column("_traite").max()
        if latest:
            dates.append(latest)
        if kind == "etablissements":
            pairs = good.select("code_commune", "_commune").drop_nulls().unique("code_commune")
            communes.update(pairs.iter_rows())
        else:
            private.append(good.filter(pl.col("diffusion").is_in(PRIVATE)).get_column("siren"))
        conn.executemany(insert, good.select(columns).iter_rows())
        read += frame.height
        if progress:
            progress(KINDS[kind][0], read)
    return read
