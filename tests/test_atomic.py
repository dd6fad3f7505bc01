"""Writers one at a time, whole outputs, leftovers of killed runs cleaned, packages checked before use.

Processes are killed at chosen points (MARCHES_FAULT_POINT) and run concurrently; every wait is
bounded.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from marches.atomic import FAULT_POINT, Lock, sibling
from marches.cli import cli
from marches.errors import OutputError
from marches.generate import generate
from marches.package import package
from marches.publish import publish
from marches.rules import Config
from tests.conftest import FIXTURES
from tests.test_package import frictionless_errors

CONFIG = Config(as_of=date(2026, 11, 22))
MARCHES = [sys.executable, "-m", "marches.cli"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[Path]:
    directory = tmp_path_factory.mktemp("atomic-inputs")
    files = []
    for seed in (81, 82, 83):
        path = directory / f"plateforme-{seed}.json"
        generate(path, "json-2022", contracts=150, seed=seed, concession_share=0.05)
        files.append(path)
    return files


def run(*args: str, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({FAULT_POINT: fault} if fault else {})}
    return subprocess.run([*MARCHES, *args], capture_output=True, text=True, env=env, timeout=300, check=False)


def records(target: Path) -> list[dict]:
    with (target / "enregistrements.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def hidden(folder: Path, prefix: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{prefix}") and not p.name.endswith(".lock"))


def _wait_for(process: subprocess.Popen, text: str) -> str:
    """Read the process's stderr until ``text`` appears (bounded)."""
    seen = ""
    deadline = time.monotonic() + 120
    while text not in seen and time.monotonic() < deadline and process.poll() is None:
        seen += process.stderr.readline()
    return seen


# -- locks ------------------------------------------------------------------------------------------------


