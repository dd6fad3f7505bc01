"""Every business rule runs its own valid and invalid examples; its message formats fully."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from marches.cpv import Nomenclature
from marches.model import ROOT_TABLES, load_tables
from marches.rules import Config, Rule, RuleContext, all_rules, with_published
from marches.rules.nomenclature import EXAMPLE_CPV
from marches.rules.sirene import EXAMPLE_SIRENE
from marches.sirene import Sirene
from marches.tables import to_cell
from marches.validate import _complete, _messages
from marches.validation import structure

CONFIG = Config(as_of=date(2026, 11, 22))
NOMENCLATURE = Nomenclature(dict(EXAMPLE_CPV), dict.fromkeys(EXAMPLE_CPV, "Libellé"), "exemple")
SIRENE = Sirene.in_memory(**EXAMPLE_SIRENE)
ROOTS = set(ROOT_TABLES.values())
BASE = {
    "marches": {
        "uid": "21690123100011X1",
        "generation": "2022",
        "source_file": "a.json",
        "source_position": "0",
        "id": "X1",
        "acheteur_id": "21690123100011",
        "nature": "Marché",
        "objet": "Objet",
        "codeCPV": "45000000-7",
        "techniques": '["Sans objet"]',
        "modalitesExecution": '["Tranches"]',
        "marcheInnovant": "false",
        "ccag": "Travaux",
        "offresRecues": "2",
        "attributionAvance": "false",
        "typeGroupementOperateurs": "Pas de groupement",
        "sousTraitanceDeclaree": "false",
        "procedure": "Procédure adaptée",
        "lieuExecution_code": "69123",
        "lieuExecution_typeCode": "Code commune",
        "dureeMois": "12",
        "dateNotification": "2024-03-12",
        "datePublicationDonnees": "2024-03-20",
        "montant": "85000",
        "typesPrix": '["Définitif ferme"]',
        "formePrix": "Forfaitaire",
        "considerationsSociales": '["Clause sociale"]',
        "considerationsEnvironnementales": '["Clause environnementale"]',
    },
    "concessions": {
        "uid": "21690123100011C1",
        "generation": "2022",
        "source_file": "a.json",
        "source_position": "0",
        "id": "C1",
        "autoriteConcedante_id": "21690123100011",
        "nature": "Concession de service",
        "objet": "Objet",
        "procedure": "Procédure négociée ouverte",
        "dureeMois": "120",
        "dateSignature": "2024-03-12",
        "datePublicationDonnees": "2024-03-20",
        "dateDebutExecution": "2024-06-01",
        "valeurGlobale": "5000000",
        "montantSubventionPublique": "0",
        "considerationsSociales": '["Clause sociale"]',
        "considerationsEnvironnementales": '["Clause environnementale"]',
    },
    "marches_titulaires": {"position": "0", "typeIdentifiant": "SIRET", "id": "55204599900869"},
    "marches_modifications_titulaires": {
        "modification_position": "0",
        "position": "0",
        "typeIdentifiant": "SIRET",
        "id": "55204599900869",
    },
    "concessions_concessionnaires": {"position": "0", "typeIdentifiant": "SIRET", "id": "55204599900869"},
    "marches_modifications": {
        "position": "0",
        "id": "1",
        "dateNotificationModification": "2024-05-01",
        "datePublicationDonneesModification": "2024-05-10",
        "montant": "90000",
    },
    "concessions_modifications": {
        "position": "0",
        "id": "1",
        "dateSignatureModification": "2024-05-01",
        "datePublicationDonneesModification": "2024-05-10",
        "valeurGlobale": "5500000",
    },
    "marches_actes_sous_traitance": {
        "position": "0",
        "id": "1",
        "sousTraitant_typeIdentifiant": "SIRET",
        "sousTraitant_id": "55204599900869",
        "dureeMois": "6",
        "dateNotification": "2024-04-01",
        "datePublicationDonnees": "2024-04-05",
        "montant": "10000",
        "variationPrix": "Ferme",
    },
    "marches_modifications_actes_sous_traitance": {
        "position": "0",
        "id": "1",
        "dateNotificationModificationSousTraitance": "2024-06-01",
        "datePublicationDonnees": "2024-06-05",
        "montant": "12000",
    },
    "concessions_donnees_execution": {
        "position": "0",
        "datePublicationDonneesExecution": "2025-03-01",
        "depensesInvestissement": "1000",
    },
    "concessions_tarifs": {"donneesExecution_position": "0", "position": "0", "intituleTarif": "Tarif", "tarif": "2.5"},
}


def _frame(table: str, rows: list[dict]) -> pl.DataFrame:
    return structure.typed_frame(_raw(table, rows), load_tables()[table])[0]


def _raw(table: str, rows: list[dict]) -> pl.DataFrame:
    model = load_tables()[table]
    full = []
    for i, row in enumerate(rows):
        cells = {k: None if v is None else v if isinstance(v, str) else to_cell(v) for k, v in row.items()}
        key = f"k{i}" if table in ROOTS and len(rows) > 1 else "k0"
        full.append({"record_key": key, **BASE[table], **cells})
    return _complete(pl.DataFrame(full, schema={c: pl.String for c in full[0]}), model)


def evaluate(rule: Rule, example: dict) -> tuple[list[bool], list[str]]:
    """The rule's verdict on each row of its example, and its messages, as the validator writes them."""
    rows = example.get("@rows") or [{k: v for k, v in example.items() if not k.startswith("@")}]
    frames = {rule.table: with_published(_frame(rule.table, rows), _raw(rule.table, rows), rule.table)}
    for key, value in example.items():
        if key.startswith("@") and key != "@rows":
            table, column = key[1:].split(".")
            frames[table] = _frame(table, [{column: value}])
    ctx = RuleContext(CONFIG, NOMENCLATURE, frames, SIRENE)
    frame = rule.prepare(frames[rule.table], ctx) if rule.prepare else frames[rule.table]
    verdicts = frame.select(rule.ok(CONFIG).fill_null(True)).to_series().to_list()
    failing = [i for i, ok in enumerate(verdicts) if not ok]
    raw = _raw(rule.table, rows)
    messages = _messages(rule, frame, raw, failing, CONFIG) if failing else []
    return verdicts, messages


