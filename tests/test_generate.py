"""marches generate: realistic, reproducible, valid against the official schemas, defects with their truth."""

from __future__ import annotations

import collections
import csv
import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from lxml import etree
from stdnum.fr import siret

from marches.cli import cli
from marches.flatten import flatten
from marches.generate import generate
from marches.generate.defects import DEFECTS
from marches.generate.vocabulary import CPV_BY_DIVISION
from marches.readers import open_input
from tests.conftest import SHARED

SCHEMAS = SHARED / "decp" / "schemas"
needs_schemas = pytest.mark.skipif(not SCHEMAS.is_dir(), reason="../shared/reference absent (official schemas)")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("generated")
    out = {}
    for fmt in ("json-2022", "xml-2022", "json-2019"):
        out[fmt] = directory / f"clean.{fmt}"
        generate(out[fmt], fmt, contracts=1500, seed=11, concession_share=0.05)
    return out


def records(path: Path):
    return [flatten(raw) for raw in open_input(path).records]


@needs_schemas
def test_clean_json_2022_validates_against_the_official_json_schema(files):
    schema = json.loads((SCHEMAS / "v2.0.3" / "schema_decp_v2.0.3.json").read_text())
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(json.loads(files["json-2022"].read_text())))
    assert errors == []


@needs_schemas
def test_clean_xml_2022_validates_against_the_official_xsd(files):
    xsd = etree.XMLSchema(etree.parse(str(SCHEMAS / "v2.0.3" / "schema_decp_v2.0.2.xsd")))
    assert xsd.validate(etree.parse(str(files["xml-2022"]))), [e.message for e in xsd.error_log][:5]


@needs_schemas
def test_clean_json_2019_validates_against_the_official_1_5_schema(files):
    schema = json.loads((SCHEMAS / "v1.5.0" / "marches.json").read_text())
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(json.loads(files["json-2019"].read_text())))
    assert errors == []


@needs_schemas
def test_defects_break_the_official_schema_where_it_can_see_them(tmp_path):
    """The schema check above is not vacuous: a missing required field is caught."""
    schema = json.loads((SCHEMAS / "v2.0.3" / "schema_decp_v2.0.3.json").read_text())
    path = tmp_path / "d.json"
    generate(path, "json-2022", contracts=400, seed=2, defect_rate=0.5)
    assert list(jsonschema.Draft7Validator(schema).iter_errors(json.loads(path.read_text())))


@pytest.mark.parametrize("fmt", ["json-2022", "xml-2022", "json-2019"])
def test_clean_files_read_without_any_finding(files, fmt):
    recs = records(files[fmt])
    assert len(recs) == 1500
    assert [f.message for r in recs for f in r.findings] == []
    assert collections.Counter(r.kind for r in recs) == {"marche": 1425, "concession": 75}
    assert {r.generation for r in recs} == {"2019" if fmt == "json-2019" else "2022"}


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    generate(a, contracts=300, seed=5, defect_rate=0.1)
    generate(b, contracts=300, seed=5, defect_rate=0.1)
    generate(c, contracts=300, seed=6, defect_rate=0.1)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()


