"""The tabular model: the Frictionless Table Schemas of `schemas/` are its single source of truth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from marches.errors import SchemaError

MARCHE_TABLES = (
    "marches",
    "marches_titulaires",
    "marches_modifications",
    "marches_modifications_titulaires",
    "marches_actes_sous_traitance",
    "marches_modifications_actes_sous_traitance",
)
CONCESSION_TABLES = (
    "concessions",
    "concessions_concessionnaires",
    "concessions_modifications",
    "concessions_donnees_execution",
    "concessions_tarifs",
)
TABLES = MARCHE_TABLES + CONCESSION_TABLES
PACKAGE_TABLES = ("enregistrements", "quarantaine", "doublons", "constats")  # what marches package adds
ROOT_TABLES = {"marche": "marches", "concession": "concessions"}
# technical columns of the root tables: identity, provenance, and what reading had to keep aside
PROVENANCE_COLUMNS = (
    "record_key",
    "uid",
    "generation",
    "source_file",
    "source_position",
    "source_path",
    "source_line",
    "extra_fields",
    "original_values",
)
# columns giving an item's rank in its published list (part of the child tables' keys)
POSITION_COLUMNS = ("position", "modification_position", "donneesExecution_position")
TECHNICAL_COLUMNS = frozenset(PROVENANCE_COLUMNS + POSITION_COLUMNS)


def schema_dir() -> Path:
    """Where the Table Schemas live: inside the wheel, or at the top of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_schemas", here.parent / "schemas"):
        if (candidate / "marches.json").is_file():
            return candidate
    raise SchemaError(f"Schémas introuvables (cherchés dans {here / '_schemas'} et {here.parent / 'schemas'})")


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    descriptor: dict

    @property
    def fields(self) -> list[dict]:
        return self.descriptor["fields"]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f["name"] for f in self.fields)

    @property
    def types(self) -> dict[str, str]:
        return {f["name"]: f["type"] for f in self.fields}

    @property
    def primary_key(self) -> list[str]:
        return self.descriptor.get("primaryKey", [])

    @property
    def parent(self) -> str | None:
        fks = self.descriptor.get("foreignKeys") or []
        return fks[0]["reference"]["resource"] if fks else None

    def field(self, name: str) -> dict:
        for f in self.fields:
            if f["name"] == name:
                return f
        raise KeyError(name)

    def constraints_for(self, field: dict, generation: str | None) -> dict:
        """A field's constraints for records of one generation: ``constraints`` (every generation)
        tightened by its ``x-format`` entry for that generation (the official schema of that format).

        ``generation=None`` gives the constraints common to every generation: those the packaged
        tables, which mix both generations, must meet.
        """
        constraints = dict(field.get("constraints") or {})
        if generation is not None:
            constraints.update((field.get("x-format") or {}).get(generation, {}))
        return constraints

    def for_generation(self, generation: str) -> Table:
        """This table as a plain Table Schema of one generation (``x-format`` merged into ``constraints``)."""
        fields = []
        for f in self.fields:
            merged = {k: v for k, v in f.items() if k != "x-format"}
            constraints = self.constraints_for(f, generation)
            if constraints:
                merged["constraints"] = constraints
            fields.append(merged)
        return Table(self.name, {**self.descriptor, "fields": fields})


@cache
def load_tables() -> dict[str, Table]:
    directory = schema_dir()
    tables = {}
    for name in TABLES + PACKAGE_TABLES:
        path = directory / f"{name}.json"
        try:
            tables[name] = Table(name, json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise SchemaError(f"Schéma illisible {path} : {exc}") from exc
    return tables


def table(name: str) -> Table:
    return load_tables()[name]


def enum_values(table_name: str, field_name: str) -> tuple[str, ...]:
    """The allowed values of an enum field, or of each item of an array field."""
    f = table(table_name).field(field_name)
    constraints = f.get("arrayItem", {}).get("constraints") if f["type"] == "array" else f.get("constraints")
    return tuple((constraints or {}).get("enum", ()))
