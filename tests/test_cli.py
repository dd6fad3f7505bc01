"""CLI conventions: every command documented, help text, and fatal errors in French with exit codes, never a traceback."""

from __future__ import annotations

import csv
import difflib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from marches.cli import cli
from tests.conftest import FIXTURES, ROOT


def test_every_command_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, command in cli.commands.items():
        if not command.hidden:
            assert f"marches {name}" in readme, name


def test_every_option_has_help_text():
    commands = list(cli.commands.values()) + list(cli.commands["cpv"].commands.values())
    for command in commands:
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.help, f"{command.name} --{param.name}"


def test_version_and_help():
    runner = CliRunner()
    assert runner.invoke(cli, ["--version"]).exit_code == 0
    assert "convert" in runner.invoke(cli, ["--help"]).output


def test_debug_shows_the_traceback(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["--debug", "convert", str(tmp_path / "absent.json"), "-o", str(tmp_path)])
    assert result.exception is not None and "introuvable" in str(result.exception)
    plain = runner.invoke(cli, ["convert", str(tmp_path / "absent.json"), "-o", str(tmp_path)])
    assert plain.exit_code == 3 and "Traceback" not in plain.output


def test_every_finding_code_is_documented_in_the_readme():
    from marches.report import catalogue

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for code in catalogue():
        assert f"| `{code}` |" in readme, code


def _valid(path: Path) -> Path:
    path.write_bytes((FIXTURES / "valid-2022.json").read_bytes())
    return path


@pytest.mark.parametrize("command", ["validate", "convert", "package"])
def test_a_file_whose_name_is_not_utf8_is_read_and_named_with_a_replacement_character(tmp_path, command):
    name = tmp_path / os.fsdecode(b"export-\xff.json")
    _valid(name)
    out = tmp_path / "out"
    args = [command, str(name)] + (["--format", "json"] if command == "validate" else ["-o", str(out)])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    if command == "validate":
        assert json.loads(result.stdout)["sources"][0]["file"].endswith("export-\ufffd.json")
    else:
        marches = (out / "marches.csv").read_text(encoding="utf-8")
        assert "export-\ufffd.json" in marches and marches.count("\n") == 2


