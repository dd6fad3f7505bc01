"""Verdicts that agree with the law and the official formats: each kind of fault seen on real files.

Every record here is judged against its own format (2019: schema 1.5.0; 2022: schema 2.0.3),
with the facts in force at its date, and one defect gives one finding.
"""

from __future__ import annotations

import copy
import io
import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from marches.cli import cli
from marches.findings import Finding
from marches.flatten import flatten
from marches.generate.formats import writer_for
from marches.readers import open_input
from marches.report import Report
from marches.rules import Config
from marches.validate import validate
from tests.official_schemas import SCHEMAS, oracle

AS_OF_2019 = Config(as_of=date(2019, 4, 6))
AS_OF_2026 = Config(as_of=date(2026, 11, 30))

MARCHE_2019 = {
    "_type": "Marché",
    "id": "2019LY000100",
    "acheteur": {"id": "21690123100011", "nom": "Ville de Lyon"},
    "nature": "Marché",
    "objet": "Entretien des espaces verts",
    "codeCPV": "77313000",
    "procedure": "Procédure adaptée",
    "lieuExecution": {"code": "69123", "typeCode": "Code commune", "nom": "Lyon"},
    "dureeMois": 12,
    "dateNotification": "2019-02-04",
    "datePublicationDonnees": "2019-02-11",
    "montant": 85000,
    "formePrix": "Ferme",
    "titulaires": [{"typeIdentifiant": "SIRET", "id": "38012986643097", "denominationSociale": "Jardins du Rhône"}],
    "modifications": [],
}
MARCHE_2022 = {
    "id": "2025-0101",
    "acheteur": {"id": "21690123100011"},
    "nature": "Marché",
    "objet": "Entretien des espaces verts",
    "codeCPV": "77313000-7",
    "techniques": {"technique": ["Sans objet"]},
    "modalitesExecution": {"modaliteExecution": ["Bons de commande"]},
    "marcheInnovant": False,
    "ccag": "Fournitures courantes et services",
    "offresRecues": 3,
    "attributionAvance": False,
    "typeGroupementOperateurs": "Pas de groupement",
    "sousTraitanceDeclaree": False,
    "procedure": "Procédure adaptée",
    "lieuExecution": {"code": "69123", "typeCode": "Code commune"},
    "dureeMois": 24,
    "dateNotification": "2025-03-12",
    "datePublicationDonnees": "2025-03-20",
    "montant": 85000,
    "typesPrix": {"typePrix": ["Définitif révisable"]},
    "formePrix": "Unitaire",
    "titulaires": [{"titulaire": {"typeIdentifiant": "SIRET", "id": "38012986643097"}}],
    "considerationsSociales": {"considerationSociale": ["Pas de considération sociale"]},
    "considerationsEnvironnementales": {"considerationEnvironnementale": ["Clause environnementale"]},
}


def m2019(**changes) -> dict:
    return {**copy.deepcopy(MARCHE_2019), **changes}


def m2022(**changes) -> dict:
    return {**copy.deepcopy(MARCHE_2022), **changes}


def write(tmp_path: Path, document, name: str = "decp.json") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document, ensure_ascii=False), "utf-8")
    return path


def findings(paths: list[Path], config: Config = AS_OF_2026) -> list[Finding]:
    found: list[Finding] = []
    validate(paths, config, None, Report(sink=found.append))
    return found


def check_2019(tmp_path, *records, config=AS_OF_2019) -> list[Finding]:
    return findings([write(tmp_path, {"marches": list(records)})], config)


def check_2022(tmp_path, *records, config=AS_OF_2026) -> list[Finding]:
    return findings([write(tmp_path, {"marches": {"marche": list(records)}})], config)


def serious(found: list[Finding]) -> list[tuple[str, str | None]]:
    return sorted((f.code, f.path) for f in found if f.severity in ("error", "warning"))


# -- the base records are valid: every finding below comes from the change made ------------------------------


def test_the_base_records_are_conforme(tmp_path):
    assert serious(check_2019(tmp_path, m2019())) == []
    assert serious(check_2022(tmp_path, m2022())) == []


# -- false conformance ------------------------------------------------------------------------------------


@pytest.mark.parametrize("generation", ["2019", "2022"])
def test_a_marche_without_titulaire_is_an_error(tmp_path, generation):
    record = m2019() if generation == "2019" else m2022()
    del record["titulaires"]
    found = check_2019(tmp_path, record) if generation == "2019" else check_2022(tmp_path, record)
    path = "marches[0].titulaires" if generation == "2019" else "marches.marche[0].titulaires"
    assert serious(found) == [("required", path)]
    assert f"format {generation}" in found[0].message


def test_an_empty_list_of_titulaires_is_an_error_but_2019_modifications_may_be_empty(tmp_path):
    assert serious(check_2019(tmp_path, m2019(titulaires=[]))) == [("empty-list", "marches[0].titulaires")]
    assert serious(check_2019(tmp_path, m2019(modifications=[]))) == []
    found = check_2022(tmp_path, m2022(modifications=[]))
    assert serious(found) == [("empty-list", "marches.marche[0].modifications")]


def test_a_repeated_titulaire_is_an_error_on_the_copy(tmp_path):
    twice = m2019(titulaires=MARCHE_2019["titulaires"] * 2)
    assert serious(check_2019(tmp_path, twice)) == [("duplicate-item", "marches[0].titulaires[1]")]
    twice = m2022(titulaires=MARCHE_2022["titulaires"] * 2)
    assert serious(check_2022(tmp_path, twice)) == [("duplicate-item", "marches.marche[0].titulaires[1].titulaire")]


def test_a_repeated_value_in_a_closed_list_is_an_error(tmp_path):
    record = m2022(techniques={"technique": ["Accord-cadre", "Accord-cadre"]})
    found = check_2022(tmp_path, record)
    assert serious(found) == [("duplicate-item", "marches.marche[0].techniques.technique[1]")]


