"""Fictitious SIRENE stock files in INSEE's official layout (header, column order, value formats), for
tests, the demonstration and the benchmark. No SIRENE data is shipped or read.

The establishments and legal units of ``marches generate``'s buyers and titulaires (same seed, same
number of contracts) are written first, with the cases validation must find: a few SIRETs left out
(unknown to SIRENE), establishments closed before the contracts, buyers whose legal category is
not a public body's, entrepreneurs under partial diffusion (« P »). Filler units follow, generated
column-wise by polars, up to the requested number of establishments (40 million nationally), in
SIREN order as INSEE publishes them (after the contracts' own units).
"""

from __future__ import annotations

import io
import random
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from marches.generate import PERIODS
from marches.generate.contracts import ContractFactory
from marches.generate.vocabulary import PEOPLE

# The official header lines (dessin de fichier des stocks, version 3.11).
ETABLISSEMENT_LINE = (
    "siren,nic,siret,statutDiffusionEtablissement,dateCreationEtablissement,trancheEffectifsEtablissement,"
    "anneeEffectifsEtablissement,activitePrincipaleRegistreMetiersEtablissement,dateDernierTraitementEtablissement,"
    "etablissementSiege,nombrePeriodesEtablissement,complementAdresseEtablissement,numeroVoieEtablissement,"
    "indiceRepetitionEtablissement,dernierNumeroVoieEtablissement,indiceRepetitionDernierNumeroVoieEtablissement,"
    "typeVoieEtablissement,libelleVoieEtablissement,codePostalEtablissement,libelleCommuneEtablissement,"
    "libelleCommuneEtrangerEtablissement,distributionSpecialeEtablissement,codeCommuneEtablissement,"
    "codeCedexEtablissement,libelleCedexEtablissement,codePaysEtrangerEtablissement,libellePaysEtrangerEtablissement,"
    "identifiantAdresseEtablissement,coordonneeLambertAbscisseEtablissement,coordonneeLambertOrdonneeEtablissement,"
    "complementAdresse2Etablissement,numeroVoie2Etablissement,indiceRepetition2Etablissement,typeVoie2Etablissement,"
    "libelleVoie2Etablissement,codePostal2Etablissement,libelleCommune2Etablissement,"
    "libelleCommuneEtranger2Etablissement,distributionSpeciale2Etablissement,codeCommune2Etablissement,"
    "codeCedex2Etablissement,libelleCedex2Etablissement,codePaysEtranger2Etablissement,"
    "libellePaysEtranger2Etablissement,dateDebut,etatAdministratifEtablissement,enseigne1Etablissement,"
    "enseigne2Etablissement,enseigne3Etablissement,denominationUsuelleEtablissement,activitePrincipaleEtablissement,"
    "nomenclatureActivitePrincipaleEtablissement,caractereEmployeurEtablissement"
)
UNITE_LEGALE_LINE = (
    "siren,statutDiffusionUniteLegale,unitePurgeeUniteLegale,dateCreationUniteLegale,sigleUniteLegale,"
    "sexeUniteLegale,prenom1UniteLegale,prenom2UniteLegale,prenom3UniteLegale,prenom4UniteLegale,"
    "prenomUsuelUniteLegale,pseudonymeUniteLegale,identifiantAssociationUniteLegale,trancheEffectifsUniteLegale,"
    "anneeEffectifsUniteLegale,dateDernierTraitementUniteLegale,nombrePeriodesUniteLegale,categorieEntreprise,"
    "anneeCategorieEntreprise,dateDebut,etatAdministratifUniteLegale,nomUniteLegale,nomUsageUniteLegale,"
    "denominationUniteLegale,denominationUsuelle1UniteLegale,denominationUsuelle2UniteLegale,"
    "denominationUsuelle3UniteLegale,categorieJuridiqueUniteLegale,activitePrincipaleUniteLegale,"
    "nomenclatureActivitePrincipaleUniteLegale,nicSiegeUniteLegale,economieSocialeSolidaireUniteLegale,"
    "societeMissionUniteLegale,caractereEmployeurUniteLegale"
)
ETABLISSEMENT_HEADER = ETABLISSEMENT_LINE.split(",")
UNITE_LEGALE_HEADER = UNITE_LEGALE_LINE.split(",")
NAMES = {"etablissements": "StockEtablissement_utf8", "unites_legales": "StockUniteLegale_utf8"}
# (code commune, libellé, code postal): places of the generated establishments
COMMUNES = (
    ("75056", "PARIS", "75011"),
    ("69123", "LYON", "69003"),
    ("13055", "MARSEILLE", "13001"),
    ("31555", "TOULOUSE", "31000"),
    ("06088", "NICE", "06000"),
    ("44109", "NANTES", "44000"),
    ("67482", "STRASBOURG", "67000"),
    ("34172", "MONTPELLIER", "34000"),
    ("33063", "BORDEAUX", "33000"),
    ("59350", "LILLE", "59000"),
    ("35238", "RENNES", "35000"),
    ("51454", "REIMS", "51100"),
    ("42218", "SAINT-ETIENNE", "42000"),
    ("38185", "GRENOBLE", "38000"),
    ("21231", "DIJON", "21000"),
    ("49007", "ANGERS", "49000"),
    ("63113", "CLERMONT-FERRAND", "63000"),
    ("29019", "BREST", "29200"),
    ("37261", "TOURS", "37000"),
    ("87085", "LIMOGES", "87000"),
    ("2A004", "AJACCIO", "20000"),
    ("97411", "SAINT-DENIS", "97400"),
)
# The towns buyers are named after (vocabulary.TOWNS): a « Commune de Vannes » is in Vannes.
BUYER_TOWNS = {
    "Rennes": ("35238", "RENNES", "35000"),
    "Lyon": ("69123", "LYON", "69003"),
    "Bordeaux": ("33063", "BORDEAUX", "33000"),
    "Nantes": ("44109", "NANTES", "44000"),
    "Lille": ("59350", "LILLE", "59000"),
    "Toulouse": ("31555", "TOULOUSE", "31000"),
    "Dijon": ("21231", "DIJON", "21000"),
    "Brest": ("29019", "BREST", "29200"),
    "Grenoble": ("38185", "GRENOBLE", "38000"),
    "Limoges": ("87085", "LIMOGES", "87000"),
    "Poitiers": ("86194", "POITIERS", "86000"),
    "Annecy": ("74010", "ANNECY", "74000"),
    "Millau": ("12145", "MILLAU", "12100"),
    "Quimper": ("29232", "QUIMPER", "29000"),
    "Colmar": ("68066", "COLMAR", "68000"),
    "Pau": ("64445", "PAU", "64000"),
    "Albi": ("81004", "ALBI", "81000"),
    "Auxerre": ("89024", "AUXERRE", "89000"),
    "Vannes": ("56260", "VANNES", "56000"),
    "Niort": ("79191", "NIORT", "79000"),
    "Arras": ("62041", "ARRAS", "62000"),
    "Bayonne": ("64102", "BAYONNE", "64100"),
}
NAF_COMPANIES = ("43.21A", "41.20A", "71.12B", "81.21Z", "62.01Z", "49.41A", "56.10A", "70.22Z", "43.99C", "47.11F")
NAF_PUBLIC = ("84.11Z", "84.12Z", "85.20Z", "86.10Z", "84.13Z")
BUYER_CATEGORIES = ("7210", "7210", "7210", "7346", "7220", "7230", "7361", "7383", "4140", "7120")
COMPANY_CATEGORIES = ("5710", "5710", "5499", "5499", "5599", "5498", "6540", "9220")
FIRST_NAMES = ("Camille", "Léa", "Maëlys", "Chloé", "Gaspard", "Inès", "Timothée", "Manon")  # in no other vocabulary
TRANCHES = ("NN", "00", "01", "02", "03", "11", "12", "21", "22", "31", "32", "41")
PRIVATE_SHARE, CLOSED_SHARE, UNKNOWN_SHARE, PRIVATE_BUYER_SHARE = 0.03, 0.02, 0.01, 0.03
FILLER_START = 10_000_000  # filler SIREN bases (8 digits before the key), spread by FILLER_STEP
FILLER_STEP = 3
CHUNK = 1_000_000