def test_two_updates_at_once_both_land(tmp_path, inputs):
    target = tmp_path / "p"
    package([inputs[0]], target, config=CONFIG)
    env = dict(os.environ)
    processes = [
        subprocess.Popen(
            [*MARCHES, "package", str(path), "-o", str(target), "--update", "--as-of", "2026-11-22"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for path in inputs[1:]
    ]
    outcomes = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outcomes
    files = {r["source_file"] for r in records(target)}
    assert files == {p.name for p in inputs}, "no input's records lost"
    assert len(records(target)) == 450
    sources = json.loads((target / "datapackage.json").read_text())["sources"]
    assert sources[0]["path"] == inputs[0].name
    assert frictionless_errors(target) == []


def test_a_writer_waits_for_the_lock_and_says_so(tmp_path, inputs):
    target = tmp_path / "p"
    with Lock(target):
        process = subprocess.Popen(
            [*MARCHES, "package", str(inputs[0]), "-o", str(target), "--as-of", "2026-11-22"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        said = _wait_for(process, "en cours d'écriture par un autre processus marches")
        assert f"(pid {os.getpid()})" in said
        assert process.poll() is None and not target.exists(), "nothing written while the lock is held"
    process.communicate(timeout=300)
    assert process.returncode == 0 and len(records(target)) == 150


def test_a_package_being_published_is_not_replaced_meanwhile(tmp_path, inputs):
    """publish holds a shared lock on each package it reads: a writer waits for the end of the reading."""
    target = tmp_path / "p"
    package([inputs[0]], target, config=CONFIG)
    with Lock(target, shared=True):
        process = subprocess.Popen(
            [*MARCHES, "package", str(inputs[1]), "-o", str(target), "--update"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert "en cours d'écriture" in _wait_for(process, "en cours d'écriture")
        assert len(records(target)) == 150
    process.communicate(timeout=300)
    assert process.returncode == 0 and len(records(target)) == 300


def test_a_lock_held_too_long_is_a_clear_error(tmp_path):
    target = tmp_path / "decp.db"
    with (
        Lock(target),
        pytest.raises(OutputError, match="en cours d'écriture par un autre processus"),
        Lock(target, timeout=0.3),
    ):
        pass
    with Lock(target, shared=True), Lock(target, shared=True, timeout=0.3):
        pass  # readers share


# -- kills and leftovers ----------------------------------------------------------------------------------


def test_publish_killed_before_its_rename_leaves_the_previous_database_and_the_next_run_cleans(tmp_path, inputs):
    pkg = tmp_path / "p"
    package([inputs[0]], pkg, config=CONFIG)
    database = tmp_path / "decp.db"
    publish([pkg], database)
    before = database.read_bytes()
    killed = run("publish", str(pkg), "-o", str(database), fault="built")
    assert killed.returncode == -9
    assert database.read_bytes() == before, "the previous database, whole"
    assert hidden(tmp_path, "decp.db") != [], "a killed run leaves its temporary file"
    assert run("publish", str(pkg), "-o", str(database), "-q").returncode == 0
    assert hidden(tmp_path, "decp.db") == [], "the next run removes it"


def test_leftovers_of_killed_runs_are_removed_by_the_next_writer(tmp_path, inputs):
    target = tmp_path / "p"
    stale_dir = sibling(target, "tmp-999999")
    (stale_dir / "work").mkdir(parents=True)
    stale_file = sibling(tmp_path / "decp.db", "tmp-999998")
    stale_file.write_bytes(b"x" * 1000)
    package([inputs[0]], target, config=CONFIG)
    publish([target], tmp_path / "decp.db")
    assert not stale_dir.exists() and not stale_file.exists()


@pytest.mark.parametrize("point", ["converted", "swapped"])
def test_convert_killed_never_mixes_two_inputs(tmp_path, inputs, point):
    out = tmp_path / "tables"
    assert run("convert", str(inputs[0]), "-o", str(out), "-q").returncode == 0
    (out / "LISEZMOI.txt").write_text("mes notes", encoding="utf-8")
    killed = run("convert", str(inputs[1]), "-o", str(out), "-q", fault=point)
    assert killed.returncode == -9
    sources = set()
    for table in ("marches", "marches_titulaires", "concessions"):
        with (out / f"{table}.csv").open(encoding="utf-8") as fh:
            sources |= {r["record_key"].split("-")[0] for r in csv.DictReader(fh)}
    assert len(sources) == 1, "one input's tables, never a mix"
    assert (out / "LISEZMOI.txt").read_text(encoding="utf-8") == "mes notes"
    assert run("convert", str(inputs[1]), "-o", str(out), "-q").returncode == 0
    assert hidden(tmp_path, "tables") == [] and not [p for p in out.iterdir() if p.name.startswith(".")]
    assert (out / "LISEZMOI.txt").read_text(encoding="utf-8") == "mes notes", "other files are kept"


def test_convert_refuses_to_replace_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["convert", str(FIXTURES / "valid-2022.json"), "-o", "."])
    assert result.exit_code == 3 and "dossier courant" in result.stderr


# -- packages checked before use --------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["update", "publish"])
def test_a_truncated_table_is_refused_before_use(tmp_path, inputs, command):
    target = tmp_path / "p"
    package([inputs[0]], target, config=CONFIG)
    table = target / "marches.csv"
    table.write_bytes(table.read_bytes()[: table.stat().st_size // 2])
    database = tmp_path / "decp.db"
    if command == "update":
        result = run("package", str(inputs[1]), "-o", str(target), "--update")
    else:
        result = run("publish", str(target), "-o", str(database))
    assert result.returncode == 3, result.stderr
    assert "« marches » (marches.csv) ne correspond pas à l'empreinte SHA-256" in result.stderr
    assert "Traceback" not in result.stderr and not database.exists()


def test_the_descriptor_records_each_table_hash_and_size(tmp_path, inputs):
    target = tmp_path / "p"
    package([inputs[0]], target, config=CONFIG)
    for resource in json.loads((target / "datapackage.json").read_text())["resources"]:
        assert (
            resource["hash"].startswith("sha256:") and resource["bytes"] == (target / resource["path"]).stat().st_size
        )


# -- unreadable inputs ------------------------------------------------------------------------------------


def test_skip_unreadable_keeps_going_and_lists_each_file_with_its_error(tmp_path, inputs):
    empty = tmp_path / "vide.json"
    empty.write_text("")
    truncated = FIXTURES / "malformed" / "truncated.json"  # one record read before the error
    target = tmp_path / "p"
    args = ["package", str(inputs[0]), str(truncated), str(empty), "-o", str(target), "--as-of", "2026-11-22"]
    refused = run(*args)
    assert refused.returncode == 3 and not target.exists(), "without the option: the clear failure stays"
    result = run(*args, "--skip-unreadable")
    assert result.returncode == 0, result.stderr
    assert "truncated.json écarté, illisible : JSON invalide" in result.stderr
    assert {r["source_file"] for r in records(target)} == {inputs[0].name}, "nothing kept of a file read halfway"
    meta = json.loads((target / "datapackage.json").read_text())
    unreadable = {u["path"]: u["error"] for u in meta["x-marches"]["unreadable"]}
    assert set(unreadable) == {"truncated.json", "vide.json"}
    assert "fichier tronqué" in unreadable["truncated.json"] and "fichier vide" in unreadable["vide.json"]
    assert [s["path"] for s in meta["sources"]] == [inputs[0].name]
    assert frictionless_errors(target) == []


def test_skip_unreadable_with_nothing_readable_is_still_an_error(tmp_path):
    empty = tmp_path / "vide.json"
    empty.write_text("")
    result = run("package", str(empty), "-o", str(tmp_path / "p"), "--skip-unreadable")
    assert result.returncode == 3 and "aucun fichier lisible" in result.stderr


def test_the_demo_package_has_a_valid_frictionless_name(tmp_path):
    from frictionless import Package

    result = CliRunner().invoke(cli, ["demo", "-o", str(tmp_path), "--contracts", "300", "--no-serve", "-q"])
    assert result.exit_code == 0, result.output
    descriptor = json.loads((tmp_path / "datapackages" / "demo" / "datapackage.json").read_text())
    assert descriptor["name"] == "demonstration"
    report = Package(str(tmp_path / "datapackages" / "demo" / "datapackage.json")).validate(limit_errors=10)
    assert [e for e in report.flatten(["type"]) if e == ["package-error"]] == []
    assert sqlite3.connect(tmp_path / "decp.db").execute("SELECT count(*) FROM marches").fetchone()[0] > 0
