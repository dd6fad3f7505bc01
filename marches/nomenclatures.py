"""Labels the platform shows for codes: CPV divisions, French départements, finding severities.

Written for marches from the CPV 2008 nomenclature (the 45 divisions, French titles shortened where
the official wording is a list) and the Code officiel géographique (départements, collectivités
d'outre-mer). The full CPV list is not shipped: ``marches cpv install`` adds its labels.
"""

from __future__ import annotations

import polars as pl

DIVISIONS_CPV = {
    "03": "Produits agricoles, de l'élevage, de la pêche et de la sylviculture",
    "09": "Produits pétroliers, combustibles, électricité et autres sources d'énergie",
    "14": "Produits d'exploitation minière et métaux de base",
    "15": "Produits alimentaires, boissons et tabac",
    "16": "Machines agricoles",
    "18": "Vêtements, articles chaussants, bagages et accessoires",
    "19": "Cuir, textiles, matériaux en plastique et en caoutchouc",
    "22": "Imprimés et produits connexes",
    "24": "Produits chimiques",
    "30": "Machines et fournitures informatiques et de bureau",
    "31": "Machines, appareils et équipements électriques ; éclairage",
    "32": "Équipements de radio, de télévision, de communication et de télécommunication",
    "33": "Matériels médicaux, pharmaceutiques et produits de soins personnels",
    "34": "Équipements de transport et produits auxiliaires pour le transport",
    "35": "Équipements de sécurité, de lutte contre l'incendie, de police et de défense",
    "37": "Instruments de musique, articles de sport, jeux et jouets",
    "38": "Équipements de laboratoire, d'optique et de précision",
    "39": "Meubles, aménagements, électroménager et produits de nettoyage",
    "41": "Eau collectée et purifiée",
    "42": "Machines industrielles",
    "43": "Machines pour l'exploitation minière et les carrières, matériel de construction",
    "44": "Structures et matériaux de construction",
    "45": "Travaux de construction",
    "48": "Logiciels et systèmes d'information",
    "50": "Services de réparation et d'entretien",
    "51": "Services d'installation (hors logiciels)",
    "55": "Services d'hôtellerie, de restauration et de commerce de détail",
    "60": "Services de transport (hors transport des déchets)",
    "63": "Services de transport complémentaires et auxiliaires ; agences de voyages",
    "64": "Services des postes et télécommunications",
    "65": "Services publics (eau, énergie)",
    "66": "Services financiers et d'assurance",
    "70": "Services immobiliers",
    "71": "Services d'architecture, de construction, d'ingénierie et d'inspection",
    "72": "Services de technologies de l'information : conseil, logiciels, internet et appui",
    "73": "Services de recherche et développement et de conseil connexes",
    "75": "Services de l'administration publique, de la défense et de la sécurité sociale",
    "76": "Services liés à l'industrie du pétrole et du gaz",
    "77": "Services agricoles, sylvicoles, horticoles, d'aquaculture et d'apiculture",
    "79": "Services aux entreprises : droit, marketing, conseil, recrutement, impression, sécurité",
    "80": "Services d'enseignement et de formation",
    "85": "Services de santé et services sociaux",
    "90": "Services d'assainissement, de gestion des déchets, de nettoyage et d'environnement",
    "92": "Services récréatifs, culturels et sportifs",
    "98": "Autres services communautaires, sociaux et personnels",
}