def test_optional_fields_published_as_null_are_errors_read_as_absent(tmp_path):
    record = m2022(idAccordCadre=None, tauxAvance=None, origineUE=None, modifications=None)
    found = check_2022(tmp_path, record)
    assert serious(found) == [
        ("null-value", f"marches.marche[0].{field}")
        for field in sorted(["idAccordCadre", "tauxAvance", "origineUE", "modifications"])
    ]
    assert all("null" in f.message and "None" not in f.message for f in found)


def test_a_required_field_published_as_null_gives_one_finding(tmp_path):
    found = check_2022(tmp_path, m2022(montant=None, acheteur=None))
    assert serious(found) == [("null-value", "marches.marche[0].acheteur"), ("null-value", "marches.marche[0].montant")]


def test_2022_lists_must_be_wrapped_one_error_per_list(tmp_path):
    record = m2022(
        techniques=["Sans objet"],
        titulaires=[{"typeIdentifiant": "SIRET", "id": "38012986643097"}],
        considerationsSociales=["Pas de considération sociale"],
    )
    found = check_2022(tmp_path, record)
    assert serious(found) == [
        ("list-shape", "marches.marche[0].considerationsSociales"),
        ("list-shape", "marches.marche[0].techniques"),
        ("list-shape", "marches.marche[0].titulaires"),
    ]
    assert all("2.0.3" in f.message for f in found)
    assert found[0].message  # and the values were still read:
    assert serious(check_2022(tmp_path, m2022())) == []


def test_singular_list_names_of_the_2_0_0_draft_are_errors(tmp_path):
    record = m2022()
    record["technique"] = record.pop("techniques")["technique"]
    found = check_2022(tmp_path, record)
    assert serious(found) == [
        ("required", "marches.marche[0].techniques"),
        ("unknown-field", "marches.marche[0].technique"),
    ]
    assert all("technique" in f.message for f in found)
    assert "2.0.0" in next(f.message for f in found if f.code == "unknown-field")


def test_2019_items_must_not_be_wrapped(tmp_path):
    record = m2019(titulaires=[{"titulaire": MARCHE_2019["titulaires"][0]}])
    assert serious(check_2019(tmp_path, record)) == [("list-shape", "marches[0].titulaires")]


def test_legacy_procedure_names_are_errors_read_as_the_current_name(tmp_path):
    found = check_2019(tmp_path, m2019(procedure="Procédure négociée avec mise en concurrence préalable"))
    assert serious(found) == [("enum-legacy", "marches[0].procedure")]
    assert "Procédure avec négociation" in found[0].message


def test_records_under_an_unknown_container_are_read_and_reported(tmp_path):
    path = write(tmp_path, {"marches": {"Marche": [m2022()]}})
    found = findings([path])
    assert [(f.code, f.severity) for f in found] == [("unknown-container", "error")]
    result = CliRunner().invoke(cli, ["validate", str(path), "--as-of", "2026-11-30", "-q"])
    assert result.exit_code == 1 and "1 enregistrement(s)" in result.output


@pytest.mark.parametrize("text", ['{"marches": {', '{"marches": {"marche": ['])
def test_a_cut_file_is_unreadable_never_conforme(tmp_path, text):
    result = CliRunner().invoke(cli, ["validate", str(write(tmp_path, text)), "-q"])
    assert result.exit_code == 3 and "JSON invalide" in result.output


@pytest.mark.parametrize("document", [{"marches": []}, {"marches": {}}, {"marches": {"marche": []}}])
def test_a_file_without_any_contract_is_an_error(tmp_path, document):
    path = write(tmp_path, document)
    assert [f.code for f in findings([path])] == ["no-record"]
    result = CliRunner().invoke(cli, ["validate", str(path), "-q"])
    assert result.exit_code == 1 and "aucun contrat lu" in result.output.lower()


# -- noise -------------------------------------------------------------------------------------------------


def test_fields_the_2019_format_allows_get_no_finding(tmp_path):
    """1.5.0 admits extra keys: consolidations add source and uuid, some buyers an empty donneesExecution."""
    record = m2019(source="data.gouv.fr_aife", uuid="0f1e2d3c", donneesExecution=[])
    del record["_type"]
    assert check_2019(tmp_path, record) == []


def test_fields_outside_the_2022_format_are_errors_at_the_record_level_only(tmp_path):
    found = check_2022(tmp_path, m2022(uid="216901231000112025-0101", _type="Marché"))
    assert serious(found) == [("unknown-field", "marches.marche[0]._type"), ("unknown-field", "marches.marche[0].uid")]
    nested = m2022(acheteur={"id": "21690123100011", "nom": "Ville de Lyon"})
    assert serious(check_2022(tmp_path, nested)) == []  # the 2.0.3 schema allows it inside acheteur


def test_null_in_a_key_the_format_does_not_name_is_not_a_format_error(tmp_path):
    """Extra keys the schema admits may hold null: 1.5.0 has no additionalProperties, 2.0.3 only on the contract."""
    record = m2019(source=None, siren=None, acheteur={"id": "21690123100011", "nom": "Ville de Lyon", "siret": None})
    record["titulaires"] = [{**MARCHE_2019["titulaires"][0], "nomCommercial": None}]
    assert serious(check_2019(tmp_path, record)) == []
    nested = m2022(
        acheteur={"id": "21690123100011", "nom": None}, lieuExecution={**MARCHE_2022["lieuExecution"], "nom": None}
    )
    assert serious(check_2022(tmp_path, nested)) == []
    # a key of the format published as null stays an error, in both generations
    assert serious(check_2019(tmp_path, m2019(dureeMois=None))) == [("null-value", "marches[0].dureeMois")]


def test_a_2019_acheteur_published_as_null_is_not_an_object(tmp_path):
    found = check_2019(tmp_path, m2019(acheteur=None, uid="216901231000112019LY000100"))
    assert serious(found) == [("object-expected", "marches[0].acheteur")]  # no uid-mismatch: one defect
    assert all("None" not in f.message for f in found)
    assert found[0].uid == "216901231000112019LY000100"  # the published uid is kept: duplicates still found


