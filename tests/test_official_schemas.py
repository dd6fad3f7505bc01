"""marches' verdicts agree with the official schemas, both ways (issue 9).

For each generation the official schema is the oracle: JSON Schema 1.5.0 for 2019 JSON, 2.0.3
for 2022 JSON, XSD 2.0.2 for 2022 XML (and XSD 1.5.0 for 2019 XML). Valid records (the official
examples and the project's generator) are mutated field by field, one kind of mutation per
document and one mutated record per field path; then, record by record:

* every error the schema reports is covered by a marches finding of severity ``error``, located
  on the same field (same published path, or one a prefix of the other), so the file is NON
  CONFORME — findings the unmutated record already had do not count;
* every marches error that is not a documented business rule (``catalogue()[code].kind ==
  "rule"``) lies on a field the schema rejects; on a file the schema accepts, only business rules
  may give errors (warnings and infos are free);
* a finding's ``position`` is its record's ordinal, and in XML its ``line`` is its element's.

Run alone: ``.venv/bin/python -m pytest tests/test_official_schemas.py -q``.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from marches.cpv import load as load_cpv
from marches.errors import MarchesError
from marches.findings import Finding
from marches.report import Report, catalogue
from marches.rules import Config, all_rules
from marches.validate import validate
from tests.conftest import EXAMPLES, SHARED
from tests.official_documents import (
    BASES,
    EXAMPLE_DIRS,
    XML_CONTAINER_EDITS,
    Case,
    Document,
    Mutator,
    base_files,
    load_bases,
    write_document,
)
from tests.official_schemas import SCHEMAS, JsonOracle, SchemaError, XmlOracle, oracle, related, segments

AS_OF = date(2026, 11, 30)
CPV_FILE = SHARED / "cpv" / "cpv2008_en.csv"
COMMON_JSON = [
    "null", "as-string", "as-number", "as-boolean", "as-object", "as-array", "missing", "extra",
    "duplicate-item", "empty-list", "enum-other", "enum-case", "enum-legacy", "too-long", "at-max-length",
    "too-short", "pattern-digit", "pattern-letter", "date-unpadded", "date-french", "date-time", "date-offset",
    "date-impossible", "below-minimum", "fraction", "integer-as-float", "other-generation-keys",
    "extra-null", "extra-dotted", "key-case",
]  # fmt: skip
COMMON_XML = [
    "text-other", "text-empty", "text-padded", "enum-other", "enum-case", "enum-legacy", "too-long",
    "at-max-length", "too-short", "pattern-digit", "pattern-letter", "date-unpadded", "date-french", "date-time",
    "date-offset", "date-impossible", "below-minimum", "fraction", "decimal-comma", "missing", "duplicated",
    "unknown-element", "wrapper-removed", "empty-list", "attribute",
]  # fmt: skip
KINDS = {
    "json-2019": [*COMMON_JSON, "wrap-item", "wrap-list"],
    "json-2022": [*COMMON_JSON, "above-maximum", "unwrap-item", "bare-list", "singular-name", "xsd-item-name"],
    "xml-2022": [*COMMON_XML, "above-maximum"],
    "xml-2019": COMMON_XML,
}
# Kinds that apply only to fields the official examples have (the generated bases have no change of an acte de
# sous-traitance; no XML base has one, hence no XML counterpart: tests/test_verdicts.py covers it)
OFFICIAL_ONLY = {"xsd-item-name"}
CONTAINERS = {
    "json-2019": ["container-object", "container-empty", "container-root-extra"],
    "json-2022": ["container-key-case", "container-single-object", "container-extra-key", "container-empty"],
    "xml-2022": ["container-unknown-element", "container-empty", *XML_CONTAINER_EDITS],
    "xml-2019": ["container-unknown-element", "container-empty", *XML_CONTAINER_EDITS],
}
# Kinds also run with the CPV list (codeCPV is among the fields they mutate).
CPV_KINDS = {
    "json": ("none", "pattern-digit", "pattern-letter", "as-number", "null"),
    "xml": ("none", "pattern-digit", "pattern-letter", "text-other", "text-empty"),
}
# A finding about the file as a whole (the same contract published twice) locates no field.
GLOBAL_CODES = {r.code for r in all_rules() if r.scope == "global"}
# One finding for the file that covers what the schema then rejects anywhere in it (issue 9 item 5: a
# declared encoding the bytes contradict is one finding per file, not one per damaged value).
FILE_WIDE_CODES = {"encoding-mismatch"}

needs_reference = pytest.mark.skipif(
    not (SCHEMAS.is_dir() and EXAMPLES.is_dir()), reason="../shared/reference absent (official schemas and examples)"
)
pytestmark = needs_reference


# -- both sides ------------------------------------------------------------------------------------------


def schema_errors(doc: Document) -> list[SchemaError]:
    the_oracle = oracle(doc.generation)
    if isinstance(the_oracle, XmlOracle):
        return the_oracle.errors(doc.tree)
    return the_oracle.errors(json.loads(doc.path.read_text(encoding="utf-8")))


@dataclass
class Outcome:
    findings: list[Finding] = field(default_factory=list)
    refused: str | None = None  # the file was refused as a whole (a fatal input error)
    crashed: str | None = None  # marches itself failed: never an acceptable outcome


def run_marches(path: Path, cpv) -> Outcome:
    outcome = Outcome()
    try:
        validate([path], Config(as_of=AS_OF), cpv=cpv, report=Report(sink=outcome.findings.append))
    except MarchesError as exc:
        outcome.refused = str(exc)
    except Exception as exc:  # a crash is a disagreement to report with the others, not an error of this test
        outcome.crashed = f"{type(exc).__name__} : {exc}"
    return outcome


def case_of(doc: Document, path: str | None, position: int | None = None) -> Case | None:
    """The record a location belongs to: by its path, else (a finding with no usable path) by its position."""
    if path and (case := doc.case_at(path)):
        return case
    if position is not None and 0 <= position < len(doc.cases):
        return doc.cases[position]
    return None


def relative(case: Case | None, finding: Finding) -> str:
    """Where a finding lies inside its record, comparable between the base and the mutated document."""
    if case is not None and finding.path and related(case.prefix, finding.path):
        return finding.path[len(case.prefix) :]
    return f"#{finding.field}"


def _above(a: str, b: str) -> bool:
    """``a`` is ``b`` or one of its ancestors."""
    return related(a, b) and len(segments(a)) <= len(segments(b))


def kind_of(code: str) -> str | None:
    info = catalogue().get(code)
    return getattr(info, "kind", None)


def _show(f: Finding) -> str:
    where = f.path or "(sans chemin)"
    line = f", ligne {f.line}" if f.line else ""
    return f"{f.code}/{f.severity}/{kind_of(f.code)} @ {where}{line}"


def disagreements(run: Run, baseline: dict[int, set], kind: str) -> list[str]:
    """Every disagreement between the oracle and marches on the records mutated by ``kind``, one line each.

    Findings and schema errors outside any record (the file, the container) belong to the document's
    first kind ("none" in a shared document, the container mutation in its own).
    """
    doc, outcome = run.doc, run.outcome
    outside = kind in ("none", doc.cases[0].kind if doc.cases else kind)
    found = [(c, f) for c, f in run.findings if (c.kind == kind if c is not None else outside)]
    located = [(c, e) for c, e in run.located if (c.kind == kind if c is not None else outside)]
    by_case: dict[int, list[Finding]] = {}
    for case, f in found:
        by_case.setdefault(id(case), []).append(f)

    def seen(case: Case | None, f: Finding) -> bool:
        return case is not None and (f.code, relative(case, f)) in baseline.get(case.base, set())

    new = [(case, f) for case, f in found if f.severity == "error" and not seen(case, f)]
    locating: dict[int, list[Finding]] = {}
    for case, f in new:
        if f.code not in GLOBAL_CODES:
            locating.setdefault(id(case), []).append(f)
    rejected: dict[int, list[str]] = {}
    for case, e in located:
        rejected.setdefault(id(case), []).extend(e.locations)
    container_errors = [e for case, e in located if case is None]
    file_wide = any(f.code in FILE_WIDE_CODES and not f.path for f in locating.get(id(None), []))
    out = [f"[plantage] fichier | marches : {outcome.crashed}"] if outcome.crashed and outside else []

    def line(label: str, case: Case | None, detail: str) -> str:
        record = f"{case.origin} → {case.mutation} (enregistrement {case.position})" if case else "fichier"
        shown = [_show(f) for f in by_case.get(id(case), [])] or ["aucun constat"]
        if outcome.refused and case is None:
            shown.append(f"fichier refusé : {outcome.refused}")
        return f"[{label}] {record} | {detail} | marches : {'; '.join(shown)}"

    for case, e in located:  # (a) every schema error is covered by a new marches error on the same field
        candidates = locating.get(id(case), [])
        if case is None:  # the container: a finding on it or above it (the file), not one of its records
            covered = bool(outcome.refused) or any(
                not f.path or any(_above(f.path, loc) for loc in e.locations) for f in candidates
            )
        else:
            covered = file_wide or any(f.path and any(related(f.path, loc) for loc in e.locations) for f in candidates)
        if not covered:
            out.append(line("non détecté", case, f"schéma : {' | '.join(e.locations)} : {e.message[:160]}"))
    for case, f in new:  # (b) an error that is not a business rule lies on a field the schema rejects
        code_kind = kind_of(f.code)
        if code_kind == "rule" or (case is None and (code_kind == "reading" or container_errors)):
            continue
        if f.path and any(_above(loc, f.path) for e in container_errors for loc in e.locations):
            continue  # the schema rejects the container: what marches reads inside it follows from that
        if case is not None and f.path and any(related(f.path, loc) for loc in rejected.get(id(case), [])):
            continue
        out.append(line("erreur hors règle", case, f"{_show(f)} : {f.message[:160]}"))
    for case, f in found:  # (c) positions, and in XML the line of the element itself
        if case is None or not f.path or not related(case.prefix, f.path):
            continue
        if f.position != case.position:
            out.append(line("position", case, f"{_show(f)} : position {f.position}, attendu {case.position}"))
        if doc.tree is not None and not seen(case, f):
            element = oracle(doc.generation).element_at(doc.tree.getroot(), f.path)
            if element is not None and f.line != element.sourceline:
                out.append(line("ligne", case, f"{_show(f)} : ligne attendue {element.sourceline}"))
    return out


# -- one validation per generation and base, shared by the mutation kinds ---------------------------------


@dataclass
class Run:
    """One document, judged by the oracle and by marches; schema errors and findings placed in their record."""

    doc: Document
    errors: list[SchemaError]
    outcome: Outcome
    located: list[tuple[Case | None, SchemaError]] = field(init=False)
    findings: list[tuple[Case | None, Finding]] = field(init=False)

    def __post_init__(self) -> None:
        self.located = [(case_of(self.doc, e.locations[0]), e) for e in self.errors]
        self.findings = [(case_of(self.doc, f.path, f.position), f) for f in self.outcome.findings]

    @property
    def failed(self) -> bool:
        return bool(self.outcome.crashed or self.outcome.refused)


class Library:
    """Bases, mutators and validation runs, built once per module.

    The records of every mutation kind of a generation and base go into one document, validated
    once by the oracle and by marches (records are independent, so the verdicts are the same as
    one document per kind); each test then reads the records of its kind. If marches crashes or
    refuses that document, each kind gets a document of its own, so that one fault does not hide
    the others.
    """

    def __init__(self, directory: Path):
        self.directory = directory
        self.mutators: dict[tuple[str, str], Mutator] = {}
        self.runs: dict[tuple, Run] = {}
        self._cpv = None

    @property
    def cpv(self):
        if self._cpv is None:
            self._cpv = load_cpv(CPV_FILE)
        return self._cpv

    def mutator(self, generation: str, base: str) -> Mutator:
        if (generation, base) not in self.mutators:
            self.mutators[(generation, base)] = Mutator(generation, load_bases(generation, base, self.directory))
        return self.mutators[(generation, base)]

    def run(self, generation: str, base: str, kinds: tuple[str, ...], with_cpv: bool) -> Run:
        key = (generation, base, kinds, with_cpv)
        if key not in self.runs:
            mutator = self.mutator(generation, base)
            name = f"{generation}-{base}-{len(self.runs)}.{'xml' if generation.startswith('xml') else 'json'}"
            container = kinds[0] if kinds[0].startswith("container-") else None
            records = [r for kind in kinds for r in mutator.records(kind)]
            doc = write_document(generation, mutator.bases, records, self.directory / name, container)
            self.runs[key] = Run(doc, schema_errors(doc), run_marches(doc.path, self.cpv if with_cpv else None))
        return self.runs[key]

    def result(self, generation: str, base: str, kind: str, with_cpv: bool) -> tuple[Run, dict[int, set]]:
        """The run holding the records of ``kind``, and the findings of each unmutated base record."""
        kinds = CPV_KINDS[generation.split("-")[0]][1:] if with_cpv else KINDS[generation]
        shared = self.run(generation, base, ("none", *kinds), with_cpv)
        source = shared if not shared.failed else self.run(generation, base, ("none",), with_cpv)
        baseline: dict[int, set] = {}
        for case, f in source.findings:
            if case is not None and case.kind == "none":
                baseline.setdefault(case.base, set()).add((f.code, relative(case, f)))
        if kind.startswith("container-"):
            return self.run(generation, base, (kind,), with_cpv), baseline
        if shared.failed:
            return self.run(generation, base, (kind,), with_cpv), baseline
        return shared, baseline


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Library:
    return Library(tmp_path_factory.mktemp("official-schemas"))


# -- tests -----------------------------------------------------------------------------------------------


def _params():
    for generation, bases in BASES.items():
        for base in bases:
            kinds = ["none", *KINDS[generation], *(CONTAINERS[generation] if base == "official" else ())]
            for kind in kinds:
                if kind in OFFICIAL_ONLY and base != "official":
                    continue
                yield pytest.param(generation, base, kind, False, id=f"{generation}/{base}/{kind}")
                if kind in CPV_KINDS[generation.split("-")[0]]:
                    marks = pytest.mark.skipif(not CPV_FILE.is_file(), reason="../shared/reference/cpv absent")
                    yield pytest.param(generation, base, kind, True, id=f"{generation}/{base}/{kind}+cpv", marks=marks)


@pytest.mark.parametrize("generation", list(EXAMPLE_DIRS), ids=str)
def test_base_documents_are_valid(library, generation):
    """The official examples, the generator's files and the unmutated documents all satisfy the official schema."""
    the_oracle = oracle(generation)
    for base in BASES[generation]:
        files = base_files(generation, base, library.directory)
        assert files, f"aucun fichier de base {base} pour {generation}"
        for path in files:
            if isinstance(the_oracle, JsonOracle):
                errors = the_oracle.errors(json.loads(path.read_text(encoding="utf-8")))
            else:
                errors = the_oracle.errors(etree.parse(str(path)))
            assert errors == [], f"{path.name} : {errors[:3]}"
        run = library.run(generation, base, ("none",), False)
        assert run.doc.cases, f"aucun enregistrement de base {base} pour {generation}"
        assert run.errors == [], "le document non muté (identifiants renumérotés) reste valide"


