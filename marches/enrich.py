"""What the database adds to the published data for browsing: reliable columns, reference tables
(labels of codes), the buyers and titulaires as entities, and pre-aggregated statistics.

Reliable columns (``montant_fiable``, ``date_fiable``, ``annee_fiable``…) leave out the values that
validation flagged (placeholder or implausible amounts, dates before the floor or in the future of
the data), so that sums, facets, default sorts and charts are not led by defective records. A
contract that names the same titulaire twice counts once in every statistic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl
import sqlite_utils

from marches.nomenclatures import DEPARTEMENTS, DIVISIONS_CPV, SEVERITES, departement_expr, departement_sql
from marches.sirene.platform import ENTITY_COLUMNS

AMOUNT_CODES = ("amount-placeholder", "amount-implausible")
AMOUNT_FLAGS = " OR ".join(f"constats LIKE '%{code}%'" for code in AMOUNT_CODES)
DATE_FLAGS = ("date-floor", "date-future")
GROWTH_MIN_AMOUNT = 1000  # € HT: below it an initial amount is symbolic (1 €…) and its growth meaningless
GROWTH_MAX_AMOUNT = 3_000_000_000  # € HT: the implausible amount of the rules


@dataclass(frozen=True)
class Insertion:
    """What the columns computed as the rows are inserted read besides the row: the reference date of the
    data, and the records whose date the validation flagged (``constats`` of codes ``DATE_FLAGS``)."""

    as_of: str  # YYYY-MM-DD
    flagged_dates: pl.DataFrame  # field, record_key
    # table -> its expressions, stage by stage: built at its first batch, not at every batch
    _stages: dict[str, list[list[pl.Expr]]] = field(default_factory=dict, compare=False, repr=False)

    def names(self, table: str) -> list[str]:
        """The derived columns of ``table`` computed at insertion, in the order ``frame`` adds them."""
        return [d.name for d in _at_insertion(table)]

    def frame(self, table: str, rows: pl.DataFrame) -> pl.DataFrame:
        """``rows`` (values as stored: dates as text) with the derived columns of ``table`` computed at insertion."""
        if table not in self._stages:
            derived = _at_insertion(table)
            self._stages[table] = [
                [d.polars(self).cast(_POLARS_TYPES[d.type]).alias(d.name) for d in derived if d.stage == stage]
                for stage in sorted({d.stage for d in derived})
            ]
        for expressions in self._stages[table]:
            rows = rows.with_columns(expressions)
        return rows

    def flagged(self, column: str) -> pl.Expr:
        """True for the rows whose ``column`` the validation flagged (date before the floor or in the future)."""
        keys = self.flagged_dates.filter(pl.col("field") == column).get_column("record_key")
        return pl.col("record_key").is_in(keys.implode())


_POLARS_TYPES = {str: pl.String, int: pl.Int64, float: pl.Float64}


@dataclass(frozen=True)
class Derived:
    """A column computed in the database for browsing (not part of the published data)."""

    table: str
    name: str
    type: type
    title: str
    description: str
    sql: str  # SQL expression over the row; {as_of} is the reference date of the data
    stage: int = 1  # stage 2 expressions read stage 1 columns; stage 3 ones the buyers and titulaires
    # stage 0: filled before the indexes by ``marches.sirene.platform.categories`` (``sql`` says what it computes)
    # The same value as ``sql`` computed by polars as the rows are inserted, on the other core while SQLite writes
    # (tests hold the two equal on every kind of value); None: ``derive`` runs ``sql`` once the rows are in.
    polars: Callable[[Insertion], pl.Expr] | None = None
    # SQL condition outside of which ``sql`` is NULL: ``derive`` updates only these rows (the others stay NULL)
    rows: str | None = None


def _at_insertion(table: str) -> list[Derived]:
    """The derived columns of ``table`` computed at insertion, stage by stage."""
    return sorted((d for d in DERIVED if d.table == table and d.polars is not None), key=lambda d: d.stage)


def _like(column: str, text: str) -> pl.Expr:
    """``column LIKE '%text%'``: SQLite's LIKE ignores the case of ASCII letters (``text`` is ASCII)."""
    return pl.col(column).str.to_lowercase().str.contains(text.lower(), literal=True)