def test_a_dotted_key_is_an_extra_field_unless_it_stands_for_a_missing_object(tmp_path):
    """A dotted key next to its object, inside an object, or naming a list is an extra key the schema admits."""
    found = check_2019(tmp_path, m2019(**{"acheteur.nom": "Ville de Lyon", "modifications.objetModification": "x"}))
    assert serious(found) == []
    nested = m2022(acheteur={"id": "21690123100011", "adresse.ville": "Lyon"})
    assert serious(check_2022(tmp_path, nested)) == []
    # a required object published only as dotted keys: the schema rejects it; read as the object
    flat = m2019(**{"acheteur.id": "21690123100011", "acheteur.nom": "Ville de Lyon"})
    del flat["acheteur"]
    assert serious(check_2019(tmp_path, flat)) == [
        ("flat-key", "marches[0].acheteur.id"),
        ("flat-key", "marches[0].acheteur.nom"),
    ]


def test_a_2022_list_in_a_2019_record_is_not_judged_by_the_2022_format(tmp_path):
    found = check_2019(tmp_path, m2019(techniques=["Accord-cadre"]))
    assert [f for f in found if f.severity == "error"] == []
    assert all("2.0.3" not in f.message for f in found)


def test_a_2019_date_with_offset_and_z_is_the_format_s(tmp_path):
    assert serious(check_2019(tmp_path, m2019(dateNotification="2019-02-04+01:00Z"))) == []


def test_a_2019_record_notified_once_the_2022_format_is_in_force_is_an_error(tmp_path):
    late = m2019(dateNotification="2024-03-01", datePublicationDonnees="2024-03-10")
    found = check_2019(tmp_path, late, config=AS_OF_2026)
    assert serious(found) == [("format-outdated", "marches[0].dateNotification")]
    assert "01/01/2024" in found[0].message and "format 2022" in found[0].message
    on_time = m2019(dateNotification="2023-12-31", datePublicationDonnees="2024-01-10")
    assert serious(check_2019(tmp_path, on_time, config=AS_OF_2026)) == []


def test_a_subsequent_marche_of_2019_is_not_asked_for_idaccordcadre(tmp_path):
    assert check_2019(tmp_path, m2019(nature="Marché subséquent")) == []
    subsequent = m2022(modalitesExecution={"modaliteExecution": ["Marchés subséquents"]})
    assert serious(check_2022(tmp_path, subsequent)) == [("accord-cadre-id", "marches.marche[0].idAccordCadre")]


CONCESSION_2019 = {
    "_type": "Contrat de concession",
    "id": "2019CC000007",
    "autoriteConcedante": {"id": "21690123100011", "nom": "Ville de Lyon"},
    "nature": "Délégation de service public",
    "objet": "Exploitation du réseau de chaleur",
    "procedure": "Procédure négociée ouverte",
    "lieuExecution": {"code": "69123", "typeCode": "Code commune", "nom": "Lyon"},
    "dureeMois": 120,
    "dateSignature": "2019-02-04",
    "datePublicationDonnees": "2019-02-11",
    "dateDebutExecution": "2019-03-01",
    "valeurGlobale": 5000000,
    "montantSubventionPublique": 0,
    "donneesExecution": [],
    "concessionnaires": [{"typeIdentifiant": "SIRET", "id": "38012986643097", "denominationSociale": "Chaleur SA"}],
    "modifications": [],
}


@pytest.mark.parametrize(
    ("changes", "code", "words"),
    [
        ({"uid": "216901231000122019CC000007"}, "uid-mismatch", "SIRET de l'autorité concédante suivi de l'id"),
        ({"uid": "2019CC000007"}, "pattern", "SIRET de l'autorité concédante suivi de l'identifiant"),
        ({"datePublicationDonnees": "2019-01-15"}, "date-order", "se publient après la signature."),
    ],
    ids=["uid-mismatch", "uid-pattern", "date-order"],
)
def test_a_concession_is_signed_by_an_autorite_concedante_not_notified_by_an_acheteur(tmp_path, changes, code, words):
    found = check_2019(tmp_path, {**copy.deepcopy(CONCESSION_2019), **changes})
    assert [f.code for f in found] == [code]
    assert words in found[0].message and "acheteur" not in found[0].message and "notifi" not in found[0].message
    assert check_2019(tmp_path, CONCESSION_2019) == []


@pytest.mark.parametrize(
    ("value", "code"),
    [("AC-2023-000000017", "maxLength"), ("", "placeholder"), (True, "wrong-type"), ({}, "wrong-type")],
    ids=["too-long", "empty", "bool", "object"],
)
def test_an_identifier_the_format_rejects_is_not_said_to_be_missing(tmp_path, value, code):
    """One defect, one finding: an idAccordCadre too long is there, not « sans identifiant »."""
    subsequent = m2022(modalitesExecution={"modaliteExecution": ["Marchés subséquents"]}, idAccordCadre=value)
    assert serious(check_2022(tmp_path, subsequent)) == [(code, "marches.marche[0].idAccordCadre")]


ACT = {
    "acteSousTraitance": {
        "id": 1,
        "sousTraitant": {"id": "38012986643097", "typeIdentifiant": "SIRET"},
        "dureeMois": 12,
        "dateNotification": "2025-04-01",
        "datePublicationDonnees": "2025-04-05",
        "montant": 10000,
        "variationPrix": "Ferme",
    }
}
ACT_CHANGE = {
    "modificationActeSousTraitance": {
        "id": 1,
        "dureeMois": 12,
        "dateNotificationModificationSousTraitance": "2025-06-01",
        "datePublicationDonnees": "2025-06-05",
        "montant": 12000,
    }
}


@pytest.mark.parametrize(("number", "code"), [(0, "minimum"), ("un", "wrong-type"), (None, "null-value")])
def test_an_act_whose_number_the_format_rejects_is_not_said_to_be_unpublished(tmp_path, number, code):
    """The change names act 1; the only act's number is unreadable: one finding, on that number."""
    act = copy.deepcopy(ACT)
    act["acteSousTraitance"]["id"] = number
    record = m2022(actesSousTraitance=[act], modificationsActesSousTraitance=[ACT_CHANGE])
    assert serious(check_2022(tmp_path, record)) == [
        (code, "marches.marche[0].actesSousTraitance[0].acteSousTraitance.id")
    ]
    assert (
        serious(check_2022(tmp_path, m2022(actesSousTraitance=[ACT], modificationsActesSousTraitance=[ACT_CHANGE])))
        == []
    )
    other = copy.deepcopy(ACT_CHANGE)
    other["modificationActeSousTraitance"]["id"] = 2
    assert serious(check_2022(tmp_path, m2022(actesSousTraitance=[ACT], modificationsActesSousTraitance=[other]))) == [
        (
            "subcontracting-reference",
            "marches.marche[0].modificationsActesSousTraitance[0].modificationActeSousTraitance.id",
        )
    ]


