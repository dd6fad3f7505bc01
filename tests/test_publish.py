"""marches publish: a strict, indexed, searchable SQLite database built atomically from packages."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest
import sqlite_utils

from marches import cpv, enrich
from marches.errors import InputError
from marches.generate import generate
from marches.model import TABLES
from marches.package import package
from marches.publish import FTS, INDEXES, SUMMARIES, publish, stored_inspection
from marches.rules import Config
from tests.conftest import FIXTURES, SHARED

CPV_FILE = SHARED / "cpv" / "cpv2008_en.csv"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("publish")
    source = directory / "decp.json"
    generate(source, "json-2022", contracts=800, seed=41, concession_share=0.05, defect_rate=0.1)
    leading_zero = json.loads((FIXTURES / "valid-2022.json").read_text(encoding="utf-8"))
    record = leading_zero["marches"]["marche"][0]
    record.update(
        id="ZERO-1",
        objet="Réparation du préau de l'école maternelle",
        lieuExecution={"code": "01053", "typeCode": "Code commune"},
    )
    record["titulaires"][0]["titulaire"]["id"] = "05520459990001"
    # the same titulaire named twice in one contract, and a contract notified in the year 5021
    twice = json.loads(json.dumps(record))
    twice.update(id="DOUBLE-1", objet="Entretien des espaces verts communaux")
    twice["titulaires"] = [{"titulaire": {"typeIdentifiant": "SIRET", "id": "77788899100018"}}] * 2
    future = json.loads(json.dumps(record))
    future.update(id="FUTUR-1", dateNotification="5021-09-07", objet="Fourniture de sel de déneigement")
    leading_zero["marches"]["marche"] += [twice, future]
    extra = directory / "zero.json"
    extra.write_text(json.dumps(leading_zero, ensure_ascii=False), encoding="utf-8")
    pkg = directory / "datapackages" / "decp"
    package([source, extra], pkg, config=Config(as_of=date(2026, 11, 22)))
    database = directory / "decp.db"
    publish([pkg], database, cpv.load(CPV_FILE) if CPV_FILE.is_file() else None)
    return database, pkg


def connect(database: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{database}?mode=ro", uri=True)


def test_tables_are_strict_and_identifiers_stay_text(built):
    database, _ = built
    db = connect(database)
    for table in TABLES:
        sql = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        assert sql.rstrip().endswith("STRICT"), table
    row = db.execute("SELECT lieuExecution_code, acheteur_id, typeof(acheteur_id) FROM marches WHERE id = 'ZERO-1'")
    assert row.fetchone() == ("01053", "21690123100011", "text")
    assert db.execute("SELECT id FROM marches_titulaires WHERE id LIKE '0%'").fetchone() == ("05520459990001",)
    assert db.execute("SELECT typeof(montant), typeof(dureeMois) FROM marches LIMIT 1").fetchone() == (
        "real",
        "integer",
    )


def test_counts_match_the_package(built):
    database, pkg = built
    db = connect(database)
    records = json.loads((pkg / "datapackage.json").read_text())["x-marches"]["records"]
    retained = records["conforme"] + records["signalé"]
    assert (
        db.execute("SELECT count(*) FROM marches").fetchone()[0]
        + db.execute("SELECT count(*) FROM concessions").fetchone()[0]
        == retained
    )
    assert db.execute("SELECT count(*) FROM enregistrements").fetchone()[0] == records["read"]


def test_keys_indexes_and_full_text_search(built):
    database, _ = built
    db = connect(database)
    fks = db.execute("PRAGMA foreign_key_list(marches_titulaires)").fetchall()
    assert any(fk[2] == "marches" and fk[3] == "record_key" for fk in fks)
    # the link to the CPV labels is soft: an unknown code (reported by validation) has no label
    assert [fk for fk in db.execute("PRAGMA foreign_key_check").fetchall() if fk[2] != "cpv"] == []
    for table, indexes in INDEXES.items():
        existing = {
            tuple(r[2] for r in db.execute(f"PRAGMA index_info('{i[1]}')"))
            for i in db.execute(f"PRAGMA index_list('{table}')")
        }
        for columns in indexes:
            assert tuple(columns) in existing, (table, columns)
    for table in FTS:
        assert db.execute("SELECT name FROM sqlite_master WHERE name = ?", (f"{table}_fts",)).fetchone()
    found = db.execute(
        "SELECT m.id FROM marches_fts f JOIN marches m ON m.rowid = f.rowid WHERE marches_fts MATCH 'reparation prEau'"
    ).fetchall()
    assert found == [("ZERO-1",)], "accent- and case-insensitive search"


def test_derived_columns_views_and_summaries(built):
    database, _ = built
    db = connect(database)
    total = db.execute("SELECT count(*) FROM marches").fetchone()[0]
    assert db.execute("SELECT sum(nombre) FROM stats_annee").fetchone()[0] == total
    assert db.execute("SELECT sum(nombre) FROM stats_division").fetchone()[0] == total
    assert (
        db.execute("SELECT count(*) FROM marches_par_titulaire").fetchone()[0]
        == db.execute(
            "SELECT count(*) FROM marches m LEFT JOIN (SELECT DISTINCT record_key, id FROM marches_titulaires) t "
            "ON t.record_key = m.record_key"
        ).fetchone()[0]
    )
    placeholder = db.execute(
        "SELECT montant, montant_fiable FROM marches WHERE constats LIKE '%amount-placeholder%'"
    ).fetchall()
    assert placeholder and all(fiable is None for _, fiable in placeholder)
    # the reliable year: no year before 2000 or after the data's reference date, anywhere
    assert db.execute("SELECT date_fiable, annee_fiable FROM marches WHERE id = 'FUTUR-1'").fetchone() == (None, None)
    assert db.execute("SELECT min(annee), max(annee) FROM stats_annee").fetchone()[0] >= 2000
    assert db.execute("SELECT max(annee) FROM stats_annee").fetchone()[0] <= 2026
    flagged = db.execute(
        "SELECT count(*) FROM marches WHERE record_key IN (SELECT record_key FROM constats WHERE field = "
        "'dateNotification' AND code IN ('date-future', 'date-floor')) AND date_fiable IS NOT NULL"
    ).fetchone()[0]
    assert flagged == 0
    assert db.execute("SELECT count(*) FROM marches WHERE date_fiable IS NULL").fetchone()[0] >= 1
    assert set(SUMMARIES) <= {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    # statistics keep numbers as numbers (they sort as numbers), with links to the labels of their codes
    assert db.execute("SELECT typeof(nombre), typeof(montant_total) FROM stats_division LIMIT 1").fetchone() == (
        "integer",
        "real",
    )
    assert ("code", "regles") in {(fk[3], fk[2]) for fk in db.execute("PRAGMA foreign_key_list(stats_constats)")}


@pytest.mark.skipif(not CPV_FILE.is_file(), reason="../shared/reference absent (CPV list)")
def test_summaries_order_ties_by_their_key_whatever_the_order_of_the_rows(tmp_path):
    """Two divisions, two procedures, two rules with as many contracts: their order in the statistics
    tables is their code's, not the order in which the rows came (the same tables from one build to
    the next)."""
    rows = [
        {"record_key": f"k{i}", "annee_fiable": 2024, "division_cpv": division, "procedure": procedure}
        for i, (division, procedure) in enumerate([("80", "Procédure adaptée"), ("48", "Appel d'offres ouvert")] * 3)
    ]
    tables = []
    for order in (rows, rows[::-1]):
        db = sqlite_utils.Database(tmp_path / f"{len(tables)}.db")
        enrich.create_reference_tables(db)
        columns = ["montant", "montant_fiable", "offre_unique", "consideration_sociale"]
        columns += ["consideration_environnementale", "date_fiable", "dateNotification", "nature", "departement"]
        db["marches"].insert_all([{**r, **dict.fromkeys(columns)} | {"categorie_entreprise": None} for r in order])
        db["constats"].insert_all(
            {"record_key": r["record_key"], "code": code, "severity": "warning"}
            for r in order
            for code in ("siret-checksum", "cpv-unknown")
        )
        db["enregistrements"].insert_all({"record_key": r["record_key"], "statut": "signalé"} for r in order)
        enrich.summaries(db)
        tables.append({name: db.execute(f"SELECT * FROM {name}").fetchall() for name in enrich.SUMMARIES})
    assert tables[0] == tables[1]
    assert [r[0] for r in tables[0]["stats_division"]] == ["48", "80"]
    assert [r[1] for r in tables[0]["stats_procedure"]] == ["Appel d'offres ouvert", "Procédure adaptée"]
    assert [r[0] for r in tables[0]["stats_constats"]] == ["cpv-unknown", "siret-checksum"]


def test_cpv_labels_when_the_nomenclature_is_installed(built):
    database, _ = built
    db = connect(database)
    assert db.execute("SELECT count(*) FROM cpv").fetchone()[0] == 9454
    labelled = db.execute("SELECT count(*) FROM marches m JOIN cpv c ON c.code8 = m.cpv8").fetchone()[0]
    assert labelled > 0.8 * db.execute("SELECT count(*) FROM marches").fetchone()[0]


def test_counts_for_immutable_mode_are_inside_the_database(built):
    database, _ = built
    inspection = stored_inspection(database)
    assert (
        inspection["tables"]["marches"]["count"]
        == connect(database).execute("SELECT count(*) FROM marches").fetchone()[0]
    )
    assert not database.with_name("decp.counts.json").exists(), "one file: replaced whole by one rename"


def test_a_failed_build_leaves_the_previous_database(tmp_path, built):
    _database, pkg = built
    target = tmp_path / "decp.db"
    publish([pkg], target)
    before = target.read_bytes()
    with pytest.raises(InputError):
        publish([pkg, tmp_path / "pas-un-paquet"], target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".decp")] == [".decp.db.lock"]


def test_a_titulaire_named_twice_counts_the_contract_once(built):
    database, _ = built
    db = connect(database)
    key = db.execute("SELECT record_key FROM marches WHERE id = 'DOUBLE-1'").fetchone()[0]
    assert db.execute("SELECT count(*) FROM marches_titulaires WHERE record_key = ?", (key,)).fetchone()[0] == 2
    row = db.execute("SELECT nombre_marches, montant_total FROM titulaires WHERE titulaire_id = '77788899100018'")
    nombre, montant = row.fetchone()
    assert nombre == 1
    assert montant == db.execute("SELECT montant_fiable FROM marches WHERE record_key = ?", (key,)).fetchone()[0]
    assert db.execute("SELECT count(*) FROM marches_par_titulaire WHERE record_key = ?", (key,)).fetchone()[0] == 1
    assert db.execute("SELECT nombre_marches FROM relations WHERE titulaire_id = '77788899100018'").fetchone()[0] == 1


def test_buyers_and_titulaires_are_entities_every_table_links_to(built):
    database, _ = built
    db = connect(database)
    assert (
        db.execute("SELECT count(DISTINCT acheteur_id) FROM marches").fetchone()[0]
        <= db.execute("SELECT count(*) FROM acheteurs WHERE nombre_marches > 0").fetchone()[0]
    )
    for table, column, other in (
        ("marches", "acheteur_id", "acheteurs"),
        ("marches_titulaires", "id", "titulaires"),
        ("concessions", "autoriteConcedante_id", "acheteurs"),
        ("concessions_concessionnaires", "id", "titulaires"),
        ("constats", "code", "regles"),
    ):
        fks = {(fk[3], fk[2]) for fk in db.execute(f"PRAGMA foreign_key_list({table})")}
        assert (column, other) in fks, (table, column)
    total = db.execute("SELECT sum(montant_fiable) FROM marches").fetchone()[0]
    assert db.execute("SELECT sum(montant_total) FROM acheteurs").fetchone()[0] == pytest.approx(total)
    assert (
        db.execute("SELECT sum(nombre) FROM stats_indicateurs").fetchone()[0]
        == db.execute("SELECT count(*) FROM marches").fetchone()[0]
    )


def test_growth_is_measured_on_reliable_amounts_only(built):
    database, _ = built
    db = connect(database)
    rows = db.execute("SELECT montant_fiable FROM marches WHERE hausse_pct IS NOT NULL").fetchall()
    assert rows and all(m is not None and m >= 1000 for (m,) in rows)


def test_derived_columns_set_in_some_rows_only_are_empty_in_the_others(built):
    db = connect(built[0])
    limited = [d for d in enrich.DERIVED if d.rows]
    assert limited
    for d in limited:
        outside = f'SELECT count(*) FROM "{d.table}" WHERE ({d.rows}) IS NOT 1 AND ({d.sql.format(as_of="2026-12-31")}) IS NOT NULL'
        assert db.execute(outside).fetchone()[0] == 0, d.name
        inside = f'SELECT count(*) FROM "{d.table}" WHERE "{d.name}" IS NOT NULL'
        assert db.execute(inside).fetchone()[0] > 0, d.name


def test_rows_handed_to_sqlite_in_small_parts_give_the_same_database(built, tmp_path, monkeypatch):
    """The thread that prepares the rows hands them over in parts: their size changes nothing."""
    from marches import publish as module
    from tests.test_package_contracts import _database_content

    database, pkg = built
    monkeypatch.setattr(module, "ROWS_AHEAD", 3)
    again = tmp_path / "decp.db"
    publish([pkg], again, cpv.load(CPV_FILE) if CPV_FILE.is_file() else None)
    assert _database_content(again) == _database_content(database)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name], "no staging file left"


def test_items_prepared_ahead_come_in_order_and_errors_reach_the_reader():
    import threading

    from marches.publish import _ahead

    assert list(_ahead(iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("illisible")

    got = []
    with pytest.raises(ValueError, match="illisible"):
        for item in _ahead(failing()):
            got.append(item)
    assert got == [1]
    # a reader that stops early stops the thread producing ahead of it
    produced = []

    def endless():
        while True:
            produced.append(len(produced))
            yield produced[-1]

    before = threading.active_count()
    for item in _ahead(endless(), depth=2):
        if item == 5:
            break
    assert threading.active_count() == before and len(produced) <= 5 + 1 + 2 + 1
