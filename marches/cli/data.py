"""Reading and generating: ``marches convert`` and ``marches generate``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from marches.cli.base import _fatal_errors, _is_terminal, _Progress, _waiting, cli
from marches.findings import READER_FINDINGS


def _print_summary(summary, out: Path) -> None:
    kinds = summary.records
    total = sum(kinds.values())
    click.echo(
        f"{total} enregistrement(s) lu(s) dans {len(summary.sources)} fichier(s) : "
        f"{kinds['marche']} marché(s), {kinds['concession']} contrat(s) de concession "
        f"(format 2019 : {summary.generations['2019']}, format 2022 : {summary.generations['2022']}).",
        err=True,
    )
    for path, reason in summary.skipped:
        click.echo(f"  {path} : {reason}", err=True)
    tables = ", ".join(f"{t} ({n})" for t, n in summary.rows.items() if n)
    click.echo(f"Tables écrites dans {out} : {tables or 'aucune ligne'}.", err=True)
    if summary.findings:
        n = sum(summary.findings.values())
        click.echo(f"{n} anomalie(s) de lecture :", err=True)
        for code, count in summary.findings.most_common():
            kind = READER_FINDINGS.get(code)
            label = kind.title if kind else code
            click.echo(f"  {count:>7}  {code:<20} {label}", err=True)
        click.echo("Premières anomalies :", err=True)
        for f in summary.examples:
            where = f"{f.file}, {f.path}" + (f" (ligne {f.line})" if f.line else "") if f.path else f.file
            click.echo(f"  {where} : {f.message}", err=True)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Dossier où écrire les tables CSV (créé s'il n'existe pas ; remplacé d'un seul coup par les nouvelles "
    "tables, les autres fichiers qu'il contient sont gardés).",
)
@click.option("-q", "--quiet", is_flag=True, help="Ni barre de progression ni résumé.")
@_fatal_errors
def convert(files: tuple[Path, ...], out: Path, quiet: bool) -> None:
    """Convertir des fichiers DECP (JSON ou XML, formats 2019 et 2022, ou tables CSV de marches) en tables CSV.

    Chaque table est décrite par un Table Schema Frictionless (copié à côté, avec un
    datapackage.json qui les relie). Les anomalies de lecture sont comptées ; rien n'est perdu.

    \b
    Exemples :
      marches convert decp-2024.json -o tables/
      marches convert export.xml autre-export.json -o tables/ --quiet
    """
    from marches.convert import convert as run

    progress = _Progress(quiet)
    try:
        summary = run(list(files), out, progress, on_wait=_waiting(out, quiet))
    finally:
        progress.close()
    if not quiet:
        _print_summary(summary, out)


@cli.command()
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Fichier à écrire (remplacé s'il existe ; écrit d'abord à côté puis renommé).",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["json-2022", "xml-2022", "json-2019"]),
    default="json-2022",
    show_default=True,
    help="Forme du fichier : JSON 2022 (forme objet actuelle), XML 2022, JSON 2019.",
)
@click.option(
    "-n",
    "--contracts",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Nombre de contrats (marchés et concessions).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Graine : la même graine donne le même fichier.")
@click.option(
    "--concessions",
    "concession_share",
    type=click.FloatRange(0, 1),
    default=0.02,
    show_default=True,
    help="Part des contrats de concession.",
)
@click.option(
    "--defects",
    "defect_rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Part des contrats porteurs d'un défaut réel (SIRET invalide, CPV inconnu, doublon, « NC »…).",
)
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Fichier CSV où écrire chaque défaut injecté : position, uid, code attendu, table, champ, valeur.",
)
@click.option("-q", "--quiet", is_flag=True, help="Ni barre de progression ni résumé.")
@_fatal_errors
def generate(
    out: Path,
    fmt: str,
    contracts: int,
    seed: int,
    concession_share: float,
    defect_rate: float,
    truth: Path | None,
    quiet: bool,
) -> None:
    """Générer des données DECP réalistes et fictives, à toute échelle.

    SIRET valides, acheteurs et titulaires récurrents (distribution de Zipf), codes CPV
    réels, objets en français, montants à longue traîne, modifications, sous-traitance,
    considérations sociales et environnementales. Sans défauts, le fichier respecte le
    schéma officiel (JSON Schema ou XSD) ; avec --defects, une part des contrats porte un
    défaut réel, décrit dans --truth.

    \b
    Exemples :
      marches generate -o decp.json --contracts 20000 --seed 1
      marches generate -o decp.xml -f xml-2022 -n 5000 --defects 0.05 --truth defauts.csv
    """
    from marches.generate import generate as run

    if truth is not None and defect_rate == 0 and not quiet:
        click.echo("Aucun défaut demandé (--defects 0) : le fichier de vérité sera vide.", err=True)
    bar = None
    if not quiet and contracts >= 50000 and _is_terminal():
        bar = click.progressbar(length=contracts, label=out.name, file=sys.stderr, show_eta=True, width=30)
        bar.__enter__()
    try:
        summary = run(out, fmt, contracts, seed, concession_share, defect_rate, truth, bar.update if bar else None)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if not quiet:
        defects = sum(summary.defects.values())
        click.echo(
            f"{out} : {summary.contracts} contrats ({summary.marches} marchés, {summary.concessions} "
            f"concessions), format {fmt}, {defects} défaut(s) injecté(s).",
            err=True,
        )
