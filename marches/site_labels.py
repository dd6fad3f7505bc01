"""What each column of the site is: its French label (shown in headers instead of the raw name) and
its kind (how the formatting plugin shows a value: amount, share, date, yes/no, list, link…).

Labels and kinds come from the Table Schemas (title, type) and from the columns the database adds
(``marches.enrich``); a few short labels read better in a listing than the full schema title.
"""

from __future__ import annotations

from functools import cache

from marches.enrich import DERIVED, REFERENCE
from marches.model import PACKAGE_TABLES, TABLES, load_tables

# Short labels for listings, whatever the table (the schema title stays in the column description).
SHORT = {
    "record_key": "Contrat",
    "rowid": "ordre d'enregistrement",
    "objet": "Objet",
    "acheteur_id": "Acheteur",
    "autoriteConcedante_id": "Autorité concédante",
    "titulairesActuels": "Titulaires",
    "titulaire_id": "Titulaire",
    "montant_fiable": "Montant HT",
    "valeur_fiable": "Valeur globale HT",
    "procedure": "Procédure",
    "offresRecues": "Offres reçues",
    "lieu": "Lieu d'exécution",
    "annee_fiable": "Année",
    "annee": "Année",
    "division_cpv": "Division CPV",
    "departement": "Département",
    "nombre": "Marchés",
    "nombre_marches": "Marchés",
    "nombre_concessions": "Concessions",
    "nombre_titulaires": "Titulaires différents",
    "nombre_acheteurs": "Acheteurs différents",
    "montant_total": "Montant total HT",
    "valeur_concessions": "Valeur des concessions HT",
    "premiere_date": "Première notification",
    "derniere_date": "Dernière notification",
    "nom": "Nom",
    "libelle": "Libellé",
    "titre": "Intitulé",
    "gravite": "Gravité",
    "raison": "Raison",
    "code": "Code",
    "severity": "Gravité",
    "message": "Message",
    "field": "Champ",
    "value": "Valeur",
    "statut": "Statut",
    "kind": "Type d'enregistrement",
    "retenu_record_key": "Copie retenue",
    "denominationSociale": "Dénomination",
    "typeIdentifiant": "Type d'identifiant",
    "part_offre_unique": "Part d'offres uniques",
    "part_consideration_sociale": "Part avec considération sociale",
    "part_consideration_environnementale": "Part avec considération environnementale",
    "montants_ecartes": "Montants écartés",
    "dates_ecartees": "Dates écartées",
    "hausse_pct": "Hausse (%)",
    "nombreModifications": "Modifications",
    "montantActuel": "Montant actuel HT",
    "dateNotification": "Date de notification (publiée)",
    "codeCPV": "Code CPV",
    "nature": "Nature",
    "uid": "Identifiant unique",
    "id": "Identifiant",
    "source_file": "Fichier source",
    "source_position": "Rang dans le fichier",
    "offres_renseignees": "Offres renseignées",
    "offres_uniques": "Offres uniques",
    "commune": "Commune",
    "naf": "Activité (NAF)",
    "categorie_juridique": "Catégorie juridique",
    "categorie_entreprise": "Catégorie d'entreprise",
    "tranche_effectifs": "Effectifs",
    "etat": "État",
    "date_fermeture": "Fermé le",
    "diffusion": "Diffusion",
    "sirene": "Dans SIRENE",
    "noms": "Noms",
    "part_marches": "Part des marchés",
}
PER_TABLE = {
    ("marches", "date_fiable"): "Date de notification",
    ("concessions", "date_fiable"): "Date de signature",
    ("marches_titulaires", "id"): "Titulaire",
    ("marches_modifications_titulaires", "id"): "Titulaire",
    ("concessions_concessionnaires", "id"): "Concessionnaire",
    ("marches", "id"): "Identifiant du marché",
    ("marches_modifications", "id"): "Numéro",
}

# Kinds of the columns the database adds and of query aliases (schema columns get theirs from their type).
KINDS = {
    "montant_fiable": "euros",
    "valeur_fiable": "euros",
    "montant_total": "euros",
    "valeur_concessions": "euros",
    "hausse_pct": "pct",
    "offre_unique": "booleen",
    "consideration_sociale": "booleen",
    "consideration_environnementale": "booleen",
    "date_fiable": "date",
    "premiere_date": "date",
    "derniere_date": "date",
    "premier": "date",
    "dernier": "date",
    "annee": "annee",
    "annee_fiable": "annee",
    "record_key": "contrat",
    "retenu_record_key": "contrat",
    "acheteur_id": "acheteur",
    "autoriteConcedante_id": "acheteur",
    "titulaire_id": "titulaire",
    "titulairesActuels": "titulaires",
    "constats": "regles",
    "codes": "regles",
    "severity": "gravite",
    "gravite": "gravite",
    "nombre_total": "nombre",
    "division_cpv": "division",
    "departement": "departement",
    "date_fermeture": "date",
    "sirene": "booleen",
    "categorie_juridique": "categorie_juridique",
    "categorie_entreprise": "categorie_entreprise",
    "tranche_effectifs": "tranche_effectifs",
    "etat": "etat",
    "diffusion": "diffusion",
}
KIND_BY_TYPE = {"integer": "nombre", "date": "date", "boolean": "booleen", "array": "liste"}
COUNT_PREFIXES = ("nombre", "montants_", "dates_", "offres_", "sociales", "environnementales")
NOT_COUNTS = {"id", "position", "modification_position", "donneesExecution_position", "source_line", "line"}


@cache
def _schema_columns() -> dict[str, dict[str, dict]]:
    models = load_tables()
    return {name: {f["name"]: f for f in models[name].fields} for name in TABLES + PACKAGE_TABLES}


def label(table: str | None, column: str) -> str:
    """The French label of a column (a table's own label first, then the short ones, then its title)."""
    if (table, column) in PER_TABLE:
        return PER_TABLE[(table, column)]
    if column in SHORT:
        return SHORT[column]
    field = _schema_columns().get(table or "", {}).get(column)
    if field:
        return field["title"]
    for d in DERIVED:
        if d.name == column and (table is None or d.table == table):
            return d.title
    return column.replace("_", " ").capitalize()


def kind(table: str | None, column: str) -> str | None:
    """How a value of this column is shown; None: as it is (text, identifiers)."""
    if column in KINDS:
        return KINDS[column]
    field = _schema_columns().get(table or "", {}).get(column)
    if field is None and table is None:
        field = next((cols[column] for cols in _schema_columns().values() if column in cols), None)
    if field is None:
        if column.startswith("part_"):
            return "part"
        if column.startswith(COUNT_PREFIXES) or (table in REFERENCE and REFERENCE[table][0].get(column) is int):
            return "nombre"
        return None
    if field["type"] == "number":
        return "euros" if "€" in field["title"] else "part"
    if field["type"] == "integer" and column in NOT_COUNTS:
        return None
    return KIND_BY_TYPE.get(field["type"])
