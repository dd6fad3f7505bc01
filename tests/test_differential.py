"""marches' structural validation agrees with `frictionless validate`, cell by cell.

Valid tables of 2022 records are mutated (one cell per mutation, seeded), then both tools
validate them, frictionless with the Table Schemas as they apply to 2022 records (``x-format``
merged in, :meth:`marches.model.Table.for_generation`): every cell frictionless finds in error,
marches finds too, with one of the kinds frictionless gives that cell (marches reports one
finding per cell), and no other cell. Business rules are marches' own and are left out.
"""

from __future__ import annotations

import csv
import json
import random
import re
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from frictionless import Package, system

from marches.cli import cli
from marches.generate import generate
from marches.model import TABLES, load_tables
from marches.report import STRUCTURE, Report
from marches.rules import Config
from marches.validate import validate

POOL = [
    "",
    "abc",
    "-1",
    "0",
    "1.5",
    "2024-13-01",
    "2024-02-30",
    "12345678901234567890",
    "x" * 1100,
    '["Zut"]',
    "[]",
    "true",
    "1e3",
    "12",
    "+5",
    "2024-01-01",
    "NC",
    "Marché",
    "45000000-7",
    '["Sans objet"]',
    "0.5",
    "2",
]
KEYS = {"record_key", "position", "modification_position", "donneesExecution_position", "generation", "source_path"}
STRUCTURAL = set(STRUCTURE)


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    return header, rows


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture(scope="module")
def mutated(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("differential")
    source, tables = directory / "d.json", directory / "tables"
    generate(source, "json-2022", contracts=120, seed=13, concession_share=0.15)
    assert CliRunner().invoke(cli, ["convert", str(source), "-o", str(tables), "-q"]).exit_code == 0
    rng = random.Random(2026)
    models = {name: table.for_generation("2022") for name, table in load_tables().items()}
    descriptor_path = tables / "datapackage.json"
    descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
    for resource in descriptor["resources"]:
        resource["schema"] = models[resource["name"]].descriptor
    descriptor_path.write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
    for name in TABLES:
        path = tables / f"{name}.csv"
        header, rows = _read(path)
        if not rows:
            continue
        original = [list(r) for r in rows]
        columns = [c for c in header if c not in KEYS]
        for _ in range(min(40, 4 * len(rows))):  # random cells, random values
            row, column = rng.randrange(len(rows)), rng.choice(columns)
            rows[row][header.index(column)] = rng.choice(POOL)
        for field in models[name].fields:  # and each constraint of each column at least once
            if field["name"] in KEYS:
                continue
            for value in _breakers(field):
                rows[rng.randrange(len(rows))][header.index(field["name"])] = value
        if "position" in header and len(rows) > 2:  # a repeated primary key, and an orphan row (otherwise valid)
            rows[1] = list(rows[1])
            rows[1][header.index("record_key")] = rows[0][header.index("record_key")]
            rows[1][header.index("position")] = rows[0][header.index("position")]
            orphan = list(original[0])
            orphan[header.index("record_key")] = "inconnu-0"
            rows.append(orphan)
        _write(path, header, rows)
    return tables


def _breakers(field: dict) -> list[str]:
    """Values that break each constraint of a field (and its type)."""
    constraints = field.get("constraints") or {}
    out = ["" if constraints.get("required") else "abc"]
    if field["type"] in ("integer", "number", "date", "boolean", "array"):
        out.append("abc")
    if field["type"] == "array":
        out += ['["Zut"]', "[]"]
    if "enum" in constraints:
        out.append("Zut")
    if "pattern" in constraints:
        out.append("12a")
    if "maxLength" in constraints:
        out.append("x" * (constraints["maxLength"] + 1))
    if "minimum" in constraints:
        out.append(str(constraints["minimum"] - 7))
    if "maximum" in constraints:
        out.append(str(constraints["maximum"] + 7))
    return out


def frictionless_errors(tables: Path) -> set[tuple]:
    with system.use_context(trusted=True):
        report = Package(str(tables / "datapackage.json")).validate(limit_errors=10**6)
    out = set()
    for task in report.tasks:
        for error in task.errors:
            kind = error.type
            if kind == "constraint-error":
                kind = re.search(r'constraint "(\w+)"', error.note).group(1)
            elif kind not in ("type-error", "primary-key", "foreign-key"):
                raise AssertionError(f"unexpected frictionless error {error.type}: {error.note}")
            field = None if kind in ("primary-key", "foreign-key") else error.field_name
            out.add((task.name, error.row_number, field, kind))
    return out


def marches_errors(tables: Path) -> set[tuple]:
    found = set()

    def sink(f) -> None:
        if f.code == "required" and f.field in ("titulaires", "concessionnaires"):
            return  # a list's minItems across two tables: beyond what a Table Schema expresses
        if f.code in STRUCTURAL:
            field = None if f.code in ("primary-key", "foreign-key") else f.field
            found.add((Path(f.file).stem, f.line, field, f.code))

    validate([tables], Config(as_of=date(2026, 11, 22)), None, Report(sink=sink))
    return found


def test_structural_findings_agree_with_frictionless(mutated):
    errors, ours = frictionless_errors(mutated), marches_errors(mutated)
    kinds: dict[tuple, set[str]] = {}
    for *cell, kind in errors:
        kinds.setdefault(tuple(cell), set()).add(kind)
    theirs = {(*cell, kind) for *cell, kind in ours if kind in kinds.get(tuple(cell), ())}
    theirs |= {(*cell, sorted(k)[0]) for cell, k in kinds.items() if not any(tuple(o[:3]) == cell for o in ours)}
    assert len(theirs) > 200, "the mutations produce errors of every kind"
    assert {kind for *_, kind in errors} >= {
        "type-error",
        "required",
        "enum",
        "pattern",
        "minimum",
        "maxLength",
        "primary-key",
        "foreign-key",
    }
    assert sorted(theirs - ours) == [], "reported by frictionless, missed by marches"
    assert sorted(ours - theirs) == [], "reported by marches only"