@pytest.mark.parametrize(("generation", "base", "kind", "with_cpv"), list(_params()))
def test_agreement_with_official_schema(library, generation, base, kind, with_cpv):
    run, baseline = library.result(generation, base, kind, with_cpv)
    doc = run.doc
    cases = [c for c in doc.cases if c.kind == kind]
    assert cases or kind == "container-empty", f"la mutation {kind} ne s'applique à aucun champ"
    problems = [p for p in disagreements(run, {} if kind == "none" else baseline, kind) if not departure(generation, p)]
    rejected = {id(c) for c, _ in run.located}
    mine = [f for c, f in run.findings if c is None or c.kind == kind]
    errors_found = sum(f.severity == "error" for f in mine) + bool(run.outcome.refused or run.outcome.crashed)
    header = (
        f"{len(problems)} désaccord(s) avec le schéma officiel sur {len(cases)} enregistrement(s) mutés par {kind} "
        f"({len([c for c in cases if id(c) in rejected])} rejeté(s) par le schéma) ; "
        f"marches : {errors_found} erreur(s) sur ces enregistrements ; document : {doc.path}"
    )
    shown = problems[:40] + ([f"… et {len(problems) - 40} autre(s)"] if len(problems) > 40 else [])
    if problems:
        pytest.fail("\n".join([header, *shown]), pytrace=False)


