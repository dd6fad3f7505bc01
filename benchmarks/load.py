"""The platform under load: 20 clients for 60 s on loopback, light pages mixed with slow and hostile requests.

    python benchmarks/load.py [--database DECP.DB | --work DIR] [--clients 20] [--seconds 60] [--readme README.md]

Serves the database with ``marches serve`` (by default the one ``benchmarks/site.py`` built in
its work folder) and runs ``--clients`` concurrent clients for ``--seconds``:

* most clients are readers: table pages (with their default facets), extra facets, full-text
  searches, canned queries and the dashboards' queries, in a fixed random mix;
* ``--slow`` clients (3) send SQL that runs until the time limit (a join of the main table with
  itself): three slow queries at once used to stall every page;
* ``--hostile`` clients (1) send what a hostile visitor sends: ``?sql=DELETE…``, a 900 MB
  ``randomblob``, a result of hundreds of megabytes, POSTs to write endpoints.

Reports, per kind of request, the number of requests, p50, p95 and p99 latency and the errors
(an answer other than the expected one, a 5xx or a failed connection), plus the server's peak
memory. Writes benchmarks/load-results.md and .json; with --readme, replaces the README section
between the load-bench markers. Targets: p95 < 1 s for table pages, facets, search and canned
queries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path
from typing import ClassVar

import httpx
from datasette_dashboards import replace_opts_in_query

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.bench import machine, replace_section  # noqa: E402
from marches.serve import SQL_SLOTS, SQL_THREADS  # noqa: E402
from marches.site import FACETS, QUERIES, build_metadata  # noqa: E402

START, END = "<!-- load-bench:start -->", "<!-- load-bench:end -->"
LIGHT = ("page de table", "facette", "recherche", "requête prête à l'emploi", "graphique")
SEARCHES = [
    "entretien espaces verts",
    "travaux voirie",
    "réhabilitation thermique",
    "fournitures scolaires",
    "nettoyage",
]
EXTRA_FACETS = ["ccag", "nature", "typeGroupementOperateurs", "offresRecues"]  # added to the whole table
SLOW_SQL = "select count(*) from marches a join marches b on a.montant < b.montant"
HOSTILE = [
    ("GET", "/decp.json?sql=" + urllib.parse.quote("DELETE FROM marches"), 400),
    ("GET", "/decp.json?sql=" + urllib.parse.quote("select randomblob(900000000)"), 400),
    ("GET", "/decp.json?sql=" + urllib.parse.quote("select randomblob(9000000) from marches limit 50"), 400),
    ("POST", "/decp/marches", 405),
    ("POST", "/decp", 405),
    ("GET", "/decp/marches.json?_sort=nimporte&_facet=inconnue", 400),
]


class Mix:
    """The readers' requests: (kind, path), drawn with fixed weights from a seeded generator.

    Each kind has a few popular pages (the tables as they open, the canned queries) and a long
    tail drawn from samples of the data (filters by year and procedure, buyers' and suppliers'
    SIRETs, search words): most of the tail is asked for once, as on a real site.
    """

    WEIGHTS: ClassVar[dict[str, int]] = {
        "page de table": 4,
        "facette": 2,
        "recherche": 2,
        "requête prête à l'emploi": 3,
        "graphique": 1,
    }

    def __init__(self, sample: dict, seed: int):
        self.sample = sample
        self.random = random.Random(seed)
        self.popular = pages(sample)

    def next(self) -> tuple[str, str]:
        kind = self.random.choices(list(self.WEIGHTS), list(self.WEIGHTS.values()))[0]
        if kind == "graphique" or self.random.random() < 0.5:
            return kind, self.random.choice(self.popular[kind])
        return kind, self.tail(kind)

    def tail(self, kind: str) -> str:
        pick = self.random.choice
        if kind == "page de table":
            return pick(
                [
                    f"/decp/marches?acheteur_id={pick(self.sample['acheteurs'])}",
                    f"/decp/marches_titulaires?id={pick(self.sample['titulaires'])}",
                    f"/decp/concessions?annee_fiable={pick(self.sample['annees'])}",
                ]
            )
        if kind == "facette":  # a click on one or two values of the default facets
            values = {
                "annee_fiable": pick(self.sample["annees"]),
                "procedure": pick(self.sample["procedures"]),
                "division_cpv": pick(self.sample["divisions"]),
            }
            chosen = self.random.sample(sorted(values), self.random.choice((1, 2)))
            return "/decp/marches?" + urllib.parse.urlencode({k: values[k] for k in chosen})
        if kind == "recherche":
            words = " ".join(self.random.sample(self.sample["mots"], 2))
            return "/decp/marches?_search=" + urllib.parse.quote(words)
        if self.random.random() < 0.5:
            return "/decp/profil_titulaire?siret=" + pick(self.sample["titulaires"])
        return "/decp/profil_acheteur?siret=" + pick(self.sample["acheteurs"])


def pages(sample: dict) -> dict[str, list[str]]:
    """The popular pages: each table as it opens, its extra facets, searches, canned queries, charts."""
    tables = [f"/decp/{t}" for t in FACETS] + [
        "/decp/marches?annee_fiable=2025",
        "/decp/marches?_sort_desc=montant_fiable",
    ]
    facets = [f"/decp/marches?_facet={f}" for f in EXTRA_FACETS]
    facets += ["/decp/marches?procedure=" + urllib.parse.quote("Appel d'offres ouvert") + "&_facet=ccag"]
    searches = ["/decp/marches?_search=" + urllib.parse.quote(s) for s in SEARCHES]
    canned = []
    for name, query in QUERIES.items():
        params = {k: v for k, v in {"annee": "2025", "pourcentage": "20"}.items() if f":{k}" in query["sql"]}
        if ":siret" in query["sql"]:
            params["siret"] = sample["titulaires"][0] if "titulaire" in name else sample["acheteurs"][0]
        canned.append(f"/decp/{name}?" + urllib.parse.urlencode(params))
    charts = build_metadata()["plugins"]["datasette-dashboards"]["indicateurs"]["charts"]
    graphs = [  # as the dashboard sends them, no filter chosen
        "/decp.json?" + urllib.parse.urlencode({"sql": replace_opts_in_query(c["query"], {})}) for c in charts.values()
    ]
    return {
        "page de table": tables,
        "facette": facets,
        "recherche": searches,
        "requête prête à l'emploi": canned,
        "graphique": graphs,
    }


async def reader(client, mix: Mix, until: float, results, think: float) -> None:
    while time.monotonic() < until:
        kind, path = mix.next()
        await timed(client, kind, "GET", path, (200,), results)
        if think:
            await asyncio.sleep(mix.random.uniform(0, 2 * think))


async def slow(client, until: float, results) -> None:
    path = "/decp.json?sql=" + urllib.parse.quote(SLOW_SQL)
    while time.monotonic() < until:
        await timed(client, "requête SQL lente", "GET", path, (200, 400, 503), results)


async def hostile(client, until: float, results, seed: int) -> None:
    draw = random.Random(seed)
    while time.monotonic() < until:
        method, path, status = draw.choice(HOSTILE)
        await timed(client, "requête hostile", method, path, (status, 503), results)


async def timed(client, kind: str, method: str, path: str, expected: tuple[int, ...], results) -> None:
    start = time.perf_counter()
    hit = False
    try:
        response = await client.request(method, path)
        status, hit = response.status_code, response.headers.get("x-marches-cache") == "hit"
    except httpx.HTTPError:
        status = 0
    results[kind].append((time.perf_counter() - start, status, status in expected, hit))


async def load(
    base: str, sample: dict, clients: int, slow_clients: int, hostile_clients: int, seconds: float, think: float
) -> dict:
    results: dict[str, list] = defaultdict(list)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        until = time.monotonic() + seconds
        readers = clients - slow_clients - hostile_clients
        tasks = [reader(client, Mix(sample, seed), until, results, think) for seed in range(readers)]
        tasks += [slow(client, until, results) for _ in range(slow_clients)]
        tasks += [hostile(client, until, results, seed) for seed in range(hostile_clients)]
        await asyncio.gather(*tasks)
    return results


def _sql(base: str, sql: str) -> list[dict]:
    return httpx.get(base + "/decp.json", params={"sql": sql, "_shape": "array"}, timeout=120).json()


def _sample(base: str) -> dict:
    """Buyers, suppliers, procedures and words of the served data, for the long tail of the mix."""
    sample = {
        "acheteurs": [
            r["a"]
            for r in _sql(
                base, "select acheteur_id as a from acheteurs where nombre_marches > 0 order by random() limit 300"
            )
        ],
        "titulaires": [
            r["t"]
            for r in _sql(
                base, "select titulaire_id as t from titulaires where nombre_marches > 0 order by random() limit 300"
            )
        ],
        "procedures": [
            r["p"] for r in _sql(base, "select distinct procedure as p from stats_procedure where p is not null")
        ],
        # the years and divisions that hold contracts (not the typos: year 5021)
        "annees": [r["a"] for r in _sql(base, "select annee as a from stats_annee where nombre >= 1000")],
        "divisions": [
            r["d"] for r in _sql(base, "select division_cpv as d from stats_division order by nombre desc limit 20")
        ],
    }
    objets = _sql(base, "select objet from marches where rowid % 997 = 0 limit 400")
    words = {w.strip(",.;:()'").lower() for r in objets for w in (r["objet"] or "").split()}
    sample["mots"] = sorted(w for w in words if len(w) > 4 and w.isalpha())
    return sample


def summarise(results: dict) -> list[dict]:
    rows = []
    for kind in (*LIGHT, "requête SQL lente", "requête hostile"):
        measured = results.get(kind, [])
        if not measured:
            continue
        times = sorted(t for t, *_ in measured)
        q = statistics.quantiles(times, n=100, method="inclusive") if len(times) > 1 else times * 99
        rows.append(
            {
                "kind": kind,
                "requests": len(measured),
                "p50": round(q[49], 3),
                "p95": round(q[94], 3),
                "p99": round(q[98], 3),
                "errors": sum(1 for _, _, ok, _ in measured if not ok),
                "cached": round(100 * sum(1 for *_, hit in measured if hit) / len(measured)),
                "statuses": dict(sorted(_count(s for _, s, _, _ in measured).items())),
            }
        )
    return rows


def _count(values) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for v in values:
        out[str(v)] += 1
    return out


def _peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process and its children, from /proc (Linux)."""
    total = 0
    for candidate in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def render(data: dict) -> str:
    info, rows = data["machine"], data["rows"]
    light = [r for r in rows if r["kind"] in LIGHT]
    worst = max(r["p95"] for r in light)
    lines = [
        f"{data['contracts']}, machine : {info['cpu']}, {info['cores']} cœurs ; mesuré le {info['date']}. "
        f"{data['clients']} clients pendant {data['seconds']:.0f} s sur la boucle locale : "
        f"{data['clients'] - data['slow'] - data['hostile']} lecteurs ({_pause(data['think'])}), {data['slow']} qui "
        f"envoient sans cesse une requête SQL qui dure jusqu'à la limite de temps, {data['hostile']} des requêtes "
        "hostiles (sans pause) ; "
        f"Datasette avec {data['threads']} fils SQL dont {data['slots']} au plus pour le SQL libre ; mémoire "
        f"maximale du serveur : {data['peak_mb']:.0f} Mo. Charge de la machine (partagée) : "
        f"{data['load_average'][0]} avant, {data['load_average'][1]} après (moyenne sur une minute).",
        "",
        f"Objectif p95 < 1 s pour les pages de table, facettes, recherches et requêtes prêtes à l'emploi : "
        f"{'atteint' if worst < 1 else 'non atteint'} (pire p95 : {_s(worst)}).",
        "",
        "| requêtes | nombre | p50 | p95 | p99 | erreurs | servies de la mémoire | statuts |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        statuses = ", ".join(f"{k} × {v}" for k, v in r["statuses"].items())
        lines.append(
            f"| {r['kind']} | {r['requests']} | {_s(r['p50'])} | {_s(r['p95'])} | {_s(r['p99'])} | {r['errors']} | "
            f"{r['cached']} % | {statuses} |"
        )
    lines += [
        "",
        "Erreur = réponse autre que celle attendue (200 pour les lectures ; 400, 405 ou 503 pour les requêtes lentes "
        "et hostiles) ou connexion échouée.",
    ]
    return "\n".join(lines)


def _pause(think: float) -> str:
    if not think:
        return "sans pause entre deux pages"
    return f"pause de {_s(think)} en moyenne entre deux pages, comme une personne qui lit"


def _s(seconds: float) -> str:
    return f"{seconds:.3f} s".replace(".", ",")


def rerender(readme: Path | None = None) -> str:
    data = json.loads((HERE / "load-results.json").read_text())
    table = render(data)
    (HERE / "load-results.md").write_text(table + "\n")
    if readme:
        replace_section(readme, START, END, table)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "marches-site-bench")
    parser.add_argument("--database", type=Path, help="database to serve (default: decp.db in --work)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--slow", type=int, default=3)
    parser.add_argument("--hostile", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--think", type=float, default=1.0, help="mean pause of a reader between two pages, in seconds (0: none)"
    )
    parser.add_argument("--readme", type=Path)
    args = parser.parse_args()
    database = args.database or args.work / "decp.db"
    if not database.is_file():
        sys.exit(f"{database} absent : construisez-la d'abord (make bench-site, ou marches publish)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (args.work if args.work.is_dir() else database.parent) / "load-serve.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "marches.cli", "serve", str(database), "--port", str(port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(base + "/-/versions.json", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        sample = _sample(base)
        count = _sql(base, "select count(*) as n from marches")
        for path in {p for paths in pages(sample).values() for p in paths}:  # the popular pages, once
            httpx.get(base + path, timeout=120)
        print(f"{args.clients} clients, {args.seconds:.0f} s…", file=sys.stderr)
        before = os.getloadavg()[0]
        results = asyncio.run(load(base, sample, args.clients, args.slow, args.hostile, args.seconds, args.think))
        peak = _peak_rss_mb(server.pid)
        load_average = (round(before, 1), round(os.getloadavg()[0], 1))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    contracts = f"{count[0]['n']:,} marchés".replace(",", "\u202f")
    data = {
        "machine": machine(),
        "contracts": contracts,
        "clients": args.clients,
        "slow": args.slow,
        "hostile": args.hostile,
        "seconds": args.seconds,
        "think": args.think,
        "threads": SQL_THREADS,
        "slots": SQL_SLOTS,
        "peak_mb": peak,
        "load_average": load_average,
        "rows": summarise(results),
    }
    (HERE / "load-results.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    print(rerender(args.readme))


if __name__ == "__main__":
    main()
