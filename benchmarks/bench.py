"""The benchmark: marches' stages and the tools users have today, on the same generated files.

    python benchmarks/bench.py [--sizes 10000 100000 1500000] [--work DIR] [--readme README.md]

For each size it generates a clean JSON 2022 file (seeded), then measures, each stage in its
own process (wall time, processor time, throughput, peak resident memory):

* marches stages: generate, convert (read + flatten + write the tables), validate (the JSON, the
  tables), and the national chain: package (read + validate + write the data package) and publish
  (the SQLite database);
* peers: the parse floor (orjson loading the whole file; ijson streaming it), the official
  JSON Schema checked record by record with jsonschema, and `frictionless validate` of the
  tables against schemas/.

Ratios compare processor times (user + system): on a machine other work loads, wall times
stretch with the load, processor times much less. It prints the ratios and writes benchmarks/results.md and .json; with --readme it replaces the
README's section between the bench markers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STAGE = HERE / "stage.py"
SHARED_SCHEMA = HERE.parents[1] / "shared" / "reference" / "decp" / "schemas" / "v2.0.3" / "schema_decp_v2.0.3.json"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
LABELS = {
    "generate": "marches generate",
    "convert": "marches convert (lecture + aplatissement + écriture)",
    "validate-json": "marches validate du JSON (lecture + structure + règles)",
    "validate-json-workers": "marches validate du JSON, --workers 2 (les deux cœurs)",
    "validate-tables": "marches validate des tables (structure + règles)",
    "package": "marches package (lecture + validation + paquet)",
    "package-workers": "marches package, --workers 2 (les deux cœurs)",
    "publish": "marches publish (base SQLite)",
    "orjson-floor": "plancher : orjson charge tout le JSON",
    "ijson-floor": "plancher : ijson (C) lit le JSON en flux",
    "jsonschema-official": "jsonschema : schéma officiel 2.0.3, contrat par contrat",
    "frictionless-validate": "frictionless validate des tables (schemas/)",
}
PEERS = ("orjson-floor", "ijson-floor", "jsonschema-official", "frictionless-validate")
OURS = (
    "generate",
    "convert",
    "validate-json",
    "validate-json-workers",
    "validate-tables",
    "package",
    "package-workers",
    "publish",
)
# which marches stages do the same work as each peer (or stand on it), for the ratios; those on both
# cores are compared in wall time (what their second core buys), the others in processor time
WALL = ("validate-json-workers", "package-workers")
COMPARED = {
    "orjson-floor": ("convert",),
    "ijson-floor": ("convert", "validate-json", "validate-json-workers"),
    "jsonschema-official": ("validate-json",),
    "frictionless-validate": ("validate-tables",),
}


def replace_section(readme: Path, start: str, end: str, table: str) -> None:
    """Put ``table`` between the ``start`` and ``end`` markers of the README (nothing if they are absent)."""
    text = readme.read_text(encoding="utf-8")
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        readme.write_text(f"{head}{start}\n{table}\n{end}{tail}", encoding="utf-8")


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(
            next(
                line.split()[1]
                for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")
            )
        )
    except (OSError, StopIteration):
        mem_kb = 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "system": platform.platform(terse=True),
        "date": dt.date.today().isoformat(),
    }


def run_stage(name: str, *args: str) -> dict:
    completed = subprocess.run([sys.executable, str(STAGE), name, *args], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"stage {name} failed:\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def bench_size(size: int, work: Path) -> list[dict]:
    directory = work / str(size)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    source, tables = directory / "decp.json", directory / "tables"
    results = [run_stage("generate", str(size), str(source))]
    results.append(run_stage("convert", str(source), str(tables)))
    results.append(run_stage("validate-json", str(source)))
    results.append(run_stage("validate-json-workers", str(source)))
    results.append(run_stage("validate-tables", str(tables)))
    results.append(run_stage("package", str(source), str(directory / "paquet")))
    shutil.rmtree(directory / "paquet")
    results.append(run_stage("package-workers", str(source), str(directory / "paquet")))
    results.append(run_stage("publish", str(directory / "paquet"), str(directory / "decp.db")))
    for peer in PEERS:
        if peer == "jsonschema-official" and not SHARED_SCHEMA.is_file():
            print(f"  {peer}: skipped (../shared/reference absent)", file=sys.stderr)
            continue
        results.append(run_stage(peer, str(tables if peer == "frictionless-validate" else source)))
    for r in results:
        r["size"] = size
        r["file_mb"] = round(source.stat().st_size / 1e6, 1)
        r["contracts_per_s"] = round(size / r["seconds"]) if r["seconds"] else None
        print(
            f"  {r['stage']:<24} {r['seconds']:>9.2f} s  {r['cpu_seconds']:>9.2f} s CPU  "
            f"{r['contracts_per_s'] or 0:>9} contrats/s  "
            f"{r['peak_mb']:>8.0f} Mo",
            file=sys.stderr,
        )
    shutil.rmtree(directory, ignore_errors=True)
    return results


def _n(number: int) -> str:
    return f"{number:,}".replace(",", "\u202f")  # narrow no-break space, the French thousands separator


def render(results: list[dict], info: dict) -> str:
    lines = [
        f"Machine : {info['cpu']}, {info['cores']} cœurs, {info['memory_gb']} Go ; Python {info['python']} ; "
        f"{info['system']} ; mesuré le {info['date']}.",
        "",
        "| contrats | JSON | étape | durée | temps processeur | débit (contrats/s) | mémoire max | marches ÷ pair |",
        "|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for size in sorted({r["size"] for r in results}):
        rows = [r for r in results if r["size"] == size]
        by_stage = {r["stage"]: r for r in rows}
        for r in rows:
            ratios = []
            for ours_name in COMPARED.get(r["stage"], ()):
                if ours_name not in by_stage:
                    continue
                measure = "seconds" if ours_name in WALL else "cpu_seconds"
                value = by_stage[ours_name][measure] / r[measure]
                speed = f"{1 / value:.1f} × plus rapide" if value < 1 else f"{value:.1f} × plus lent"
                unit = " (durée)" if ours_name in WALL else ""
                ratios.append(f"{value:.2f} : {ours_name}{unit} {speed}".replace(".", ","))
            lines.append(
                f"| {_n(size)} | {str(r['file_mb']).replace('.', ',')} Mo | {LABELS[r['stage']]} | "
                f"{_s(r['seconds'])} | {_s(r['cpu_seconds'])} | {_n(r['contracts_per_s'])} | "
                f"{_n(round(r['peak_mb']))} Mo | {' ; '.join(ratios)} |"
            )
        for first, label in (("package", "package"), ("package-workers", "package --workers 2")):
            chain = [by_stage[s] for s in (first, "publish") if s in by_stage]
            if len(chain) == 2:
                lines.append(
                    f"| {_n(size)} | | chaîne nationale : {label} (qui lit et valide) puis publish | "
                    f"{_s(sum(r['seconds'] for r in chain))} | {_s(sum(r['cpu_seconds'] for r in chain))} | | "
                    f"{_n(round(max(r['peak_mb'] for r in chain)))} Mo | |"
                )
    lines += [
        "",
        "Ratio = temps processeur (utilisateur + système) de l'étape marches qui fait le même travail ÷ "
        "celui du pair (convert et validate du JSON pour les planchers d'analyse, validate du JSON pour "
        "jsonschema, validate des tables pour frictionless) ; pour les étapes sur les deux cœurs "
        "(--workers 2), durée ÷ durée : ce que rapporte le second cœur. < 1 : marches est plus rapide. "
        "Temps processeur et mémoire comptent les processus de travail ; la mémoire est celle de tous "
        "les processus ensemble. La durée murale dépend de la charge de la machine.",
    ]
    return "\n".join(lines)


def _s(seconds: float) -> str:
    return f"{str(round(seconds, 2)).replace('.', ',')} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=int, default=[10000, 100000, 1500000])
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "marches-bench")
    parser.add_argument("--readme", type=Path, help="README whose bench section is replaced by the results")
    args = parser.parse_args()
    info = machine()
    results = []
    for size in args.sizes:
        print(f"{size} contrats :", file=sys.stderr)
        results.extend(bench_size(size, args.work))
    table = render(results, info)
    (HERE / "results.json").write_text(json.dumps({"machine": info, "results": results}, indent=2) + "\n")
    (HERE / "results.md").write_text(table + "\n")
    print(table)
    if args.readme:
        replace_section(args.readme, START, END, table)


if __name__ == "__main__":
    main()