# Where marches departs from an oracle on purpose. The 2019 reference is the 1.5.0 JSON Schema (issue 9);
# the 1.5.0 XSD, used here for 2019 XML too, differs from it in places.
DEPARTURES = {
    "xml-2019": (
        # the JSON Schema limits a concession's lieuExecution.code to 6 characters, the XSD does not
        re.compile(
            r"^\[erreur hors règle\] .*maxLength/error/format @ [^ ]*contrat-concession\[\d+\]\.lieuExecution\.code"
        ),
        # an xs:sequence error is located by libxml2 on the element after the missing one
        re.compile(
            r"^\[non détecté\] .*This element is not expected\. Expected is \( (\w+) \).*required/error/format @ \S*\.\1\b"
        ),
    ),
}


def departure(generation: str, problem: str) -> bool:
    return any(p.search(problem) for p in DEPARTURES.get(generation, ()))


@pytest.mark.parametrize("generation", ["xml-2022", "xml-2019"])
def test_xml_locations_lead_back_to_their_element(library, generation):
    """The dotted path given to an XML element names it (the line check relies on it)."""
    the_oracle = oracle(generation)
    root = library.run(generation, "official", ("none",), False).doc.tree.getroot()
    elements = list(root.iter())
    assert len(elements) > 100
    for element in elements:
        assert the_oracle.element_at(root, the_oracle.path_of(element)) is element


