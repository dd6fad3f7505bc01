"""The GitHub Action and the pre-commit hook shipped for CI users, run as they would run."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import FIXTURES, ROOT

BIN = Path(sys.executable).parent


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["RUNNER_TEMP"] = str(tmp_path)
    env["MARCHES_CACHE_DIR"] = str(tmp_path / "cache")
    env.update(extra)
    return env


def test_action_declares_its_inputs_and_runs_the_script():
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite"
    assert {"files", "strict", "as-of", "cpv-file", "config"} <= set(action["inputs"])
    steps = " ".join(step.get("run", "") for step in action["runs"]["steps"])
    assert "ci/github-action.sh" in steps and "pip install" in steps
    env = action["runs"]["steps"][-1]["env"]
    assert env["MARCHES_FILES"] == "${{ inputs.files }}"


def test_action_script_annotates_summarises_reports_and_fails_on_errors(tmp_path):
    summary, output = tmp_path / "summary.md", tmp_path / "output.txt"
    result = subprocess.run(
        ["bash", str(ROOT / "ci" / "github-action.sh")],
        capture_output=True,
        text=True,
        check=False,
        env=_env(
            tmp_path,
            MARCHES_FILES=str(FIXTURES / "rapport" / "exemple.json"),
            MARCHES_AS_OF="2026-11-22",
            GITHUB_STEP_SUMMARY=str(summary),
            GITHUB_OUTPUT=str(output),
        ),
    )
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("::error file=") and "title=siret-checksum" in line for line in lines)
    assert "Verdict : NON CONFORME" in summary.read_text(encoding="utf-8")
    report_path = output.read_text().strip().removeprefix("report=")
    assert json.loads(Path(report_path).read_text(encoding="utf-8"))["summary"]["valid"] is False


def test_action_script_passes_clean_files_and_honours_strict(tmp_path):
    base = _env(tmp_path, MARCHES_FILES=str(FIXTURES / "defects" / "damaged-text.json"), MARCHES_AS_OF="2026-11-22")
    run = ["bash", str(ROOT / "ci" / "github-action.sh")]
    assert subprocess.run(run, capture_output=True, env=base, check=False).returncode == 0
    strict = {**base, "MARCHES_STRICT": "true"}
    assert subprocess.run(run, capture_output=True, env=strict, check=False).returncode == 1
    broken = {**base, "MARCHES_FILES": str(FIXTURES / "malformed" / "truncated.json")}
    result = subprocess.run(run, capture_output=True, text=True, env=broken, check=False)
    assert result.returncode == 3 and "::error title=marches::" in result.stdout


def test_pre_commit_hook_runs_its_entry_on_matching_files(tmp_path):
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "marches-validate" and hook["language"] == "python"
    pattern = re.compile(hook["files"])
    assert pattern.search("exports/decp-2025.json") and pattern.search("DECP_ville.xml")
    assert not pattern.search("package.json")
    entry = shlex.split(hook["entry"])
    clean = tmp_path / "decp-propre.json"
    clean.write_text((FIXTURES / "valid-2022.json").read_text(encoding="utf-8"), encoding="utf-8")
    env = _env(tmp_path)
    ok = subprocess.run([*entry, str(clean), "--as-of", "2026-11-22"], capture_output=True, env=env, check=False)
    assert ok.returncode == 0, ok.stdout
    bad = subprocess.run(
        [*entry, str(FIXTURES / "rapport" / "exemple.json")], capture_output=True, env=env, check=False
    )
    assert bad.returncode == 1


def _tree(tmp_path: Path) -> Path:
    """exports/decp-a.json (clean), exports/decp-b.json (errors), exports/2025/decp-c.xml, exports/notes.txt."""
    exports = tmp_path / "exports"
    (exports / "2025").mkdir(parents=True)
    (exports / "decp-a.json").write_bytes((FIXTURES / "valid-2022.json").read_bytes())
    (exports / "decp-b.json").write_bytes((FIXTURES / "rapport" / "exemple.json").read_bytes())
    (exports / "2025" / "decp-c.xml").write_bytes((FIXTURES / "modification-actes-xsd-spelling.xml").read_bytes())
    (exports / "notes.txt").write_text("pas un fichier DECP", encoding="utf-8")
    return exports


def _run_action(tmp_path: Path, files: str) -> tuple[subprocess.CompletedProcess, dict]:
    result = subprocess.run(
        ["bash", str(ROOT / "ci" / "github-action.sh")],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=_env(tmp_path, MARCHES_FILES=files, MARCHES_AS_OF="2026-11-22"),
    )
    report_path = tmp_path / "marches-rapport.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else {}
    return result, report


def _validated(report: dict) -> list[str]:
    return sorted(Path(s["file"]).name for s in report["sources"])


def test_action_expands_the_pattern_it_is_given_quoted(tmp_path):
    _tree(tmp_path)
    result, report = _run_action(tmp_path, "exports/decp-*.json")
    assert result.returncode == 1, result.stderr  # decp-b.json has errors
    assert _validated(report) == ["decp-a.json", "decp-b.json"]
    result, report = _run_action(tmp_path, "exports/**/*.xml exports/decp-a.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _validated(report) == ["decp-a.json", "decp-c.xml"]


def test_action_validates_the_json_and_xml_files_of_a_folder(tmp_path):
    _tree(tmp_path)
    result, report = _run_action(tmp_path, "exports")
    assert result.returncode == 1, result.stderr
    assert _validated(report) == ["decp-a.json", "decp-b.json", "decp-c.xml"], "at any depth, not notes.txt"


def test_action_says_when_a_pattern_or_folder_gives_nothing(tmp_path):
    _tree(tmp_path)
    result, _ = _run_action(tmp_path, "exports/*.csv")
    assert result.returncode == 3 and "::error title=marches::aucun fichier ne correspond au motif" in result.stdout
    (tmp_path / "vide").mkdir()
    result, _ = _run_action(tmp_path, "vide")
    assert result.returncode == 3 and "ne contient aucun fichier JSON ou XML" in result.stdout