DEPARTEMENTS = {
    "01": "Ain",
    "02": "Aisne",
    "03": "Allier",
    "04": "Alpes-de-Haute-Provence",
    "05": "Hautes-Alpes",
    "06": "Alpes-Maritimes",
    "07": "Ardèche",
    "08": "Ardennes",
    "09": "Ariège",
    "10": "Aube",
    "11": "Aude",
    "12": "Aveyron",
    "13": "Bouches-du-Rhône",
    "14": "Calvados",
    "15": "Cantal",
    "16": "Charente",
    "17": "Charente-Maritime",
    "18": "Cher",
    "19": "Corrèze",
    "2A": "Corse-du-Sud",
    "2B": "Haute-Corse",
    "21": "Côte-d'Or",
    "22": "Côtes-d'Armor",
    "23": "Creuse",
    "24": "Dordogne",
    "25": "Doubs",
    "26": "Drôme",
    "27": "Eure",
    "28": "Eure-et-Loir",
    "29": "Finistère",
    "30": "Gard",
    "31": "Haute-Garonne",
    "32": "Gers",
    "33": "Gironde",
    "34": "Hérault",
    "35": "Ille-et-Vilaine",
    "36": "Indre",
    "37": "Indre-et-Loire",
    "38": "Isère",
    "39": "Jura",
    "40": "Landes",
    "41": "Loir-et-Cher",
    "42": "Loire",
    "43": "Haute-Loire",
    "44": "Loire-Atlantique",
    "45": "Loiret",
    "46": "Lot",
    "47": "Lot-et-Garonne",
    "48": "Lozère",
    "49": "Maine-et-Loire",
    "50": "Manche",
    "51": "Marne",
    "52": "Haute-Marne",
    "53": "Mayenne",
    "54": "Meurthe-et-Moselle",
    "55": "Meuse",
    "56": "Morbihan",
    "57": "Moselle",
    "58": "Nièvre",
    "59": "Nord",
    "60": "Oise",
    "61": "Orne",
    "62": "Pas-de-Calais",
    "63": "Puy-de-Dôme",
    "64": "Pyrénées-Atlantiques",
    "65": "Hautes-Pyrénées",
    "66": "Pyrénées-Orientales",
    "67": "Bas-Rhin",
    "68": "Haut-Rhin",
    "69": "Rhône",
    "70": "Haute-Saône",
    "71": "Saône-et-Loire",
    "72": "Sarthe",
    "73": "Savoie",
    "74": "Haute-Savoie",
    "75": "Paris",
    "76": "Seine-Maritime",
    "77": "Seine-et-Marne",
    "78": "Yvelines",
    "79": "Deux-Sèvres",
    "80": "Somme",
    "81": "Tarn",
    "82": "Tarn-et-Garonne",
    "83": "Var",
    "84": "Vaucluse",
    "85": "Vendée",
    "86": "Vienne",
    "87": "Haute-Vienne",
    "88": "Vosges",
    "89": "Yonne",
    "90": "Territoire de Belfort",
    "91": "Essonne",
    "92": "Hauts-de-Seine",
    "93": "Seine-Saint-Denis",
    "94": "Val-de-Marne",
    "95": "Val-d'Oise",
    "971": "Guadeloupe",
    "972": "Martinique",
    "973": "Guyane",
    "974": "La Réunion",
    "975": "Saint-Pierre-et-Miquelon",
    "976": "Mayotte",
    "977": "Saint-Barthélemy",
    "978": "Saint-Martin",
    "986": "Wallis-et-Futuna",
    "987": "Polynésie française",
    "988": "Nouvelle-Calédonie",
}

SEVERITES = {"error": "Erreur", "warning": "Avertissement", "info": "Information"}


def departement_sql(code: str, type_code: str) -> str:
    """SQL expression: the département of a place of execution (commune, postal or département code).

    INSEE commune codes and postal codes start with the département (three digits overseas); Corsican
    postal codes (20xxx) are split at 20200 (2A below, 2B from it). Region and country codes have none.
    """
    return (
        f"CASE "
        f"WHEN {type_code} = 'Code département' THEN upper({code}) "
        f"WHEN {type_code} = 'Code commune' THEN CASE WHEN substr({code}, 1, 2) = '97' OR substr({code}, 1, 2) = '98' "
        f"THEN substr({code}, 1, 3) ELSE upper(substr({code}, 1, 2)) END "
        f"WHEN {type_code} = 'Code postal' THEN CASE WHEN substr({code}, 1, 2) IN ('97', '98') THEN substr({code}, 1, 3) "
        f"WHEN substr({code}, 1, 2) = '20' THEN CASE WHEN {code} < '20200' THEN '2A' ELSE '2B' END "
        f"ELSE substr({code}, 1, 2) END "
        f"END"
    )


def departement_expr(code: str, type_code: str) -> pl.Expr:
    """``departement_sql`` as a polars expression, the same value for every row (tested against SQLite).

    SQLite's ``upper`` changes ASCII letters only and polars' every letter: the codes kept (those of
    ``DEPARTEMENTS``) are digits, "2A" and "2B", which no other letter turns into.
    """
    value, kind = pl.col(code), pl.col(type_code)
    first_two = value.str.slice(0, 2)
    overseas = first_two.is_in(["97", "98"])
    return (
        pl.when(kind == "Code département")
        .then(value.str.to_uppercase())
        .when(kind == "Code commune")
        .then(pl.when(overseas).then(value.str.slice(0, 3)).otherwise(first_two.str.to_uppercase()))
        .when(kind == "Code postal")
        .then(
            pl.when(overseas)
            .then(value.str.slice(0, 3))
            .when(first_two == "20")
            .then(pl.when(value < "20200").then(pl.lit("2A")).otherwise(pl.lit("2B")))
            .otherwise(first_two)
        )
    )
