"""One measured stage, run in its own process so that its peak memory is its own.

    python benchmarks/stage.py NAME INPUT [OUTPUT]

prints one JSON line: {"stage", "seconds", "cpu_seconds", "peak_mb", "items"}. ``cpu_seconds`` is the
processor time of the stage (user + system, every thread, worker processes included), which other work
on the machine does not inflate as it does the wall time; ``peak_mb`` is the largest resident memory of
the stage's processes together (sampled every 50 ms, worker processes included, and never below the
stage process's own peak).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

WORKERS = 2  # the stages that use both cores of the measuring machine

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


def package(source: str, output: str, workers: int = 0) -> int:
    """marches package: read, validate, write the Frictionless data package."""
    from datetime import date

    from marches.package import package as run
    from marches.rules import Config

    return run([Path(source)], Path(output), config=Config(as_of=date(2026, 11, 22)), workers=workers).records


def package_workers(source: str, output: str) -> int:
    """marches package with the records flattened in WORKERS worker processes."""
    return package(source, output, WORKERS)


def publish(package_dir: str, output: str) -> int:
    """marches publish: the SQLite database of the platform from the package."""
    from marches.publish import publish as run

    run([Path(package_dir)], Path(output))
    return 0


def _validate(path: str, workers: int = 0) -> int:
    from datetime import date

    from marches import cpv
    from marches.report import Report
    from marches.rules import Config
    from marches.validate import validate

    cpv_file = SHARED_SCHEMA.parents[3] / "cpv" / "cpv2008_en.csv"
    nomenclature = cpv.load(cpv_file) if cpv_file.is_file() else None
    config = Config(as_of=date(2026, 11, 22))
    report = validate([Path(path)], config, nomenclature, Report(examples_per_rule=5), workers=workers)
    return sum(report.records.values())


def validate_json(source: str, _output: str) -> int:
    """marches validate on the JSON file: read, flatten, structure and every rule."""
    return _validate(source)


def validate_json_workers(source: str, _output: str) -> int:
    """marches validate on the JSON file, its batches validated in WORKERS worker processes."""
    return _validate(source, WORKERS)


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
        package_workers,
        publish,
        validate_json,
        validate_json_workers,
        validate_tables,
        orjson_floor,
        ijson_floor,
        jsonschema_official,
        frictionless_validate,
    )
}


def _rss_kb(pid: int) -> int:
    """Resident memory of a process and of all its descendants, in kB (0 once they are gone)."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += _rss_kb(int(child))
    except (OSError, ValueError):
        pass
    return total


class _Peak(threading.Thread):
    """The largest resident memory of this process and its children together, sampled."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_kb, self.done = 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.peak_kb = max(self.peak_kb, _rss_kb(os.getpid()))


def _cpu() -> float:
    """Processor time of this process and of its children that have ended (worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    name, source = sys.argv[1], sys.argv[2]
    output = sys.argv[3] if len(sys.argv) > 3 else ""
    sampler = _Peak()
    sampler.start()
    start, cpu = time.perf_counter(), _cpu()
    items = STAGES[name](source, output)
    seconds, cpu_seconds = time.perf_counter() - start, _cpu() - cpu
    sampler.done.set()
    sampler.join()
    own_peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mb = max(sampler.peak_kb, own_peak_kb) / 1024
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
