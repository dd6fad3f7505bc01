"""Real-world defects (decp.md §3-4) injected into generated contracts, with the truth of each.

Each defect changes one contract in one way and says what a validator must report: the code
of the finding (reader finding, Table Schema constraint, or business rule), the table and the
column. The codes are the ones marches' validation uses.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JSON_ONLY = frozenset({"json-2022", "json-2019"})
ALL = frozenset({"json-2022", "xml-2022", "json-2019"})
V2 = frozenset({"json-2022", "xml-2022"})


@dataclass(frozen=True, slots=True)
class Injected:
    defect: str  # what was done
    code: str  # the finding a validator must report
    table: str
    field: str
    value: Any


@dataclass(frozen=True, slots=True)
class Defect:
    name: str
    kinds: frozenset[str]  # "marche" and/or "concession"
    formats: frozenset[str]
    apply: Callable[[dict, random.Random], Injected | None]


def _break_luhn(siret: str) -> str:
    return siret[:-1] + str((int(siret[-1]) + 1 + (siret[-1] == "9")) % 10)


def _first_holder(record: dict) -> dict:
    item = record["titulaires"][0]
    return item.get("titulaire", item)


def buyer_checksum(record, rng):
    record["acheteur"]["id"] = bad = _break_luhn(record["acheteur"]["id"])
    return Injected("buyer-siret-checksum", "siret-checksum", "marches", "acheteur_id", bad)


def holder_checksum(record, rng):
    holder = _first_holder(record)
    holder["id"] = bad = _break_luhn(holder["id"])
    return Injected("holder-siret-checksum", "siret-checksum", "marches_titulaires", "id", bad)


def siret_lost_zero(record, rng):
    record["acheteur"]["id"] = bad = record["acheteur"]["id"][1:]
    return Injected("siret-lost-leading-digit", "pattern", "marches", "acheteur_id", bad)


def cpv_unknown(record, rng):
    record["codeCPV"] = bad = f"99{rng.randint(0, 999999):06d}"
    return Injected("cpv-unknown", "cpv-unknown", "marches", "codeCPV", bad)


def cpv_lost_zero(record, rng):
    record["codeCPV"] = bad = record["codeCPV"][1:8]
    return Injected("cpv-lost-leading-zero", "pattern", "marches", "codeCPV", bad)


def date_future(record, rng):
    year = rng.choice((2027, 2028, 2030, 5021))
    record["dateNotification"] = bad = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    record["datePublicationDonnees"] = f"{year}-12-31"
    return Injected("date-future", "date-future", "marches", "dateNotification", bad)


def date_ancient(record, rng):
    record["dateNotification"] = bad = "0002-11-30"
    return Injected("date-ancient", "date-floor", "marches", "dateNotification", bad)


def date_order(record, rng):
    notified = record["dateNotification"]
    record["datePublicationDonnees"] = bad = f"{int(notified[:4]) - 1}{notified[4:8]}15"
    return Injected("publication-before-notification", "date-order", "marches", "datePublicationDonnees", bad)


LATEST_DAY = "2026-11-01"  # no injected date after this: the tests validate as of late November 2026


def publication_late(record, rng):
    year, month = int(record["dateNotification"][:4]), int(record["dateNotification"][5:7])
    month += rng.randint(4, 8)
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    bad = f"{min(year, 2026)}-{month:02d}-10"
    if bad <= record["dateNotification"] or bad > LATEST_DAY:
        return None  # a date in the future would be reported as such, not as a late publication
    record["datePublicationDonnees"] = bad
    return Injected("publication-late", "publication-delay", "marches", "datePublicationDonnees", bad)


def amount_placeholder(record, rng):
    record["montant"] = bad = rng.choice((999999999, 123456789, 1111111111))
    return Injected("amount-placeholder", "amount-placeholder", "marches", "montant", bad)


def amount_symbolic(record, rng):
    record["montant"] = bad = 1
    return Injected("amount-symbolic", "amount-symbolic", "marches", "montant", bad)


def amount_implausible(record, rng):
    record["montant"] = bad = rng.choice((1e17, 5e10, 8.5e9))
    return Injected("amount-implausible", "amount-implausible", "marches", "montant", bad)


def duration_days(record, rng):
    record["dureeMois"] = bad = rng.choice((360, 365, 366))
    record["montant"] = min(record["montant"], 60000)
    return Injected("duration-in-days", "duration-days", "marches", "dureeMois", bad)


def enum_invalid(record, rng):
    record["procedure"] = bad = rng.choice(("Appel d'offre ouvert ou restreint", "MAPA", "Gré à gré"))
    return Injected("invalid-enum", "enum", "marches", "procedure", bad)


def enum_case(record, rng):
    record["nature"] = bad = rng.choice(("MARCHE", "marche"))
    return Injected("enum-case", "enum-normalized", "marches", "nature", bad)


def missing_required(record, rng):
    field = rng.choice(("objet", "codeCPV", "dateNotification"))
    bad = record.pop(field)
    return Injected("missing-required", "required", "marches", field, bad)


def nc_placeholder(record, rng):
    field = rng.choice(("montant", "dureeMois"))
    record[field] = "NC"
    return Injected("nc-placeholder", "placeholder", "marches", field, "NC")


def number_as_string(record, rng):
    record["montant"] = bad = str(record["montant"])
    return Injected("number-as-string", "number-as-string", "marches", "montant", bad)


def id_as_number(record, rng):
    holder = _first_holder(record)
    holder["id"] = bad = int(holder["id"])
    return Injected("id-as-number", "id-as-number", "marches_titulaires", "id", bad)


def buyer_is_holder(record, rng):
    _first_holder(record)["id"] = bad = record["acheteur"]["id"]
    return Injected("buyer-is-holder", "buyer-is-holder", "marches_titulaires", "id", bad)


def origine_order(record, rng):
    record["origineUE"], record["origineFrance"] = 0.3, 0.6
    bad = 0.6
    return Injected("origine-france-above-ue", "origine-order", "marches", "origineFrance", bad)


def not_alone(record, rng):
    record["considerationsSociales"] = {"considerationSociale": ["Pas de considération sociale", "Clause sociale"]}
    return Injected(
        "sans-objet-not-alone", "alone-in-list", "marches", "considerationsSociales", "Pas de considération sociale"
    )


def framework_id_missing(record, rng):
    record["modalitesExecution"] = {"modaliteExecution": ["Marchés subséquents"]}
    record.pop("idAccordCadre", None)
    return Injected("idaccordcadre-missing", "accord-cadre-id", "marches", "idAccordCadre", None)


def advance_rate_without_advance(record, rng):
    record["attributionAvance"], record["tauxAvance"] = False, 0.2
    return Injected("taux-without-avance", "taux-avance", "marches", "tauxAvance", 0.2)


def modification_order(record, rng):
    notified = record["dateNotification"]
    record["modifications"] = [
        {
            "modification": {
                "id": 2,
                "dateNotificationModification": notified,
                "datePublicationDonneesModification": record["datePublicationDonnees"],
                "montant": record["montant"],
            }
        },
        {
            "modification": {
                "id": 2,
                "dateNotificationModification": notified,
                "datePublicationDonneesModification": record["datePublicationDonnees"],
            }
        },
    ]
    return Injected("modification-ids", "modification-order", "marches_modifications", "id", 2)


def subcontracting_reference(record, rng):
    record["modificationsActesSousTraitance"] = [
        {
            "modificationActeSousTraitance": {
                "id": 9,
                "dateNotificationModificationSousTraitance": record["dateNotification"],
                "datePublicationDonnees": record["datePublicationDonnees"],
                "montant": 10000,
            }
        }
    ]
    return Injected(
        "subcontracting-unknown-act", "subcontracting-reference", "marches_modifications_actes_sous_traitance", "id", 9
    )


def concession_checksum(record, rng):
    record["autoriteConcedante"]["id"] = bad = _break_luhn(record["autoriteConcedante"]["id"])
    return Injected("authority-siret-checksum", "siret-checksum", "concessions", "autoriteConcedante_id", bad)


def concession_value_placeholder(record, rng):
    record["valeurGlobale"] = bad = 999999999
    return Injected("value-placeholder", "amount-placeholder", "concessions", "valeurGlobale", bad)


M, C = frozenset({"marche"}), frozenset({"concession"})
DEFECTS: tuple[Defect, ...] = (
    Defect("buyer-siret-checksum", M, ALL, buyer_checksum),
    Defect("holder-siret-checksum", M, ALL, holder_checksum),
    Defect("siret-lost-leading-digit", M, ALL, siret_lost_zero),
    Defect("cpv-unknown", M, ALL, cpv_unknown),
    Defect("cpv-lost-leading-zero", M, ALL, cpv_lost_zero),
    Defect("date-future", M, ALL, date_future),
    Defect("date-ancient", M, ALL, date_ancient),
    Defect("publication-before-notification", M, ALL, date_order),
    Defect("publication-late", M, ALL, publication_late),
    Defect("amount-placeholder", M, ALL, amount_placeholder),
    Defect("amount-symbolic", M, ALL, amount_symbolic),
    Defect("amount-implausible", M, ALL, amount_implausible),
    Defect("duration-in-days", M, ALL, duration_days),
    Defect("invalid-enum", M, ALL, enum_invalid),
    Defect("enum-case", M, ALL, enum_case),
    Defect("missing-required", M, ALL, missing_required),
    Defect("nc-placeholder", M, ALL, nc_placeholder),
    Defect("number-as-string", M, JSON_ONLY, number_as_string),
    Defect("id-as-number", M, JSON_ONLY, id_as_number),
    Defect("buyer-is-holder", M, ALL, buyer_is_holder),
    Defect("origine-france-above-ue", M, V2, origine_order),
    Defect("sans-objet-not-alone", M, V2, not_alone),
    Defect("idaccordcadre-missing", M, V2, framework_id_missing),
    Defect("taux-without-avance", M, V2, advance_rate_without_advance),
    Defect("modification-ids", M, V2, modification_order),
    Defect("subcontracting-unknown-act", M, V2, subcontracting_reference),
    Defect("authority-siret-checksum", C, ALL, concession_checksum),
    Defect("value-placeholder", C, ALL, concession_value_placeholder),
)
DUPLICATE = "duplicate"  # a contract published twice: handled by the generator, which keeps earlier records


def candidates(kind: str, fmt: str) -> tuple[Defect, ...]:
    return tuple(d for d in DEFECTS if kind in d.kinds and fmt in d.formats)