def test_an_xml_file_whose_name_is_not_utf8_is_read(tmp_path):
    xml = (FIXTURES / "modification-actes-xsd-spelling.xml").read_bytes()
    name = tmp_path / os.fsdecode(b"export-\xe9.xml")
    name.write_bytes(xml)
    result = CliRunner().invoke(cli, ["validate", str(name), "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    assert report["sources"][0]["file"].endswith("export-\ufffd.xml") and report["sources"][0]["records"] == 1


@pytest.mark.parametrize("command", ["validate", "convert", "package"])
def test_a_file_name_too_long_is_an_input_error(tmp_path, command):
    name = tmp_path / ("a" * 300 + ".json")
    args = [command, str(name)] + ([] if command == "validate" else ["-o", str(tmp_path / "out")])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3 and "nom de fichier trop long" in result.stderr


@pytest.mark.parametrize("command", ["convert", "package", "publish"])
def test_an_output_that_cannot_be_created_is_an_io_error(tmp_path, command):
    source = _valid(tmp_path / "decp.json")
    blocker = tmp_path / "un-fichier"
    blocker.write_text("")
    if command == "publish":
        package_dir = tmp_path / "paquet"
        assert CliRunner().invoke(cli, ["package", str(source), "-o", str(package_dir), "-q"]).exit_code == 0
        args = [command, str(package_dir), "-o", str(blocker / "decp.db")]
    else:
        args = [command, str(source), "-o", str(blocker / "sortie")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3, result.output
    assert "(ce n'est pas un dossier)" in result.stderr and "Traceback" not in result.output


def test_losing_the_race_to_create_the_output_folder(tmp_path, monkeypatch):
    """Another process creates a file where the output folder was to be: a clear error, exit 3."""
    source = _valid(tmp_path / "decp.json")
    real_mkdir = Path.mkdir

    def racing_mkdir(self, *args, **kwargs):
        if self.name == "sortie":
            self.write_text("created by another process")
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", racing_mkdir)
    result = CliRunner().invoke(cli, ["package", str(source), "-o", str(tmp_path / "sortie" / "paquet")])
    assert result.exit_code == 3, result.output
    assert "un fichier porte déjà ce nom (ce n'est pas un dossier)" in result.stderr
    assert "Traceback" not in result.output


def _huge_numbers(path: Path) -> Path:
    """An amount beyond 64 bits and numeric ids of 23 digits, as some exports write them."""
    text = (FIXTURES / "valid-2022.json").read_text(encoding="utf-8")
    text = text.replace('"montant": 85000', '"montant": 99999999999999999999')
    text = text.replace('"id": "2024-0042"', '"id": 12345678901234567890123')
    text = text.replace('"id": "38012986643097"', '"id": 38012986643097123456789')
    path.write_text(text, encoding="utf-8")
    return path


def test_integers_beyond_64_bits_never_crash_a_command(tmp_path):
    source = _huge_numbers(tmp_path / "enormes.json")
    runner = CliRunner()
    for args in (
        ["validate", str(source), "--as-of", "2026-11-22", "--format", "json"],
        ["convert", str(source), "-o", str(tmp_path / "tables")],
        ["validate", str(tmp_path / "tables"), "--as-of", "2026-11-22"],
        ["package", str(source), "-o", str(tmp_path / "paquet"), "--as-of", "2026-11-22"],
        ["publish", str(tmp_path / "paquet"), "-o", str(tmp_path / "decp.db")],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code in (0, 1), (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)


def test_an_amount_beyond_64_bits_is_packaged_and_flagged(tmp_path):
    source = tmp_path / "montant.json"
    text = (FIXTURES / "valid-2022.json").read_text(encoding="utf-8")
    source.write_text(text.replace('"montant": 85000', '"montant": 98765432109876543210'), encoding="utf-8")
    result = CliRunner().invoke(cli, ["package", str(source), "-o", str(tmp_path / "p"), "--as-of", "2026-11-22"])
    assert result.exit_code == 0, result.output
    with (tmp_path / "p" / "enregistrements.csv").open(encoding="utf-8") as fh:
        (record,) = csv.DictReader(fh)
    assert record["statut"] == "signalé" and "amount-implausible" in json.loads(record["constats"])
    with (tmp_path / "p" / "marches.csv").open(encoding="utf-8") as fh:
        (row,) = csv.DictReader(fh)
    assert row["montant"] == "98765432109876543210", "the published value is kept exactly"


def test_readme_sections_are_the_ones_the_code_writes():
    """Rule tables, regulatory facts, thresholds and the validation example: `python -m marches.readme`."""
    from marches.readme import SECTIONS, render

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    expected = render(readme, SECTIONS)
    diff = "".join(difflib.unified_diff(readme.splitlines(True), expected.splitlines(True), n=1))
    assert not diff, f"README out of date: run `python -m marches.readme`\n{diff[:3000]}"


@pytest.mark.parametrize("command", [[], ["validate"], ["package"], ["serve"], ["cpv"]])
def test_help_is_french_from_start_to_end(command):
    result = CliRunner().invoke(cli, [*command, "-h"], prog_name="marches")
    assert result.exit_code == 0
    for english in ("Show this message", "Usage:", "[default:", "%Y", "INTEGER", " FILE", "Commands:"):
        assert english not in result.output, (command, english)
    assert "Afficher cette aide et quitter." in result.output and "Utilisation : marches" in result.output


@pytest.mark.parametrize(
    ("args", "french"),
    [
        (["validate", "--quie", "x"], "option inconnue : --quie (vouliez-vous dire --quiet ?)"),
        (["validate"], "argument manquant : FICHIERS"),
        (["validate", "--as-of", "2024-13-01", "x"], "« 2024-13-01 » n'est pas une date AAAA-MM-JJ"),
        (["validate", "--format", "pdf", "x"], "valeur invalide pour « -f / --format » : « pdf » n'est pas parmi"),
        (["convert", "x.json"], "option obligatoire manquante : « -o / --output »"),
        (["nocmd"], "commande inconnue : « nocmd »"),
    ],
)
def test_usage_errors_are_french_with_exit_code_2(args, french):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert french in result.output and "Error" not in result.output