def _first(generation: str, kind: str, having: str = "id"):
    """The first official example record of ``kind`` that has the field ``having``."""
    bases = load_bases(generation, "official", Path())
    return next(
        b.data
        for b in bases
        if b.kind == kind and (b.data.find(having) if hasattr(b.data, "tag") else b.data.get(having)) is not None
    )


def _json_document(generation: str, record: dict, kind: str = "marche") -> dict:
    if generation == "json-2019":
        return {"marches": [record]}
    return {"marches": {"marche" if kind == "marche" else "contrat-concession": [record]}}


def _edited(record: dict, change) -> dict:
    record = copy.deepcopy(record)
    change(record)
    return record


QUIRKS = [  # what the official schemas accept or reject, where it is questionable (see the README)
    (
        "json-2022",
        "marche",
        lambda r: r.update(dateNotification="2024-01-05T10:00:00"),
        True,
        "date-pattern-unanchored",
    ),
    ("json-2022", "marche", lambda r: r.update(dateNotification="le 2024-01-05"), True, "date-pattern-unanchored-text"),
    ("json-2022", "marche", lambda r: r.update(dateNotification="2024-02-30"), True, "impossible-date-2022"),
    ("json-2019", "marche", lambda r: r.update(dateNotification="2024-02-30"), True, "impossible-date-2019"),
    ("json-2022", "marche", lambda r: r.update(titulaires=[None, "x"]), True, "titulaire-items-untyped"),
    ("json-2019", "marche", lambda r: r.update(acheteur="21350238800019"), True, "acheteur-untyped-2019"),
    ("json-2022", "marche", lambda r: r["acheteur"].update(nom="x"), True, "nested-unknown-keys-2022"),
    ("json-2019", "marche", lambda r: r.update(dureeMois=float(r["dureeMois"])), False, "integer-as-float-draft4"),
]