def _reliable_date_expr(column: str) -> Callable[[Insertion], pl.Expr]:
    def expr(at: Insertion) -> pl.Expr:
        value = pl.col(column)  # a date as stored: YYYY-MM-DD, checked against its Table Schema on the way in
        return pl.when(value.is_null() | (value > pl.lit(at.as_of)) | at.flagged(column)).then(None).otherwise(value)

    return expr


def _reliable_amount_expr(column: str) -> Callable[[Insertion], pl.Expr]:
    flags = pl.any_horizontal(_like("constats", code) for code in AMOUNT_CODES).fill_null(False)
    return lambda _: pl.when(flags).then(None).otherwise(pl.col(column))


def _flag_expr(column: str, when_one: pl.Expr) -> Callable[[Insertion], pl.Expr]:
    """1 where ``when_one``, 0 elsewhere, nothing where ``column`` is empty."""
    return lambda _: pl.when(pl.col(column).is_null()).then(None).when(when_one).then(1).otherwise(0)


def _departement_expr(_: Insertion) -> pl.Expr:
    code = departement_expr("lieuExecution_code", "lieuExecution_typeCode")
    return pl.when(code.is_in(list(DEPARTEMENTS))).then(code)


def _place_expr(_: Insertion) -> pl.Expr:
    label = pl.col("departement").replace_strict({c: f"{n} ({c})" for c, n in DEPARTEMENTS.items()}, default=None)
    as_published = pl.concat_str(
        pl.concat_str(pl.col("lieuExecution_typeCode"), pl.lit(" ")).fill_null(""),
        pl.col("lieuExecution_code").fill_null(""),
    )
    text = pl.concat_str(
        pl.concat_str(pl.col("lieuExecution_nom"), pl.lit(", ")).fill_null(""),
        pl.coalesce(label, as_published),
    ).str.strip_chars(", ")
    return pl.when(text != "").then(text)


def _reliable_date(column: str) -> str:
    codes = ", ".join(f"'{c}'" for c in DATE_FLAGS)
    return (
        f"CASE WHEN date({column}) IS NULL OR {column} > '{{as_of}}' OR record_key IN "
        f"(SELECT record_key FROM constats WHERE code IN ({codes}) AND field = '{column}') THEN NULL "
        f"ELSE {column} END"
    )


def _place(table: str) -> list[Derived]:
    return [
        Derived(
            table,
            "departement",
            str,
            "Département",
            "Département du lieu d'exécution, déduit de son code (commune, code postal ou département) ; vide pour "
            "un code de région ou de pays.",
            "(SELECT code FROM departements WHERE code = "
            + departement_sql("lieuExecution_code", "lieuExecution_typeCode")
            + ")",
            polars=_departement_expr,
        ),
        Derived(
            table,
            "lieu",
            str,
            "Lieu d'exécution",
            "Nom du lieu (format 2019) et département, en clair : cherchez un département par son nom.",
            "nullif(trim(coalesce(lieuExecution_nom || ', ', '') || coalesce((SELECT nom || ' (' || code || ')' "
            "FROM departements WHERE code = departement), coalesce(lieuExecution_typeCode || ' ', '') || "
            "coalesce(lieuExecution_code, '')), ', '), '')",
            stage=2,
            polars=_place_expr,
        ),
    ]