def luhn_key(digits: str) -> str:
    """The digit that makes ``digits`` + it pass the Luhn check."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


@dataclass
class SireneTruth:
    """What the generated files hold about the contracts' SIRETs (for tests)."""

    unknown: set[str]
    closed: dict[str, str]  # SIRET -> closing date
    private: set[str]
    not_public_buyers: set[str]
    names: dict[str, str]  # SIRET -> name written in the files (even for partial diffusion when unmasked)


def _blank_etablissement() -> dict[str, str | None]:
    return dict.fromkeys(ETABLISSEMENT_HEADER)


def _known_rows(seed: int, contracts: int, fmt: str, mask_private: bool):
    """Rows for the buyers and titulaires of ``marches generate`` with the same seed, and the truth."""
    start, end = PERIODS[fmt]
    factory = ContractFactory(seed, contracts, start, end)
    rng = random.Random(seed + 7)
    truth = SireneTruth(set(), {}, set(), set(), {})
    etablissements, unites = [], {}
    for role, population in (("acheteur", factory.buyers), ("titulaire", factory.holders)):
        for index, (siret, name) in enumerate(population):
            # the most frequent buyers and titulaires (Zipf: the head of the list) are ordinary ones
            rare = index >= len(population) // 10
            if rare and rng.random() < UNKNOWN_SHARE:
                truth.unknown.add(siret)
                continue
            siren = siret[:9]
            commune = rng.choice(COMMUNES)
            if role == "acheteur" and name and name.rsplit(" ", 1)[-1] in BUYER_TOWNS and " de " in name:
                commune = BUYER_TOWNS[name.rsplit(" ", 1)[-1]]
            private = rare and role == "titulaire" and rng.random() < PRIVATE_SHARE
            closed = rare and rng.random() < CLOSED_SHARE
            public = role == "acheteur" and not (rare and rng.random() < PRIVATE_BUYER_SHARE)
            category = rng.choice(BUYER_CATEGORIES if public else ("1000",) if private else COMPANY_CATEGORIES)
            if role == "acheteur" and not public:
                truth.not_public_buyers.add(siret)
            first, last = rng.choice(FIRST_NAMES), rng.choice(PEOPLE)
            diffusion = "P" if private else "O"
            hidden = "[ND]" if private and mask_private else None
            truth.names[siret] = f"{first} {last}" if private else name
            if private:
                truth.private.add(siret)
            created = date(rng.randint(1975, 2022), rng.randint(1, 12), rng.randint(1, 28)).isoformat()
            closing = date(2023, rng.randint(1, 12), rng.randint(1, 28)).isoformat() if closed else None
            if closed:
                truth.closed[siret] = closing
            row = _blank_etablissement()
            row.update(
                siren=siren,
                nic=siret[9:],
                siret=siret,
                statutDiffusionEtablissement=diffusion,
                dateCreationEtablissement=created,
                trancheEffectifsEtablissement=rng.choice(TRANCHES),
                anneeEffectifsEtablissement="2022",
                dateDernierTraitementEtablissement="2026-11-02T03:14:07.000",
                etablissementSiege="true",
                nombrePeriodesEtablissement="2" if closed else "1",
                numeroVoieEtablissement=hidden or str(rng.randint(1, 120)),
                typeVoieEtablissement=hidden or rng.choice(("RUE", "AV", "BD", "PL")),
                libelleVoieEtablissement=hidden or rng.choice(("DE LA REPUBLIQUE", "JEAN JAURES", "VICTOR HUGO")),
                codePostalEtablissement=hidden or commune[2],
                libelleCommuneEtablissement=hidden or commune[1],
                codeCommuneEtablissement=hidden or commune[0],
                dateDebut=closing or created,
                etatAdministratifEtablissement="F" if closed else "A",
                enseigne1Etablissement=hidden or (f"{first} {last}".upper() if private else None),
                activitePrincipaleEtablissement=rng.choice(NAF_PUBLIC if role == "acheteur" else NAF_COMPANIES),
                nomenclatureActivitePrincipaleEtablissement="NAFRev2",
                caractereEmployeurEtablissement="O",
            )
            etablissements.append(row)
            unit = dict.fromkeys(UNITE_LEGALE_HEADER)
            unit.update(
                siren=siren,
                statutDiffusionUniteLegale=diffusion,
                dateCreationUniteLegale=created,
                trancheEffectifsUniteLegale=row["trancheEffectifsEtablissement"],
                anneeEffectifsUniteLegale="2022",
                dateDernierTraitementUniteLegale="2026-11-02T03:14:07.000",
                nombrePeriodesUniteLegale="1",
                categorieEntreprise=None
                if public
                else "PME"
                if private
                else rng.choice(("PME", "PME", "PME", "ETI", "GE")),
                anneeCategorieEntreprise=None if public else "2022",
                dateDebut=created,
                etatAdministratifUniteLegale="A",
                categorieJuridiqueUniteLegale=category,
                activitePrincipaleUniteLegale=row["activitePrincipaleEtablissement"],
                nomenclatureActivitePrincipaleUniteLegale="NAFRev2",
                nicSiegeUniteLegale=siret[9:],
                caractereEmployeurUniteLegale="O",
            )
            if private:
                unit.update(
                    sexeUniteLegale=hidden or "F",
                    prenom1UniteLegale=hidden or first,
                    prenomUsuelUniteLegale=hidden or first,
                    nomUniteLegale=hidden or last.upper(),
                )
            else:
                unit["denominationUniteLegale"] = name.upper() if role == "titulaire" else name
            unites.setdefault(siren, unit)
    return etablissements, list(unites.values()), truth


