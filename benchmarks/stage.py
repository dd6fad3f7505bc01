"""One measured stage, run in its own process so that its peak memory is its own.

    python benchmarks/stage.py NAME INPUT [OUTPUT]

prints one JSON line: {"stage", "seconds", "cpu_seconds", "peak_mb", "items"}. ``cpu_seconds`` is the
processor time of the stage (user + system, every thread), which other work on the machine does not
inflate as it does the wall time.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

SHARED_SCHEMA = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "reference"
    / "decp"
    / "schemas"
    / "v2.0.3"
    / "schema_decp_v2.0.3.json"
)


def generate(size: str, output: str) -> int:
    from marches.generate import generate as run

    return run(Path(output), "json-2022", int(size), seed=42, concession_share=0.02).contracts


def convert(source: str, output: str) -> int:
    from marches.convert import convert as run

    summary = run([Path(source)], Path(output))
    return sum(summary.records.values())


def package(source: str, output: str) -> int:
    """marches package: read, validate, write the Frictionless data package."""
    from datetime import date

    from marches.package import package as run
    from marches.rules import Config

    return run([Path(source)], Path(output), config=Config(as_of=date(2026, 11, 22))).records


def publish(package_dir: str, output: str) -> int:
    """marches publish: the SQLite database of the platform from the package."""
    from marches.publish import publish as run

    run([Path(package_dir)], Path(output))
    return 0


def _validate(path: str) -> int:
    from datetime import date

    from marches import cpv
    from marches.report import Report
    from marches.rules import Config
    from marches.validate import validate

    cpv_file = SHARED_SCHEMA.parents[3] / "cpv" / "cpv2008_en.csv"
    nomenclature = cpv.load(cpv_file) if cpv_file.is_file() else None
    report = validate([Path(path)], Config(as_of=date(2026, 11, 22)), nomenclature, Report(examples_per_rule=5))
    return sum(report.records.values())


def validate_json(source: str, _output: str) -> int:
    """marches validate on the JSON file: read, flatten, structure and every rule."""
    return _validate(source)


def validate_tables(tables: str, _output: str) -> int:
    """marches validate on the tables marches convert wrote: structure and every rule."""
    return _validate(tables)


def orjson_floor(source: str, _output: str) -> int:
    import orjson

    data = orjson.loads(Path(source).read_bytes())["marches"]
    return sum(len(v) for v in data.values())


def ijson_floor(source: str, _output: str) -> int:
    import ijson

    count = 0
    for prefix in ("marches.marche.item", "marches.contrat-concession.item"):
        with open(source, "rb") as fh:
            count += sum(1 for _ in ijson.items(fh, prefix, use_float=True))
    return count


def jsonschema_official(source: str, _output: str) -> int:
    """What the consolidation pipeline does: each record against the official JSON Schema."""
    import ijson
    import jsonschema

    schema = json.loads(SHARED_SCHEMA.read_text(encoding="utf-8"))
    count = errors = 0
    for prefix, definition in (
        ("marches.marche.item", "marche"),
        ("marches.contrat-concession.item", "contrat-concession"),
    ):
        validator = jsonschema.Draft7Validator({**schema, "$ref": f"#/definitions/{definition}"})
        with open(source, "rb") as fh:
            for record in ijson.items(fh, prefix, use_float=True):
                errors += sum(1 for _ in validator.iter_errors(record))
                count += 1
    return count


def frictionless_validate(tables: str, _output: str) -> int:
    """`frictionless validate datapackage.json` on the tables marches convert wrote."""
    from frictionless import Package, system

    with system.use_context(trusted=True):
        report = Package(str(Path(tables) / "datapackage.json")).validate(limit_errors=10**9)
    return sum(task.stats.get("rows", 0) or 0 for task in report.tasks)


STAGES = {
    f.__name__.replace("_", "-"): f
    for f in (
        generate,
        convert,
        package,
        publish,
        validate_json,
        validate_tables,
        orjson_floor,
        ijson_floor,
        jsonschema_official,
        frictionless_validate,
    )
}

if __name__ == "__main__":
    name, source = sys.argv[1], sys.argv[2]
    output = sys.argv[3] if len(sys.argv) > 3 else ""
    start, cpu = time.perf_counter(), time.process_time()
    items = STAGES[name](source, output)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "stage": name,
                "seconds": round(seconds, 3),
                "cpu_seconds": round(cpu_seconds, 3),
                "peak_mb": round(peak_mb, 1),
                "items": items,
            }
        )
    )