DERIVED = (
    Derived(
        "marches",
        "date_fiable",
        str,
        "Date de notification (fiable)",
        "La date de notification, sauf si la validation l'a signalée (antérieure à l'an 2000 ou postérieure "
        "à la date de vérification des données) : les tris par date l'utilisent.",
        _reliable_date("dateNotification"),
        polars=_reliable_date_expr("dateNotification"),
    ),
    Derived(
        "marches",
        "annee_fiable",
        int,
        "Année de notification",
        "Année de la date de notification fiable (vide si la date est signalée) : pour filtrer et grouper.",
        "CAST(substr(date_fiable, 1, 4) AS INTEGER)",
        stage=2,
        polars=lambda _: pl.col("date_fiable").str.slice(0, 4).cast(pl.Int64),
    ),
    Derived(
        "marches",
        "division_cpv",
        str,
        "Division CPV",
        "Deux premiers chiffres du code CPV : 45 = travaux, 01 à 44 et 48 = fournitures, 50 à 98 = services.",
        "(SELECT code FROM divisions_cpv WHERE code = substr(codeCPV, 1, 2))",
        polars=lambda _: pl.when(pl.col("codeCPV").str.slice(0, 2).is_in(list(DIVISIONS_CPV))).then(
            pl.col("codeCPV").str.slice(0, 2)
        ),
    ),
    Derived(
        "marches",
        "cpv8",
        str,
        "Code CPV (8 chiffres)",
        "Code CPV sans chiffre de contrôle, relié à son libellé quand la nomenclature est installée.",
        "substr(codeCPV, 1, 8)",
        polars=lambda _: pl.col("codeCPV").str.slice(0, 8),
    ),
    Derived(
        "marches",
        "montant_fiable",
        float,
        "Montant fiable HT (€)",
        "Le montant, sauf s'il est signalé comme "
        "montant de remplissage ou invraisemblable : les sommes l'utilisent pour ne pas être faussées.",
        f"CASE WHEN {AMOUNT_FLAGS} THEN NULL ELSE montant END",
        polars=_reliable_amount_expr("montant"),
    ),
    Derived(
        "marches",
        "hausse_pct",
        float,
        "Hausse par modifications (%)",
        "Hausse du montant par les modifications, en pourcentage du montant initial fiable (vide sans "
        f"modification du montant, ou si le montant initial est inférieur à {GROWTH_MIN_AMOUNT} € : un montant "
        "symbolique de 1 € ferait des hausses de millions de pour cent).",
        f"CASE WHEN nombreModifications > 0 AND montant_fiable >= {GROWTH_MIN_AMOUNT} AND montantActuel BETWEEN 0 "
        f"AND {GROWTH_MAX_AMOUNT} THEN round(100.0 * (montantActuel - montant_fiable) / montant_fiable, 1) END",
        stage=2,
        rows="nombreModifications > 0",
    ),
    Derived(
        "marches",
        "offre_unique",
        int,
        "Offre unique",
        "1 si une seule offre a été reçue (indicateur de concurrence), 0 sinon.",
        "CASE WHEN offresRecues IS NULL THEN NULL WHEN offresRecues = 1 THEN 1 ELSE 0 END",
        polars=_flag_expr("offresRecues", pl.col("offresRecues") == 1),
    ),
    Derived(
        "marches",
        "consideration_sociale",
        int,
        "Considération sociale",
        "1 si le marché comporte une clause, un critère social ou est réservé, 0 sinon.",
        "CASE WHEN considerationsSociales IS NULL THEN NULL WHEN considerationsSociales LIKE '%Pas de%' THEN 0 "
        "ELSE 1 END",
        polars=_flag_expr("considerationsSociales", ~_like("considerationsSociales", "Pas de")),
    ),
    Derived(
        "marches",
        "consideration_environnementale",
        int,
        "Considération environnementale",
        "1 si le marché comporte une clause ou un critère environnemental, 0 sinon.",
        "CASE WHEN considerationsEnvironnementales IS NULL THEN NULL WHEN considerationsEnvironnementales LIKE "
        "'%Pas de%' THEN 0 ELSE 1 END",
        polars=_flag_expr("considerationsEnvironnementales", ~_like("considerationsEnvironnementales", "Pas de")),
    ),
    *_place("marches"),
    Derived(
        "concessions",
        "date_fiable",
        str,
        "Date de signature (fiable)",
        "La date de signature, sauf si la validation l'a signalée (antérieure à l'an 2000 ou future).",
        _reliable_date("dateSignature"),
        polars=_reliable_date_expr("dateSignature"),
    ),
    Derived(
        "concessions",
        "annee_fiable",
        int,
        "Année de signature",
        "Année de la date de signature fiable.",
        "CAST(substr(date_fiable, 1, 4) AS INTEGER)",
        stage=2,
        polars=lambda _: pl.col("date_fiable").str.slice(0, 4).cast(pl.Int64),
    ),
    Derived(
        "concessions",
        "valeur_fiable",
        float,
        "Valeur globale fiable HT (€)",
        "La valeur globale, sauf si elle est signalée comme valeur de remplissage ou invraisemblable.",
        f"CASE WHEN {AMOUNT_FLAGS} THEN NULL ELSE valeurGlobale END",
        polars=_reliable_amount_expr("valeurGlobale"),
    ),
    *_place("concessions"),
    Derived(
        "marches",
        "noms",
        str,
        "Noms de l'acheteur et des titulaires",
        "Noms de l'acheteur et des titulaires (répertoire SIRENE, ou noms publiés au format 2019), pour la "
        "recherche plein texte : cherchez un marché par le nom de son acheteur ou d'une entreprise.",
        "nullif(trim(coalesce((SELECT nom FROM acheteurs a WHERE a.acheteur_id = marches.acheteur_id), "
        "acheteur_nom, '') || ' ' || coalesce((SELECT group_concat(t.denominationSociale, ' ') FROM "
        "marches_titulaires mt JOIN titulaires t ON t.titulaire_id = mt.id WHERE mt.record_key = marches.record_key "
        "AND mt.repetition = 0), '')), '')",
        stage=3,
    ),
    Derived(
        "marches",
        "categorie_entreprise",
        str,
        "Catégorie d'entreprise du titulaire",
        "Catégorie (PME, ETI, grande entreprise) de l'entreprise du premier titulaire, d'après le répertoire "
        "SIRENE ; vide sans SIRENE ou pour un titulaire qui n'y est pas.",
        "(SELECT t.categorie_entreprise FROM marches_titulaires mt JOIN titulaires t ON t.titulaire_id = mt.id "
        "WHERE mt.record_key = marches.record_key ORDER BY mt.position LIMIT 1)",
        stage=0,
    ),
    Derived(
        "concessions",
        "noms",
        str,
        "Noms de l'autorité concédante et des concessionnaires",
        "Noms de l'autorité concédante et des concessionnaires (répertoire SIRENE, ou noms publiés au format "
        "2019), pour la recherche plein texte.",
        "nullif(trim(coalesce((SELECT nom FROM acheteurs a WHERE a.acheteur_id = concessions.autoriteConcedante_id), "
        "autoriteConcedante_nom, '') || ' ' || coalesce((SELECT group_concat(t.denominationSociale, ' ') FROM "
        "concessions_concessionnaires c JOIN titulaires t ON t.titulaire_id = c.id WHERE c.record_key = "
        "concessions.record_key), '')), '')",
        stage=3,
    ),
    Derived(
        "marches_titulaires",
        "repetition",
        int,
        "Titulaire répété",
        "1 si ce titulaire est déjà cité plus haut dans le même marché : le marché ne lui est compté qu'une fois.",
        "CASE WHEN EXISTS (SELECT 1 FROM marches_titulaires d WHERE d.record_key = marches_titulaires.record_key "
        "AND d.id = marches_titulaires.id AND d.position < marches_titulaires.position) THEN 1 ELSE 0 END",
    ),
    Derived(
        "doublons",
        "ordre",
        int,
        "Ordre de lecture",
        "Rang de l'enregistrement dans l'ordre de lecture des fichiers (pour trier).",
        "(SELECT ordre FROM enregistrements e WHERE e.record_key = doublons.record_key)",
    ),
    Derived(
        "quarantaine",
        "ordre",
        int,
        "Ordre de lecture",
        "Rang de l'enregistrement dans l'ordre de lecture des fichiers (pour trier).",
        "(SELECT ordre FROM enregistrements e WHERE e.record_key = quarantaine.record_key)",
    ),
)

