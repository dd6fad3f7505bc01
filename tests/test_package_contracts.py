"""One contract from its copies: no published modification lost, modifications ordered by date then number."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from marches.generate import generate
from marches.model import load_tables
from marches.package import contracts, package
from marches.publish import publish
from marches.rules import Config
from marches.validate import validate
from tests.conftest import FIXTURES
from tests.test_package import frictionless_errors

CONFIG = Config(as_of=date(2026, 11, 22))


def rows(directory: Path, table: str) -> list[dict]:
    with (directory / f"{table}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def contract(published: str = "2024-03-20", *modifications: dict, **changes) -> dict:
    record = json.loads((FIXTURES / "valid-2022.json").read_text(encoding="utf-8"))["marches"]["marche"][0]
    record.update(datePublicationDonnees=published, **changes)
    if modifications:
        record["modifications"] = [{"modification": m} for m in modifications]
    return record


def modification(number: int, notified: str, **values) -> dict:
    return {
        "id": number,
        "dateNotificationModification": notified,
        "datePublicationDonneesModification": notified,
        **values,
    }


def write(path: Path, *records: dict) -> Path:
    path.write_text(json.dumps({"marches": {"marche": list(records)}}, ensure_ascii=False), encoding="utf-8")
    return path


def test_the_kept_copy_takes_the_modification_only_an_other_copy_published(tmp_path):
    with_change = write(
        tmp_path / "plateforme-a.json",
        contract("2024-03-20", modification(1, "2024-09-01", montant=120000, dureeMois=30)),
    )
    later_without = write(tmp_path / "plateforme-b.json", contract("2024-04-02"))
    target = tmp_path / "p"
    package([with_change, later_without], target, config=CONFIG)
    (main,) = rows(target, "marches")
    assert main["source_file"] == "plateforme-b.json", "the latest publication is kept"
    assert (main["nombreModifications"], main["montantActuel"], main["dureeMoisActuelle"]) == ("1", "120000", "30")
    (change,) = rows(target, "marches_modifications")
    copy = {r["source_file"]: r["record_key"] for r in rows(target, "enregistrements")}["plateforme-a.json"]
    assert change["record_key"] == main["record_key"] and change["source_record_key"] == copy
    assert frictionless_errors(target) == []


def test_modifications_published_by_several_copies_are_kept_once_with_their_provenance(tmp_path):
    first = modification(1, "2024-06-01", montant=95000)
    second = modification(2, "2024-09-01", dureeMois=30)
    second["titulaires"] = [{"titulaire": {"typeIdentifiant": "SIRET", "id": "45213978500029"}}]
    a = write(tmp_path / "a.json", contract("2024-03-20", first))
    b = write(tmp_path / "b.json", contract("2024-10-02", first, second))
    c = write(tmp_path / "c.json", contract("2024-11-02", modification(1, "2024-06-01", montant=96000)))
    target = tmp_path / "p"
    package([a, b, c], target, config=CONFIG)
    keys = {r["source_file"]: r["record_key"] for r in rows(target, "enregistrements")}
    (main,) = rows(target, "marches")
    assert main["record_key"] == keys["c.json"]
    changes = [
        (r["id"], r["montant"], r["dureeMois"], r["source_record_key"]) for r in rows(target, "marches_modifications")
    ]
    assert changes == [
        ("1", "96000", "", keys["c.json"]),  # the kept copy's own first
        ("1", "95000", "", keys["a.json"]),  # same number, other content: both kept (nothing lost)
        ("2", "", "30", keys["b.json"]),  # published once by b (a's copy of number 1 is the same as b's)
    ]
    (holder,) = rows(target, "marches_modifications_titulaires")
    assert (holder["record_key"], holder["modification_position"], holder["id"]) == (
        main["record_key"],
        "2",
        "45213978500029",
    )
    assert main["nombreModifications"] == "3" and main["dureeMoisActuelle"] == "30"
    assert json.loads(main["titulairesActuels"]) == ["45213978500029"]
    assert frictionless_errors(target) == []


def test_modifications_of_one_date_are_ordered_by_their_number(tmp_path):
    listed_backwards = contract(
        "2024-03-20",
        modification(2, "2024-06-01", montant=150000),
        modification(1, "2024-06-01", montant=120000, dureeMois=30),
    )
    latest_first = contract(
        "2024-03-20",
        modification(2, "2024-09-01", montant=150000),
        modification(1, "2024-06-01", montant=120000),
        id="2024-0043",
    )
    source = write(tmp_path / "ordre.json", listed_backwards, latest_first)
    report = validate([source], CONFIG)
    assert "modification-order" not in report.counts, "no false finding: dates and numbers agree"
    target = tmp_path / "p"
    package([source], target, config=CONFIG)
    for main in rows(target, "marches"):
        assert main["montantActuel"] == "150000", main["id"]
    assert rows(target, "marches")[0]["dureeMoisActuelle"] == "30"


def test_an_update_keeps_every_modification_and_rebuilds_a_demoted_copy_as_it_was_published(tmp_path):
    target = tmp_path / "p"
    package(
        [write(tmp_path / "v1.json", contract("2024-03-20", modification(1, "2024-06-01", montant=95000)))],
        target,
        config=CONFIG,
    )
    package(
        [write(tmp_path / "v2.json", contract("2024-10-01", modification(2, "2024-09-01", montant=99000)))],
        target,
        update=True,
        config=CONFIG,
    )
    (main,) = rows(target, "marches")
    assert main["source_file"] == "v2.json" and main["montantActuel"] == "99000"
    assert [r["id"] for r in rows(target, "marches_modifications")] == ["2", "1"]
    (copy,) = rows(target, "doublons")
    published = json.loads(copy["publie"])
    assert [m["modification"]["id"] for m in published["modifications"]] == [1], "only its own modification"
    assert "montantActuel" not in published and "nombreModifications" not in published
    package([write(tmp_path / "v3.json", contract("2024-12-01"))], target, update=True, config=CONFIG)
    (main,) = rows(target, "marches")
    assert main["source_file"] == "v3.json" and main["nombreModifications"] == "2"
    provenance = {r["id"]: r["source_record_key"] for r in rows(target, "marches_modifications")}
    keys = {r["source_file"]: r["record_key"] for r in rows(target, "enregistrements")}
    assert provenance == {"1": keys["v1.json"], "2": keys["v2.json"]}
    assert frictionless_errors(target) == []


def test_publish_of_packages_holding_the_same_contract_shows_it_once(tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    package(
        [write(tmp_path / "a.json", contract("2024-03-20", modification(1, "2024-06-01", montant=95000)))],
        a,
        config=CONFIG,
    )
    other = contract("2024-04-20", id="2024-0099")
    package([write(tmp_path / "b.json", contract("2024-05-02"), other)], b, config=CONFIG)
    database = tmp_path / "decp.db"
    summary = publish([a, b], database)
    assert summary.duplicates == 1
    db = sqlite3.connect(database)
    (kept,) = db.execute(
        "SELECT record_key, source_file, nombreModifications, montantActuel FROM marches WHERE id = '2024-0042'"
    )
    assert kept[1:] == ("b.json", 1, 95000.0), "one row, with the modification of the copy set aside"
    assert db.execute("SELECT count(*) FROM marches").fetchone()[0] == 2
    (change,) = db.execute("SELECT record_key, source_record_key FROM marches_modifications")
    aside = db.execute("SELECT record_key, statut, retenu FROM enregistrements WHERE source_file = 'a.json'").fetchone()
    assert change == (kept[0], aside[0]) and aside[1:] == ("doublon", 0)
    (copy,) = db.execute("SELECT retenu_record_key, format_publie, publie FROM doublons")
    assert copy[0] == kept[0] and copy[1] == "json-reconstitué" and json.loads(copy[2])["montant"] == 85000
    assert db.execute("SELECT sum(nombre) FROM stats_annee").fetchone()[0] == 2


def _copy_of(data: dict, published: Callable[[int], str], number: int) -> dict:
    """``data`` (a file's JSON) with each contract's publication date ``published(i)`` and its last
    modification replaced by modification ``number``, which for a marché names a titulaire."""
    copy = json.loads(json.dumps(data))
    for i, record in enumerate(copy["marches"]["marche"] + copy["marches"]["contrat-concession"]):
        record["datePublicationDonnees"] = published(i)
        marche = "acheteur" in record
        change = {
            "id": number,
            "dateNotificationModification" if marche else "dateSignatureModification": "2026-10-01",
            "datePublicationDonneesModification": "2026-10-02",
            "dureeMois": 60,
        }
        if marche:
            change["titulaires"] = [{"titulaire": {"typeIdentifiant": "SIRET", "id": "35600000000048"}}]
        record["modifications"] = [*record.get("modifications", [])[:-1], {"modification": change}]
    return copy


@pytest.mark.parametrize("at_once", [7, 20_000])
def test_every_copy_set_aside_by_publish_is_stored_as_it_was_published(tmp_path, monkeypatch, at_once):
    """Copies set aside are typed and rebuilt together, ``at_once`` at a time: each one keeps only its own
    modifications (and their titulaires), not those merged into it from other copies, and reads back as
    its file published it."""
    monkeypatch.setattr(contracts, "REBUILT_AT_ONCE", at_once)
    generate(tmp_path / "a.json", "json-2022", contracts=120, seed=7, concession_share=0.3, defect_rate=0)
    published = {"a.json": json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))}
    # in package a, each contract of a.json takes the modification 8 of its older copy in a2.json
    published["a2.json"] = _copy_of(published["a.json"], lambda i: "2020-01-01", 8)
    # package b's copies: half of them later (kept, setting a.json's aside), half older (set aside)
    published["b.json"] = _copy_of(published["a.json"], lambda i: "2026-11-01" if i % 2 else "2020-06-01", 7)
    for name, data in published.items():
        (tmp_path / name).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    package([tmp_path / "a.json", tmp_path / "a2.json"], tmp_path / "a", config=CONFIG)
    package([tmp_path / "b.json"], tmp_path / "b", config=CONFIG)
    publish([tmp_path / "a", tmp_path / "b"], tmp_path / "decp.db")
    db = sqlite3.connect(tmp_path / "decp.db")
    copies = db.execute(
        "SELECT e.source_file, e.kind, d.publie FROM doublons d JOIN enregistrements e USING (record_key) "
        "WHERE d.format_publie = 'json-reconstitué'"
    ).fetchall()
    assert len(copies) == 120 and {f for f, _, _ in copies} == {"a.json", "b.json"}
    for source_file, kind, text in copies:
        record = json.loads(text)
        (original,) = [
            r
            for r in published[source_file]["marches"]["marche" if kind == "marche" else "contrat-concession"]
            if r["id"] == record["id"]
        ]
        assert record == original, (source_file, record["id"])
    rebuilt = [json.loads(text) for _, _, text in copies]
    assert sum("titulaires" in m["modification"] for r in rebuilt for m in r.get("modifications", [])) >= 30
    (merged,) = db.execute("SELECT count(*) FROM marches_modifications WHERE source_record_key != record_key")
    assert merged[0] >= 100, "the kept copies hold the modifications of the copies set aside"


def _database_content(database: Path) -> dict[str, list[tuple]]:
    """Every table and index of a database with its rows, but what differs from one build to the next: its
    identifier (``_inspect``), and where and when its packages were built (``paquets``)."""
    columns = {"paquets": "nom, titre, date_verification, enregistrements_lus, sources", "_inspect": "1"}
    db = sqlite3.connect(database)
    try:
        content = {}
        for kind, name, sql in db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name"):
            query = f'SELECT {columns.get(name, "*")} FROM "{name}"'
            rows = db.execute(query).fetchall() if kind == "table" else []
            content[f"{kind} {name}"] = [(sql,), *rows]
        return content
    finally:
        db.close()


def test_package_and_publish_in_batches_give_the_output_of_one_batch(tmp_path, monkeypatch):
    """Tables are read, merged and written a few rows at a time, the findings written in batches and the
    database filled batch by batch: the package's files (its descriptor but for its dates) and the
    database are those of one batch, with copies across files and packages, quarantine and an update."""
    import marches.package.common as common

    source = tmp_path / "decp.json"
    generate(source, "json-2022", contracts=150, seed=17, concession_share=0.1, defect_rate=0.3)
    copies = write(
        tmp_path / "copies.json",
        contract("2024-03-20", modification(1, "2024-06-01", montant=95000)),
        contract("2024-05-02", modification(2, "2024-09-01", montant=99000)),
        contract("2024-04-20", id="2024-0099"),
    )
    newer = write(tmp_path / "newer.json", contract("2024-12-01", modification(3, "2024-11-02", montant=101000)))

    def build(directory: Path) -> tuple[Path, Path]:
        main, side = directory / "national", directory / "copies"
        package([source, copies], main, config=CONFIG)
        package([newer], main, update=True, config=CONFIG)
        package([copies], side, config=CONFIG)
        publish([main, side], directory / "decp.db")
        return main, directory / "decp.db"

    whole, whole_db = build(tmp_path / "whole")
    monkeypatch.setattr(common, "BATCH_ROWS", 4)
    batched, batched_db = build(tmp_path / "batched")
    files = sorted(p.relative_to(whole).as_posix() for p in whole.rglob("*.csv"))
    assert files and files == sorted(p.relative_to(batched).as_posix() for p in batched.rglob("*.csv"))
    assert len(rows(whole, "doublons")) >= 2 and rows(whole, "quarantaine"), "copies and quarantine are exercised"
    for name in files:
        assert (whole / name).read_bytes() == (batched / name).read_bytes(), name

    def descriptor(directory: Path) -> str:
        text = (directory / "datapackage.json").read_text(encoding="utf-8")
        return re.sub(r'"(added|created|updated)": "[^"]*"', "", text).replace(directory.parent.name, "")

    assert descriptor(whole) == descriptor(batched)
    assert _database_content(whole_db) == _database_content(batched_db)


@pytest.mark.parametrize("height", [8, 10, 0], ids=["whole-batches", "a-shorter-last-batch", "empty"])
def test_stored_batches_give_a_table_in_its_order_from_a_work_table_or_a_csv_table(tmp_path, monkeypatch, height):
    """A work table (Arrow IPC) is read one slice at a time, a package's table (CSV) by its scan: either
    way the batches, none longer than BATCH_ROWS, make up the table, row for row, in its order."""
    import marches.package.common as common

    monkeypatch.setattr(common, "BATCH_ROWS", 4)
    fields = load_tables()["marches_titulaires"].field_names
    table = pl.DataFrame(
        {f: [f"{f}-{i}" if i % 3 else None for i in range(height)] for f in fields}
        | {"record_key": list(map(str, range(height)))},
        schema=dict.fromkeys(fields, pl.String),
    )
    for directory in (tmp_path / "package", tmp_path / "work"):
        directory.mkdir()
        table.write_csv(directory / "marches_titulaires.csv", null_value="")
    common.arrow_tables(tmp_path / "work")
    assert (tmp_path / "work" / "marches_titulaires.arrow").is_file()
    for directory in (tmp_path / "package", tmp_path / "work"):
        batches = list(common.stored_batches(directory, "marches_titulaires"))
        assert all(0 < b.height <= 4 for b in batches) and len(batches) == -(-height // 4), directory.name
        whole = pl.concat(batches) if batches else table.clear()
        assert whole.equals(table), directory.name


def test_package_validated_in_batches_of_records_finds_what_one_batch_finds(tmp_path, monkeypatch):
    """The work tables are validated in batches of records, each read by its ranges of rows: every file of
    the package is the one of a single batch, but for the order of the rows of constats.csv (by batch)."""
    import marches.validate as validation

    source = tmp_path / "decp.json"
    generate(source, "json-2022", contracts=400, seed=11, concession_share=0.1, defect_rate=0.3)
    whole, batched = tmp_path / "whole", tmp_path / "batched"
    package([source], whole, config=CONFIG)
    monkeypatch.setattr(validation, "TABLE_BATCH_RECORDS", 70)
    package([source], batched, config=CONFIG)
    files = sorted(p.relative_to(whole).as_posix() for p in whole.rglob("*.csv"))
    assert files == sorted(p.relative_to(batched).as_posix() for p in batched.rglob("*.csv"))
    for name in files:
        left, right = (whole / name).read_bytes(), (batched / name).read_bytes()
        if name == "constats.csv":
            left, right = sorted(left.splitlines()), sorted(right.splitlines())
        assert left == right, name
    assert len(rows(whole, "constats")) > 100 and rows(whole, "quarantaine") and rows(whole, "doublons")
