"""The SIRENE benchmark: installing national-size stock files, and validating with the store.

    python benchmarks/sirene.py [--etablissements 40000000] [--contracts 100000] [--work DIR] [--readme README.md]

Generates StockEtablissement and StockUniteLegale in INSEE's layout (zipped CSV, as published),
with the buyers and titulaires of a generated DECP file among them, then measures, each step in its
own process (wall time, peak resident memory): ``marches sirene install`` of the two files, and
``marches validate`` of the DECP file without and with the store. Results go to
benchmarks/sirene-results.md and .json; with --readme, to the README between the sirene-bench markers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import machine  # noqa: E402

START, END = "<!-- sirene-bench:start -->", "<!-- sirene-bench:end -->"
SEED = 42
STEP = """
import json, resource, sys, time
from pathlib import Path
start = time.perf_counter()
{body}
print(json.dumps({{"seconds": round(time.perf_counter() - start, 2),
    "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "items": items}}))
"""
BODIES = {
    "generate-decp": "from marches.generate import generate\n"
    "items = generate(Path({decp!r}), 'json-2022', {contracts}, seed={seed}, concession_share=0.02).contracts",
    "generate-sirene": "from marches.generate.sirene import generate_sirene\n"
    "paths, _ = generate_sirene(Path({files!r}), 'zip', {etablissements}, seed={seed}, contracts={contracts})\n"
    "items = {etablissements}",
    "install": "from marches.sirene.install import install\n"
    "s = install(sorted(Path({files!r}).glob('*.zip')), Path({store!r}))\n"
    "items = s.rows['etablissements'] + s.rows['unites_legales']",
    "validate": "from datetime import date\nfrom marches.validate import validate\nfrom marches.rules import Config\n"
    "from marches.sirene import Sirene\n"
    "store = Sirene(Path({store!r})) if {with_store} else None\n"
    "r = validate([Path({decp!r})], Config(as_of=date(2026, 11, 22)), sirene=store)\n"
    "items = sum(r.records.values())",
}
LABELS = {
    "generate-sirene": "génération des fichiers de stock (CSV zippé, format INSEE)",
    "install": "marches sirene install (établissements + unités légales)",
    "validate-without": "marches validate du JSON, sans SIRENE",
    "validate-with": "marches validate du JSON, avec SIRENE",
}


def run(name: str, **values) -> dict:
    body = BODIES[name].format(**values)
    result = subprocess.run([sys.executable, "-c", STEP.format(body=body)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{name} a échoué :\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def fr(value: float, decimals: int = 1) -> str:
    return f"{value:,.{decimals}f}".replace(",", "\u202f").replace(".", ",")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--etablissements", type=int, default=40_000_000)
    parser.add_argument("--contracts", type=int, default=100_000)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--readme", type=Path)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the files, store and timings of a previous run; time validation again",
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="marches-sirene-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    files, store, decp = work / "stock", work / "sirene.sqlite", work / "decp.json"
    values = {
        "files": str(files),
        "store": str(store),
        "decp": str(decp),
        "contracts": args.contracts,
        "etablissements": args.etablissements,
        "seed": SEED,
    }
    results = {}
    if args.reuse and store.is_file():
        previous = json.loads((HERE / "sirene-results.json").read_text(encoding="utf-8"))["results"]
        results = {k: previous[k] for k in ("generate-sirene", "install")}
    else:
        run("generate-decp", **values)
        results["generate-sirene"] = run("generate-sirene", **values)
        results["install"] = run("install", **values)
    sizes = {p.name: p.stat().st_size for p in sorted(files.glob("*.zip"))}
    results["validate-without"] = run("validate", with_store=False, **values)
    results["validate-with"] = run("validate", with_store=True, **values)
    info = machine()
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").is_file() else []
    lines = [
        f"Machine : {info['cpu'].strip()}, {info['cores']} cœurs ; mesuré le {dt.date.today().isoformat()}. "
        f"Fichiers : {fr(args.etablissements, 0)} établissements ; "
        + " ; ".join(f"{name} {fr(size / 1e6, 0)} Mo" for name, size in sizes.items())
        + f" ; répertoire installé : {fr(store.stat().st_size / 1e6, 0)} Mo.",
        "",
        "| étape | durée | lignes ou contrats / s | mémoire max |",
        "|---|---:|---:|---:|",
    ]
    for key, label in LABELS.items():
        r = results[key]
        lines.append(
            f"| {label} | {fr(r['seconds'])} s | {fr(r['items'] / max(r['seconds'], 0.001), 0)} | "
            f"{fr(r['peak_mb'], 0)} Mo |"
        )
    lines.append("")
    lines.append(f"Validation : {args.contracts:,} contrats générés (graine {SEED}).".replace(",", "\u202f"))
    if load:
        lines.append(f"Charge de la machine à la fin de la mesure (1, 5, 15 min) : {', '.join(load)}.")
    text = "\n".join(lines)
    print(text)
    (HERE / "sirene-results.md").write_text(text + "\n", encoding="utf-8")
    (HERE / "sirene-results.json").write_text(
        json.dumps({"machine": info, "files": sizes, "results": results}, indent=2) + "\n", encoding="utf-8"
    )
    if args.readme:
        readme = args.readme.read_text(encoding="utf-8")
        head, rest = readme.split(START, 1)
        _, tail = rest.split(END, 1)
        args.readme.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    main()