# Reference tables, created before the data tables so that these can declare their foreign keys.
REFERENCE = {
    "cpv": ({"code8": str, "code": str, "division": str, "libelle": str}, "code8"),
    "divisions_cpv": ({"code": str, "libelle": str}, "code"),
    "departements": ({"code": str, "nom": str}, "code"),
    "gravites": ({"code": str, "libelle": str}, "code"),
    "regles": ({"code": str, "titre": str, "gravite": str, "raison": str}, "code"),
    # the register the names and places come from (one row; empty when published without it)
    "sirene": ({"date_stock": str, "installe_le": str, "etablissements": int, "unites_legales": int}, "date_stock"),
    "acheteurs": (
        {
            "acheteur_id": str,
            "nom": str,
            "nombre_marches": int,
            "montant_total": float,
            "nombre_concessions": int,
            "valeur_concessions": float,
            "nombre_titulaires": int,
            "premiere_date": str,
            "derniere_date": str,
            **ENTITY_COLUMNS,
        },
        "acheteur_id",
    ),
    "titulaires": (
        {
            "titulaire_id": str,
            "typeIdentifiant": str,
            "denominationSociale": str,
            "nombre_marches": int,
            "montant_total": float,
            "nombre_concessions": int,
            "nombre_acheteurs": int,
            "premiere_date": str,
            "derniere_date": str,
            **ENTITY_COLUMNS,
        },
        "titulaire_id",
    ),
}
LABEL_COLUMNS = {
    "cpv": "libelle",
    "divisions_cpv": "libelle",
    "departements": "nom",
    "gravites": "libelle",
    "regles": "titre",
    "acheteurs": "nom",
    "titulaires": "denominationSociale",
}
# (table, column) -> (reference table, its key): every table that names a buyer, a titulaire or a code
FOREIGN_KEYS = {
    ("marches", "acheteur_id"): ("acheteurs", "acheteur_id"),
    ("marches", "cpv8"): ("cpv", "code8"),
    ("marches", "division_cpv"): ("divisions_cpv", "code"),
    ("marches", "departement"): ("departements", "code"),
    ("acheteurs", "departement"): ("departements", "code"),
    ("titulaires", "departement"): ("departements", "code"),
    ("marches_titulaires", "id"): ("titulaires", "titulaire_id"),
    ("marches_modifications_titulaires", "id"): ("titulaires", "titulaire_id"),
    ("concessions", "autoriteConcedante_id"): ("acheteurs", "acheteur_id"),
    ("concessions", "departement"): ("departements", "code"),
    ("concessions_concessionnaires", "id"): ("titulaires", "titulaire_id"),
    ("constats", "code"): ("regles", "code"),
    ("constats", "severity"): ("gravites", "code"),
}
REFERENCE_FOREIGN_KEYS = {
    "regles": [("gravite", "gravites", "code")],
    "acheteurs": [("departement", "departements", "code")],
    "titulaires": [("departement", "departements", "code")],
}