def test_dates_with_an_offset_the_format_allows_get_no_finding(tmp_path):
    assert check_2019(tmp_path, m2019(dateNotification="2019-02-04+01:00")) == []
    found = check_2019(tmp_path, m2019(dateNotification="2019-02-04T10:30:00"))
    assert serious(found) == [("date-format", "marches[0].dateNotification")]


def test_thirty_months_is_a_duration_not_days(tmp_path):
    assert serious(check_2022(tmp_path, m2022(dureeMois=30, montant=12000))) == []
    found = check_2022(tmp_path, m2022(dureeMois=365, montant=12000))
    assert [f.code for f in found if f.severity != "info"] == ["duration-days"]


# -- the law at the date -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("notified", "amount", "below"),
    [
        ("2018-10-15", 30000, False),
        ("2019-12-31", 24000, True),
        ("2020-01-01", 30000, True),
        ("2024-05-02", 40000, False),
    ],
)
def test_the_publication_threshold_is_the_one_in_force_at_notification(tmp_path, notified, amount, below):
    published = notified[:8] + "28"
    record = m2019(dateNotification=notified, datePublicationDonnees=published, montant=amount)
    found = check_2019(tmp_path, record, config=AS_OF_2026)
    infos = [f for f in found if f.code == "amount-below-threshold"]
    assert bool(infos) == below
    if infos:
        assert ("25 000" if notified < "2020" else "40 000") in infos[0].message.replace("\u202f", " ")


def test_the_threshold_set_by_the_configuration_replaces_the_dated_one(tmp_path):
    record = m2019(montant=30000, dateNotification="2018-10-15", datePublicationDonnees="2018-10-22")
    found = check_2019(tmp_path, record, config=Config(as_of=date(2026, 1, 1), publication_threshold=50000))
    assert [f.code for f in found] == ["amount-below-threshold"]


@pytest.mark.parametrize(
    ("notified", "published", "late"),
    [
        ("2018-12-21", "2019-02-21", False),
        ("2018-12-21", "2019-02-22", True),
        ("2023-12-31", "2024-02-29", False),
        ("2024-03-12", "2024-05-12", False),
        ("2024-03-12", "2024-05-13", True),
    ],
)
def test_two_months_are_two_calendar_months(tmp_path, notified, published, late):
    record = m2019(dateNotification=notified, datePublicationDonnees=published)
    found = check_2019(tmp_path, record, config=AS_OF_2026)
    assert [f.code for f in found if f.severity == "warning"] == (["publication-delay"] if late else [])


def test_a_missing_field_is_named_as_in_the_records_own_format(tmp_path):
    record = m2019()
    del record["formePrix"]
    (finding,) = check_2019(tmp_path, record)
    assert finding.code == "required" and finding.path == "marches[0].formePrix"
    assert "« formePrix »" in finding.message and "typesPrix" not in finding.message and "_2019" not in finding.message
    record = m2022()
    del record["typesPrix"]
    (finding,) = check_2022(tmp_path, record)
    assert "« typesPrix »" in finding.message and "format 2022" in finding.message


def test_2019_identifiers_are_at_least_seven_characters(tmp_path):
    found = check_2019(tmp_path, m2019(id="2019A"))
    assert serious(found) == [("minLength", "marches[0].id")]
    assert check_2022(tmp_path, m2022(id="A1")) == []


# -- one defect, one finding -------------------------------------------------------------------------------


def test_zero_and_one_euro(tmp_path):
    found = check_2019(tmp_path, m2019(montant=0), m2019(id="2019LY000200", montant=1), config=AS_OF_2026)
    assert [(f.code, f.severity, f.path) for f in found] == [
        ("amount-zero", "error", "marches[0].montant"),
        ("amount-symbolic", "warning", "marches[1].montant"),
    ]
    assert [(f.code, f.path) for f in check_2022(tmp_path, m2022(montant=0))] == [
        ("minimum", "marches.marche[0].montant")
    ]


def test_a_placeholder_is_one_finding(tmp_path):
    found = check_2022(tmp_path, m2022(montant="NC"))
    assert [(f.code, f.path) for f in found] == [("placeholder", "marches.marche[0].montant")]


@pytest.mark.parametrize(("year", "code"), [("0002", "date-floor"), ("5021", "date-future")])
def test_an_impossible_year_hides_the_date_from_the_rules_that_compare_it(tmp_path, year, code):
    record = m2022(dateNotification=f"{year}-03-12")
    assert [f.code for f in check_2022(tmp_path, record)] == [code]


def test_the_amount_limit_message_prints_the_amount_limit_in_french(tmp_path):
    found = check_2022(tmp_path, m2022(montant=1e17), m2022(id="2025-0102", montant=123456789012345678901234567890))
    messages = " ".join(f.message for f in found).replace("\u202f", " ").replace("\u00a0", " ")
    assert "3 000 000 000 €" in messages and "180" not in messages and "e+" not in messages
    assert "123 456 789 012 345 678 901 234 567 890 €" in messages  # the published digits, grouped


def test_amounts_beyond_a_double_keep_their_published_digits(tmp_path):
    found = check_2022(tmp_path, m2022(montant="99999999999999999999"), m2022(id="2025-0102", montant=int("9" * 40)))
    by_code = {(f.code, f.id): f for f in found}
    assert ("amount-placeholder", "2025-0101") in by_code  # 20 nines: a placeholder, not 1e20
    shown = by_code[("number-as-string", "2025-0101")].message.replace("\u202f", " ")
    assert "99 999 999 999 999 999 999" in shown and "100 000" not in shown
    long = by_code[("amount-placeholder", "2025-0102")].message.replace("\u202f", " ")
    assert "(40 chiffres)" in long and "9" * 13 not in long