@pytest.mark.parametrize(
    ("generation", "kind", "change", "accepted"), [q[:4] for q in QUIRKS], ids=[q[4] for q in QUIRKS]
)
def test_official_schema_quirks(generation, kind, change, accepted):
    """Facts about the official schemas that the verdicts inherit (documented for publishers)."""
    record = _edited(_first(generation, kind), change)
    errors = oracle(generation).errors(_json_document(generation, record, kind))
    assert (errors == []) is accepted, errors


def test_official_schema_quirks_in_lists_and_xml():
    """2.0.3 has no uniqueItems on tarifs and no minItems on the lists; the XSD refuses the empty idAccordCadre
    its own documentation asks for, and accepts padded numbers but not padded labels."""
    concession = _first("json-2022", "concession", "donneesExecution")
    tarifs = concession["donneesExecution"][0]["donneesAnnuelles"]["tarifs"]
    doubled = copy.deepcopy(concession)
    doubled["donneesExecution"][0]["donneesAnnuelles"]["tarifs"] = [tarifs[0], copy.deepcopy(tarifs[0]), *tarifs[1:]]
    assert oracle("json-2022").errors(_json_document("json-2022", doubled, "concession")) == []
    assert oracle("json-2022").errors({"marches": {"marche": []}}) == []
    xsd = oracle("xml-2022")
    record = copy.deepcopy(_first("xml-2022", "marche"))
    root = etree.Element("marches")
    root.append(record)
    record.find("montant").text = f" {record.find('montant').text} "
    assert xsd.errors(etree.ElementTree(root)) == []
    record.find("nature").text = f" {record.find('nature').text} "
    assert [e.locations for e in xsd.errors(etree.ElementTree(root))] == [("marches.marche[0].nature",)]
    record.find("nature").text = record.find("nature").text.strip()
    accord = record.find("idAccordCadre")
    (accord if accord is not None else etree.SubElement(record, "idAccordCadre")).text = ""
    assert [e.locations for e in xsd.errors(etree.ElementTree(root))] == [("marches.marche[0].idAccordCadre",)]


