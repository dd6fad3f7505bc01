"""The Datasette site: metadata.yml in step with the Table Schemas, canned queries and dashboards that run."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
import yaml

from marches.generate import generate
from marches.model import PACKAGE_TABLES, TABLES, load_tables
from marches.package import package
from marches.publish import DERIVED, INDEXES, SUMMARIES, publish
from marches.rules import Config
from marches.site import FACETS, QUERIES, SUMMARY_TABLES, build_metadata, metadata_yaml
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("site")
    source = directory / "decp.json"
    generate(source, "json-2022", contracts=600, seed=51, concession_share=0.05, defect_rate=0.1)
    package([source], directory / "pkg", config=Config(as_of=date(2026, 11, 22)))
    publish([directory / "pkg"], directory / "decp.db")
    return directory / "decp.db"


def test_metadata_yml_is_the_generated_one():
    assert (ROOT / "metadata.yml").read_text(encoding="utf-8") == metadata_yaml(), "run `make metadata`"


def test_every_table_and_column_is_described_from_the_table_schemas():
    tables = yaml.safe_load((ROOT / "metadata.yml").read_text(encoding="utf-8"))["databases"]["decp"]["tables"]
    for name in TABLES + PACKAGE_TABLES:
        model = load_tables()[name]
        columns = tables[name]["columns"]
        expected = {f["name"] for f in model.fields} | {d.name for d in DERIVED if d.table == name}
        assert set(columns) == expected, name
        for f in model.fields:
            assert columns[f["name"]] == f"{f['title']} — {f['description']}", (name, f["name"])
        assert tables[name]["title"] and tables[name]["description"]
    assert set(SUMMARY_TABLES) - {"cpv"} == set(SUMMARIES)


def test_described_summary_columns_exist(database):
    db = sqlite3.connect(database)
    for name, (_, _, columns) in SUMMARY_TABLES.items():
        actual = {r[1] for r in db.execute(f"PRAGMA table_info('{name}')")}
        assert set(columns) == actual, name


def test_default_facets_exist_and_are_indexed(database):
    db = sqlite3.connect(database)
    for table, facets in FACETS.items():
        columns = {r[1] for r in db.execute(f"PRAGMA table_info('{table}')")}
        assert set(facets) <= columns, table
        if table in ("marches", "concessions"):
            leading = {c[0] for c in INDEXES[table]}  # an index that starts with the facet's column
            assert all(f in leading or f == "lieuExecution_typeCode" for f in facets), table


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_canned_queries_run(database, name):
    db = sqlite3.connect(database)
    siret = (
        "SELECT id FROM marches_titulaires LIMIT 1"
        if name == "profil_titulaire"
        else "SELECT acheteur_id FROM marches LIMIT 1"
    )
    params = {"annee": 2025, "pourcentage": 10, "siret": db.execute(siret).fetchone()[0]}
    rows = db.execute(QUERIES[name]["sql"], params).fetchall()
    assert rows, name


def test_dashboard_charts_run(database):
    db = sqlite3.connect(database)
    charts = build_metadata()["plugins"]["datasette-dashboards"]["indicateurs"]["charts"]
    layout = build_metadata()["plugins"]["datasette-dashboards"]["indicateurs"]["layout"]
    assert {c for row in layout for c in row} == set(charts)
    for chart in charts.values():
        assert db.execute(chart["query"]).fetchall(), chart["title"]