# -- damaged text -----------------------------------------------------------------------------------------


def test_replacement_characters_and_mojibake_are_warnings_per_field(tmp_path):
    found = check_2022(
        tmp_path,
        m2022(objet="Fourniture de mat\ufffdriel p\ufffddagogique"),
        m2022(id="2025-0102", objet="Fourniture de matÃ©riel pÃ©dagogique"),
    )
    assert [(f.code, f.severity, f.path) for f in found] == [
        ("damaged-text", "warning", "marches.marche[0].objet"),
        ("damaged-text", "warning", "marches.marche[1].objet"),
    ]
    assert "matériel pédagogique" in found[1].message


# -- order independence ------------------------------------------------------------------------------------


def test_duplicates_do_not_depend_on_the_other_files_nor_their_order(tmp_path):
    other = write(tmp_path, {"marches": {"marche": [m2022()]}}, "a.json")
    mine = write(tmp_path, {"marches": {"marche": [m2022(), m2022(id="2025-0102"), m2022()]}}, "b.json")

    def verdict(paths):
        return sorted((Path(f.file).name, f.path, f.code, f.severity) for f in findings(paths))

    alone = verdict([mine])
    assert alone == [("b.json", "marches.marche[2]", "duplicate-uid", "error")]
    assert verdict([other, mine]) == verdict([mine, other])
    assert [f for f in verdict([other, mine]) if f[3] == "error"] == alone


# -- locations --------------------------------------------------------------------------------------------

XML = """<?xml version="1.0" encoding="UTF-8"?>
<marches>
  <marche>
    <id>2025-0101</id>
    <acheteur>
      <id>21690123100011</id>
    </acheteur>
    <nature>Marché</nature>
    <objet>Entretien des espaces verts</objet>
    <codeCPV>77313000-7</codeCPV>
    <techniques><technique>Sans objet</technique></techniques>
    <modalitesExecution><modaliteExecution>Bons de commande</modaliteExecution></modalitesExecution>
    <marcheInnovant>non</marcheInnovant>
    <ccag>Fournitures courantes et services</ccag>
    <offresRecues>3</offresRecues>
    <attributionAvance>false</attributionAvance>
    <typeGroupementOperateurs>Pas de groupement</typeGroupementOperateurs>
    <sousTraitanceDeclaree>0</sousTraitanceDeclaree>
    <procedure>Procédure adaptée</procedure>
    <lieuExecution>
      <code>69123</code>
      <typeCode>Code commune</typeCode>
    </lieuExecution>
    <dureeMois>24</dureeMois>
    <dateNotification>2025-03-12</dateNotification>
    <datePublicationDonnees>2025-03-20+01:00</datePublicationDonnees>
    <montant>NC</montant>
    <typesPrix><typePrix>Définitif révisable</typePrix></typesPrix>
    <formePrix>Unitaire</formePrix>
    <titulaires>
      <titulaire>
        <typeIdentifiant>SIRET</typeIdentifiant>
        <id>38012986643097</id>
      </titulaire>
      <titulaire>
        <typeIdentifiant>SIRET</typeIdentifiant>
        <id>38012986643098</id>
      </titulaire>
    </titulaires>
    <considerationsSociales><considerationSociale>Pas de considération sociale</considerationSociale></considerationsSociales>
    <considerationsEnvironnementales><considerationEnvironnementale>Clause environnementale</considerationEnvironnementale></considerationsEnvironnementales>
  </marche>
</marches>
"""


def test_xml_findings_point_at_the_element_itself(tmp_path):
    found = findings([write(tmp_path, XML, "decp.xml")])
    located = {(f.code, f.path, f.line) for f in found}
    assert located == {
        ("placeholder", "marches.marche[0].montant", 27),
        ("siret-checksum", "marches.marche[0].titulaires.titulaire[1].id", 37),
    }
    lines = XML.splitlines()
    assert all(f"<{f.path.rsplit('.', 1)[-1]}>" in lines[f.line - 1] for f in found)


# -- one defect, one finding (continued) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("techniques", "code", "path"),
    [
        ({"technique": []}, "empty-list", "techniques"),
        ({"technique": [None]}, "null-value", "techniques.technique[0]"),
        ({"technique": None}, "null-value", "techniques.technique"),
    ],
)
def test_an_unusable_required_list_is_one_finding(tmp_path, techniques, code, path):
    found = check_2022(tmp_path, m2022(techniques=techniques))
    assert serious(found) == [(code, f"marches.marche[0].{path}")]


def test_a_repeated_modification_is_not_judged_twice(tmp_path):
    modification = {
        "modification": {
            "id": 1,
            "dureeMois": 30,
            "montant": 90000,
            "dateNotificationModification": "2025-06-01",
            "datePublicationDonneesModification": "2025-06-10",
        }
    }
    found = check_2022(tmp_path, m2022(modifications=[modification, copy.deepcopy(modification)]))
    assert serious(found) == [("duplicate-item", "marches.marche[0].modifications[1].modification")]


def test_a_2019_nature_in_a_2022_record_replaces_sans_objet(tmp_path):
    found = check_2022(tmp_path, m2022(nature="Accord-cadre"))
    assert serious(found) == [("enum-legacy", "marches.marche[0].nature")]


def test_a_record_wrapped_once_too_often_is_one_finding_and_read_inside(tmp_path):
    found = findings([write(tmp_path, {"marches": {"marche": [{"marche": m2022()}]}})])
    assert serious(found) == [("list-shape", "marches.marche[0].marche")]
    assert found[0].uid == "216901231000112025-0101"


def test_a_field_name_in_the_wrong_case_is_one_finding_and_read(tmp_path):
    record = m2022()
    record["Nature"] = record.pop("nature")
    found = check_2022(tmp_path, record)
    assert serious(found) == [("unknown-field", "marches.marche[0].Nature")]
    assert "« nature »" in found[0].message