@pytest.mark.parametrize("generation", list(EXAMPLE_DIRS), ids=str)
def test_the_comparison_accepts_a_validator_that_agrees(library, monkeypatch, generation):
    """A validator reporting exactly the schema's errors, where the contract says, passes; any slip fails."""
    monkeypatch.setattr(sys.modules[__name__], "kind_of", lambda code: "format")
    shared = library.run(generation, "official", ("none", *KINDS[generation]), False)
    root = shared.doc.tree.getroot() if shared.doc.tree is not None else None

    def finding(case: Case | None, path: str) -> Finding:
        element = oracle(generation).element_at(root, path) if root is not None else None
        line = element.sourceline if element is not None else None
        return Finding("type-error", "error", "", position=case.position if case else None, path=path, line=line)

    agreeing = Outcome([finding(case, e.locations[0]) for case, e in shared.located])
    run = Run(shared.doc, shared.errors, agreeing)
    assert [line for kind in ("none", *KINDS[generation]) for line in disagreements(run, {}, kind)] == []
    rejected = [case for case, _ in shared.located if case is not None]
    accepted = next(case for case in shared.doc.cases if all(case is not c for c in rejected))
    slips = Outcome(
        [
            *agreeing.findings[1:],  # the first schema error missed
            finding(accepted, f"{accepted.prefix}.objet"),  # a format error on a record the schema accepts
            *([replace(agreeing.findings[-1], line=agreeing.findings[-1].line + 1)] if root is not None else []),
        ]
    )
    run = Run(shared.doc, shared.errors, slips)
    labels = {line.split("]")[0][1:] for kind in ("none", *KINDS[generation]) for line in disagreements(run, {}, kind)}
    assert labels == {"non détecté", "erreur hors règle", *(["ligne"] if root is not None else [])}