CASES = [
    pytest.param(r, e, True, id=f"{r.code}-{r.table}-{r.field}-valid{i}")
    for r in all_rules()
    for i, e in enumerate(r.valid)
]
CASES += [
    pytest.param(r, e, False, id=f"{r.code}-{r.table}-{r.field}-invalid{i}")
    for r in all_rules()
    for i, e in enumerate(r.invalid)
]


@pytest.mark.parametrize(("rule", "example", "passes"), CASES)
def test_rule_examples(rule, example, passes):
    verdicts, messages = evaluate(rule, example)
    if passes:
        assert all(verdicts), f"{rule.code} rejects its valid example {example}"
    else:
        assert not all(verdicts), f"{rule.code} accepts its invalid example {example}"
        for message in messages:  # every placeholder of the template is known, values written the French way
            assert "{" not in message and "?" not in message and message.strip()
            assert "None" not in message and "True" not in message and "False" not in message


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: f"{r.code}-{r.table}-{r.field}")
def test_every_rule_is_fully_declared(rule):
    assert rule.valid and rule.invalid, "each rule carries valid and invalid examples"
    assert rule.severity in ("error", "warning", "info")
    assert rule.title and len(rule.reason) > 30 and rule.message
    assert rule.field in load_tables()[rule.table].field_names


def test_rule_codes_do_not_collide_with_other_findings():
    from marches.findings import READER_FINDINGS
    from marches.report import STRUCTURE

    codes = {r.code for r in all_rules()}
    assert not codes & set(READER_FINDINGS) and not codes & set(STRUCTURE)


def test_la_poste_sirets_follow_their_own_rule():
    from marches.rules.identifiers import identifier_status

    assert identifier_status("SIRET", "35600000049837") == "ok"  # digit sum multiple of 5, Luhn false
    assert identifier_status("SIRET", "35600000000048") == "ok"  # the head office, plain Luhn
    assert identifier_status("SIRET", "35600000049838") == "checksum"


SIRET_CHECKSUM_RULES = [r for r in all_rules() if r.code == "siret-checksum"]