def test_cents_are_not_a_contract_amount(tmp_path):
    found = check_2019(tmp_path, m2019(montant=0.5), config=AS_OF_2026)
    assert [(f.code, f.message.split(" : ")[0]) for f in found if f.severity == "error"] == [
        ("amount-zero", "Montant de 0,5 €")
    ]
    assert "moins de 1 €" in found[0].message


# -- the tables written by convert keep what they can of the verdict --------------------------------------


def _tables(tmp_path, document) -> Path:
    tmp_path.mkdir(exist_ok=True)
    out = tmp_path / "tables"
    result = CliRunner().invoke(cli, ["convert", str(write(tmp_path, document)), "-o", str(out), "-q"])
    assert result.exit_code in (0, 1), result.output
    return out


def test_tables_still_need_a_titulaire_and_no_repeated_item(tmp_path):
    alone = m2019()
    del alone["titulaires"]
    found = findings([_tables(tmp_path / "a", {"marches": [alone]})], AS_OF_2019)
    assert [(f.code, f.file, f.line) for f in found if f.severity == "error"] == [("required", "tables/marches.csv", 2)]
    twice = m2022(titulaires=MARCHE_2022["titulaires"] * 2)
    found = findings([_tables(tmp_path / "b", {"marches": {"marche": [twice]}})])
    assert [(f.code, f.file, f.line, f.uid) for f in found if f.severity == "error"] == [
        ("duplicate-item", "tables/marches_titulaires.csv", 3, "216901231000112025-0101")
    ]


def test_tables_say_that_shape_defects_of_the_published_file_are_gone(tmp_path):
    report = Report(sink=lambda f: None)
    validate([_tables(tmp_path, {"marches": {"marche": [m2022(idAccordCadre=None)]}})], AS_OF_2026, None, report)
    assert any("validez aussi le fichier publié" in notice for notice in report.notices)


def test_a_duplicate_between_tables_and_a_file_points_at_the_table_line(tmp_path):
    source = write(tmp_path, {"marches": {"marche": [m2022()]}}, "source.json")
    out = tmp_path / "tables"
    assert CliRunner().invoke(cli, ["convert", str(source), "-o", str(out), "-q"]).exit_code == 0
    found = findings([out, source])
    assert {(f.code, f.file, f.line) for f in found if f.code == "duplicate-uid-across-files"} == {
        ("duplicate-uid-across-files", "tables/marches.csv", 2),
        ("duplicate-uid-across-files", str(source), None),
    }


@pytest.mark.parametrize("code", ["3111000", "3111000-9"])
def test_a_cpv_code_that_lost_its_leading_zero_says_so(tmp_path, code):
    found = check_2022(tmp_path, m2022(codeCPV=code))
    assert [f.code for f in found if f.severity == "error"] == ["pattern"]
    assert f"« 0{code} »" in found[0].message


def test_a_json_schema_reference_beside_marches_is_not_data(tmp_path):
    document = {"$schema": "https://example.org/marches.json", "marches": [m2019()]}
    assert serious(findings([write(tmp_path, document)], AS_OF_2019)) == []
    document = {"source": "plateforme", "marches": [m2019()]}
    assert [f.code for f in findings([write(tmp_path, document)], AS_OF_2019)] == ["ignored-key"]


def test_a_cpv_code_of_zeros_is_not_said_to_have_lost_a_zero(tmp_path):
    found = check_2022(tmp_path, m2022(codeCPV="0000000"))
    assert [f.code for f in found if f.severity == "error"] == ["pattern"]
    assert "zéro initial" not in found[0].message


# -- the one item the two 2022 schemas spell differently ------------------------------------------------

SUBCONTRACT = {
    "id": 1,
    "sousTraitant": {"typeIdentifiant": "SIRET", "id": "38012986643097"},
    "dureeMois": 12,
    "dateNotification": "2025-04-01",
    "datePublicationDonnees": "2025-04-03",
    "montant": 20000,
    "variationPrix": "Ferme",
}
SUBCONTRACT_CHANGE = {
    "id": 1,
    "dateNotificationModificationSousTraitance": "2025-06-02",
    "datePublicationDonnees": "2025-06-04",
}
JSON_NAME, XSD_NAME = "modificationActeSousTraitance", "modificationActesSousTraitance"


def _act_changes_document(tmp_path: Path, shape: str, item: str, second_published: str = "2025-06-04") -> Path:
    """A file holding a 2022 marché with one acte de sous-traitance and two changes of it (25 000 then
    27 000 €, the second published on ``second_published``), their items named ``item``."""
    changes = [
        {JSON_NAME: {**SUBCONTRACT_CHANGE, "montant": 25000}},
        {JSON_NAME: {**SUBCONTRACT_CHANGE, "montant": 27000, "datePublicationDonnees": second_published}},
    ]
    record = m2022(
        sousTraitanceDeclaree=True,
        actesSousTraitance=[{"acteSousTraitance": copy.deepcopy(SUBCONTRACT)}],
        modificationsActesSousTraitance=changes,
    )
    if shape == "json":
        record["modificationsActesSousTraitance"] = [{item: c[JSON_NAME]} for c in changes]
        return write(tmp_path, {"marches": {"marche": [record]}})
    out = io.BytesIO()
    writer = writer_for("xml-2022", out)
    writer.write(record, "marche")
    writer.close()
    text = out.getvalue().decode()
    assert f"<{XSD_NAME}>" in text, "the generator writes the XSD's spelling"
    path = tmp_path / "decp.xml"
    path.write_text(text.replace(XSD_NAME, item), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("shape", "item", "refused"),
    [("json", JSON_NAME, False), ("json", XSD_NAME, True), ("xml", XSD_NAME, False), ("xml", JSON_NAME, True)],
)
def test_each_2022_schema_refuses_the_other_s_name_of_a_change_of_subcontracting(tmp_path, shape, item, refused):
    """The JSON Schema 2.0.3 names the item modificationActeSousTraitance, the XSD 2.0.2
    modificationActesSousTraitance: the other spelling is one error on the list, the changes are read all the
    same (both: a repeated item is not a repeated element), and a finding inside names what was published."""
    path = _act_changes_document(tmp_path, shape, item)
    if SCHEMAS.is_dir():  # the official schema agrees
        document = etree.parse(str(path)) if shape == "xml" else json.loads(path.read_text(encoding="utf-8"))
        assert bool(oracle(f"{shape}-2022").errors(document)) == refused
    where = "marches.marche[0].modificationsActesSousTraitance"
    assert serious(findings([path])) == ([("list-shape", where)] if refused else [])
    (raw,) = open_input(path).records
    assert [r["montant"] for r in flatten(raw).rows["marches_modifications_actes_sous_traitance"]] == [25000, 27000]
    late = _act_changes_document(tmp_path, shape, item, second_published="2025-06-01")  # before its notification
    (dated,) = [f for f in findings([late]) if f.code == "date-order"]
    inside = f".{item}[1]" if shape == "xml" else f"[1].{item}"
    assert dated.path == f"{where}{inside}.datePublicationDonnees"