# one row per (contract, titulaire): a titulaire named twice in a contract counts once
_HOLDERS = """
    SELECT DISTINCT record_key, id FROM marches_titulaires WHERE id IS NOT NULL
    UNION SELECT DISTINCT record_key, id FROM marches_modifications_titulaires WHERE id IS NOT NULL"""

# The buyers: one scan of each table, grouped by a sort (NOT INDEXED: through the index on acheteur_id, every row
# is fetched by its rowid, at random; 1.5 million contracts: 7.6 -> 3.2 s).
ENTITIES = {
    "acheteurs": """
        INSERT INTO acheteurs (acheteur_id, nom, nombre_marches, montant_total, nombre_concessions,
                               valeur_concessions, nombre_titulaires, premiere_date, derniere_date)
        SELECT id, max(nom), sum(nm), sum(mt), sum(nc), sum(vc), 0, min(premiere), max(derniere)
        FROM (
            SELECT acheteur_id AS id, max(acheteur_nom) AS nom, count(*) AS nm, round(sum(montant_fiable), 2) AS mt,
                   0 AS nc, NULL AS vc, min(date_fiable) AS premiere, max(date_fiable) AS derniere
            FROM marches NOT INDEXED WHERE acheteur_id IS NOT NULL GROUP BY acheteur_id
            UNION ALL
            SELECT autoriteConcedante_id, max(autoriteConcedante_nom), 0, NULL, count(*), round(sum(valeur_fiable), 2),
                   min(date_fiable), max(date_fiable)
            FROM concessions NOT INDEXED WHERE autoriteConcedante_id IS NOT NULL GROUP BY autoriteConcedante_id
        ) u GROUP BY id""",
    "relations": f"""
        CREATE TABLE relations (
            acheteur_id TEXT NOT NULL REFERENCES acheteurs(acheteur_id),
            titulaire_id TEXT NOT NULL REFERENCES titulaires(titulaire_id),
            nombre_marches INTEGER, montant_total REAL, premiere_date TEXT, derniere_date TEXT,
            PRIMARY KEY (acheteur_id, titulaire_id)) STRICT;
        INSERT INTO relations
        SELECT m.acheteur_id, h.id, count(*), round(sum(m.montant_fiable), 2), min(m.date_fiable), max(m.date_fiable)
        FROM ({_HOLDERS}) h JOIN marches m ON m.record_key = h.record_key
        WHERE m.acheteur_id IS NOT NULL GROUP BY m.acheteur_id, h.id""",
    "titulaires": f"""
        INSERT INTO titulaires (titulaire_id, typeIdentifiant, denominationSociale, nombre_marches, montant_total,
                                nombre_concessions, nombre_acheteurs, premiere_date, derniere_date)
        SELECT id, max(type), max(nom), sum(nm), sum(mt), sum(nc), sum(na), min(premiere), max(derniere)
        FROM (
            SELECT h.id, NULL AS type, NULL AS nom, count(*) AS nm, round(sum(m.montant_fiable), 2) AS mt, 0 AS nc,
                   count(DISTINCT m.acheteur_id) AS na, min(m.date_fiable) AS premiere, max(m.date_fiable) AS derniere
            FROM ({_HOLDERS}) h JOIN marches m ON m.record_key = h.record_key GROUP BY h.id
            UNION ALL
            SELECT id, typeIdentifiant, denominationSociale, 0, NULL, 0, 0, NULL, NULL FROM (
                SELECT id, typeIdentifiant, denominationSociale FROM marches_titulaires
                UNION ALL SELECT id, typeIdentifiant, denominationSociale FROM marches_modifications_titulaires
            ) WHERE id IS NOT NULL
            UNION ALL
            SELECT id, max(typeIdentifiant), max(denominationSociale), 0, NULL, count(DISTINCT record_key), 0,
                   NULL, NULL
            FROM concessions_concessionnaires WHERE id IS NOT NULL GROUP BY id
        ) GROUP BY id""",
}
ENTITY_INDEXES = {
    "acheteurs": [["nombre_marches"], ["montant_total"], ["departement"], ["categorie_juridique"], ["commune"]],
    "titulaires": [["nombre_marches"], ["montant_total"], ["departement"], ["categorie_entreprise"], ["commune"]],
    "relations": [["titulaire_id"], ["acheteur_id", "nombre_marches"], ["titulaire_id", "nombre_marches"]],
}