def _pick(h: pl.Expr, choices: tuple[str, ...]) -> pl.Expr:
    return (h % len(choices)).replace_strict(dict(enumerate(choices)), return_dtype=pl.String)


def _luhn_expr(number: pl.Expr, width: int) -> pl.Expr:
    """The Luhn key of an integer written on ``width`` digits (vectorised)."""
    total = pl.lit(0, dtype=pl.Int64)
    for i in range(width):
        digit = (number // (10**i)) % 10
        if i % 2 == 0:
            digit = digit * 2
            digit = pl.when(digit > 9).then(digit - 9).otherwise(digit)
        total = total + digit
    return (10 - total % 10) % 10


def _filler(first_unit: int, units: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Filler legal units ``first_unit`` … (one or two establishments each), all official columns."""
    j = pl.int_range(first_unit, first_unit + units, dtype=pl.Int64)
    base = FILLER_START + j * FILLER_STEP
    units_frame = pl.select(base.alias("base")).with_columns(
        (pl.col("base") * 10 + _luhn_expr(pl.col("base"), 8)).alias("siren_n"),
        pl.col("base").hash(seed).alias("h"),
    )
    etabs = (
        units_frame.with_columns(pl.when(pl.col("h") % 3 == 0).then(pl.lit([1, 2])).otherwise(pl.lit([1])).alias("k"))
        .explode("k")
        .with_columns((pl.col("siren_n") * 10000 + pl.col("k")).alias("nic_base"))
        .with_columns((pl.col("nic_base") * 10 + _luhn_expr(pl.col("nic_base"), 13)).alias("siret_n"))
        .with_columns((pl.col("h") // 7 + pl.col("k")).alias("g"))
    )
    commune = pl.col("g") % len(COMMUNES)
    closed = pl.col("g") % 9 == 0
    created = pl.date(1970 + pl.col("g") % 53, 1 + pl.col("g") % 12, 1 + pl.col("g") % 28).cast(pl.String)
    siren = pl.col("siren_n").cast(pl.String).str.zfill(9)
    etab_values = {
        "siren": siren,
        "nic": (pl.col("siret_n") % 100000).cast(pl.String).str.zfill(5),
        "siret": pl.col("siret_n").cast(pl.String).str.zfill(14),
        "statutDiffusionEtablissement": pl.lit("O"),
        "dateCreationEtablissement": created,
        "trancheEffectifsEtablissement": _pick(pl.col("g"), TRANCHES),
        "anneeEffectifsEtablissement": pl.lit("2022"),
        "dateDernierTraitementEtablissement": pl.lit("2026-10-14T02:51:33.000"),
        "etablissementSiege": pl.when(pl.col("k") == 1).then(pl.lit("true")).otherwise(pl.lit("false")),
        "nombrePeriodesEtablissement": pl.lit("1"),
        "numeroVoieEtablissement": (1 + pl.col("g") % 150).cast(pl.String),
        "typeVoieEtablissement": _pick(pl.col("g"), ("RUE", "AV", "BD", "CHE", "PL")),
        "libelleVoieEtablissement": _pick(pl.col("h"), ("DE LA GARE", "DU MOULIN", "DES ECOLES", "PASTEUR")),
        "codePostalEtablissement": commune.replace_strict({i: c[2] for i, c in enumerate(COMMUNES)}),
        "libelleCommuneEtablissement": commune.replace_strict({i: c[1] for i, c in enumerate(COMMUNES)}),
        "codeCommuneEtablissement": commune.replace_strict({i: c[0] for i, c in enumerate(COMMUNES)}),
        "dateDebut": pl.when(closed).then(pl.lit("2021-06-30")).otherwise(created),
        "etatAdministratifEtablissement": pl.when(closed).then(pl.lit("F")).otherwise(pl.lit("A")),
        "activitePrincipaleEtablissement": _pick(pl.col("h"), NAF_COMPANIES),
        "nomenclatureActivitePrincipaleEtablissement": pl.lit("NAFRev2"),
        "caractereEmployeurEtablissement": _pick(pl.col("g"), ("O", "N")),
    }
    etab_frame = etabs.select(
        (etab_values[c] if c in etab_values else pl.lit(None, dtype=pl.String)).alias(c) for c in ETABLISSEMENT_HEADER
    )
    unit_values = {
        "siren": siren,
        "statutDiffusionUniteLegale": pl.lit("O"),
        "dateCreationUniteLegale": pl.date(1970 + pl.col("h") % 53, 1, 1).cast(pl.String),
        "trancheEffectifsUniteLegale": _pick(pl.col("h"), TRANCHES),
        "dateDernierTraitementUniteLegale": pl.lit("2026-10-14T02:51:33.000"),
        "nombrePeriodesUniteLegale": pl.lit("1"),
        "categorieEntreprise": _pick(pl.col("h"), ("PME", "PME", "PME", "PME", "ETI", "GE")),
        "anneeCategorieEntreprise": pl.lit("2022"),
        "dateDebut": pl.date(1970 + pl.col("h") % 53, 1, 1).cast(pl.String),
        "etatAdministratifUniteLegale": pl.lit("A"),
        "denominationUniteLegale": pl.concat_str(pl.lit("SOCIETE "), siren),
        "categorieJuridiqueUniteLegale": _pick(pl.col("h"), COMPANY_CATEGORIES),
        "activitePrincipaleUniteLegale": _pick(pl.col("h"), NAF_COMPANIES),
        "nomenclatureActivitePrincipaleUniteLegale": pl.lit("NAFRev2"),
        "nicSiegeUniteLegale": pl.lit("00010"),
        "caractereEmployeurUniteLegale": pl.lit("O"),
    }
    unit_frame = units_frame.select(
        (unit_values[c] if c in unit_values else pl.lit(None, dtype=pl.String)).alias(c) for c in UNITE_LEGALE_HEADER
    )
    return etab_frame, unit_frame


class _Writer:
    """Appends frames to a CSV (zipped or not) or a Parquet file, header once."""

    def __init__(self, path: Path, fmt: str, member: str):
        self.path, self.fmt, self.parts, self.first = path, fmt, [], True
        if fmt == "zip":
            self.archive = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
            self.stream = self.archive.open(member, "w", force_zip64=True)
        elif fmt == "csv":
            self.stream = path.open("wb")

    def write(self, frame: pl.DataFrame) -> None:
        if self.fmt == "parquet":
            self.parts.append(frame)
            return
        buffer = io.BytesIO()
        frame.write_csv(buffer, include_header=self.first)
        self.stream.write(buffer.getvalue())
        self.first = False

    def close(self) -> None:
        if self.fmt == "parquet":
            pl.concat(self.parts).write_parquet(self.path)
            return
        self.stream.close()
        if self.fmt == "zip":
            self.archive.close()


def generate_sirene(
    out: Path,
    fmt: str = "zip",
    etablissements: int = 0,
    seed: int = 0,
    contracts: int = 1000,
    decp_format: str = "json-2022",
    mask_private: bool = True,
) -> tuple[dict[str, Path], SireneTruth]:
    """Write StockEtablissement and StockUniteLegale into the folder ``out``; at least the contracts' SIRETs,
    then filler units up to ``etablissements`` establishments. Parquet is for small files (written at once)."""
    out.mkdir(parents=True, exist_ok=True)
    suffix = {"zip": ".zip", "csv": ".csv", "parquet": ".parquet"}[fmt]
    paths = {kind: out / f"{name}{suffix}" for kind, name in NAMES.items()}
    known_etabs, known_units, truth = _known_rows(seed, contracts, decp_format, mask_private)
    writers = {kind: _Writer(paths[kind], fmt, f"{NAMES[kind]}.csv") for kind in NAMES}
    schema = {"etablissements": ETABLISSEMENT_HEADER, "unites_legales": UNITE_LEGALE_HEADER}
    for kind, rows in (("etablissements", known_etabs), ("unites_legales", known_units)):
        rows = sorted(rows, key=lambda r: r["siret" if kind == "etablissements" else "siren"])
        writers[kind].write(pl.DataFrame(rows, schema=dict.fromkeys(schema[kind], pl.String), orient="row"))
    remaining, unit = etablissements - len(known_etabs), 0
    while remaining > 0:
        units = max(1, min(CHUNK, round(remaining / 1.33)))
        etab_frame, unit_frame = _filler(unit, units, seed)
        etab_frame = etab_frame.head(remaining)
        writers["etablissements"].write(etab_frame)
        writers["unites_legales"].write(unit_frame)
        remaining -= etab_frame.height
        unit += units
    for writer in writers.values():
        writer.close()
    return paths, truth
