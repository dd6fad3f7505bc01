"""The Datasette site: metadata (French titles, every column described from the Table Schemas, facets,
sort orders, labels), canned queries and dashboards. How ``marches serve`` runs Datasette: ``marches.serve``.

``metadata.yml`` at the top of the repository is ``build_metadata()`` written out (``make metadata``);
a test fails if they drift apart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from marches.model import PACKAGE_TABLES, TABLES, load_tables
from marches.publish import DERIVED

DATABASE = "decp"
ASSETS = Path(__file__).parent / "site_assets"
LICENCE_URL = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
FACETS = {
    "marches": ["annee", "procedure", "division_cpv"],  # each facet costs ~0.2 s on 1.5 M rows: the useful ones
    "concessions": ["annee", "nature", "procedure"],
    "marches_titulaires": ["typeIdentifiant"],
    "enregistrements": ["statut", "kind", "source_file"],
    "constats": ["severity", "code"],
}
SORT_DESC = {
    "marches": "dateNotification",
    "concessions": "dateSignature",
    "stats_acheteurs": "montant_total",
    "stats_titulaires": "montant_total",
}
SUMMARY_TABLES = {
    "stats_annee": (
        "Indicateurs par année",
        "Nombre de marchés, dépense (montants fiables), part des offres uniques "
        "et des considérations sociales et environnementales, par année de notification.",
        {
            "annee": "Année de notification.",
            "nombre": "Nombre de marchés.",
            "montant_total": "Somme des montants fiables (hors montants de remplissage ou invraisemblables).",
            "part_offre_unique": "Part des marchés ayant reçu une seule offre.",
            "part_consideration_sociale": "Part des marchés avec une considération sociale.",
            "part_consideration_environnementale": "Part des marchés avec une considération environnementale.",
            "montants_ecartes": "Nombre de montants écartés des sommes (remplissage, invraisemblables).",
        },
    ),
    "stats_division": (
        "Indicateurs par division CPV",
        "Nombre de marchés et dépense par division CPV (deux premiers chiffres du code).",
        {
            "division_cpv": "Division CPV.",
            "nombre": "Nombre de marchés.",
            "montant_total": "Somme des montants fiables.",
        },
    ),
    "stats_procedure": (
        "Indicateurs par procédure",
        "Nombre, dépense et part d'offres uniques par année et procédure de passation.",
        {
            "annee": "Année de notification.",
            "procedure": "Procédure.",
            "nombre": "Nombre de marchés.",
            "montant_total": "Somme des montants fiables.",
            "part_offre_unique": "Part des marchés à offre unique.",
        },
    ),
    "stats_acheteurs": (
        "Acheteurs",
        "Un acheteur par ligne : nombre de marchés et dépense.",
        {
            "acheteur_id": "SIRET de l'acheteur.",
            "acheteur_nom": "Nom (format 2019).",
            "nombre": "Nombre de marchés.",
            "montant_total": "Somme des montants fiables.",
            "premier": "Première notification.",
            "dernier": "Dernière notification.",
        },
    ),
    "stats_titulaires": (
        "Titulaires",
        "Un titulaire par ligne : nombre de marchés remportés et montant.",
        {
            "titulaire_id": "Identifiant du titulaire.",
            "typeIdentifiant": "Type d'identifiant.",
            "denominationSociale": "Dénomination (format 2019).",
            "nombre": "Nombre de marchés.",
            "montant_total": "Somme des montants fiables des marchés (co-titulaires comptés chacun).",
        },
    ),
    "cpv": (
        "Nomenclature CPV",
        "Codes CPV 2008 et leurs libellés (vide si la nomenclature n'est pas installée).",
        {
            "code8": "Code à 8 chiffres.",
            "code": "Code avec chiffre de contrôle.",
            "division": "Division (2 chiffres).",
            "libelle": "Libellé.",
        },
    ),
}

QUERIES = {
    "depenses_par_annee": {
        "title": "Dépense et nombre de marchés par année",
        "description": "Montants fiables uniquement : les montants de remplissage et invraisemblables sont écartés.",
        "sql": "SELECT annee, nombre, montant_total, montants_ecartes FROM stats_annee ORDER BY annee",
    },
    "depenses_par_division": {
        "title": "Dépense par division CPV",
        "sql": "SELECT s.division_cpv, c.libelle, s.nombre, s.montant_total FROM stats_division s "
        "LEFT JOIN cpv c ON c.code8 = s.division_cpv || '000000' ORDER BY s.montant_total DESC",
    },
    "depenses_par_procedure": {
        "title": "Dépense par procédure (une année)",
        "sql": "SELECT procedure, nombre, montant_total, part_offre_unique FROM stats_procedure "
        "WHERE annee = :annee ORDER BY nombre DESC",
    },
    "principaux_acheteurs": {
        "title": "Principaux acheteurs",
        "sql": "SELECT acheteur_id, acheteur_nom, nombre, montant_total FROM stats_acheteurs "
        "ORDER BY montant_total DESC LIMIT 100",
    },
    "principaux_titulaires": {
        "title": "Principaux titulaires",
        "sql": "SELECT titulaire_id, typeIdentifiant, denominationSociale, nombre, montant_total "
        "FROM stats_titulaires ORDER BY montant_total DESC LIMIT 100",
    },
    "offre_unique": {
        "title": "Part des marchés à offre unique",
        "description": "Indicateur de concurrence : marchés ayant reçu une seule offre (offresRecues = 1).",
        "sql": "SELECT annee, nombre, part_offre_unique FROM stats_annee ORDER BY annee",
    },
    "considerations": {
        "title": "Part des marchés avec des considérations sociales et environnementales",
        "sql": "SELECT annee, part_consideration_sociale, part_consideration_environnementale FROM stats_annee "
        "ORDER BY annee",
    },
    "hausses_par_modifications": {
        "title": "Marchés dont le montant a augmenté de plus de N % par modifications",
        "sql": "SELECT record_key, acheteur_id, objet, dateNotification, montant, montantActuel, hausse_pct, "
        "nombreModifications FROM marches WHERE hausse_pct > :pourcentage ORDER BY hausse_pct DESC LIMIT 1000",
    },
    "profil_acheteur": {
        "title": "Profil d'un acheteur (par SIRET)",
        "sql": "SELECT m.record_key, m.id, m.objet, m.dateNotification, m.procedure, m.codeCPV, m.montant, "
        "m.offresRecues, (SELECT count(*) FROM marches WHERE acheteur_id = :siret) AS nombre_total, "
        "(SELECT round(sum(montant_fiable)) FROM marches WHERE acheteur_id = :siret) AS montant_total "
        "FROM marches m WHERE m.acheteur_id = :siret ORDER BY m.dateNotification DESC LIMIT 500",
    },
    "profil_titulaire": {
        "title": "Profil d'un titulaire (par SIRET ou identifiant)",
        "sql": "SELECT m.record_key, m.acheteur_id, m.objet, m.dateNotification, m.procedure, m.codeCPV, m.montant, "
        "(SELECT count(*) FROM marches_titulaires WHERE id = :siret) AS nombre_total "
        "FROM marches_titulaires t JOIN marches m ON m.record_key = t.record_key WHERE t.id = :siret "
        "ORDER BY m.dateNotification DESC LIMIT 500",
    },
}

DASHBOARD = {
    "indicateurs": {
        "title": "Indicateurs de la commande publique",
        "description": "Dépense, concurrence et considérations sociales et environnementales, à partir des "
        "données essentielles validées (montants de remplissage écartés des sommes).",
        "layout": [["depense-annee", "nombre-annee"], ["offre-unique", "considerations"], ["divisions", "procedures"]],
        "charts": {
            "depense-annee": {
                "title": "Dépense par année (€ HT)",
                "db": DATABASE,
                "library": "vega-lite",
                "query": "SELECT annee, montant_total FROM stats_annee WHERE annee IS NOT NULL",
                "display": {
                    "mark": {"type": "bar", "tooltip": True},
                    "encoding": {
                        "x": {"field": "annee", "type": "ordinal", "title": "Année"},
                        "y": {"field": "montant_total", "type": "quantitative", "title": "€ HT"},
                    },
                },
            },
            "nombre-annee": {
                "title": "Nombre de marchés par année",
                "db": DATABASE,
                "library": "vega-lite",
                "query": "SELECT annee, nombre FROM stats_annee WHERE annee IS NOT NULL",
                "display": {
                    "mark": {"type": "bar", "tooltip": True},
                    "encoding": {
                        "x": {"field": "annee", "type": "ordinal", "title": "Année"},
                        "y": {"field": "nombre", "type": "quantitative", "title": "Marchés"},
                    },
                },
            },
            "offre-unique": {
                "title": "Part des marchés à offre unique",
                "db": DATABASE,
                "library": "vega-lite",
                "query": "SELECT annee, part_offre_unique FROM stats_annee WHERE annee IS NOT NULL",
                "display": {
                    "mark": {"type": "line", "point": True, "tooltip": True},
                    "encoding": {
                        "x": {"field": "annee", "type": "ordinal", "title": "Année"},
                        "y": {"field": "part_offre_unique", "type": "quantitative", "axis": {"format": "%"}},
                    },
                },
            },
            "considerations": {
                "title": "Considérations sociales et environnementales",
                "db": DATABASE,
                "library": "vega-lite",
                "query": "SELECT annee, 'sociale' AS type, part_consideration_sociale AS part "
                "FROM stats_annee WHERE annee IS NOT NULL UNION ALL SELECT annee, "
                "'environnementale', part_consideration_environnementale FROM stats_annee "
                "WHERE annee IS NOT NULL",
                "display": {
                    "mark": {"type": "line", "point": True, "tooltip": True},
                    "encoding": {
                        "x": {"field": "annee", "type": "ordinal", "title": "Année"},
                        "y": {"field": "part", "type": "quantitative", "axis": {"format": "%"}},
                        "color": {"field": "type", "type": "nominal"},
                    },
                },
            },
            "divisions": {
                "title": "Nombre de marchés par division CPV",
                "db": DATABASE,
                "library": "vega-lite",
                "query": "SELECT division_cpv, nombre FROM stats_division ORDER BY nombre DESC LIMIT 15",
                "display": {
                    "mark": {"type": "bar", "tooltip": True},
                    "encoding": {
                        "y": {"field": "division_cpv", "type": "nominal", "sort": "-x", "title": "Division CPV"},
                        "x": {"field": "nombre", "type": "quantitative", "title": "Marchés"},
                    },
                },
            },
            "procedures": {
                "title": "Marchés par procédure",
                "db": DATABASE,
                "library": "vega-lite",
                "query": "SELECT procedure, sum(nombre) AS nombre FROM stats_procedure GROUP BY procedure",
                "display": {
                    "mark": {"type": "arc", "tooltip": True},
                    "encoding": {
                        "theta": {"field": "nombre", "type": "quantitative", "title": "Marchés"},
                        "color": {"field": "procedure", "type": "nominal"},
                    },
                },
            },
        },
    }
}


def column_descriptions(table: str) -> dict[str, str]:
    """Every column of a published table, described from its Table Schema (and the derived columns)."""
    model = load_tables()[table]
    out = {f["name"]: f"{f['title']} — {f['description']}" for f in model.fields}
    out.update({d.name: f"{d.title} — {d.description}" for d in DERIVED if d.table == table})
    return out


def build_metadata(database: str = DATABASE, allow_robots: bool = False) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    for name in TABLES + PACKAGE_TABLES:
        model = load_tables()[name]
        entry: dict[str, Any] = {
            "title": model.descriptor.get("title", name),
            "description": model.descriptor.get("description", ""),
            "columns": column_descriptions(name),
        }
        if name in FACETS:
            entry["facets"] = FACETS[name]
        if name in SORT_DESC:
            entry["sort_desc"] = SORT_DESC[name]
        tables[name] = entry
    for name, (title, description, columns) in SUMMARY_TABLES.items():
        tables[name] = {"title": title, "description": description, "columns": columns}
        if name in SORT_DESC:
            tables[name]["sort_desc"] = SORT_DESC[name]
    tables["cpv"]["label_column"] = "libelle"
    tables["marches_par_titulaire"] = {
        "title": "Marchés par titulaire (vue à plat)",
        "description": "Une ligne par marché et par titulaire, pour les tableurs : exportez-la en CSV.",
    }
    dashboards = json.loads(json.dumps(DASHBOARD).replace(f'"db": "{DATABASE}"', f'"db": "{database}"'))
    robots = {"literal": "User-agent: *\nAllow: /"} if allow_robots else {"disallow": ["/"]}
    return {
        "title": "Données essentielles de la commande publique",
        "description": "Marchés publics et contrats de concession publiés par les acheteurs publics (DECP), lus, "
        "validés et dédoublonnés par marches. Recherchez un objet, filtrez par acheteur, titulaire, "
        "CPV, procédure ou année, exportez en CSV, interrogez en SQL.",
        "license": "Licence Ouverte 2.0 (etalab-2.0)",
        "license_url": LICENCE_URL,
        "source": "Données essentielles publiées par les acheteurs publics, validées par marches",
        "extra_css_urls": ["/marches-static/marches.css"],
        "databases": {database: {"title": "Commande publique", "tables": tables, "queries": QUERIES}},
        "plugins": {"datasette-dashboards": dashboards, "datasette-block-robots": robots},
    }


def metadata_yaml() -> str:
    import yaml

    header = "# Generated by `make metadata` (marches.site.build_metadata): edit the code, not this file.\n"
    return header + yaml.safe_dump(build_metadata(), allow_unicode=True, sort_keys=False, width=120)
