"""The Table Schemas of schemas/ are valid, complete and agree with what the flattener writes."""

from __future__ import annotations

import json

import pytest
from frictionless import Schema

from marches.flatten import flatten
from marches.model import PACKAGE_TABLES, TABLES, load_tables, schema_dir
from marches.readers import open_input
from tests.conftest import FIXTURES, ROOT


@pytest.mark.parametrize("table", TABLES + PACKAGE_TABLES)
def test_schema_is_a_valid_table_schema(table):
    path = ROOT / "schemas" / f"{table}.json"
    report = Schema.validate_descriptor(str(path))
    assert report.valid, report.flatten(["type", "note"])
    schema = Schema.from_descriptor(str(path))
    assert schema.primary_key or table == "constats", "every table but the findings has a primary key"


@pytest.mark.parametrize("table", TABLES + PACKAGE_TABLES)
def test_every_field_is_documented_in_french(table):
    for field in load_tables()[table].fields:
        assert field.get("title"), f"{table}.{field['name']} has no title"
        assert len(field.get("description", "")) > 10, f"{table}.{field['name']} has no description"


def test_child_tables_reference_their_parent():
    tables = load_tables()
    for name in TABLES:
        table = tables[name]
        if name in ("marches", "concessions"):
            assert not table.descriptor.get("foreignKeys")
            continue
        fk = table.descriptor["foreignKeys"][0]
        parent = tables[fk["reference"]["resource"]]
        assert fk["reference"]["fields"] == parent.primary_key[: len(fk["fields"])] or set(
            fk["reference"]["fields"]
        ) <= set(parent.field_names)
        assert "record_key" in fk["fields"]


def test_schema_dir_is_the_top_level_one():
    assert schema_dir() == ROOT / "schemas"


def test_identifier_columns_are_strings():
    """SIRETs, ids and postal codes are text: a number would lose leading zeros."""
    tables = load_tables()
    for table, column in [
        ("marches", "acheteur_id"),
        ("marches", "id"),
        ("marches", "lieuExecution_code"),
        ("marches_titulaires", "id"),
        ("concessions", "autoriteConcedante_id"),
        ("marches_actes_sous_traitance", "sousTraitant_id"),
    ]:
        assert tables[table].types[column] == "string"


def test_required_in_2022_marks_are_declared_on_existing_fields():
    for table in load_tables().values():
        for field in table.fields:
            if "x-requiredIn" in field:
                assert field["x-requiredIn"] == ["2022"]
                assert not field.get("constraints", {}).get("required")


@pytest.mark.parametrize("fixture", ["valid-2022.json", "mixed-array-2019-2022.json"])
def test_flattener_writes_exactly_the_schema_columns(fixture):
    tables = load_tables()
    for raw in open_input(FIXTURES / fixture).records:
        record = flatten(raw)
        for name, rows in record.rows.items():
            for row in rows:
                written = {f["name"] for f in tables[name].fields if "x-computed" not in f}
                assert set(row) == written, name


def test_schema_files_are_pretty_utf8_json():
    for path in (ROOT / "schemas").glob("*.json"):
        text = path.read_text(encoding="utf-8")
        assert "\\u00e9" not in text  # accents are written as such, readable by people
        json.loads(text)
