"""The Datasette site: metadata.yml in step with the Table Schemas, canned queries and dashboards that run."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
import yaml

from marches.enrich import REFERENCE
from marches.generate import generate
from marches.model import PACKAGE_TABLES, TABLES, load_tables
from marches.package import package
from marches.publish import DERIVED, INDEXES, SUMMARIES, publish
from marches.rules import Config
from marches.site import EXTRA_TABLES, FACETS, QUERIES, build_metadata, metadata_yaml
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
    assert set(SUMMARIES) | set(REFERENCE) | {"relations", "paquets"} == set(EXTRA_TABLES)


def test_every_table_of_the_database_is_titled_and_its_columns_exist(database):
    db = sqlite3.connect(database)
    tables = build_metadata()["databases"]["decp"]["tables"]
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    assert {n for n in names if "_fts" not in n and not n.startswith("sqlite_")} <= set(tables)
    for name, entry in tables.items():
        actual = {r[1] for r in db.execute(f"PRAGMA table_info('{name}')")}
        assert set(entry.get("columns", {})) <= actual, name
        assert set(entry.get("colonnes", [])) <= actual, name


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
    for spec in QUERIES[name].get("parametres", {}).values():
        for key in ("choix_sql", "exemple_sql"):
            if key in spec:
                assert db.execute(spec[key]).fetchall(), (name, key)
    rows = db.execute(QUERIES[name]["sql"], params).fetchall()
    assert rows, name


def _with_filters(query: str, values: dict[str, str]) -> tuple[str, dict[str, str]]:
    """What datasette-dashboards does: keep the [[ … ]] parts whose parameter is given."""
    import re

    kept = re.sub(r"\[\[(.*?)\]\]", lambda m: m[1] if re.search(r":(\w+)", m[1])[1] in values else "", query)
    return kept, values


@pytest.mark.parametrize(
    "filters", [{}, {"annee": "2025"}, {"annee": "2025", "division": "45", "procedure": "Procédure adaptée"}]
)
def test_dashboard_charts_run_with_their_filters_and_link_to_the_contracts(database, filters):
    db = sqlite3.connect(database)
    dashboard = build_metadata()["plugins"]["datasette-dashboards"]["indicateurs"]
    charts, layout = dashboard["charts"], dashboard["layout"]
    assert {c for row in layout for c in row} == set(charts)
    for key, spec in dashboard["filters"].items():
        assert db.execute(spec["query"]).fetchall(), key
    for chart in charts.values():
        rows = db.execute(*_with_filters(chart["query"], filters)).fetchall()
        assert rows, (chart["title"], filters)
        if filters.get("annee") and chart["query"].startswith("SELECT annee"):
            assert {r[0] for r in rows} == {2025}, chart["title"]
        cursor = db.execute(*_with_filters(chart["query"], filters))
        link = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))["lien"]
        assert link.startswith("/decp/marches?") and all(f"={v}" in link for v in filters.values()), link
