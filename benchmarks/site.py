"""The platform at national scale: package, publish and serve N generated contracts, then time every page.

    python benchmarks/site.py [--contracts 1500000] [--work DIR] [--readme README.md]

Times the home page, every table page (with its default facets: any facet Datasette gives up on
is reported), a full-text search, every canned query and every dashboard chart query, each
requested three times (the first request and the median are both recorded). Writes
benchmarks/site-results.md and .json; with --readme, replaces the README section between the
site-bench markers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.bench import machine  # noqa: E402
from marches.model import PACKAGE_TABLES, TABLES  # noqa: E402
from marches.site import EXTRA_TABLES, FACETS, QUERIES, build_metadata  # noqa: E402

START, END = "<!-- site-bench:start -->", "<!-- site-bench:end -->"
PARAMS = {"annee": "2025", "pourcentage": "20"}


def _run(label: str, command: list[str]) -> float:
    print(f"{label}…", file=sys.stderr)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def _get(url: str) -> tuple[int, float, bytes]:
    """One request, timed; with a cookie, so that marches serve computes the page (its page cache is bypassed)."""
    start = time.perf_counter()
    try:
        request = urllib.request.Request(url, headers={"Cookie": "mesure=1"})
        with urllib.request.urlopen(request, timeout=120) as response:
            body, status = response.read(), response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    return status, time.perf_counter() - start, body


def _measure(base: str, path: str) -> dict:
    times, status, body = [], 0, b""
    for _ in range(3):
        status, seconds, body = _get(base + path)
        times.append(seconds)
    return {
        "path": path,
        "status": status,
        "first": round(times[0], 3),
        "median": round(statistics.median(times), 3),
        "body": body,
    }


def _with_filters(query: str, filters: dict[str, str]) -> str:
    """What datasette-dashboards does with a chart query: keep the [[ … ]] parts whose parameter is given."""
    return re.sub(r"\[\[(.*?)\]\]", lambda m: m[1] if re.search(r":(\w+)", m[1])[1] in filters else "", query)


def rerender(readme: Path | None = None) -> str:
    """The table again from site-results.json (after a change of presentation)."""
    data = json.loads((HERE / "site-results.json").read_text())
    table = render(data["pages"], data["steps"], data["machine"], data["contracts"])
    (HERE / "site-results.md").write_text(table + "\n")
    if readme:
        text = readme.read_text(encoding="utf-8")
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        readme.write_text(f"{head}{START}\n{table}\n{END}{tail}", encoding="utf-8")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contracts", type=int, default=1_500_000)
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "marches-site-bench")
    parser.add_argument("--readme", type=Path)
    parser.add_argument("--reuse", action="store_true", help="reuse the data and package of a previous run")
    parser.add_argument(
        "--reuse-database", action="store_true", help="with --reuse: serve the database of a previous run as it is"
    )
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    marches = [sys.executable, "-m", "marches.cli"]
    source, pkg, database = work / "decp.json", work / "datapackages" / "decp", work / "decp.db"
    steps = {}
    if not source.is_file():
        steps["generate"] = _run(
            "generate",
            [
                *marches,
                "generate",
                "-o",
                str(source),
                "-n",
                str(args.contracts),
                "--seed",
                "7",
                "--defects",
                "0.05",
                "-q",
            ],
        )
    if not (args.reuse and (pkg / "datapackage.json").is_file()):
        steps["package"] = _run(
            "package", [*marches, "package", str(source), "-o", str(pkg), "-q", "--as-of", date.today().isoformat()]
        )
    store = work / "sirene.sqlite"
    if not (args.reuse and store.is_file()):
        steps["sirene"] = _run(
            "sirene",
            [
                *marches,
                "sirene",
                "generate",
                "-o",
                str(work / "stock"),
                "--contracts",
                str(args.contracts),
                "--seed",
                "7",
            ],
        ) + _run(
            "sirene install",
            [*marches, "sirene", "install", "-q", "-o", str(store), *map(str, sorted((work / "stock").glob("*.zip")))],
        )
    if not (args.reuse and args.reuse_database and database.is_file()):
        steps["publish"] = _run(
            "publish", [*marches, "publish", str(pkg), "-o", str(database), "--sirene", str(store), "-q"]
        )

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [*marches, "serve", str(database), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # serve starts Datasette as a child: both are stopped together
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/-/versions.json", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        pages = ["/", "/decp"]
        tables = [*list(TABLES + PACKAGE_TABLES), *EXTRA_TABLES, "marches_par_titulaire"]
        pages += [f"/decp/{t}" for t in tables]
        pages.append("/decp/marches?_search=" + urllib.parse.quote("entretien espaces verts"))
        pages.append(
            "/decp/marches?_search="
            + urllib.parse.quote("réhabilitation thermique")
            + "&procedure="
            + urllib.parse.quote("Appel d'offres ouvert")
        )
        for name, query in QUERIES.items():
            params = {k: v for k, v in PARAMS.items() if f":{k}" in query["sql"]}
            if "siret" in query["sql"]:
                params["siret"] = "__SIRET__"
            pages.append(f"/decp/{name}?" + urllib.parse.urlencode(params))
        charts = build_metadata()["plugins"]["datasette-dashboards"]["indicateurs"]["charts"]
        for filters in ({}, {"annee": "2025", "division": "45"}):
            pages += [
                "/decp.json?" + urllib.parse.urlencode({"sql": _with_filters(c["query"], filters), **filters})
                for c in charts.values()
            ]
        pages += ["/-/dashboards/indicateurs", "/-/dashboards/indicateurs?annee=2025&division=45"]
        pages += ["/-/recherche?q=" + urllib.parse.quote("entretien espaces verts"), "/-/a-propos"]
        pages += ["/decp/marches/__KEY__", "/decp/acheteurs/__BUYER__", "/decp/titulaires/__HOLDER__"]
        pages.append("/-/recherche?q=__HOLDER__")
        pages += ["/-/recherche?q=__NAME__", "/decp/marches?_search=__NAME__"]
        pages.append("/decp/marches?_search=__NAME__&_repartition=1")  # its facets, asked for
        pages += ["/decp/titulaires?departement=69", "/decp/titulaires?categorie_entreprise=PME"]
        pages += ["/decp/acheteurs?departement=75", "/decp/marches?categorie_entreprise=PME"]
        sample = json.loads(_get(base + "/decp/marches.json?_size=1&_shape=array")[2])[0]
        holder = json.loads(_get(base + "/decp/marches_titulaires.json?_size=1&_shape=array")[2])[0]["id"]
        # the largest buyer and titulaire: their pages are the heaviest
        big_buyer = json.loads(_get(base + "/decp/acheteurs.json?_size=1&_shape=array&_sort_desc=nombre_marches")[2])[
            0
        ]["acheteur_id"]
        big_holder = json.loads(_get(base + "/decp/titulaires.json?_size=1&_shape=array&_sort_desc=nombre_marches")[2])[
            0
        ]["titulaire_id"]
        name = json.loads(_get(base + f"/decp/titulaires/{big_holder}.json?_shape=array")[2])[0]["denominationSociale"]
        word = urllib.parse.quote(name or "martin")  # a company searched by its name
        results = []
        for page in pages:
            page = page.replace("__NAME__", word)
            if "__SIRET__" in page:
                page = page.replace("__SIRET__", holder if "titulaire" in page else sample["acheteur_id"])
            page = page.replace("__KEY__", sample["record_key"]).replace("__BUYER__", big_buyer)
            page = page.replace("__HOLDER__", big_holder)
            r = _measure(base, page)
            facets_missing = []
            table = page.split("?")[0].removeprefix("/decp/")
            if table in FACETS and "?" not in page:
                data = json.loads(_get(base + f"/decp/{table}.json?_size=1")[2])
                shown = set(data.get("facet_results", {}))
                facets_missing = [f for f in FACETS[table] if f not in shown] + data.get("facets_timed_out", [])
            r["facets_missing"] = facets_missing
            del r["body"]
            results.append(r)
            print(f"  {r['median']:>7.3f} s  {r['status']}  {page[:100]}", file=sys.stderr)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    info = {**machine(), "load": os.getloadavg()}
    (HERE / "site-results.json").write_text(
        json.dumps({"machine": info, "contracts": args.contracts, "steps": steps, "pages": results}, indent=2) + "\n"
    )
    print(rerender(args.readme))


def render(results: list[dict], steps: dict, info: dict, contracts: int) -> str:
    slow = [r for r in results if r["median"] >= 1 or r["status"] != 200 or r["facets_missing"]]
    lines = [
        f"{contracts:,} contrats générés".replace(",", "\u202f")
        + f" ; machine : {info['cpu']}, {info['cores']} cœurs ; "
        f"mesuré le {info['date']}. "
        + ("Construction : " + ", ".join(f"{k} {v:.0f} s" for k, v in steps.items()) if steps else "Base reprise")
        + "."
        + (
            " Charge de la machine à la fin (1, 5, 15 min) : " + ", ".join(f"{x:.2f}" for x in info["load"]) + "."
            if info.get("load")
            else ""
        ),
        "",
        f"{len(results)} pages et requêtes ; {len(results) - len(slow)} sous la seconde (médiane de 3 appels), "
        f"toutes les facettes par défaut calculées : {'oui' if not any(r['facets_missing'] for r in results) else 'non'}.",
        "",
        "| page ou requête | statut | 1er appel | médiane | facettes manquantes |",
        "|---|---:|---:|---:|---|",
    ]
    for r in results:
        path = urllib.parse.unquote(r["path"])
        path = path if len(path) < 90 else path[:87] + "…"
        first, median = (f"{r[k]:.3f}".replace(".", ",") for k in ("first", "median"))
        lines.append(
            f"| `{path.replace('|', '¦')}` | {r['status']} | {first} s | {median} s | {', '.join(r['facets_missing'])} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