# A contract counts once per group; the shares are computed from the counts (sum / renseignés). The marchés
# are read by one scan and grouped by a sort (NOT INDEXED): through an index that gives the groups in order,
# every row is fetched by its rowid, at random (1.5 million contracts: 34 -> 18 s for the four largest). Ties
# are ordered by their key: the tables are the same from one build to the next.
SUMMARIES = {
    "stats_annee": """
        SELECT annee_fiable AS annee, count(*) AS nombre, round(sum(montant_fiable)) AS montant_total,
               round(avg(offre_unique), 4) AS part_offre_unique,
               round(avg(consideration_sociale), 4) AS part_consideration_sociale,
               round(avg(consideration_environnementale), 4) AS part_consideration_environnementale,
               sum(montant_fiable IS NULL AND montant IS NOT NULL) AS montants_ecartes,
               sum(date_fiable IS NULL AND dateNotification IS NOT NULL) AS dates_ecartees
        FROM marches NOT INDEXED GROUP BY annee_fiable ORDER BY annee_fiable""",
    "stats_division": """
        SELECT division_cpv, count(*) AS nombre, round(sum(montant_fiable)) AS montant_total
        FROM marches NOT INDEXED GROUP BY division_cpv ORDER BY nombre DESC, division_cpv""",
    "stats_procedure": """
        SELECT annee_fiable AS annee, procedure, count(*) AS nombre, round(sum(montant_fiable)) AS montant_total,
               round(avg(offre_unique), 4) AS part_offre_unique
        FROM marches NOT INDEXED GROUP BY annee_fiable, procedure ORDER BY annee_fiable, nombre DESC, procedure""",
    "stats_indicateurs": """
        SELECT annee_fiable AS annee, division_cpv, procedure, nature, departement, count(*) AS nombre,
               round(sum(montant_fiable)) AS montant_total, count(offre_unique) AS offres_renseignees,
               coalesce(sum(offre_unique), 0) AS offres_uniques,
               count(consideration_sociale) AS sociales_renseignees,
               coalesce(sum(consideration_sociale), 0) AS sociales,
               count(consideration_environnementale) AS environnementales_renseignees,
               coalesce(sum(consideration_environnementale), 0) AS environnementales
        FROM marches NOT INDEXED GROUP BY annee_fiable, division_cpv, procedure, nature, departement""",
    "stats_categorie": """
        SELECT annee_fiable AS annee, categorie_entreprise, count(*) AS nombre,
               round(sum(montant_fiable)) AS montant_total
        FROM marches NOT INDEXED GROUP BY annee_fiable, categorie_entreprise
        ORDER BY annee_fiable, nombre DESC, categorie_entreprise""",
    "stats_constats": """
        SELECT code, severity, count(*) AS nombre, count(DISTINCT record_key) AS enregistrements
        FROM constats GROUP BY code, severity ORDER BY nombre DESC, code, severity""",
    "stats_enregistrements": """
        SELECT statut, count(*) AS nombre FROM enregistrements GROUP BY statut ORDER BY nombre DESC, statut""",
}
SUMMARY_FOREIGN_KEYS = {
    "stats_constats": [("code", "regles", "code"), ("severity", "gravites", "code")],
    "stats_division": [("division_cpv", "divisions_cpv", "code")],
    "stats_indicateurs": [("division_cpv", "divisions_cpv", "code"), ("departement", "departements", "code")],
}
SUMMARY_INDEXES = {"stats_indicateurs": [["annee"], ["division_cpv"], ["departement"]]}


