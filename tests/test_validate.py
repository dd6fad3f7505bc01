"""marches validate: clean data passes, every injected defect is found, reports and exit codes."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import pickle
from datetime import date
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from marches import cpv, parallel
from marches.cli import cli
from marches.findings import FINDINGS, STRUCTURE_FINDINGS
from marches.generate import generate
from marches.report import Report
from marches.rules import Config
from marches.validate import validate
from tests.conftest import EXAMPLES, FIXTURES, ROOT, SHARED, needs_shared

CPV_FILE = SHARED / "cpv" / "cpv2008_en.csv"
AS_OF = date(2026, 11, 22)
CONFIG = Config(as_of=AS_OF)


@pytest.fixture(scope="module")
def nomenclature():
    return cpv.load(CPV_FILE) if CPV_FILE.is_file() else None


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MARCHES_CACHE_DIR", str(tmp_path / "cache"))


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("fmt", ["json-2022", "xml-2022", "json-2019"])
def test_clean_generated_files_have_no_error(tmp_path, fmt, nomenclature):
    path = tmp_path / f"clean.{fmt}"
    generate(path, fmt, contracts=1500, seed=21, concession_share=0.05)
    report = validate([path], CONFIG, nomenclature)
    errors = {code: n for code, n in report.counts.items() if code in _codes_of(report, "error")}
    assert errors == {}
    assert sum(report.records.values()) == 1500


def _codes_of(report: Report, severity: str) -> set[str]:
    from marches.report import catalogue

    rules = catalogue()
    return {c for c in report.counts if rules[c].severity == severity}


@pytest.mark.parametrize("fmt", ["json-2022", "xml-2022", "json-2019"])
def test_every_injected_defect_is_reported(tmp_path, fmt, nomenclature):
    path, truth = tmp_path / f"d.{fmt}", tmp_path / "truth.csv"
    generate(path, fmt, contracts=3000, seed=5, concession_share=0.05, defect_rate=0.25, truth=truth)
    found: set[tuple[int, str]] = set()
    report = Report(examples_per_rule=0, sink=lambda f: found.add((f.position, f.code)))
    validate([path], CONFIG, nomenclature, report)
    expected = list(csv.DictReader(truth.open(encoding="utf-8")))
    if nomenclature is None:
        expected = [row for row in expected if row["code"] != "cpv-unknown"]
    missing = [
        (row["position"], row["defect"], row["code"])
        for row in expected
        if (int(row["position"]), row["code"]) not in found
    ]
    assert len(expected) > 500 and missing == []


@needs_shared
def test_defects_of_the_official_examples_are_found(nomenclature):
    """../shared/reference/README.md lists identifiers of the official 2022 examples that are wrong."""
    found = set()
    report = Report(sink=lambda f: found.add((f.code, f.value)))
    validate(sorted((EXAMPLES / "v2.0.3").glob("*/*")), CONFIG, nomenclature, report)
    for siret in ("21750001630066", "12345678901234", "12345678901250"):
        assert ("siret-checksum", siret) in found, siret
    assert ("identifier-format", "868768687576575") in found
    assert ("identifier-format", "214356") in found


def test_validating_the_tables_finds_what_validating_the_json_finds(tmp_path, nomenclature):
    source, tables = tmp_path / "d.json", tmp_path / "tables"
    generate(source, "json-2022", contracts=800, seed=9, defect_rate=0.3)
    assert run("convert", str(source), "-o", str(tables), "-q").exit_code == 0
    from_json, from_tables, unusable = set(), set(), set()

    def reading(f):
        """What only the reading of the published JSON can see; what it read as absent, tables say is absent."""
        if FINDINGS.get(f.code) is not None and f.code not in STRUCTURE_FINDINGS:
            if FINDINGS[f.code].consumes:
                unusable.add((f.record_key, f.field))
            return True
        return False

    validate(
        [source],
        CONFIG,
        nomenclature,
        Report(sink=lambda f: reading(f) or from_json.add((f.record_key, f.code, f.field))),
    )
    validate([tables], CONFIG, nomenclature, Report(sink=lambda f: from_tables.add((f.record_key, f.code, f.field))))
    absent = {(k, "required", field) for k, field in unusable}
    assert from_json == from_tables - absent and len(from_json) > 100
    assert from_tables & absent, "a value read as absent is a missing value in the tables"


def test_table_findings_point_at_the_csv_line(tmp_path):
    tables = tmp_path / "tables"
    assert run("convert", str(FIXTURES / "valid-2022.json"), "-o", str(tables), "-q").exit_code == 0
    path = tables / "marches.csv"
    text = path.read_text().replace(",85000,", ",abc,")
    path.write_text(text)
    findings = []
    validate([tables], CONFIG, None, Report(sink=findings.append))
    (finding,) = [f for f in findings if f.code == "type-error"]
    assert finding.file == "tables/marches.csv" and finding.line == 2 and finding.value == "abc"
    assert finding.path == "marches.marche[0].montant"


def test_tables_validated_in_batches_give_the_findings_of_one_batch(tmp_path, monkeypatch):
    """Large tables are read in batches of records: every finding, with its CSV line, is the one the whole
    tables give, including keys repeated across the file, child rows without a parent and empty keys."""
    import marches.validate as validation

    source, tables = tmp_path / "d.json", tmp_path / "tables"
    generate(source, "json-2022", contracts=600, seed=13, concession_share=0.1, defect_rate=0.3)
    assert run("convert", str(source), "-o", str(tables), "-q").exit_code == 0

    def edit(name: str, change) -> None:
        with (tables / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        key = rows[0].index("record_key")
        change(rows, key)
        with (tables / f"{name}.csv").open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerows(rows)

    def records(rows: list[list[str]], key: int) -> None:
        rows.append(list(rows[3]))  # the first batch's record repeated at the end of the file: primary key
        rows.append([*rows[5][:key], "sans-titulaire-1", *rows[5][key + 1 :]])  # a record without titulaire

    def holders(rows: list[list[str]], key: int) -> None:
        orphan = [*rows[1][:key], "inconnu-1", *rows[1][key + 1 :]]  # a titulaire of no record
        keyless = [*rows[2][:key], "", *rows[2][key + 1 :]]
        rows[5:5] = [orphan, keyless]
        rows.append(list(rows[1]))  # the first titulaire repeated at the end of its table: a repeated item

    edit("marches", records)
    edit("marches_titulaires", holders)

    def findings() -> list[tuple]:
        found = []
        validate([tables], CONFIG, None, Report(sink=found.append))
        return sorted((f.code, f.file, f.line, f.record_key or "", f.field or "", f.message) for f in found)

    whole = findings()
    monkeypatch.setattr(validation, "TABLE_BATCH_RECORDS", 70)
    batched = findings()
    assert batched == whole
    codes = {code for code, *_ in whole}
    assert {"primary-key", "foreign-key", "duplicate-item", "required", "duplicate-uid"} <= codes
    assert len(whole) > 100


def test_batches_read_tables_in_record_order_by_ranges_of_rows_and_the_others_by_keys():
    """A table whose rows come batch after batch is read by ranges of rows (none of the rest of it is
    read); a table out of that order by the keys of each batch; either way a batch holds the rows of its
    records, in the order of their table, with the orphans and the empty keys in the last batch."""
    import polars as pl

    from marches.validate import _key_batches, _rows

    tables = {
        "marches": ["a", "b", "c", "d", "e"],
        "marches_titulaires": ["a", "a", "b", "c", "inconnu", None, "e"],  # in order, an orphan, an empty key
        "marches_modifications": ["c", "a", "e", "b"],  # out of order
    }
    keys = {
        name: pl.DataFrame({"record_key": values}, schema={"record_key": pl.String}) for name, values in tables.items()
    }
    batches = list(_key_batches(keys, 2))
    assert [batch["marches"] for batch in batches] == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert [batch["marches_titulaires"] for batch in batches] == [slice(0, 3), slice(3, 4), slice(4, 7)]
    assert all(isinstance(batch["marches_modifications"], pl.Expr) for batch in batches)
    held = {
        name: [_rows(frame.lazy(), batch[name]).collect()["_file_row"].to_list() for batch in batches]
        for name, frame in keys.items()
    }
    assert held == {
        "marches": [[0, 1], [2, 3], [4]],
        "marches_titulaires": [[0, 1, 2], [3], [4, 5, 6]],
        "marches_modifications": [[1, 3], [0], [2]],
    }
    assert list(_key_batches(keys, 5)) == [None]  # small enough for one batch


def test_cli_exit_codes(tmp_path):
    clean = tmp_path / "clean.json"
    generate(clean, contracts=50, seed=3)
    assert run("validate", str(clean), "--as-of", "2026-11-22").exit_code == 0
    assert run("validate", str(FIXTURES / "defects" / "nc-placeholder.json")).exit_code == 1
    warnings_only = run("validate", str(FIXTURES / "defects" / "damaged-text.json"), "--as-of", "2026-11-22")
    assert warnings_only.exit_code == 0 and "CONFORME" in warnings_only.stdout
    strict = run("validate", str(FIXTURES / "defects" / "damaged-text.json"), "--as-of", "2026-11-22", "--strict")
    assert strict.exit_code == 1 and "--strict" in strict.stdout
    assert run("validate", str(clean), "--format", "yaml").exit_code == 2
    assert run("validate", str(FIXTURES / "malformed" / "truncated.json")).exit_code == 3


def test_text_report_is_french_grouped_and_starts_with_the_verdict():
    result = run("validate", str(FIXTURES / "defects" / "nc-placeholder.json"), "--as-of", "2026-11-22")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Verdict : NON CONFORME — 2 erreur(s)")
    assert lines[1].startswith("Validation de 1 fichier(s) : 1 enregistrement(s)")
    assert any(line.startswith("Erreurs :") for line in lines)
    assert "placeholder — Valeur de remplissage" in result.stdout
    assert "marches.marche[0].montant" in result.stdout
    assert lines[-1] == lines[0], "the verdict closes the report too: the last line a terminal shows"
    assert "\x1b[" not in result.stdout  # no colour when not on a terminal
    assert "Nomenclature CPV non installée" in result.stdout


def _strip_volatile(document: dict) -> dict:
    document["generated_at"] = "…"
    document["tool"]["version"] = "…"
    for source in document["sources"]:
        source["file"] = Path(source["file"]).name
    for finding in document["findings"]:
        finding["file"] = Path(finding["file"]).name if finding["file"] else None
    return document


def test_json_report_matches_its_schema_and_the_golden_file(tmp_path):
    out = tmp_path / "report.json"
    result = run(
        "validate", str(FIXTURES / "rapport" / "exemple.json"), "--as-of", "2026-11-22", "-f", "json", "-o", str(out)
    )
    assert result.exit_code == 1 and result.stdout == ""
    document = json.loads(out.read_text(encoding="utf-8"))
    schema = json.loads((ROOT / "marches" / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(document)
    golden = ROOT / "tests" / "golden" / "rapport-exemple.json"
    document = _strip_volatile(document)
    if os.environ.get("MARCHES_UPDATE_GOLDEN"):  # regenerate on purpose, then review the diff before committing
        golden.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    assert document == json.loads(golden.read_text(encoding="utf-8"))


def test_csv_and_github_formats(tmp_path):
    source = str(FIXTURES / "rapport" / "exemple.json")
    as_json = json.loads(run("validate", source, "--as-of", "2026-11-22", "-f", "json").stdout)
    out = tmp_path / "rapport.csv"
    run("validate", source, "--as-of", "2026-11-22", "-f", "csv", "-o", str(out))
    excel = out.read_bytes()
    assert excel.startswith(b"\xef\xbb\xbfcode;severity;message;file;"), "French Excel: a BOM, then « ; »"
    rows = list(csv.DictReader(excel.decode("utf-8-sig").splitlines(), delimiter=";"))
    expected = [{k: "" if v is None else str(v) for k, v in f.items()} for f in as_json["findings"]]
    assert rows == expected and len(rows) > 5
    assert any(";" in r["message"] for r in rows), "a message with « ; » stays in its column"
    comma = run("validate", source, "--as-of", "2026-11-22", "-f", "csv", "--csv-separator", ",").stdout
    assert comma.startswith("\ufeffcode,severity,")
    assert list(csv.DictReader(comma.removeprefix("\ufeff").splitlines())) == expected
    github = run("validate", source, "--as-of", "2026-11-22", "-f", "github").stdout.splitlines()
    assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in github)
    assert sum(line.startswith("::error ") for line in github) == as_json["summary"]["findings"]["error"]
    assert github[-1].startswith("::notice title=marches::")


def test_thresholds_from_a_config_file(tmp_path):
    config = tmp_path / "seuils.toml"
    config.write_text("[seuils]\npublication_threshold = 100000\n")
    source = str(FIXTURES / "valid-2022.json")
    default = json.loads(run("validate", source, "--as-of", "2026-11-22", "-f", "json").stdout)
    raised = json.loads(run("validate", source, "--as-of", "2026-11-22", "-f", "json", "--config", str(config)).stdout)
    assert "amount-below-threshold" not in {f["code"] for f in default["findings"]}
    assert "amount-below-threshold" in {f["code"] for f in raised["findings"]}
    config.write_text("[seuils]\nseuil_inconnu = 1\n")
    assert run("validate", source, "--config", str(config)).exit_code == 2


# Every setting given a wrong type, a bool for a number, or a value out of its range: (TOML line, what the message shows)
BAD_SETTINGS = {
    "as_of": ["as_of = 5", 'as_of = "2026-13-01"', "as_of = 2026-01-01T10:00:00", "as_of = true"],
    "year_floor": ['year_floor = "2000"', "year_floor = true", "year_floor = 2000.5", "year_floor = 0"],
    "publication_delay_months": [
        "publication_delay_months = 2.5",
        "publication_delay_months = false",
        "publication_delay_months = 0",
        "publication_delay_months = -2",
        "publication_delay_months = 1000000000",
    ],
    "amount_implausible": [
        'amount_implausible = "abc"',
        "amount_implausible = -5",
        "amount_implausible = 0",
        "amount_implausible = true",
        "amount_implausible = nan",
        "amount_implausible = inf",
    ],
    "amount_placeholder_floor": ['amount_placeholder_floor = "1e8"', "amount_placeholder_floor = -1"],
    "amount_repeated_digits": [
        "amount_repeated_digits = 7.0",
        "amount_repeated_digits = true",
        "amount_repeated_digits = 0",
        "amount_repeated_digits = 1000000000000",
    ],
    "publication_threshold": [
        'publication_threshold = "40000"',
        "publication_threshold = 0",
        "publication_threshold = false",
    ],
    "duration_implausible": ['duration_implausible = "180"', "duration_implausible = 0", "duration_implausible = true"],
    "concession_duration_implausible": [
        "concession_duration_implausible = -480",
        "concession_duration_implausible = 4.8",
    ],
    "day_like_durations": [
        'day_like_durations = "360"',
        'day_like_durations = ["a"]',
        "day_like_durations = 360",
        "day_like_durations = [360, true]",
        "day_like_durations = [360.5]",
        "day_like_durations = [0, 365]",
        "day_like_durations = { a = 1 }",
    ],
    "day_like_amount_max": [
        "day_like_amount_max = [200000]",
        "day_like_amount_max = -200000",
        "day_like_amount_max = true",
    ],
}


@pytest.mark.parametrize(
    "line", [line for lines in BAD_SETTINGS.values() for line in lines], ids=lambda line: line.replace(" ", "")
)
def test_a_wrong_setting_is_a_usage_error_naming_key_and_value(tmp_path, line):
    """Exit 2 and one French sentence naming the key, the value and what is expected: never a traceback, never
    a rule silently switched off (a bool is an int in Python) or flagging every contract (a negative limit)."""
    key, value = (part.strip() for part in line.split("=", 1))
    config = tmp_path / "seuils.toml"
    config.write_text(f"[seuils]\n{line}\n")
    for command in (["validate", str(FIXTURES / "valid-2022.json")], ["package", "-o", str(tmp_path / "pkg")]):
        if command[0] == "package":
            command.append(str(FIXTURES / "valid-2022.json"))
        result = CliRunner().invoke(cli, [*command, "--config", str(config)])
        assert result.exit_code == 2, (line, result.output, result.exception)
        error = result.stderr.strip().splitlines()[-1]
        assert error.startswith("Erreur : valeur invalide pour « --config » : "), error
        assert f"« {key} » = " in error and ": attendu " in error, error
        shown = value.replace("true", "true (booléen)").replace("false", "false (booléen)")
        if not value.startswith(("[", "{")):
            assert f"« {key} » = {shown.split('T')[0] if key == 'as_of' else shown}" in error, error
        assert "Traceback" not in result.output and "Error" not in result.output
        assert not (tmp_path / "pkg").exists()


def test_every_setting_is_checked():
    """A setting added to Config without its check would let a wrong value through."""
    assert set(BAD_SETTINGS) == {f.name for f in dataclasses.fields(Config)}
    with pytest.raises(ValueError, match="« year_floor » = true \\(booléen\\)"):
        Config(year_floor=True)
    with pytest.raises(ValueError, match="« day_like_amount_max » = -1 : attendu"):
        Config(day_like_amount_max=-1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("seuils = 3\n", "attendu une table de paramètres [seuils], reçu 3."),
        ("[seuils]\nyear_floor = \n", "TOML invalide, ligne 2, colonne 14."),
        ("[seuils]\nseuil_inconnu = 1\nyear_floor = 0\n", "paramètres inconnus : seuil_inconnu (paramètres possibles"),
    ],
    ids=["not-a-table", "toml-syntax", "unknown-and-wrong"],
)
def test_an_unreadable_config_file_is_a_usage_error_in_french(tmp_path, text, message):
    config = tmp_path / "seuils.toml"
    config.write_text(text)
    result = CliRunner().invoke(cli, ["validate", str(FIXTURES / "valid-2022.json"), "--config", str(config)])
    assert result.exit_code == 2
    assert f"Erreur : valeur invalide pour « --config » : {config} : {message}" in result.stderr


def test_settings_at_their_bounds_are_accepted(tmp_path):
    config = tmp_path / "seuils.toml"
    config.write_text(
        "[seuils]\nas_of = 2026-11-22\nyear_floor = 1\npublication_delay_months = 1\namount_implausible = 0.5\n"
        "amount_repeated_digits = 2\npublication_threshold = 40000.0\nday_like_durations = []\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(FIXTURES / "valid-2022.json"), "--config", str(config)])
    assert result.exit_code in (0, 1) and "Erreur :" not in result.stderr, result.stderr


@needs_shared
def test_cpv_install_then_validate_uses_it(tmp_path):
    result = run("cpv", "install", str(CPV_FILE))
    assert result.exit_code == 0 and "9454 codes" in result.stderr
    assert "installée" in run("cpv", "info").stdout
    unknown = tmp_path / "unknown.json"
    unknown.write_text((FIXTURES / "valid-2022.json").read_text().replace("77313000-7", "99999999"))
    report = json.loads(run("validate", str(unknown), "--as-of", "2026-11-22", "-f", "json").stdout)
    assert "cpv-unknown" in {f["code"] for f in report["findings"]}
    assert not [n for n in report["notices"] if "CPV" in n]


def test_without_nomenclature_cpv_is_checked_by_pattern_with_one_notice(tmp_path):
    unknown = tmp_path / "unknown.json"
    unknown.write_text((FIXTURES / "valid-2022.json").read_text().replace("77313000-7", "99999999"))
    report = json.loads(run("validate", str(unknown), "--as-of", "2026-11-22", "-f", "json").stdout)
    assert "cpv-unknown" not in {f["code"] for f in report["findings"]}
    assert len([n for n in report["notices"] if "cpv install" in n]) == 1


def test_cpv_install_refuses_a_file_that_is_not_the_nomenclature(tmp_path):
    small = tmp_path / "cpv.csv"
    small.write_text("code,label\n45000000-7,Travaux\n")
    result = run("cpv", "install", str(small))
    assert result.exit_code == 3 and "ne ressemble pas" in result.stderr


@needs_shared
@pytest.mark.parametrize("kind", ["xlsx", "json", "semicolon-csv"])
def test_cpv_nomenclature_reads_the_official_file_formats(tmp_path, kind):
    """The official list comes as XLSX (with French labels), JSON or CSV with ';': all are read."""
    rows = list(csv.DictReader(CPV_FILE.open(encoding="utf-8")))
    if kind == "xlsx":
        import openpyxl

        path = tmp_path / "cpv.xlsx"
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(["CODE", "FR", "EN"])
        for row in rows:
            sheet.append([row["code"], f"libellé {row['code8']}", row["label_en"]])
        book.save(path)
    elif kind == "json":
        path = tmp_path / "cpv.json"
        path.write_text(json.dumps({row["code"]: row["label_en"] for row in rows}), encoding="utf-8")
    else:
        path = tmp_path / "cpv.csv"
        path.write_text("Code;Libellé\n" + "\n".join(f"{r['code']};{r['label_en']}" for r in rows), encoding="utf-8")
    loaded = cpv.load(path)
    assert len(loaded) == 9454 and loaded.check_digits["45000000"] == "7"
    if kind == "xlsx":
        assert loaded.labels["45000000"] == "libellé 45000000"  # French labels preferred


@pytest.mark.parametrize("fmt", ["json-2022", "xml-2022"])
def test_worker_processes_give_the_same_report_byte_for_byte(tmp_path, monkeypatch, fmt):
    """Batches flattened in two worker processes, piece by piece, and checked here: the same findings, in
    the same order, as in one process (XML findings keep the lines of their elements)."""
    import marches.validate as validation
    from marches.report import JsonSink

    path = tmp_path / f"d.{fmt[:3]}"
    generate(path, fmt, contracts=1200, seed=11, concession_share=0.1, defect_rate=0.3)
    monkeypatch.setattr(validation, "BATCH_RECORDS", 250)  # several batches, spread over the workers
    monkeypatch.setattr(validation, "BATCH_RECORDS_XML", 230)  # pieces of 23, the last piece of a batch 23
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 0)
    outputs = []
    for workers in (0, 2):
        out = tmp_path / f"report-{workers}.json"
        with out.open("w", encoding="utf-8") as fh:
            sink = JsonSink(fh)
            report = Report(sink=sink)
            validation.validate([path], CONFIG, None, report, workers=workers)
            sink.close(report, strict=False)
        document = json.loads(out.read_text(encoding="utf-8"))
        document.pop("generated_at")
        outputs.append(json.dumps(document, ensure_ascii=False))
    assert outputs[0] == outputs[1] and '"findings": []' not in outputs[0]
    if fmt == "xml-2022":  # the lines of the elements came back from the workers
        assert sum(bool(f.get("line")) for f in json.loads(outputs[1])["findings"]) > 100


def test_records_read_unparsed_by_the_workers_give_the_same_report(tmp_path, monkeypatch, shipped):
    """Chunks of the lists handed unparsed to the workers (small chunks here, so a batch ends inside
    some): records of 2019 in the 2022 shape, a nested list and stray values among them are read here,
    parsed, as in one process; the report, the file's notes and the records' paths are the same."""
    import marches.validate as validation
    from marches.readers import json_reader, json_segment

    modern, old = tmp_path / "m.json", tmp_path / "o.json"
    generate(modern, "json-2022", contracts=900, seed=13, concession_share=0.1, defect_rate=0.3)
    generate(old, "json-2019", contracts=20, seed=14)
    document = json.loads(modern.read_text(encoding="utf-8"))
    marches, olds = document["marches"]["marche"], json.loads(old.read_text(encoding="utf-8"))["marches"]
    marches[300:300] = olds[:5]  # the first record of 2019 is noted for the file
    marches[600:600] = [[marches[10], marches[11]], "texte", olds[5]]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(validation, "BATCH_RECORDS", 250)
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 0)
    monkeypatch.setattr(json_segment, "CHUNK", 20_000)
    monkeypatch.setattr(json_reader, "SURVEY_LIMIT", 0)  # a large file: no structural pass before the records
    reports = []
    for workers in (0, 2):
        findings = []
        report = validation.validate([path], CONFIG, None, Report(sink=findings.append), workers=workers)
        reports.append(([f.to_dict() for f in findings], report.sources))
    assert reports[0] == reports[1]
    assert {"Shipment", "UnparsedShipment"} <= set(shipped), "chunks of 2022 records unparsed, the others parsed"
    codes = [f["code"] for f in reports[0][0]]
    assert "file-shape" in codes and "nested-list" in codes


def test_the_reader_hands_unparsed_only_records_it_has_nothing_to_say_of(tmp_path, monkeypatch):
    """Asked for unparsed records, the JSON reader hands chunks of 2022 records unparsed; their records
    are those it hands parsed otherwise, position for position, path for path."""
    from marches.readers import json_reader, json_segment, open_input
    from marches.readers.base import UnparsedRecords

    path = tmp_path / "d.json"
    generate(path, "json-2022", contracts=400, seed=3, concession_share=0.2, defect_rate=0.2)
    monkeypatch.setattr(json_segment, "CHUNK", 10_000)
    monkeypatch.setattr(json_reader, "SURVEY_LIMIT", 0)  # a large file: no structural pass before the records
    parsed = list(open_input(path).records)
    opened = open_input(path)
    opened.source.unparsed = True
    items = list(opened.records)
    assert sum(isinstance(i, UnparsedRecords) for i in items) > 10
    again = [r for i in items for r in (i.records() if isinstance(i, UnparsedRecords) else [i])]
    assert [(r.kind, r.data, r.position, r.path, r.generation, r.findings) for r in again] == [
        (r.kind, r.data, r.position, r.path, r.generation, r.findings) for r in parsed
    ]
    assert opened.source.records == len(parsed) == 400


def test_worker_processes_take_values_orjson_cannot_write(tmp_path, monkeypatch):
    """A batch holding an integer beyond 64 bits (orjson refuses it; lone surrogates are already U+FFFD)
    goes to the workers pickled: the same report as in one process."""
    import marches.validate as validation

    value = 123456789012345678901234567890
    generated = tmp_path / "g.json"
    generate(generated, "json-2022", contracts=600, seed=5, concession_share=0.1, defect_rate=0.1)
    document = json.loads(generated.read_text(encoding="utf-8"))
    document["marches"]["marche"][400]["montant"] = value
    path = tmp_path / "d.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    monkeypatch.setattr(validation, "BATCH_RECORDS", 250)
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 0)
    reports = []
    for workers in (0, 2):
        findings = []
        validation.validate([path], CONFIG, None, Report(sink=findings.append), workers=workers)
        reports.append([f.to_dict() for f in findings])
    assert reports[0] == reports[1]
    assert any(str(value) in json.dumps(f, ensure_ascii=False) for f in reports[0])


def test_shipment_gives_back_every_value_exactly(monkeypatch):
    """The batch sent to a worker: values through orjson, piece by piece; a piece orjson cannot write
    (an integer beyond 64 bits) pickled as it is, the others still through orjson."""
    from marches import parallel
    from marches.readers.base import RawRecord, Source

    monkeypatch.setattr(parallel, "PIECE", 2)
    source = Source(path=Path("x.json"), name="x.json", sha256="0" * 64, size=1)
    values = [
        {"montant": 0.1, "b": -0.0, "c": 1e-300, "d": [1, "é", None, True], "e": {"f": 2**63 - 1}},
        [{"a": 1.5}],
        "texte",
        None,
        {"montant": 2**64},
    ]
    records = [
        RawRecord(kind="marche", data=v, source=source, position=i, path=f"m[{i}]", origin="json")
        for i, v in enumerate(values)
    ]
    shipped = parallel.Shipment.of(iter(records))
    assert len(shipped) == 5 and shipped.source.scan is None  # a plain copy of the source, once
    assert [type(p) for p in shipped.pieces] == [bytes, bytes, list]
    back = pickle.loads(pickle.dumps(shipped)).unpack()
    assert [r.data for r in back] == values and math.copysign(1, back[0].data["b"]) == -1
    assert [r.position for r in back] == list(range(5))