@pytest.mark.parametrize("rule", SIRET_CHECKSUM_RULES, ids=lambda r: f"{r.table}-{r.field}")
def test_a_false_la_poste_siret_is_told_la_postes_rule_not_luhn(rule):
    """35600000000014 passes the Luhn check: what it fails is La Poste's digit sum, whoever holds it."""
    base = {} if rule.table in ("marches", "concessions") else {rule.reads[0]: "SIRET"}
    for siret, says, never in (
        ("35600000000014", "somme de ses chiffres n'est pas un multiple de 5", "algorithme de Luhn) est fausse"),
        ("35600000049838", "La Poste (SIREN 356000000)", "algorithme de Luhn) est fausse"),
        ("21750001630066", "la clé de contrôle (algorithme de Luhn) est fausse", "La Poste"),
    ):
        verdicts, messages = evaluate(rule, {**base, rule.field: siret})
        assert verdicts == [False] and len(messages) == 1
        assert f"« {siret} » invalide : " in messages[0] and says in messages[0] and never not in messages[0]


CONCESSION_RULES = [r for r in all_rules() if r.table.startswith("concessions")]


@pytest.mark.parametrize("rule", CONCESSION_RULES, ids=lambda r: f"{r.code}-{r.table}-{r.field}")
def test_a_concession_is_told_in_its_own_words(rule):
    """A concession is signed (not notified) by an autorité concédante (not an acheteur), with concessionnaires
    (not titulaires), and has no accord-cadre: its messages say so."""
    for example in rule.invalid:
        _, messages = evaluate(rule, example)
        for message in messages:
            for word in ("notifi", "acheteur", "titulaire", "accord-cadre"):
                assert word not in message.lower(), message


def test_every_siret_is_checked_for_la_poste():
    """buyer, autorité concédante, titulaire (and the one a modification names), sous-traitant, concessionnaire"""
    assert {r.table for r in SIRET_CHECKSUM_RULES} == {
        "marches",
        "concessions",
        "marches_titulaires",
        "marches_modifications_titulaires",
        "marches_actes_sous_traitance",
        "concessions_concessionnaires",
    }


def test_thresholds_are_configurable():
    rule = next(r for r in all_rules() if r.code == "amount-implausible" and r.table == "marches")
    frame = _frame("marches", [{"montant": 2_000_000_000}])
    assert not frame.select(rule.ok(Config(amount_implausible=1e9))).item()
    assert frame.select(rule.ok(Config())).item()
    with pytest.raises(ValueError, match="inconnus"):
        Config.from_mapping({"seuil_inconnu": 1})
    assert Config.from_mapping({"as_of": "2025-01-01"}).as_of == date(2025, 1, 1)


def test_the_fast_luhn_pass_never_accepts_what_stdnum_rejects():
    """SIRETs passing the vectorised Luhn are not sent to stdnum: they must all be valid for stdnum."""
    import random

    from stdnum.fr import siret

    from marches.generate.contracts import make_siret
    from marches.rules.identifiers import luhn_ok

    rng = random.Random(7)
    valid = [make_siret(rng, rng.choice("23456789")) for _ in range(2000)]
    values = ["".join(rng.choices("0123456789", k=14)) for _ in range(20000)]
    values += ["35600000049837", "35600000000048", "35600000049838", "55204599900869"]
    frame = pl.DataFrame({"_id": values + valid}).with_columns(luhn_ok().alias("fast"))
    fast = frame.filter("fast").get_column("_id").to_list()
    assert all(siret.is_valid(v) for v in fast)
    assert set(valid) <= set(fast), "ordinary valid SIRETs never need stdnum"


def test_arrays_repeated_malformed_or_empty_are_typed_cell_by_cell():
    """A text repeated in many rows is decoded once; every cell gets what decoding it alone gives,
    a malformed array among them included (null: a type error)."""
    import json

    texts = [
        '["Sans objet"]',
        None,
        '["Sans objet"]',
        "Sans objet",
        "[1, 2]",
        '["a", "b"]',
        "[",
        "[]",
        '["Sans objet"]',
    ]
    rows = [{"techniques": t} for t in texts]
    raw = _raw("marches", rows)
    typed, errors = structure.typed_frame(raw, load_tables()["marches"])
    expected = []
    for text in texts:
        value = json.loads(text) if text is not None and text.startswith("[") and text.endswith("]") else None
        expected.append([str(v) for v in value] if isinstance(value, list) else None)
    assert typed.get_column("techniques").to_list() == expected
    assert sorted(errors.filter(pl.col("field") == "techniques").get_column("value").to_list()) == ["Sans objet", "["]
