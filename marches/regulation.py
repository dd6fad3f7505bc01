"""The regulatory facts marches applies, each with its legal source: the one declared place.

Which format a record is judged against, what the law asked at a given date (publication
threshold, publication delay in calendar months), and how each format version shapes a record
(the keys an object may carry, the lists it holds, how their items are wrapped, how many items
they need). The constraints of each field in each version (required, closed lists, bounds,
lengths) live beside the field in the Table Schemas of ``schemas/``: ``constraints`` hold for
every generation, ``x-format`` adds what one generation's official schema adds
(see :func:`marches.model.Table.constraints_for`).

Sources: code de la commande publique (CCP); arrêtés du 14/04/2017 (modifiés les 27/07/2018 et
22/03/2019) and their schema 1.5.0; arrêtés du 22/12/2022 (modifiés le 22/12/2023) and their
schema 2.0.3 (XSD 2.0.2), https://github.com/139bercy/format-commande-publique.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

# -- the two regulatory generations ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Format:
    """One regulatory generation of the DECP and the official schema a record of it is judged against."""

    generation: str  # "2019" or "2022", as in the ``generation`` column
    schema: str  # version of the official schema that is the reference
    texts: str  # legal basis
    in_force: tuple[dt.date, dt.date | None]

    @property
    def label(self) -> str:
        """« format 2019 (schéma 1.5.0) »: how messages name the format."""
        return f"format {self.generation} (schéma {self.schema})"


FORMATS = {
    "2019": Format(
        "2019",
        "1.5.0",
        "arrêtés du 14/04/2017 relatifs aux données essentielles, modifiés les 27/07/2018 et 22/03/2019",
        (dt.date(2018, 10, 1), dt.date(2023, 12, 31)),
    ),
    "2022": Format(
        "2022",
        "2.0.3",
        "arrêtés du 22/12/2022 relatifs aux données essentielles des marchés publics et des contrats de "
        "concession, modifiés le 22/12/2023",
        (dt.date(2024, 1, 1), None),
    ),
}
GENERATIONS = tuple(FORMATS)

# -- what the law asks, by date --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatedAmount:
    """An amount in euros HT in force from ``since`` (inclusive) until the next one."""

    since: dt.date
    amount: float
    source: str


# Marchés whose value reaches this amount must have their essential data published.
PUBLICATION_THRESHOLDS: tuple[DatedAmount, ...] = (
    DatedAmount(
        dt.date(2016, 4, 1),
        25_000,
        "décret n° 2016-360 du 25/03/2016, art. 107, puis art. R. 2196-1 du CCP (version du 01/04/2019)",
    ),
    DatedAmount(dt.date(2020, 1, 1), 40_000, "décret n° 2019-1344 du 12/12/2019 (art. R. 2196-1 du CCP)"),
)


def publication_threshold(notified: dt.date) -> DatedAmount:
    """The publication threshold in force on a notification date (the first one before 2016)."""
    current = PUBLICATION_THRESHOLDS[0]
    for threshold in PUBLICATION_THRESHOLDS:
        if threshold.since <= notified:
            current = threshold
    return current


# Marchés: essential data published within two calendar months of notification (a date in the
# third month is late; the 21/12 notification may be published until the 21/02).
PUBLICATION_DELAY_MONTHS = 2
PUBLICATION_DELAY_SOURCE = (
    "art. R. 2196-1 du CCP et arrêtés du 22/12/2022 : données publiées au plus tard deux mois après la notification"
)

# Shares of EU and French origin concern these CPV ranges only (décret n° 2022-767, arrêté du 22/12/2022).
ORIGIN_RANGES: tuple[tuple[int, int], ...] = (
    (15100000, 15982200),
    (34100000, 34144910),
    (34510000, 34522700),
    (34600000, 34622500),
    (34710000, 34722200),
    (33100000, 33198200),
    (33600000, 33698300),
    (18100000, 18453000),
    (18800000, 18843000),
)


def origin_applies(code: str) -> bool:
    number = int(code[:8])
    return any(low <= number <= high for low, high in ORIGIN_RANGES)


# -- how each format version shapes a record ---------------------------------------------------------------

_BOTH = frozenset({"2019", "2022"})
_2019, _2022 = frozenset({"2019"}), frozenset({"2022"})


def _keys(**by_key: frozenset[str]) -> dict[str, frozenset[str]]:
    """{generation: keys} from {key: generations where the format has it}."""
    return {g: frozenset(k for k, gens in by_key.items() if g in gens) for g in ("2019", "2022")}


# The keys each object of the format may carry, by generation (the properties of the official schemas).
OBJECT_KEYS: dict[str, dict[str, frozenset[str]]] = {
    "marche": _keys(
        id=_BOTH,
        uid=_2019,
        _type=_2019,
        acheteur=_BOTH,
        nature=_BOTH,
        objet=_BOTH,
        codeCPV=_BOTH,
        techniques=_2022,
        modalitesExecution=_2022,
        idAccordCadre=_2022,
        marcheInnovant=_2022,
        ccag=_2022,
        offresRecues=_2022,
        attributionAvance=_2022,
        tauxAvance=_2022,
        typeGroupementOperateurs=_2022,
        sousTraitanceDeclaree=_2022,
        actesSousTraitance=_2022,
        procedure=_BOTH,
        lieuExecution=_BOTH,
        dureeMois=_BOTH,
        dateNotification=_BOTH,
        datePublicationDonnees=_BOTH,
        montant=_BOTH,
        typesPrix=_2022,
        formePrix=_BOTH,
        origineUE=_2022,
        origineFrance=_2022,
        titulaires=_BOTH,
        considerationsSociales=_2022,
        considerationsEnvironnementales=_2022,
        modificationsActesSousTraitance=_2022,
        modifications=_BOTH,
    ),
    "concession": _keys(
        id=_BOTH,
        uid=_2019,
        _type=_2019,
        autoriteConcedante=_BOTH,
        nature=_BOTH,
        objet=_BOTH,
        procedure=_BOTH,
        lieuExecution=_2019,
        dureeMois=_BOTH,
        dateSignature=_BOTH,
        datePublicationDonnees=_BOTH,
        dateDebutExecution=_BOTH,
        valeurGlobale=_BOTH,
        montantSubventionPublique=_BOTH,
        donneesExecution=_BOTH,
        concessionnaires=_BOTH,
        considerationsSociales=_2022,
        considerationsEnvironnementales=_2022,
        modifications=_BOTH,
    ),
    "acheteur": _keys(id=_BOTH, nom=_2019),
    "lieuExecution": _keys(code=_BOTH, typeCode=_BOTH, nom=_2019),
    "titulaire": _keys(typeIdentifiant=_BOTH, id=_BOTH, denominationSociale=_2019),
    "sousTraitant": _keys(typeIdentifiant=_2022, id=_2022),
    "modification": _keys(
        id=_2022,
        objetModification=_2019,
        dateNotificationModification=_BOTH,
        datePublicationDonneesModification=_BOTH,
        dureeMois=_BOTH,
        montant=_BOTH,
        titulaires=_BOTH,
    ),
    "acteSousTraitance": _keys(
        id=_2022,
        sousTraitant=_2022,
        dureeMois=_2022,
        dateNotification=_2022,
        datePublicationDonnees=_2022,
        montant=_2022,
        variationPrix=_2022,
    ),
    "modificationActeSousTraitance": _keys(
        id=_2022,
        dateNotificationModificationSousTraitance=_2022,
        datePublicationDonnees=_2022,
        dureeMois=_2022,
        montant=_2022,
    ),
    "modificationConcession": _keys(
        id=_2022,
        objetModification=_2019,
        dateSignatureModification=_BOTH,
        datePublicationDonneesModification=_BOTH,
        dureeMois=_BOTH,
        valeurGlobale=_BOTH,
    ),
    "donneesAnnuelles": _keys(datePublicationDonneesExecution=_BOTH, depensesInvestissement=_BOTH, tarifs=_BOTH),
    "tarif": _keys(intituleTarif=_BOTH, tarif=_BOTH),
}
OBJECT_KEYS["autoriteConcedante"] = OBJECT_KEYS["acheteur"]
OBJECT_KEYS["concessionnaire"] = OBJECT_KEYS["titulaire"]


def readable_keys(kind: str) -> frozenset[str]:
    """Every key marches reads in this object, whatever the generation (the union of both)."""
    return OBJECT_KEYS[kind]["2019"] | OBJECT_KEYS[kind]["2022"]


# Places where the official schema does not check that a value is an object (no "type": "object"):
# the 1.5.0 Acheteur, the items of the 2.0.3 TitulaireArray and ConcessionnaireArray.
UNTYPED_OBJECTS = frozenset({("2019", "acheteur"), ("2022", "titulaire"), ("2022", "concessionnaire")})

# Objects that must be present, by generation (their fields are then checked one by one).
REQUIRED_OBJECTS: dict[tuple[str, str], frozenset[str]] = {
    ("marche", "acheteur"): _BOTH,
    ("marche", "lieuExecution"): _BOTH,
    ("concession", "autoriteConcedante"): _BOTH,
    ("concession", "lieuExecution"): _2019,
    ("acteSousTraitance", "sousTraitant"): _2022,
}
# The 2.0.0 draft (2023) named the 2022 closed lists in the singular, as bare arrays.
DRAFT_2022_NAMES = {"technique": "techniques", "modaliteExecution": "modalitesExecution", "typePrix": "typesPrix"}
# _type values of the 2019 format (schema 1.5.0: patterns ^Marché$ and ^Contrat de concession$)
TYPE_2019 = {"marche": "Marché", "concession": "Contrat de concession"}
UID_2019_PATTERN = r"^[0-9]{14}.{7,16}$"  # schema 1.5.0: buyer SIRET then the 7 to 16 characters of id


@dataclass(frozen=True, slots=True)
class ListSpec:
    """A list of objects of the format, and what each generation asks of it.

    ``item`` is the 2022 wrapper of each item in JSON (``[{"titulaire": {...}}]``) and the element
    repeated inside the list's element in XML; 2019 JSON items are bare objects.
    """

    name: str
    item: str
    required: frozenset[str]  # generations where the list must be present
    min_items: tuple[tuple[str, int], ...]  # (generation, minimum) where the schema sets minItems
    unique: bool = True  # uniqueItems (both schemas, except tarifs)

    def minimum(self, generation: str) -> int:
        return dict(self.min_items).get(generation, 0)


LISTS = {
    ("marche", "titulaires"): ListSpec("titulaires", "titulaire", frozenset(GENERATIONS), (("2019", 1), ("2022", 1))),
    ("marche", "modifications"): ListSpec("modifications", "modification", frozenset({"2019"}), (("2022", 1),)),
    ("modification", "titulaires"): ListSpec("titulaires", "titulaire", frozenset(), (("2019", 1), ("2022", 1))),
    ("marche", "actesSousTraitance"): ListSpec("actesSousTraitance", "acteSousTraitance", frozenset(), (("2022", 1),)),
    ("marche", "modificationsActesSousTraitance"): ListSpec(
        "modificationsActesSousTraitance", "modificationActeSousTraitance", frozenset(), (("2022", 1),)
    ),
    ("concession", "concessionnaires"): ListSpec(
        "concessionnaires", "concessionnaire", frozenset(GENERATIONS), (("2019", 1), ("2022", 1))
    ),
    ("concession", "modifications"): ListSpec("modifications", "modification", frozenset({"2019"}), (("2022", 1),)),
    ("concession", "donneesExecution"): ListSpec("donneesExecution", "donneesAnnuelles", frozenset({"2019"}), ()),
    ("donneesAnnuelles", "tarifs"): ListSpec(
        "tarifs", "tarif", frozenset(GENERATIONS), (("2019", 1), ("2022", 1)), unique=False
    ),
}
# The objects whose elements an XSD orders (xs:sequence; the others are xs:all), by (generation, object kind):
# the only one with more than one element is the 2019 acheteur (XSD 1.5.0 line 48: id, then nom).
XML_SEQUENCES = {("2019", "acheteur"): ("id", "nom")}
# Elements both XSDs (1.5.0 line 47, 2.0.2 line 31) declare mixed="true": text may stand between their child
# elements. It carries no data of the format.
XML_MIXED = frozenset({"acheteur"})
# The one list item the two 2022 schemas name differently: the XSD 2.0.2's spelling of an item LISTS names
# as the JSON Schema 2.0.3 does. Each schema refuses the other's spelling.
XSD_ITEM_NAMES = {"modificationActeSousTraitance": "modificationActesSousTraitance"}
# The 2022 closed lists: {"technique": [...]} in JSON, repeated <technique> in XML; at least one value, each once.
VALUE_LISTS = {
    "techniques": "technique",
    "modalitesExecution": "modaliteExecution",
    "typesPrix": "typePrix",
    "considerationsSociales": "considerationSociale",
    "considerationsEnvironnementales": "considerationEnvironnementale",
}


# The object kind (a key of OBJECT_KEYS) each object or list item of the format holds, by (parent, key).
CHILD_KINDS: dict[tuple[str, str], str] = {
    ("marche", "acheteur"): "acheteur",
    ("marche", "lieuExecution"): "lieuExecution",
    ("marche", "titulaires"): "titulaire",
    ("marche", "modifications"): "modification",
    ("marche", "actesSousTraitance"): "acteSousTraitance",
    ("marche", "modificationsActesSousTraitance"): "modificationActeSousTraitance",
    ("modification", "titulaires"): "titulaire",
    ("acteSousTraitance", "sousTraitant"): "sousTraitant",
    ("concession", "autoriteConcedante"): "autoriteConcedante",
    ("concession", "lieuExecution"): "lieuExecution",
    ("concession", "concessionnaires"): "concessionnaire",
    ("concession", "modifications"): "modificationConcession",
    ("concession", "donneesExecution"): "donneesAnnuelles",
    ("donneesAnnuelles", "tarifs"): "tarif",
}


@lru_cache(maxsize=4096)
def foreign_key(kind: str, generation: str, rel: str) -> str | None:
    """The first key along ``rel`` (a path inside a record of ``kind``: ``"titulaires[0].titulaire.nom"``)
    that the record's generation does not have at its level, or None when the whole path is the format's.

    marches reads the fields of the other generation (a 2019 ``acheteur.nom`` in a 2022 record, 2022
    ``techniques`` in a 2019 one): what the format does not name, its schema does not check.
    """
    segments = [s for s in rel.replace("[", ".[").split(".") if s and not s.startswith("[")]
    at = kind
    i = 0
    while i < len(segments):
        name = segments[i]
        if generation == "2022" and at == "marche":
            name = DRAFT_2022_NAMES.get(name, name)  # read as the 2.0.3 list (the key itself is reported)
        keys = OBJECT_KEYS.get(at)
        if keys is None:
            return None
        if name not in keys[generation]:
            return ".".join(segments[: i + 1])
        if name in VALUE_LISTS:
            return None
        child = CHILD_KINDS.get((at, name))
        if child is None:
            return None
        spec = LISTS.get((at, name))
        if spec is not None and i + 1 < len(segments) and segments[i + 1] == spec.item:
            i += 1  # the 2022 wrapper of each item
        at = child
        i += 1
    return None


def strict_keys(origin: str, generation: str, top_level: bool) -> bool:
    """Whether keys outside the format make the record invalid at this level of the record.

    The 2.0.3 JSON Schema forbids unknown keys at the record level only (``additionalProperties:
    false``); the XSDs (2.0.2, and 1.5.0 for 2019 XML) forbid unknown elements everywhere; the 1.5.0
    JSON Schema allows them. Allowed unknown keys are kept in ``extra_fields`` without a finding.
    """
    if origin == "xml":
        return True
    return generation == "2022" and top_level