def test_values_are_realistic(files):
    recs = records(files["json-2022"])
    marches = [r.rows["marches"][0] for r in recs if r.kind == "marche"]
    holders = [h for r in recs for h in r.rows.get("marches_titulaires", [])]
    assert all(siret.is_valid(m["acheteur_id"]) for m in marches)
    assert all(siret.is_valid(h["id"]) for h in holders)
    assert all(m["dateNotification"] <= m["datePublicationDonnees"] for m in marches)
    assert all("2024-01-01" <= m["dateNotification"] <= "2026-12-31" for m in marches)
    known = {code for codes in CPV_BY_DIVISION.values() for code in codes}
    assert {m["codeCPV"] for m in marches} <= known
    assert len({m["codeCPV"][:2] for m in marches}) > 20, "many CPV divisions"
    amounts = sorted(m["montant"] for m in marches)
    assert amounts[len(amounts) // 2] < 200_000 < amounts[-1] / 10, "long-tailed amounts"
    assert sum(len(r.rows.get("marches_modifications", [])) > 0 for r in recs) > 50
    assert sum(len(r.rows.get("marches_actes_sous_traitance", [])) > 0 for r in recs) > 20
    assert sum(len(r.rows.get("marches_titulaires", [])) > 1 for r in recs) > 50
    social = collections.Counter(tuple(m["considerationsSociales"]) for m in marches)
    assert social[("Pas de considération sociale",)] < len(marches) * 0.9 and len(social) >= 4
    assert all(m["id"] and len(m["id"]) <= 16 for m in marches)
    assert len({m["uid"] for m in marches}) == len(marches), "no duplicate without --defects"


def test_buyers_and_holders_are_reused_with_a_skew(files):
    marches = [r.rows["marches"][0] for r in records(files["json-2022"]) if r.kind == "marche"]
    counts = sorted(collections.Counter(m["acheteur_id"] for m in marches).values(), reverse=True)
    top_tenth = sum(counts[: max(1, len(counts) // 10)])
    assert top_tenth > 0.3 * len(marches), "a few big buyers publish much of the data"
    assert len(counts) > 30


def test_origin_shares_only_where_they_apply_and_coherent(files):
    from marches.regulation import origin_applies

    for r in records(files["json-2022"]):
        m = r.rows["marches"][0] if r.kind == "marche" else None
        if m and m["origineUE"] is not None:
            assert origin_applies(m["codeCPV"]) and m["origineFrance"] <= m["origineUE"]


@pytest.mark.parametrize("fmt", ["json-2022", "xml-2022", "json-2019"])
def test_truth_describes_each_injected_defect(tmp_path, fmt):
    path, truth = tmp_path / f"d.{fmt}", tmp_path / "truth.csv"
    generate(path, fmt, contracts=2000, seed=3, concession_share=0.05, defect_rate=0.2, truth=truth)
    rows = list(csv.DictReader(truth.open(encoding="utf-8")))
    assert 300 < len(rows) < 500, "about 20 % of the contracts"
    recs = records(path)
    by_position = {r.rows["marches" if r.kind == "marche" else "concessions"][0]["source_position"]: r for r in recs}
    for row in rows:
        record = by_position[int(row["position"])]
        root = record.rows["marches" if record.kind == "marche" else "concessions"][0]
        assert root["source_path"] == row["path"]
        assert record.kind == row["kind"]
        assert root["id"] == (row["id"] or None)
    names = {row["defect"] for row in rows}
    assert "duplicate" in names and len(names) > 15


def test_reader_level_defects_are_all_found(tmp_path):
    """Defects the readers see (placeholders, types, enum spelling) are reported where the truth says."""
    path, truth = tmp_path / "d.json", tmp_path / "truth.csv"
    generate(path, "json-2022", contracts=3000, seed=8, defect_rate=0.3, truth=truth)
    reader_codes = {"placeholder", "number-as-string", "id-as-number", "enum-normalized"}
    expected = [r for r in csv.DictReader(truth.open(encoding="utf-8")) if r["code"] in reader_codes]
    assert len(expected) > 30
    found = {(f.position, f.code) for rec in records(path) for f in rec.findings}
    missing = [r for r in expected if (int(r["position"]), r["code"]) not in found]
    assert missing == []


def test_every_defect_kind_can_be_injected():
    import random

    from marches.generate import PERIODS
    from marches.generate.contracts import ContractFactory

    factory = ContractFactory(1, 100, *PERIODS["json-2022"])
    rng = random.Random(1)
    for defect in DEFECTS:
        for _ in range(20):
            record = factory.marche() if "marche" in defect.kinds else factory.concession()
            if defect.apply(record, rng):
                break
        else:
            pytest.fail(f"{defect.name} never applies")


def test_cli_generate_writes_file_truth_and_summary(tmp_path):
    out, truth = tmp_path / "x.xml", tmp_path / "t.csv"
    result = CliRunner().invoke(
        cli, ["generate", "-o", str(out), "-f", "xml-2022", "-n", "200", "--defects", "0.1", "--truth", str(truth)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and "200 contrats" in result.stderr
    assert out.read_bytes().startswith(b"<?xml") and truth.is_file()
    bad = CliRunner().invoke(cli, ["generate", "-o", str(out), "--defects", "2"])
    assert bad.exit_code == 2


def test_generation_failure_leaves_no_partial_file(tmp_path):
    target = tmp_path / "missing-dir" / "x.json"
    result = CliRunner().invoke(cli, ["generate", "-o", str(target), "-n", "10"])
    assert result.exit_code == 3 and not target.exists()