def create_reference_tables(db: sqlite_utils.Database) -> None:
    from marches.report import catalogue

    for name, (columns, pk) in REFERENCE.items():
        db[name].create(columns, pk=pk, strict=True, not_null={pk})
    db["divisions_cpv"].insert_all({"code": c, "libelle": label} for c, label in DIVISIONS_CPV.items())
    db["departements"].insert_all({"code": c, "nom": n} for c, n in DEPARTEMENTS.items())
    db["gravites"].insert_all({"code": c, "libelle": label} for c, label in SEVERITES.items())
    db["regles"].insert_all(
        {"code": r.code, "titre": r.title, "gravite": r.severity, "raison": r.reason} for r in catalogue().values()
    )
    for table, keys in REFERENCE_FOREIGN_KEYS.items():
        for column, other, other_column in keys:
            db[table].add_foreign_key(column, other, other_column)


def derive(db: sqlite_utils.Database, as_of: str, stages: tuple[int, ...] = (1, 2)) -> None:
    """Fill the derived columns SQL computes, stage by stage (one UPDATE per table and stage); those with a
    ``polars`` twin were computed as the rows were inserted (``Insertion``).

    A column some index already covers is set apart, only in the rows where its value changes:
    SQLite rewrites the index entries of every row an UPDATE sets, changed or not. The expressions
    of a stage read only columns of earlier stages, so setting them in two statements changes nothing.
    Columns that say where they can have a value (``rows``) are set in those rows only.
    """
    for stage in stages:
        for table in dict.fromkeys(d.table for d in DERIVED):
            columns = [d for d in DERIVED if d.table == table and d.stage == stage and d.polars is None]
            indexed = _indexed_columns(db, table)
            plain = [d for d in columns if d.name not in indexed]
            if plain:
                assignments = ", ".join(f'"{d.name}" = {d.sql.format(as_of=as_of)}' for d in plain)
                rows = " OR ".join(f"({d.rows})" for d in plain) if all(d.rows for d in plain) else None
                db.execute(f'UPDATE "{table}" SET {assignments}' + (f" WHERE {rows}" if rows else ""))
            for d in columns:
                if d.name in indexed:
                    value = d.sql.format(as_of=as_of)
                    db.execute(f'UPDATE "{table}" SET "{d.name}" = {value} WHERE "{d.name}" IS NOT {value}')
    db.conn.commit()


