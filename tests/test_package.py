"""marches package: a valid Frictionless package, nothing lost, deduplicated with provenance, updatable, atomic."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from frictionless import Package, system

from marches.cli import cli
from marches.generate import generate
from marches.package import FAULT_POINT, STATUTS, package
from marches.rules import Config
from tests.conftest import EXAMPLES, FIXTURES, needs_shared

CONFIG = Config(as_of=date(2026, 11, 22))


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MARCHES_CACHE_DIR", str(tmp_path / "cache"))


def frictionless_errors(directory: Path) -> list:
    with system.use_context(trusted=True):
        report = Package(str(directory / "datapackage.json")).validate(limit_errors=10**6)
    return report.flatten(["resourceName", "rowNumber", "fieldName", "type", "note"])


def rows(directory: Path, table: str) -> list[dict]:
    with (directory / f"{table}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def descriptor(directory: Path) -> dict:
    return json.loads((directory / "datapackage.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("inputs")
    out = {"json": directory / "plateforme-a.json", "xml": directory / "plateforme-b.xml"}
    generate(out["json"], "json-2022", contracts=600, seed=31, concession_share=0.05, defect_rate=0.15)
    generate(out["xml"], "xml-2022", contracts=300, seed=32, concession_share=0.05, defect_rate=0.15)
    return out


def test_package_is_valid_including_foreign_keys(tmp_path, inputs):
    target = tmp_path / "datapackages" / "decp"
    summary = package([inputs["json"], inputs["xml"]], target, config=CONFIG)
    assert frictionless_errors(target) == []
    assert summary.records == 900 and sum(summary.counts.values()) == 900
    names = {r["name"] for r in descriptor(target)["resources"]}
    assert {
        "marches",
        "marches_titulaires",
        "concessions_tarifs",
        "enregistrements",
        "quarantaine",
        "doublons",
        "constats",
    } <= names


@needs_shared
def test_package_of_the_official_examples_of_both_generations(tmp_path):
    target = tmp_path / "officiels"
    files = sorted(p for p in EXAMPLES.glob("*/*/*") if p.suffix in (".json", ".xml"))
    summary = package(files, target, config=CONFIG)
    assert frictionless_errors(target) == []
    generations = {g for s in descriptor(target)["sources"] for g in s["generations"]}
    assert generations == {"2019", "2022"}
    assert summary.counts["doublon"] > 0, "the official examples publish the same contracts several times"


def test_metadata_provenance_and_validation_summary(tmp_path, inputs):
    target = tmp_path / "decp"
    package([inputs["json"]], target, config=CONFIG, title="Plateforme A")
    d = descriptor(target)
    assert d["licenses"][0]["name"] == "etalab-2.0"
    assert d["title"].endswith("Plateforme A") and d["description"]
    (source,) = d["sources"]
    assert source["path"] == "plateforme-a.json" and len(source["sha256"]) == 64
    assert source["bytes"] == inputs["json"].stat().st_size and source["records"] == 600
    assert source["format"] == "json-2022" and source["generations"] == {"2022": 600}
    meta = d["x-marches"]
    assert meta["version"] and d["created"] and meta["validation"]["as_of"] == "2026-11-22"
    assert meta["validation"]["findings"]["error"] > 0
    assert "2024-01-01" <= d["temporal"]["start"] <= d["temporal"]["end"] <= "2026-11-22"
    findings = rows(target, "constats")
    assert len(findings) == sum(meta["validation"]["findings"].values())


def test_counts_add_up_and_nothing_is_lost(tmp_path, inputs):
    target = tmp_path / "decp"
    result = CliRunner().invoke(cli, ["package", str(inputs["json"]), "-o", str(target), "--as-of", "2026-11-22"])
    assert result.exit_code == 0, result.output
    records = rows(target, "enregistrements")
    meta = descriptor(target)["x-marches"]["records"]
    assert meta["read"] == len(records) == 600 == sum(meta[s] for s in STATUTS)
    for statut in STATUTS:
        assert meta[statut] == sum(r["statut"] == statut for r in records)
        assert f"{meta[statut]} {statut}" in result.stderr
    retained = {r["record_key"] for r in records if r["retenu"] == "true"}
    main = {r["record_key"] for r in rows(target, "marches")} | {r["record_key"] for r in rows(target, "concessions")}
    assert main == retained
    quarantined = {r["record_key"] for r in records if r["statut"] == "quarantaine"}
    assert {r["record_key"] for r in rows(target, "quarantaine")} == quarantined and quarantined
    copies = {r["record_key"] for r in records if r["statut"] == "doublon"}
    assert {r["record_key"] for r in rows(target, "doublons")} == copies and copies
    flagged = [r for r in rows(target, "marches") if r["constats"]]
    assert flagged and all(json.loads(r["constats"]) for r in flagged)
    assert {r["record_key"] for r in flagged} <= {r["record_key"] for r in records if r["statut"] == "signalé"}


def test_quarantine_keeps_records_exactly_as_published(tmp_path, inputs):
    target = tmp_path / "decp"
    package([inputs["json"], inputs["xml"]], target, config=CONFIG)
    published = json.loads(inputs["json"].read_text(encoding="utf-8"))["marches"]
    records = {r["record_key"]: r for r in rows(target, "enregistrements")}
    quarantine = rows(target, "quarantaine")
    assert {q["format_publie"] for q in quarantine} == {"json", "xml"}
    for q in quarantine:
        record = records[q["record_key"]]
        assert json.loads(q["codes"]) and json.loads(q["messages"])
        if q["format_publie"] == "json":
            kind, index = record["source_path"].removeprefix("marches.").rstrip("]").split("[")
            assert json.loads(q["publie"]) == published[kind][int(index)]
        else:
            assert q["publie"].startswith("<marche>") or q["publie"].startswith("<contrat-concession>")


def test_records_set_aside_keep_their_published_text_whatever_the_values(tmp_path):
    """The text of a copy and of a quarantined record is the published value written as compact JSON,
    including values orjson cannot write (an integer beyond 64 bits), floats and non-ASCII text."""
    big = 10**30
    first = _contract(reference=big, objet="Entretien « espaces verts » — lot n°1", montant=0.1 + 0.2)
    copy = dict(first, objet="Entretien des espaces verts, copie", dureeMois=12.0)
    rejected = _contract(id="2024-0777", acheteur={"id": "12345"}, montant=1e300)
    source = _file(tmp_path / "f.json", first, copy, rejected)
    package([source], tmp_path / "decp", config=CONFIG)
    (double,) = rows(tmp_path / "decp", "doublons")
    (quarantined,) = rows(tmp_path / "decp", "quarantaine")
    for row, record in ((double, copy), (quarantined, rejected)):
        assert row["publie"] == json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        assert json.loads(row["publie"]) == record and row["format_publie"] == "json"


def test_drop_invalid_drops_but_still_counts(tmp_path, inputs):
    target = tmp_path / "decp"
    summary = package([inputs["json"]], target, config=CONFIG, drop_invalid=True)
    assert summary.counts.get("quarantaine", 0) == 0 and summary.counts["supprimé"] > 0
    assert rows(target, "quarantaine") == []
    assert sum(r["statut"] == "supprimé" for r in rows(target, "enregistrements")) == summary.counts["supprimé"]
    assert frictionless_errors(target) == []


def _contract(**changes) -> dict:
    record = json.loads((FIXTURES / "valid-2022.json").read_text(encoding="utf-8"))["marches"]["marche"][0]
    record.update(changes)
    return record


def _file(path: Path, *records: dict) -> Path:
    path.write_text(json.dumps({"marches": {"marche": list(records)}}, ensure_ascii=False), encoding="utf-8")
    return path


def test_deduplication_keeps_the_latest_publication_and_every_copy_provenance(tmp_path):
    old = _file(tmp_path / "ancienne.json", _contract(datePublicationDonnees="2024-03-20"))
    newer = _file(tmp_path / "recente.json", _contract(datePublicationDonnees="2024-04-02", montant=90000))
    target = tmp_path / "decp"
    package([old, newer], target, config=CONFIG)
    records = rows(target, "enregistrements")
    assert [(r["source_file"], r["statut"], r["retenu"]) for r in records] == [
        ("ancienne.json", "doublon", "false"),
        ("recente.json", "conforme", "true"),
    ]
    (main,) = rows(target, "marches")
    assert main["montant"] == "90000" and main["source_file"] == "recente.json"
    (copy,) = rows(target, "doublons")
    assert copy["retenu_record_key"] == main["record_key"] and json.loads(copy["publie"])["montant"] == 85000


def test_deduplication_ties_go_to_the_most_complete_then_the_first_read(tmp_path):
    sparse = _contract()
    del sparse["considerationsSociales"]
    a = _file(tmp_path / "a.json", sparse)
    b = _file(tmp_path / "b.json", _contract())
    c = _file(tmp_path / "c.json", _contract(objet="Entretien des espaces verts, copie"))
    target = tmp_path / "decp"
    package([a, b, c], target, config=CONFIG)
    retained = [r["source_file"] for r in rows(target, "enregistrements") if r["retenu"] == "true"]
    assert retained == ["b.json"]


def test_current_state_after_modifications(tmp_path):
    modified = _contract(
        modifications=[
            {
                "modification": {
                    "id": 1,
                    "dateNotificationModification": "2024-06-01",
                    "datePublicationDonneesModification": "2024-06-05",
                    "montant": 95000,
                }
            },
            {
                "modification": {
                    "id": 2,
                    "dateNotificationModification": "2024-09-01",
                    "datePublicationDonneesModification": "2024-09-05",
                    "dureeMois": 30,
                    "titulaires": [{"titulaire": {"typeIdentifiant": "SIRET", "id": "45213978500029"}}],
                }
            },
        ]
    )
    plain = _contract(id="2024-0099")
    target = tmp_path / "decp"
    package([_file(tmp_path / "m.json", modified, plain)], target, config=CONFIG)
    first, second = rows(target, "marches")
    assert (first["nombreModifications"], first["montantActuel"], first["dureeMoisActuelle"]) == ("2", "95000", "30")
    assert json.loads(first["titulairesActuels"]) == ["45213978500029"]
    assert (second["nombreModifications"], second["montantActuel"], second["dureeMoisActuelle"]) == ("0", "85000", "24")
    assert json.loads(second["titulairesActuels"]) == ["38012986643097"]
    assert first["montant"] == "85000", "the initial values stay"


def test_update_adds_new_files_only_and_is_idempotent(tmp_path, inputs):
    first = tmp_path / "plateforme-a.json"
    shutil.copyfile(inputs["json"], first)
    target = tmp_path / "decp"
    package([first], target, config=CONFIG)
    first.unlink()  # the update must not need the old input files
    summary = package([inputs["xml"]], target, update=True, config=CONFIG)
    assert summary.changed and summary.records == 900 and summary.sources_added == [str(inputs["xml"])]
    assert frictionless_errors(target) == []
    records = rows(target, "enregistrements")
    for statut, table in (("doublon", "doublons"), ("quarantaine", "quarantaine")):
        assert {r["record_key"] for r in rows(target, table)} == {
            r["record_key"] for r in records if r["statut"] == statut
        }
    assert [s["path"] for s in descriptor(target)["sources"]] == ["plateforme-a.json", "plateforme-b.xml"]
    before = {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()}
    again = package([inputs["xml"]], target, update=True, config=CONFIG)
    assert not again.changed and again.records == 900
    assert {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()} == before


def test_the_tables_of_the_package_already_there_are_read_a_batch_at_a_time(tmp_path, inputs, monkeypatch):
    """``--update`` reads the previous package's CSV tables through an Arrow copy in the work directory,
    a batch at a time (polars' ``collect_batches`` reads a CSV ahead of a slow loop without limit):
    the same rows, in the same order, as the whole table."""
    import polars as pl

    from marches.package import common

    target = tmp_path / "decp"
    package([inputs["json"]], target, config=CONFIG)
    monkeypatch.setattr(common, "BATCH_ROWS", 70)
    spill = tmp_path / "work" / "precedent"
    batches = list(common.stored_batches(target, "marches_titulaires", spill))
    whole = common.read_table(target, "marches_titulaires")
    assert len(batches) > 3 and all(b.height <= 70 for b in batches)
    assert pl.concat(batches).equals(whole)
    assert (spill / "marches_titulaires.arrow").is_file() and not (target / "marches_titulaires.arrow").exists()


def test_update_with_a_newer_copy_moves_the_old_one_to_the_duplicates(tmp_path):
    target = tmp_path / "decp"
    package([_file(tmp_path / "v1.json", _contract())], target, config=CONFIG)
    package(
        [_file(tmp_path / "v2.json", _contract(datePublicationDonnees="2024-05-01", montant=99000))],
        target,
        update=True,
        config=CONFIG,
    )
    (main,) = rows(target, "marches")
    (copy,) = rows(target, "doublons")
    assert main["montant"] == "99000" and copy["format_publie"] == "json-reconstitué"
    assert json.loads(copy["publie"])["montant"] == 85000
    assert frictionless_errors(target) == []


@pytest.mark.parametrize("point", ["validated", "written", "swapped"])
def test_a_killed_update_leaves_the_previous_package_intact(tmp_path, inputs, point):
    target = tmp_path / "decp"
    package([inputs["json"]], target, config=CONFIG)
    before = {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()}
    env = {**os.environ, FAULT_POINT: point}
    killed = subprocess.run(
        [sys.executable, "-m", "marches.cli", "package", str(inputs["xml"]), "-o", str(target), "--update", "-q"],
        env=env,
        capture_output=True,
        check=False,
    )
    assert killed.returncode == -9
    after = {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()}
    if point == "swapped":  # killed after the atomic swap: the new package is complete
        assert descriptor(target)["x-marches"]["records"]["read"] == 900
    else:
        assert after == before
    assert frictionless_errors(target) == []
    package([inputs["xml"]], target, update=True, config=CONFIG)  # the next run cleans up and goes on
    assert descriptor(target)["x-marches"]["records"]["read"] == 900
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".decp")]
    assert leftovers == [".decp.lock"], "no staging left behind (the empty lock file stays by design)"


def test_parquet_option(tmp_path, inputs):
    import polars as pl

    target = tmp_path / "decp"
    package([inputs["xml"]], target, config=CONFIG, parquet=True)
    frame = pl.read_parquet(target / "parquet" / "marches.parquet")
    assert frame.height == len(rows(target, "marches")) and frame.schema["montant"] == pl.Float64
    assert descriptor(target)["x-marches"]["parquet"][0] == "parquet/marches.parquet"


def test_worker_processes_write_the_same_package_byte_for_byte(tmp_path, inputs, monkeypatch, shipped):
    """Records flattened in two worker processes (JSON and XML, small batches spread over them): every
    file of the package is the one a single process writes; a file that breaks off is still left out whole."""
    from marches import parallel
    from marches.package import state
    from marches.readers import json_reader, json_segment

    monkeypatch.setattr(parallel, "PARALLEL_FROM", 0)
    monkeypatch.setattr(state, "READ_BATCH", 70)
    # a large JSON file's records handed unparsed to the workers, a chunk of about 30 records at a time
    monkeypatch.setattr(json_reader, "SURVEY_LIMIT", 0)
    monkeypatch.setattr(json_segment, "CHUNK", 30_000)
    broken = tmp_path / "coupe.json"
    text = inputs["json"].read_text(encoding="utf-8")
    broken.write_text(text[: len(text) * 2 // 3], encoding="utf-8")  # stops in the middle of a record
    trees = []
    for workers in (0, 2):
        out = tmp_path / f"paquet-{workers}"
        summary = package(
            [inputs["json"], broken, inputs["xml"]], out, config=CONFIG, skip_unreadable=True, workers=workers
        )
        assert [Path(p).name for p, _ in summary.sources_unreadable] == ["coupe.json"]
        files = {}
        for path in sorted(out.rglob("*")):
            if path.is_file():
                content = path.read_bytes()
                if path.name == "datapackage.json":  # its name, title and dates differ; its sources may not
                    meta = json.loads(content)
                    content = json.dumps([{k: v for k, v in s.items() if k != "added"} for s in meta["sources"]])
                files[str(path.relative_to(out))] = content
        trees.append(files)
    assert trees[0] == trees[1]
    assert len(rows(tmp_path / "paquet-2", "enregistrements")) == 900
    assert {"Shipment", "UnparsedShipment"} <= set(shipped), "records handed parsed and unparsed"
