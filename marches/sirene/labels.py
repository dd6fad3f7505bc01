"""Labels of the SIRENE codes the platform shows, written for marches from INSEE's published
nomenclatures (no SIRENE data): legal categories at level II (two digits), company categories,
headcount bands, and which legal categories are public bodies.
"""

from __future__ import annotations

# Catégories juridiques, niveau II (the first two digits of categorieJuridiqueUniteLegale).
CATEGORIES_JURIDIQUES = {
    "00": "Organisme de placement collectif en valeurs mobilières sans personnalité morale",
    "10": "Entrepreneur individuel",
    "21": "Indivision",
    "22": "Société créée de fait",
    "23": "Société en participation",
    "24": "Fiducie",
    "27": "Paroisse hors zone concordataire",
    "28": "Assujetti unique à la TVA",
    "29": "Autre groupement de droit privé non doté de la personnalité morale",
    "31": "Personne morale de droit étranger, immatriculée au RCS",
    "32": "Personne morale de droit étranger, non immatriculée au RCS",
    "41": "Établissement public ou régie à caractère industriel ou commercial",
    "51": "Société coopérative commerciale particulière",
    "52": "Société en nom collectif",
    "53": "Société en commandite",
    "54": "Société à responsabilité limitée (SARL)",
    "55": "Société anonyme à conseil d'administration",
    "56": "Société anonyme à directoire",
    "57": "Société par actions simplifiée",
    "58": "Société européenne",
    "61": "Caisse d'épargne et de prévoyance",
    "62": "Groupement d'intérêt économique",
    "63": "Société coopérative agricole",
    "64": "Société d'assurance mutuelle",
    "65": "Société civile",
    "69": "Autre personne morale de droit privé inscrite au RCS",
    "71": "Administration de l'État",
    "72": "Collectivité territoriale",
    "73": "Établissement public administratif",
    "74": "Autre personne morale de droit public administratif",
    "81": "Organisme gérant un régime de protection sociale à adhésion obligatoire",
    "82": "Organisme mutualiste",
    "83": "Comité social et économique d'entreprise",
    "84": "Organisme professionnel",
    "85": "Organisme de retraite à adhésion non obligatoire",
    "91": "Syndicat de propriétaires",
    "92": "Association loi 1901 ou assimilé",
    "93": "Fondation",
    "99": "Autre personne morale de droit privé",
}
# Public bodies: public law persons (administrative: 71 to 74) and public industrial or commercial
# establishments and régies (41).
PUBLIC_CATEGORIES = ("41", "71", "72", "73", "74")

CATEGORIES_ENTREPRISE = {
    "PME": "Petite ou moyenne entreprise",
    "ETI": "Entreprise de taille intermédiaire",
    "GE": "Grande entreprise",
}

TRANCHES_EFFECTIFS = {
    "NN": "Non employeur",
    "00": "0 salarié",
    "01": "1 ou 2 salariés",
    "02": "3 à 5 salariés",
    "03": "6 à 9 salariés",
    "11": "10 à 19 salariés",
    "12": "20 à 49 salariés",
    "21": "50 à 99 salariés",
    "22": "100 à 199 salariés",
    "31": "200 à 249 salariés",
    "32": "250 à 499 salariés",
    "41": "500 à 999 salariés",
    "42": "1 000 à 1 999 salariés",
    "51": "2 000 à 4 999 salariés",
    "52": "5 000 à 9 999 salariés",
    "53": "10 000 salariés et plus",
}

ETATS = {"A": "Actif", "F": "Fermé", "C": "Cessé"}
DIFFUSION = {"O": "Diffusible", "P": "Diffusion partielle", "N": "Non diffusible"}
PRIVATE = ("P", "N")  # diffusion statuses under which no name and no address may be shown


def categorie_juridique(code: str | None) -> str | None:
    """« 7210 — Collectivité territoriale » (the level II label of a level III code)."""
    if not code:
        return None
    label = CATEGORIES_JURIDIQUES.get(code[:2])
    return f"{code} — {label}" if label else code
