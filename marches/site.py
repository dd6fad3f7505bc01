"""The Datasette site: metadata (French titles, every column described from the Table Schemas, facets,
sort orders, labels), canned queries and dashboards. How ``marches serve`` runs Datasette: ``marches.serve``.

``metadata.yml`` at the top of the repository is ``build_metadata()`` written out (``make metadata``);
a test fails if they drift apart.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from marches import site_labels
from marches.enrich import DERIVED, LABEL_COLUMNS, REFERENCE
from marches.model import PACKAGE_TABLES, TABLES, load_tables
from marches.publish import INSPECT_TABLE
from marches.site_validation import Settings

DATABASE = "decp"
ASSETS = Path(__file__).parent / "site_assets"
LICENCE_URL = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
VALIDATION_DEFAULTS = Settings().to_config()  # the validation page's limits (marches serve options)
XLSX_MAX_ROWS = 100_000  # an Excel export beyond that is better taken from the data package
# tables whose full-text search page computes its facets only when asked (marches_site._facets_on_demand)
SEARCH_FACETS_ON_DEMAND = frozenset({"marches"})
# views whose unfiltered page is not counted (marches_site._whole_view)
VIEWS_UNCOUNTED = frozenset({"marches_par_titulaire"})
FACETS = {
    "marches": ["annee_fiable", "procedure", "division_cpv"],  # each facet costs ~0.2 s on 1.5 M rows
    "concessions": ["annee_fiable", "nature", "procedure"],
    "marches_titulaires": ["typeIdentifiant"],
    "enregistrements": ["statut", "kind", "source_file"],
    "constats": ["severity", "code"],
    "acheteurs": ["departement", "categorie_juridique"],
    "titulaires": ["departement", "categorie_entreprise"],
}
SORT_DESC = {
    "marches": "date_fiable",
    "concessions": "date_fiable",
    "acheteurs": "montant_total",
    "titulaires": "montant_total",
    "relations": "nombre_marches",
}
SORT = {"enregistrements": "ordre", "doublons": "ordre", "quarantaine": "ordre"}
# What a table page shows before « toutes les colonnes » (provenance and details are one click away).
DEFAULT_COLUMNS = {
    "marches": [
        "objet",
        "acheteur_id",
        "titulairesActuels",
        "montant_fiable",
        "date_fiable",
        "procedure",
        "offresRecues",
        "lieu",
    ],
    "concessions": ["objet", "autoriteConcedante_id", "valeur_fiable", "date_fiable", "procedure", "nature", "lieu"],
    "constats": ["record_key", "code", "severity", "message", "field", "value"],
    "enregistrements": ["record_key", "kind", "statut", "uid", "source_file", "source_position", "constats"],
    "doublons": ["record_key", "uid", "retenu_record_key", "format_publie"],
    "quarantaine": ["record_key", "codes", "messages", "format_publie"],
    "acheteurs": [
        "acheteur_id",
        "nom",
        "commune",
        "departement",
        "nombre_marches",
        "montant_total",
        "nombre_titulaires",
        "derniere_date",
    ],
    "titulaires": [
        "titulaire_id",
        "denominationSociale",
        "commune",
        "departement",
        "categorie_entreprise",
        "nombre_marches",
        "montant_total",
        "nombre_acheteurs",
    ],
}
PAGE_SIZES = {"marches": 30, "concessions": 30, "constats": 50, "enregistrements": 50}  # readable on a phone
# The column a row is opened by in a listing (instead of its technical key).
LINK_COLUMNS = {"marches": "objet", "concessions": "objet"}
SORTABLE_EXCLUDED = {  # raw values that would lead a sort with defective records
    "marches": {"montant", "dateNotification"},
    "concessions": {"valeurGlobale", "dateSignature"},
}
EXTRA_TABLES = {
    "acheteurs": (
        "Acheteurs",
        "Un acheteur (ou une autorité concédante) par identifiant : ses marchés, leur montant, ses titulaires.",
    ),
    "titulaires": (
        "Titulaires",
        "Une entreprise (ou un autre opérateur) par identifiant : ses marchés, leur montant, ses acheteurs. Un "
        "titulaire cité deux fois dans un même marché y compte une fois.",
    ),
    "relations": ("Acheteurs et titulaires", "Qui achète à qui : une ligne par acheteur et titulaire."),
    "stats_annee": (
        "Indicateurs par année",
        "Nombre de marchés, dépense (montants fiables), part des offres uniques et des considérations sociales et "
        "environnementales, par année de notification fiable.",
    ),
    "stats_division": ("Indicateurs par division CPV", "Nombre de marchés et dépense par division CPV."),
    "stats_procedure": (
        "Indicateurs par procédure",
        "Nombre, dépense et part d'offres uniques par année et procédure de passation.",
    ),
    "stats_indicateurs": (
        "Indicateurs détaillés",
        "Comptes par année, division CPV, procédure, nature et département : la source du tableau de bord.",
    ),
    "stats_categorie": (
        "Indicateurs par catégorie d'entreprise",
        "Nombre de marchés et dépense par année et catégorie d'entreprise (PME, ETI, grande entreprise) du premier "
        "titulaire, d'après le répertoire SIRENE.",
    ),
    "sirene": (
        "Répertoire SIRENE utilisé",
        "Le stock du répertoire SIRENE de l'INSEE d'où viennent les noms, communes, activités et catégories des "
        "acheteurs et des titulaires (vide si la base a été construite sans lui).",
    ),
    "stats_constats": ("Constats par règle", "Nombre de constats de validation par règle et gravité."),
    "stats_enregistrements": ("Enregistrements par statut", "Ce que sont devenus les enregistrements lus."),
    "cpv": ("Nomenclature CPV", "Codes CPV 2008 et leurs libellés (vide si la nomenclature n'est pas installée)."),
    "divisions_cpv": ("Divisions CPV", "Les 45 divisions de la nomenclature CPV 2008 (deux premiers chiffres)."),
    "departements": ("Départements", "Départements et collectivités d'outre-mer (code officiel géographique)."),
    "regles": ("Règles de validation", "Chaque code de constat, son intitulé, sa gravité et sa raison."),
    "gravites": ("Gravités", "Erreur, avertissement, information."),
    "paquets": ("Paquets de données", "Les paquets de données dont la base est construite."),
}
EXTRA_DESCRIPTIONS = {
    "acheteur_id": "Identifiant (SIRET) de l'acheteur.",
    "titulaire_id": "Identifiant du titulaire (SIRET, TVA…).",
    "nombre_marches": "Nombre de marchés (un marché compte une fois).",
    "montant_total": "Somme des montants fiables (hors montants de remplissage ou invraisemblables).",
    "premiere_date": "Première date de notification fiable.",
    "derniere_date": "Dernière date de notification fiable.",
    "part_offre_unique": "Part des marchés (renseignés) ayant reçu une seule offre.",
    "montants_ecartes": "Nombre de montants écartés des sommes (remplissage, invraisemblables).",
    "dates_ecartees": "Nombre de dates de notification écartées (antérieures à 2000 ou futures).",
    "sirene": "1 si l'identifiant est un SIRET du répertoire SIRENE installé, 0 s'il n'y est pas, vide sinon.",
    "commune": "Commune de l'établissement (répertoire SIRENE ; jamais pour une diffusion partielle).",
    "departement": "Département de l'établissement (répertoire SIRENE).",
    "naf": "Activité principale de l'établissement, code NAF (répertoire SIRENE).",
    "categorie_juridique": "Catégorie juridique de l'entreprise ou de l'organisme (répertoire SIRENE).",
    "categorie_entreprise": "Catégorie d'entreprise : PME, ETI ou grande entreprise (répertoire SIRENE).",
    "tranche_effectifs": "Tranche d'effectifs salariés de l'établissement (répertoire SIRENE).",
    "etat": "État administratif de l'établissement : actif ou fermé (répertoire SIRENE).",
    "date_fermeture": "Date de fermeture de l'établissement, s'il est fermé (répertoire SIRENE).",
    "date_stock": "Date du stock SIRENE (fichiers de l'INSEE) d'où viennent les noms et les lieux.",
    "installe_le": "Date à laquelle ce stock a été installé par « marches sirene install ».",
    "etablissements": "Nombre d'établissements du répertoire.",
    "unites_legales": "Nombre d'unités légales (entreprises et organismes) du répertoire.",
    "diffusion": "Statut de diffusion SIRENE : en diffusion partielle, ni nom ni adresse ne sont montrés.",
}
YEARS = "SELECT annee, annee FROM stats_annee WHERE annee IS NOT NULL ORDER BY annee DESC"
PARAMETERS = {
    "annee": {"libelle": "Année", "choix_sql": YEARS},
    "pourcentage": {"libelle": "Hausse minimale (%)", "exemple": "20"},
}

# A list query asks for one row more than it shows (« limite »): the page says when there are more, and
# links to the same rows in their table (« suite »), where they page and export in full.
QUERIES = {
    "depenses_par_annee": {
        "title": "Dépense et nombre de marchés par année",
        "description": "Montants fiables uniquement : les montants de remplissage et invraisemblables sont écartés, "
        "comme les dates de notification douteuses (ligne sans année).",
        "sql": "SELECT annee, nombre, montant_total, montants_ecartes, dates_ecartees FROM stats_annee ORDER BY annee",
    },
    "depenses_par_division": {
        "title": "Dépense par division CPV",
        "sql": "SELECT s.division_cpv, d.libelle, s.nombre, s.montant_total FROM stats_division s "
        "LEFT JOIN divisions_cpv d ON d.code = s.division_cpv ORDER BY s.montant_total DESC",
    },
    "depenses_par_procedure": {
        "title": "Dépense par procédure (une année)",
        "sql": "SELECT procedure, nombre, montant_total, part_offre_unique FROM stats_procedure "
        "WHERE annee = :annee ORDER BY nombre DESC",
        "parametres": {"annee": PARAMETERS["annee"]},
    },
    "principaux_acheteurs": {
        "title": "Les 100 principaux acheteurs",
        "description": "Par montant total fiable des marchés.",
        "sql": "SELECT acheteur_id, nom, commune, departement, nombre_marches, montant_total, nombre_titulaires "
        "FROM acheteurs ORDER BY montant_total DESC LIMIT 100",
    },
    "principaux_titulaires": {
        "title": "Les 100 principaux titulaires",
        "description": "Par montant total fiable des marchés remportés (un marché compte une fois par titulaire).",
        "sql": "SELECT titulaire_id, denominationSociale, commune, categorie_entreprise, nombre_marches, "
        "montant_total, nombre_acheteurs FROM titulaires ORDER BY montant_total DESC LIMIT 100",
    },
    "marches_par_categorie": {
        "title": "Marchés par catégorie d'entreprise du titulaire",
        "description": "Nombre de marchés et dépense par catégorie (PME, ETI, grande entreprise) du premier "
        "titulaire, d'après le répertoire SIRENE : la part des PME dans la commande publique. Vide sans SIRENE.",
        "sql": "SELECT categorie_entreprise, sum(nombre) AS nombre, sum(montant_total) AS montant_total, "
        "round(1.0 * sum(nombre) / (SELECT sum(nombre) FROM stats_categorie), 4) AS part_marches "
        "FROM stats_categorie GROUP BY categorie_entreprise ORDER BY nombre DESC",
    },
    "offre_unique": {
        "title": "Part des marchés à offre unique",
        "description": "Indicateur de concurrence : marchés ayant reçu une seule offre (offresRecues = 1).",
        "sql": "SELECT annee, nombre, part_offre_unique FROM stats_annee WHERE annee IS NOT NULL ORDER BY annee",
    },
    "considerations": {
        "title": "Part des marchés avec des considérations sociales et environnementales",
        "sql": "SELECT annee, part_consideration_sociale, part_consideration_environnementale FROM stats_annee "
        "WHERE annee IS NOT NULL ORDER BY annee",
    },
    "hausses_par_modifications": {
        "title": "Marchés dont le montant a augmenté de plus de N % par modifications",
        "description": "Sur les montants initiaux fiables d'au moins 1 000 € HT (un montant symbolique de 1 € "
        "ferait des hausses de millions de pour cent). Les plus fortes hausses d'abord.",
        "sql": "SELECT record_key, acheteur_id, objet, date_fiable, montant_fiable, montantActuel, hausse_pct, "
        "nombreModifications FROM marches WHERE hausse_pct > :pourcentage ORDER BY hausse_pct DESC LIMIT 501",
        "limite": 500,
        "suite": "marches?hausse_pct__gt={pourcentage}&_sort_desc=hausse_pct",
        "parametres": {"pourcentage": PARAMETERS["pourcentage"]},
    },
    "profil_acheteur": {
        "title": "Marchés d'un acheteur (par SIRET)",
        "description": "Les plus récents d'abord. La fiche de l'acheteur (table « acheteurs ») donne ses totaux.",
        "sql": "SELECT record_key, objet, date_fiable, procedure, codeCPV, montant_fiable, offresRecues "
        "FROM marches WHERE acheteur_id = :siret ORDER BY date_fiable DESC LIMIT 501",
        "limite": 500,
        "suite": "marches?acheteur_id={siret}",
        "parametres": {
            "siret": {
                "libelle": "SIRET de l'acheteur",
                "exemple_sql": "SELECT acheteur_id FROM acheteurs ORDER BY nombre_marches DESC LIMIT 1",
            }
        },
    },
    "profil_titulaire": {
        "title": "Marchés d'un titulaire (par SIRET ou identifiant)",
        "description": "Les plus récents d'abord, titulaire initial ou désigné par une modification ; un marché qui "
        "cite deux fois le titulaire compte une fois.",
        "sql": "SELECT m.record_key, m.acheteur_id, m.objet, m.date_fiable, m.procedure, m.codeCPV, m.montant_fiable "
        "FROM marches m WHERE m.record_key IN (SELECT record_key FROM marches_titulaires WHERE id = :siret "
        "UNION SELECT record_key FROM marches_modifications_titulaires WHERE id = :siret) "
        "ORDER BY m.date_fiable DESC LIMIT 501",
        "limite": 500,
        "suite": "titulaires/{siret}",
        "parametres": {
            "siret": {
                "libelle": "Identifiant du titulaire",
                "exemple_sql": "SELECT titulaire_id FROM titulaires ORDER BY nombre_marches DESC LIMIT 1",
            }
        },
    },
}
for _query in QUERIES.values():
    _query["hide_sql"] = True

# Dashboard filters: parameter -> column of stats_indicateurs (and of marches, for the links to the contracts)
DASHBOARD_FILTERS = {
    "annee": (
        "Année",
        "annee",
        "annee_fiable",
        "SELECT annee FROM stats_annee WHERE annee IS NOT NULL ORDER BY annee DESC",
    ),
    "division": ("Division CPV", "division_cpv", "division_cpv", "SELECT code FROM divisions_cpv ORDER BY code"),
    "procedure": (
        "Procédure",
        "procedure",
        "procedure",
        "SELECT DISTINCT procedure FROM stats_procedure WHERE procedure IS NOT NULL ORDER BY procedure",
    ),
    "nature": (
        "Nature",
        "nature",
        "nature",
        "SELECT DISTINCT nature FROM stats_indicateurs WHERE nature IS NOT NULL ORDER BY nature",
    ),
    "departement": ("Département", "departement", "departement", "SELECT code FROM departements ORDER BY code"),
}
VEGA_CONFIG = {
    "background": "#00000000",
    "arc": {"innerRadius": 50},
    "line": {"point": True},
    "locale": {
        "number": {
            "decimal": ",",
            "thousands": "\u202f",
            "grouping": [3],
            "currency": ["", "\u00a0€"],
            "percent": "\u202f%",
        }
    },
}
MILLIONS = {"labelExpr": "format(datum.value / 1000000, ',.0f') + ' M€'"}


def _chart_where() -> str:
    return " ".join(f"[[ AND {column} = :{key} ]]" for key, (_, column, _, _) in DASHBOARD_FILTERS.items())


def _chart_link(database: str, own: dict[str, str]) -> str:
    """SQL for the link from a mark to the contracts behind it: the dashboard's filters and the mark's own."""
    link = f"'/{database}/marches?_filtre=tableau'"
    link += "".join(f" [[ || '&{target}=' || :{key} ]]" for key, (_, _, target, _) in DASHBOARD_FILTERS.items())
    link += "".join(f" || '&{target}=' || {column}" for target, column in own.items())
    return link


def _chart(title: str, query: str, mark: dict, encoding: dict) -> dict[str, Any]:
    """A vega-lite chart whose marks show a tooltip and open the contracts behind them (column « lien »)."""
    display = {
        "mark": {**mark, "tooltip": True, "cursor": "pointer"},
        "encoding": {**encoding, "href": {"field": "lien"}},
        "config": VEGA_CONFIG,
    }
    return {"title": title, "db": DATABASE, "library": "vega-lite", "query": query, "display": display}


def dashboard(database: str = DATABASE) -> dict[str, Any]:
    """The dashboard: filters, and charts computed from stats_indicateurs whose marks link to the contracts."""
    where = _chart_where()
    by_year = _chart_link(database, {"annee_fiable": "annee"})
    year_axis = {"field": "annee", "type": "ordinal", "title": "Année"}
    charts = {
        "depense-annee": _chart(
            "Dépense par année (montants fiables)",
            f"SELECT annee, sum(montant_total) AS montant_total, {by_year} AS lien FROM stats_indicateurs "
            f"WHERE annee IS NOT NULL {where} GROUP BY annee ORDER BY annee",
            {"type": "bar"},
            {
                "x": year_axis,
                "y": {
                    "field": "montant_total",
                    "type": "quantitative",
                    "title": "Dépense (M€ HT)",
                    "axis": MILLIONS,
                },
                "tooltip": [
                    {"field": "annee", "title": "Année"},
                    {"field": "montant_total", "title": "Dépense (€ HT)", "format": ",.0f"},
                ],
            },
        ),
        "nombre-annee": _chart(
            "Nombre de marchés par année",
            f"SELECT annee, sum(nombre) AS nombre, {by_year} AS lien FROM stats_indicateurs "
            f"WHERE annee IS NOT NULL {where} GROUP BY annee ORDER BY annee",
            {"type": "bar"},
            {
                "x": year_axis,
                "y": {"field": "nombre", "type": "quantitative", "title": "Marchés", "axis": {"format": ",d"}},
                "tooltip": [
                    {"field": "annee", "title": "Année"},
                    {"field": "nombre", "title": "Marchés", "format": ",d"},
                ],
            },
        ),
        "offre-unique": _chart(
            "Part des marchés à offre unique",
            "SELECT annee, 1.0 * sum(offres_uniques) / nullif(sum(offres_renseignees), 0) AS part, "
            f"{_chart_link(database, {'annee_fiable': 'annee', 'offresRecues': '1'})} AS lien FROM stats_indicateurs "
            f"WHERE annee IS NOT NULL {where} GROUP BY annee ORDER BY annee",
            {"type": "line", "point": True},
            {
                "x": year_axis,
                "y": {"field": "part", "type": "quantitative", "title": "Part", "axis": {"format": ".0%"}},
                "tooltip": [
                    {"field": "annee", "title": "Année"},
                    {"field": "part", "title": "Part", "format": ".1%"},
                ],
            },
        ),
        "considerations": _chart(
            "Considérations sociales et environnementales",
            "SELECT annee, 'sociale' AS type, 1.0 * sum(sociales) / nullif(sum(sociales_renseignees), 0) AS part, "
            f"{_chart_link(database, {'annee_fiable': 'annee', 'consideration_sociale': '1'})} AS lien "
            f"FROM stats_indicateurs WHERE annee IS NOT NULL {where} GROUP BY annee UNION ALL "
            "SELECT annee, 'environnementale', 1.0 * sum(environnementales) / "
            "nullif(sum(environnementales_renseignees), 0), "
            f"{_chart_link(database, {'annee_fiable': 'annee', 'consideration_environnementale': '1'})} "
            f"FROM stats_indicateurs WHERE annee IS NOT NULL {where} GROUP BY annee",
            {"type": "line", "point": True},
            {
                "x": year_axis,
                "y": {"field": "part", "type": "quantitative", "title": "Part", "axis": {"format": ".0%"}},
                "color": {"field": "type", "type": "nominal", "title": "Considération"},
                "tooltip": [
                    {"field": "annee", "title": "Année"},
                    {"field": "type", "title": "Considération"},
                    {"field": "part", "title": "Part", "format": ".1%"},
                ],
            },
        ),
        "divisions": _chart(
            "Dépense par division CPV (les 15 premières)",
            "SELECT s.division_cpv || ' ' || d.libelle AS division, sum(s.montant_total) AS montant_total, "
            f"sum(s.nombre) AS nombre, {_chart_link(database, {'division_cpv': 's.division_cpv'})} AS lien "
            "FROM stats_indicateurs s JOIN divisions_cpv d ON d.code = s.division_cpv "
            f"WHERE 1 = 1 {where.replace(' AND ', ' AND s.')} GROUP BY s.division_cpv "
            "ORDER BY montant_total DESC LIMIT 15",
            {"type": "bar"},
            {
                "y": {
                    "field": "division",
                    "type": "nominal",
                    "sort": "-x",
                    "title": None,  # the chart's title says it; on a phone the labels need the room
                    "axis": {"labelLimit": {"expr": "containerSize()[0] < 500 ? 120 : 220"}},
                },
                "x": {
                    "field": "montant_total",
                    "type": "quantitative",
                    "title": "Dépense (M€ HT)",
                    "axis": MILLIONS,
                },
                "tooltip": [
                    {"field": "division", "title": "Division"},
                    {"field": "montant_total", "title": "Dépense (€ HT)", "format": ",.0f"},
                    {"field": "nombre", "title": "Marchés", "format": ",d"},
                ],
            },
        ),
        "procedures": _chart(
            "Marchés par procédure",
            f"SELECT procedure, sum(nombre) AS nombre, {_chart_link(database, {'procedure': 'procedure'})} AS lien "
            f"FROM stats_indicateurs WHERE procedure IS NOT NULL {where} GROUP BY procedure",
            {"type": "arc"},
            {
                "theta": {"field": "nombre", "type": "quantitative", "title": "Marchés"},
                "color": {
                    "field": "procedure",
                    "type": "nominal",
                    "title": "Procédure",
                    "legend": {"orient": "bottom", "direction": "vertical", "labelLimit": 320},
                },
                "tooltip": [
                    {"field": "procedure", "title": "Procédure"},
                    {"field": "nombre", "title": "Marchés", "format": ",d"},
                ],
            },
        ),
    }
    for chart in charts.values():
        chart["db"] = database
    return {
        "indicateurs": {
            "title": "Indicateurs de la commande publique",
            "description": "Dépense, concurrence et considérations sociales et environnementales, à partir des "
            "données essentielles validées : montants de remplissage ou invraisemblables et dates douteuses "
            "écartés. Cliquez une barre ou un point pour voir les marchés correspondants.",
            "filters": {
                key: {"name": name, "type": "select", "db": database, "query": query}
                for key, (name, _, _, query) in DASHBOARD_FILTERS.items()
            },
            "layout": [
                ["depense-annee", "nombre-annee"],
                ["offre-unique", "considerations"],
                ["divisions", "procedures"],
            ],
            "charts": charts,
        }
    }


def column_descriptions(table: str) -> dict[str, str]:
    """Every column of a published table, described from its Table Schema (and the derived columns)."""
    model = load_tables()[table]
    out = {f["name"]: f"{f['title']} — {f['description']}" for f in model.fields}
    out.update({d.name: f"{d.title} — {d.description}" for d in DERIVED if d.table == table})
    return out


def _table_entry(name: str, title: str, description: str, columns: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"title": title, "description": description, "columns": columns}
    if name in FACETS:
        entry["facets"] = FACETS[name]
    if name in SORT_DESC:
        entry["sort_desc"] = SORT_DESC[name]
    if name in SORT:
        entry["sort"] = SORT[name]
    if name in SORTABLE_EXCLUDED:
        entry["sortable_columns"] = [c for c in columns if c not in SORTABLE_EXCLUDED[name]]
    if name in LABEL_COLUMNS:
        entry["label_column"] = LABEL_COLUMNS[name]
    if name in DEFAULT_COLUMNS:
        entry["colonnes"] = DEFAULT_COLUMNS[name]
    if name in LINK_COLUMNS:
        entry["lien"] = LINK_COLUMNS[name]
    if name in PAGE_SIZES:
        entry["size"] = PAGE_SIZES[name]
    return entry


def build_metadata(
    database: str = DATABASE,
    allow_robots: bool = False,
    paquet_url: str | None = None,
    validation: dict[str, Any] | None = VALIDATION_DEFAULTS,
) -> dict[str, Any]:
    """The site's metadata; ``validation`` holds the limits of the validation page, None turns it off."""
    tables: dict[str, Any] = {}
    for name in TABLES + PACKAGE_TABLES:
        model = load_tables()[name]
        tables[name] = _table_entry(
            name,
            model.descriptor.get("title", name),
            model.descriptor.get("description", ""),
            column_descriptions(name),
        )
    for name, (title, description) in EXTRA_TABLES.items():
        columns = list(REFERENCE[name][0]) if name in REFERENCE else []
        tables[name] = _table_entry(
            name, title, description, {c: EXTRA_DESCRIPTIONS.get(c, site_labels.label(name, c)) for c in columns}
        )
    tables["marches_par_titulaire"] = {
        "title": "Marchés par titulaire (vue à plat)",
        "description": "Une ligne par marché et par titulaire (un titulaire cité deux fois dans un marché y est "
        "une fois ; un marché sans titulaire, une fois, sans titulaire), pour les tableurs : exportez-la en CSV "
        "ou en Excel, ou filtrez-la par titulaire ou par acheteur.",
    }
    tables[INSPECT_TABLE] = {  # what marches serve gives Datasette as its inspect file: not for visitors
        "hidden": True,
        "title": "Comptes de lignes",
        "description": "Comptes de lignes de chaque table, calculés par « marches publish » pour le mode immuable.",
    }
    robots = {"literal": "User-agent: *\nAllow: /"} if allow_robots else {"disallow": ["/"]}
    return {
        "title": "Données essentielles de la commande publique",
        "description": "Marchés publics et contrats de concession publiés par les acheteurs publics (DECP), lus, "
        "validés et dédoublonnés par marches. Recherchez un objet, un acheteur, une entreprise ou un lieu ; "
        "filtrez par année, procédure ou secteur ; exportez en CSV ou en Excel.",
        "license": "Licence Ouverte 2.0 (etalab-2.0)",
        "license_url": LICENCE_URL,
        "source": "Données essentielles publiées par les acheteurs publics, validées par marches",
        "extra_css_urls": ["/marches-static/marches.css"],
        "extra_js_urls": ["/marches-static/marches.js"],
        "databases": {database: {"title": "Commande publique", "tables": tables, "queries": QUERIES}},
        "plugins": {
            "datasette-dashboards": dashboard(database),
            "datasette-block-robots": robots,
            "datasette-xlsx": {"max_rows": XLSX_MAX_ROWS},
            "marches": {
                "paquet_url": paquet_url,
                "tableau_de_bord": "/-/dashboards/indicateurs",
                "validation": validation,
            },
        },
    }


def metadata_yaml() -> str:
    import yaml

    header = "# Generated by `make metadata` (marches.site.build_metadata): edit the code, not this file.\n"
    return header + yaml.safe_dump(build_metadata(), allow_unicode=True, sort_keys=False, width=120)


def package_directory(database: Path) -> Path | None:
    """The data package the database was built from, when it is one package still on this machine."""
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            paths = [Path(r[0]) for r in db.execute("SELECT chemin FROM paquets")]
    except sqlite3.Error:
        return None
    return paths[0] if len(paths) == 1 and (paths[0] / "datapackage.json").is_file() else None