def _indexed_columns(db: sqlite_utils.Database, table: str) -> set[str]:
    """The columns of ``table`` that at least one of its indexes covers."""
    return {
        column
        for (index,) in db.execute("SELECT name FROM pragma_index_list(?)", [table])
        for (column,) in db.execute("SELECT name FROM pragma_index_info(?)", [index])
    }


def entities(db: sqlite_utils.Database) -> None:
    """The buyers, the titulaires and who buys from whom, keyed by identifier."""
    db.execute(ENTITIES["acheteurs"])
    db.execute(ENTITIES["titulaires"])
    db.conn.executescript(ENTITIES["relations"])
    db.execute(
        "UPDATE acheteurs SET nombre_titulaires = "
        "(SELECT count(*) FROM relations r WHERE r.acheteur_id = acheteurs.acheteur_id)"
    )
    for table, indexes in ENTITY_INDEXES.items():
        for columns in indexes:
            db[table].create_index(columns, if_not_exists=True)
    db.conn.commit()


SQL_TYPES = {"integer": int, "real": float, "text": str}


def summaries(db: sqlite_utils.Database) -> None:
    """The statistics tables, typed from their values, with foreign keys to the labels of their codes."""
    for name, sql in SUMMARIES.items():
        db.execute(f'CREATE TEMP TABLE "_{name}" AS {sql}')
        columns = {}
        for column in (r[1] for r in db.execute(f"PRAGMA temp.table_info('_{name}')")):
            kind = db.execute(f'SELECT typeof("{column}") FROM "_{name}" WHERE "{column}" IS NOT NULL LIMIT 1')
            columns[column] = SQL_TYPES.get((kind.fetchone() or ["text"])[0], str)
        db[name].create(columns, foreign_keys=SUMMARY_FOREIGN_KEYS.get(name, []))
        db.execute(f'INSERT INTO "{name}" SELECT * FROM "_{name}"')
        db.execute(f'DROP TABLE "_{name}"')
        for columns_ in SUMMARY_INDEXES.get(name, []):
            db[name].create_index(columns_)
    db.conn.commit()
