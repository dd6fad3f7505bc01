"""marches convert: tables that Frictionless accepts, lossless round trips, atomic writes, exit codes."""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest
from click.testing import CliRunner
from frictionless import Package, system

from marches import unflatten
from marches.cli import cli
from marches.flatten import flatten
from marches.model import TABLES
from marches.readers import open_input
from marches.tables import csv_lines, csv_text, text_frames
from tests.conftest import EXAMPLES, FIXTURES, example_params, needs_shared


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def frictionless_errors(directory: Path) -> list:
    package = Package(str(directory / "datapackage.json"))
    with system.use_context(trusted=True):
        report = package.validate()
    return report.flatten(["resourceName", "rowNumber", "fieldName", "type", "note"])


@pytest.mark.parametrize("path", example_params())
def test_official_example_converts_to_tables_frictionless_accepts(path, tmp_path):
    result = run("convert", str(path), "-o", str(tmp_path), "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # stdout carries data only
    assert frictionless_errors(tmp_path) == []
    for table in TABLES:
        assert (tmp_path / f"{table}.csv").is_file() and (tmp_path / f"{table}.schema.json").is_file()


def test_foreign_keys_are_really_checked(tmp_path):
    """The check above can fail: an orphan child row is reported by Frictionless."""
    assert run("convert", str(FIXTURES / "valid-2022.json"), "-o", str(tmp_path), "-q").exit_code == 0
    path = tmp_path / "marches_titulaires.csv"
    lines = path.read_text().splitlines()
    lines[1] = "inconnu-0" + lines[1][lines[1].index(",") :]
    path.write_text("\n".join(lines) + "\n")
    assert [e[3] for e in frictionless_errors(tmp_path)] == ["foreign-key"]


def _official(name: str) -> dict:
    return json.loads((EXAMPLES / "v2.0.3" / "json" / name).read_text(encoding="utf-8"))


@needs_shared
@pytest.mark.parametrize(
    "name", ["marches_concessions.json", "marches_avec_modifications.json", "concessions_avec_modifications.json"]
)
def test_tables_give_back_the_official_2022_contracts_field_by_field(name, tmp_path):
    """Convert to CSV, read the CSV back, rebuild each contract: same content as published."""
    source = EXAMPLES / "v2.0.3" / "json" / name
    assert run("convert", str(source), "-o", str(tmp_path), "-q").exit_code == 0
    rebuilt = []
    for raw in open_input(tmp_path).records:
        record = flatten(raw)
        rebuilt.append(unflatten.marche(record.rows) if record.kind == "marche" else unflatten.concession(record.rows))
    published = _official(name)["marches"]
    expected = published.get("marche", []) + published.get("contrat-concession", [])
    assert len(rebuilt) == len(expected)
    for mine, theirs in zip(rebuilt, expected, strict=True):
        assert mine == theirs


def test_csv_tables_read_back_identically(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    sources = [
        FIXTURES / "mixed-array-2019-2022.json",
        FIXTURES / "defects" / "enum-case.json",
        FIXTURES / "modification-actes-xsd-spelling.xml",
    ]
    assert run("convert", *map(str, sources), "-o", str(first), "-q").exit_code == 0
    assert run("convert", str(first), "-o", str(second), "-q").exit_code == 0
    for table in TABLES:
        assert (first / f"{table}.csv").read_text() == (second / f"{table}.csv").read_text(), table
    assert sum(1 for _ in csv.reader((first / "marches.csv").open())) == 1 + 4


def test_lines_written_by_polars_read_back_as_those_of_the_csv_module():
    """package writes its work tables with polars (``csv_lines``); read back, every cell is the one the
    csv module's lines (``csv_text``, what convert writes) give: empty text stays an empty cell (null)."""
    fields = ("a", "b", "c", "d")
    rows = [
        {"a": "", "b": None, "c": "x,y", "d": 'q"q'},
        {"a": "l\nl", "b": "r\rr", "c": " s ", "d": "é €"},
        {"a": True, "b": 1.5, "c": ["x", "é"], "d": 10**30},
        {"a": 12, "b": 5.0, "c": {"k": [1]}, "d": "NA"},
        {"d": '"'},
    ]
    model = SimpleNamespace(field_names=fields)
    expected = csv_text(fields, copy.deepcopy(rows))
    lines = csv_lines(text_frames({"t": copy.deepcopy(rows)}, {"t": model})["t"])

    def read(body: str) -> pl.DataFrame:
        return pl.read_csv(io.BytesIO((",".join(fields) + "\n" + body).encode()), infer_schema=False)

    assert read(lines).to_dicts() == read(expected).to_dicts()
    assert read(lines).row(0) == (None, None, "x,y", 'q"q')


def test_csv_reader_rejects_reordered_child_tables(tmp_path):
    assert run("convert", str(FIXTURES / "mixed-array-2019-2022.json"), "-o", str(tmp_path), "-q").exit_code == 0
    path = tmp_path / "marches_titulaires.csv"
    header, *rows = path.read_text().splitlines()
    path.write_text("\n".join([header, *reversed(rows)]) + "\n")
    result = run("convert", str(tmp_path), "-o", str(tmp_path / "again"), "-q")
    assert result.exit_code == 3
    assert "ordre" in result.stderr


def test_malformed_input_exits_3_and_leaves_no_partial_tables(tmp_path):
    out = tmp_path / "out"
    result = run(
        "convert", str(FIXTURES / "valid-2022.json"), str(FIXTURES / "malformed" / "truncated.json"), "-o", str(out)
    )
    assert result.exit_code == 3
    assert "truncated.json" in result.stderr and "enregistrement lu" in result.stderr
    assert not list(out.glob("*.csv")), "nothing is written when an input cannot be read"
    assert not list(out.glob(".marches-*")), "the temporary directory is removed"


def test_previous_tables_survive_a_failed_conversion(tmp_path):
    assert run("convert", str(FIXTURES / "valid-2022.json"), "-o", str(tmp_path), "-q").exit_code == 0
    before = (tmp_path / "marches.csv").read_text()
    assert run("convert", str(FIXTURES / "malformed" / "broken.xml"), "-o", str(tmp_path), "-q").exit_code == 3
    assert (tmp_path / "marches.csv").read_text() == before


def test_usage_errors_exit_2(tmp_path):
    assert run("convert", "-o", str(tmp_path)).exit_code == 2
    assert run("convert", str(FIXTURES / "valid-2022.json")).exit_code == 2


def test_same_content_twice_is_read_once(tmp_path):
    copy = tmp_path / "copy.json"
    copy.write_bytes((FIXTURES / "valid-2022.json").read_bytes())
    result = run("convert", str(FIXTURES / "valid-2022.json"), str(copy), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0
    assert "contenu identique" in result.stderr
    assert sum(1 for _ in (tmp_path / "out" / "marches.csv").open()) == 2


def test_summary_on_stderr_lists_findings_and_quiet_silences_it(tmp_path):
    result = run("convert", str(FIXTURES / "defects" / "nc-placeholder.json"), "-o", str(tmp_path))
    assert result.exit_code == 0 and result.stdout == ""
    assert "placeholder" in result.stderr and "marches.marche[0].montant" in result.stderr
    quiet = run("convert", str(FIXTURES / "defects" / "nc-placeholder.json"), "-o", str(tmp_path), "--quiet")
    assert quiet.stderr == ""


def test_progress_bar_goes_to_stderr_for_large_inputs(tmp_path, monkeypatch):
    monkeypatch.setattr("marches.cli.base._is_terminal", lambda: True)
    record = json.loads((FIXTURES / "valid-2022.json").read_text())["marches"]["marche"][0]
    big = tmp_path / "big.json"
    with big.open("w") as fh:
        fh.write('{"marches": {"marche": [')
        fh.write(",".join(json.dumps({**record, "id": f"N{i}", "objet": "x" * 400}) for i in range(6000)))
        fh.write("]}}")
    assert big.stat().st_size > 5 << 20
    result = run("convert", str(big), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0 and result.stdout == ""
    assert "big.json" in result.stderr  # the bar's label (click draws the bar itself only on a real terminal)
    monkeypatch.setattr("marches.cli.base._is_terminal", lambda: False)
    quiet_log = run("convert", str(big), "-o", str(tmp_path / "out2"))
    assert "big.json" not in quiet_log.stderr.splitlines()[0], "no progress line in a log"


def test_demo_generates_validates_then_packages(tmp_path):
    result = run("demo", "-o", str(tmp_path), "--contracts", "2000", "--no-serve")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    package = tmp_path / "datapackages" / "demo"
    records = list(csv.DictReader((package / "enregistrements.csv").open()))
    assert len(records) == 2000
    truth = list(csv.DictReader((tmp_path / "defauts-injectes.csv").open()))
    assert 60 < len(truth) < 140
    assert "Verdict : NON CONFORME" in result.stderr and "quarantaine" in result.stderr
    assert (tmp_path / "rapport-validation.json").is_file()