def test_a_value_beside_the_2022_lists_under_marches_is_ignored_not_an_error(tmp_path):
    """The JSON Schema 2.0.3 admits other keys under « marches »: a plain value (it holds no contract) is a
    warning; an object may hide contracts no conforming reader would see, and stays an error."""
    document = {"marches": {"marche": [m2022()], "version": "2.0.3", "publie": True, "note": None}}
    if SCHEMAS.is_dir():
        assert oracle("json-2022").errors(document) == []
    found = findings([write(tmp_path, document)])
    assert [(f.code, f.severity) for f in found] == [("ignored-key", "warning")] * 3
    assert "« marches.version » (du texte)" in found[0].message
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "decp.json"), "--as-of", "2026-11-30", "-q"])
    assert result.exit_code == 0 and "CONFORME" in result.output
    hidden = {"marches": {"marche": [m2022()], "archive": {"marche": [m2022(id="2025-0102")]}}}
    (error,) = findings([write(tmp_path, hidden)])
    assert (error.code, error.severity) == ("unknown-container", "error")
    assert "S'il contient des contrats" in error.message and "aucun contrat" not in error.message


@pytest.mark.parametrize(
    ("values", "named"),
    [
        (["Clause sociale", "Clause  sociale x"], "« Clause  sociale x » n'est pas une valeur autorisée"),
        (["Inconnue", "Clause sociale", "Autre"], "« Inconnue », « Autre » ne sont pas des valeurs autorisées"),
    ],
)
def test_a_closed_list_names_only_its_values_outside_the_list(tmp_path, values, named):
    """One error on the list, whose message names the values the format refuses, never the good ones."""
    found = check_2022(tmp_path, m2022(considerationsSociales={"considerationSociale": values}))
    (error,) = [f for f in found if f.severity == "error"]
    assert (error.code, error.path) == ("enum", "marches.marche[0].considerationsSociales")
    assert named in error.message and "« Clause sociale »," in error.message.split("valeurs possibles")[1]
    assert "« Clause sociale »" not in error.message.split("valeurs possibles")[0]
    assert json.loads(error.value) == values, "the value is the list as published"


XML_2019 = """<?xml version="1.0" encoding="UTF-8"?>
<marches>
  <marche>
    <id>2019LY000100</id>
    <acheteur>
      {acheteur}
    </acheteur>
    <nature>Marché</nature>
    <objet>Entretien des espaces verts</objet>
    <codeCPV>77313000</codeCPV>
    <procedure>Procédure adaptée</procedure>
    <lieuExecution><code>69123</code><typeCode>Code commune</typeCode><nom>Lyon</nom></lieuExecution>
    <dureeMois>12</dureeMois>
    <dateNotification>2019-02-04</dateNotification>
    <datePublicationDonnees>2019-02-11</datePublicationDonnees>
    <montant>85000</montant>
    <formePrix>Ferme</formePrix>
    <titulaires>
      <titulaire>
        <typeIdentifiant>SIRET</typeIdentifiant>
        <id>38012986643097</id>
        <denominationSociale>Jardins du Rhône</denominationSociale>
      </titulaire>
    </titulaires>
    <modifications/>
  </marche>
</marches>
"""


@pytest.mark.parametrize(
    ("acheteur", "errors"),
    [
        ("<id>21690123100011</id><nom>Ville de Lyon</nom>", []),
        ("<nom>Ville de Lyon</nom><id>21690123100011</id>", [("xml-order", "marches.marche[0].acheteur")]),
    ],
)
def test_the_2019_xsd_orders_the_elements_of_acheteur(tmp_path, acheteur, errors):
    """The 1.5.0 XSD declares <acheteur> as a sequence, <id> then <nom> (its other objects are xs:all): the
    other order is one error, the values read all the same."""
    path = tmp_path / "decp.xml"
    path.write_text(XML_2019.format(acheteur=acheteur), encoding="utf-8")
    if SCHEMAS.is_dir():
        assert bool(oracle("xml-2019").errors(etree.parse(str(path)))) == bool(errors)
    assert serious(findings([path], AS_OF_2019)) == errors
    (raw,) = open_input(path).records
    root = flatten(raw).rows["marches"][0]
    assert (root["acheteur_id"], root["acheteur_nom"]) == ("21690123100011", "Ville de Lyon")


@pytest.mark.parametrize(
    ("change", "code", "place"),
    [
        ({"montant": 999999999}, "amount-placeholder", "acteSousTraitance.montant"),
        ({"montant": 1e17}, "amount-implausible", "acteSousTraitance.montant"),
        ({"montant": 1}, "amount-symbolic", "acteSousTraitance.montant"),
        ({"dureeMois": 365}, "duration-implausible", "acteSousTraitance.dureeMois"),
        ({"change_montant": 123456789}, "amount-placeholder", "modificationActeSousTraitance.montant"),
    ],
)
def test_amounts_and_durations_of_subcontracting_are_checked_as_the_contract_s(tmp_path, change, code, place):
    """A placeholder, implausible or symbolic amount, or a duration in days, is the same fault in an acte de
    sous-traitance (and its changes) as in the marché: one finding where it lies."""
    acte = {**SUBCONTRACT, **{k: v for k, v in change.items() if k != "change_montant"}}
    changes = [{JSON_NAME: {**SUBCONTRACT_CHANGE, "montant": change.get("change_montant", 25000)}}]
    record = m2022(
        sousTraitanceDeclaree=True,
        actesSousTraitance=[{"acteSousTraitance": acte}],
        modificationsActesSousTraitance=changes,
    )
    found = serious(check_2022(tmp_path, record))
    assert [c for c, _ in found] == [code]
    assert found[0][1].endswith(f"[0].{place}")


