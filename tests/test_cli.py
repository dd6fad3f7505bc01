"""CLI conventions: every command is documented in the README and has help text."""

from __future__ import annotations

import difflib

from click.testing import CliRunner

from marches.cli import cli
from tests.conftest import ROOT


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


def test_readme_sections_are_the_ones_the_code_writes():
    """Rule tables, regulatory facts, thresholds and the validation example: `python -m marches.readme`."""
    from marches.readme import SECTIONS, render

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    expected = render(readme, SECTIONS)
    diff = "".join(difflib.unified_diff(readme.splitlines(True), expected.splitlines(True), n=1))
    assert not diff, f"README out of date: run `python -m marches.readme`\n{diff[:3000]}"
