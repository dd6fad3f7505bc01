"""The closed lists of the format, with the variants they absorb, and the keys that tell a record's kind and generation."""

from __future__ import annotations

from marches.model import enum_values
from marches.normalize import Enum

# -- closed lists -------------------------------------------------------------------------------------

NATURE_2019 = ("Accord-cadre", "Marché subséquent")
E_NATURE = Enum(enum_values("marches", "nature") + NATURE_2019)
E_NATURE_CONCESSION = Enum(enum_values("concessions", "nature"))
E_PROCEDURE = Enum(
    enum_values("marches", "procedure"),
    legacy={
        "Procédure concurrentielle avec négociation": "Procédure avec négociation",
        "Procédure négociée avec mise en concurrence préalable": "Procédure avec négociation",
        "Marché négocié sans publicité ni mise en concurrence préalable": "Marché passé sans publicité ni mise en concurrence préalable",
    },
)
E_PROCEDURE_CONCESSION = Enum(enum_values("concessions", "procedure"))
E_TYPE_CODE = Enum(enum_values("marches", "lieuExecution_typeCode"))
E_TECHNIQUE = Enum(enum_values("marches", "techniques"))
E_MODALITE = Enum(
    enum_values("marches", "modalitesExecution"),
    legacy={  # schema 2.0.0 labels
        "Marché à tranches": "Tranches",
        "Bon de commande": "Bons de commande",
        "Marché subséquent": "Marchés subséquents",
        "Mixte": ("Bons de commande", "Marchés subséquents"),
    },
)
E_CCAG = Enum(enum_values("marches", "ccag"))
E_GROUPEMENT = Enum(enum_values("marches", "typeGroupementOperateurs"))
E_TYPE_PRIX = Enum(enum_values("marches", "typesPrix"))
E_FORME_PRIX = Enum(enum_values("marches", "formePrix"))
FORME_PRIX_2019 = {
    "Ferme": "Définitif ferme",
    "Ferme et actualisable": "Définitif actualisable",
    "Révisable": "Définitif révisable",
}
E_FORME_PRIX_2019 = Enum(tuple(FORME_PRIX_2019))
E_CONS_SOC = Enum(enum_values("marches", "considerationsSociales"))
E_CONS_SOC_CONCESSION = Enum(enum_values("concessions", "considerationsSociales"))
E_CONS_ENV = Enum(enum_values("marches", "considerationsEnvironnementales"))
E_TYPE_ID = Enum(
    enum_values("marches_titulaires", "typeIdentifiant"),
    legacy={"TVA intracommunautaire": "TVA", "FRW": "FRWF"},
)
E_VARIATION = Enum(enum_values("marches_actes_sous_traitance", "variationPrix"))

# keys whose presence marks a 2022 record
V2_MARKERS = frozenset(
    {
        "techniques",
        "technique",
        "modalitesExecution",
        "modaliteExecution",
        "typesPrix",
        "typePrix",
        "ccag",
        "offresRecues",
        "marcheInnovant",
        "attributionAvance",
        "sousTraitanceDeclaree",
        "typeGroupementOperateurs",
        "considerationsSociales",
        "considerationsEnvironnementales",
        "actesSousTraitance",
        "modificationsActesSousTraitance",
        "idAccordCadre",
        "tauxAvance",
        "origineUE",
        "origineFrance",
    }
)
CONCESSION_MARKERS = frozenset(
    {
        "autoriteConcedante",
        "concessionnaires",
        "valeurGlobale",
        "dateSignature",
        "donneesExecution",
        "montantSubventionPublique",
    }
)