BUYER = "21690123100011"  # the acheteur of m2022() and the autorité concédante of CONCESSION_2019


@pytest.mark.parametrize(
    ("place", "words"),
    [
        ("titulaires[0].titulaire.id", "Le titulaire « 21690123100011 » a le même SIRET que l'acheteur"),
        ("modifications[0].modification.titulaires[0].titulaire.id", "Le titulaire de la modification"),
        ("actesSousTraitance[0].acteSousTraitance.sousTraitant.id", "Le sous-traitant"),
        ("concessionnaires[0].id", "Le concessionnaire « 21690123100011 » a le même SIRET que l'autorité concédante"),
    ],
)
def test_a_buyer_named_as_the_company_it_contracts_with_is_one_warning_wherever(tmp_path, place, words):
    """The buyer's SIRET published as a titulaire's, a titulaire's in a modification, a sous-traitant's, or the
    autorité concédante's as a concessionnaire's: the same slip of the pen, one warning where it lies."""
    holder = {"typeIdentifiant": "SIRET", "id": BUYER}
    if place.startswith("concessionnaires"):
        record = copy.deepcopy(CONCESSION_2019)
        record["concessionnaires"][0]["id"] = BUYER
        found = check_2019(tmp_path, record)
        where = "marches[0]"
    else:
        record = m2022()
        if place.startswith("titulaires"):
            record["titulaires"] = [{"titulaire": holder}]
        elif place.startswith("modifications"):
            change = {
                "id": 1,
                "dateNotificationModification": "2025-06-02",
                "datePublicationDonneesModification": "2025-06-04",
            }
            record["modifications"] = [{"modification": {**change, "titulaires": [{"titulaire": holder}]}}]
        else:
            record["sousTraitanceDeclaree"] = True
            record["actesSousTraitance"] = [{"acteSousTraitance": {**SUBCONTRACT, "sousTraitant": holder}}]
        found = check_2022(tmp_path, record)
        where = "marches.marche[0]"
    (warning,) = [f for f in found if f.severity in ("error", "warning")]
    assert (warning.code, warning.path) == ("buyer-is-holder", f"{where}.{place}")
    assert words in warning.message


@pytest.mark.parametrize(
    ("notified", "changed", "expected"),
    [
        (
            "2025-03-12",
            "2025-01-05",
            [("modification-before-contract", "modifications[0].modification.dateNotificationModification")],
        ),
        ("2025-03-12", "2025-03-12", []),
        ("5021-03-12", "2025-01-05", [("date-future", "dateNotification")]),  # the contract's date is the fault
        (
            "0025-03-12",
            "0024-01-05",
            [
                ("date-floor", "dateNotification"),
                ("date-floor", "modifications[0].modification.dateNotificationModification"),
            ],
        ),
    ],
)
def test_a_modification_notified_before_its_contract_is_one_warning(tmp_path, notified, changed, expected):
    """An amendment cannot predate the contract it amends: one warning on the amendment's date, unless the
    contract's own date already has its finding (one defect, one finding)."""
    change = {"id": 1, "dateNotificationModification": changed, "datePublicationDonneesModification": "2025-06-04"}
    record = m2022(dateNotification=notified, modifications=[{"modification": change}])
    found = serious(check_2022(tmp_path, record))
    assert [(code, path.removeprefix("marches.marche[0].")) for code, path in found if code != "date-order"] == expected


def test_a_concession_changed_before_its_signature_is_one_warning(tmp_path):
    change = {
        "objetModification": "Avenant 1",
        "dateSignatureModification": "2019-01-02",
        "datePublicationDonneesModification": "2019-02-20",
    }
    record = {**copy.deepcopy(CONCESSION_2019), "modifications": [change]}
    (warning,) = [f for f in check_2019(tmp_path, record) if f.severity in ("error", "warning")]
    assert (warning.code, warning.path) == (
        "modification-before-contract",
        "marches[0].modifications[0].dateSignatureModification",
    )
    assert "signé le 04/02/2019" in warning.message


@pytest.mark.parametrize("where", ["marche", "acte", "concession"])
def test_a_new_duration_in_a_modification_is_checked_as_the_initial_one(tmp_path, where):
    """900 months in a modification (of a marché, of an acte de sous-traitance, of a concession) is the same
    implausible duration as in the contract itself: one warning where it lies."""
    if where == "concession":
        change = {"objetModification": "Avenant 1", "dateSignatureModification": "2019-03-01"}
        change.update(datePublicationDonneesModification="2019-03-05", dureeMois=900)
        found = check_2019(tmp_path, {**copy.deepcopy(CONCESSION_2019), "modifications": [change]})
        place = "marches[0].modifications[0].dureeMois"
    elif where == "marche":
        change = {
            "id": 1,
            "dateNotificationModification": "2025-06-02",
            "datePublicationDonneesModification": "2025-06-04",
        }
        found = check_2022(tmp_path, m2022(modifications=[{"modification": {**change, "dureeMois": 900}}]))
        place = "marches.marche[0].modifications[0].modification.dureeMois"
    else:
        record = m2022(
            sousTraitanceDeclaree=True,
            actesSousTraitance=[{"acteSousTraitance": copy.deepcopy(SUBCONTRACT)}],
            modificationsActesSousTraitance=[{JSON_NAME: {**SUBCONTRACT_CHANGE, "montant": 25000, "dureeMois": 900}}],
        )
        found = check_2022(tmp_path, record)
        place = f"marches.marche[0].modificationsActesSousTraitance[0].{JSON_NAME}.dureeMois"
    assert serious(found) == [("duration-implausible", place)]
