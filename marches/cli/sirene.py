"""The SIRENE register: ``marches sirene install``, ``info`` and ``generate``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from marches.cli.base import _fatal_errors, _is_terminal, cli
from marches.french import number, plural


@cli.group()
def sirene() -> None:
    """Installer et consulter le répertoire SIRENE des entreprises et des établissements (INSEE)."""


@sirene.command("install")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Écrire le répertoire dans ce fichier plutôt que dans le cache de l'utilisateur "
    "(à passer ensuite avec --sirene).",
)
@click.option("-q", "--quiet", is_flag=True, help="Ni progression ni résumé.")
@_fatal_errors
def sirene_install(files: tuple[Path, ...], output: Path | None, quiet: bool) -> None:
    """Installer le répertoire SIRENE depuis les fichiers de stock de l'INSEE.

    Donnez les deux fichiers tels que publiés (StockEtablissement et StockUniteLegale, en CSV
    zippé ou non, ou en Parquet) : ils sont lus par lots, en mémoire bornée, et seules les
    colonnes utiles sont gardées, dans une base SQLite indexée du cache de l'utilisateur où
    « marches validate » et « marches publish » la trouvent ensuite. Les unités en diffusion
    partielle n'y gardent ni nom ni adresse.

    \b
    Exemple :
      marches sirene install StockEtablissement_utf8.zip StockUniteLegale_utf8.zip
    """
    from marches.sirene.install import install

    shown = {"at": 0.0}

    def progress(kind: str, rows: int) -> None:
        if not quiet and _is_terminal() and time.monotonic() - shown["at"] > 1:
            shown["at"] = time.monotonic()
            click.echo(f"\r{kind} : {plural(rows, 'ligne')} lue{'s' if rows > 1 else ''}", nl=False, err=True)

    start = time.monotonic()
    summary = install(list(files), output, progress)
    if quiet:
        return
    if shown["at"]:
        click.echo("", err=True)
    rows, private = summary.rows, summary.private
    date = _date_fr(summary.date_stock)
    click.echo(
        f"Répertoire SIRENE installé dans {summary.path} : {plural(rows['etablissements'], 'établissement')}, "
        f"{plural(rows['unites_legales'], 'unité légale', 'unités légales')}, stock du {date} "
        f"({time.monotonic() - start:.0f} s).",
        err=True,
    )
    click.echo(
        f"  {plural(private['etablissements'], 'établissement')} et "
        f"{plural(private['unites_legales'], 'unité légale', 'unités légales')} en diffusion partielle : "
        "ni nom ni adresse gardés.",
        err=True,
    )
    for kind, count in summary.rejected.items():
        if count:
            click.echo(
                f"  {plural(count, 'ligne')} sans identifiant valide ignorée{'s' if count > 1 else ''} "
                f"({kind.replace('_', ' ')}).",
                err=True,
            )


@sirene.command("info")
@click.option(
    "--sirene",
    "store",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Répertoire installé ailleurs (par « marches sirene install -o »).",
)
@_fatal_errors
def sirene_info(store: Path | None) -> None:
    """Dire si le répertoire SIRENE est installé, d'où il vient et de quand date son stock."""
    from marches import sirene as register

    resolved = register.resolve(store)
    if resolved is None:
        click.echo(
            f"Répertoire SIRENE non installé (emplacement attendu : {register.installed_path()}). Installez-le avec "
            "« marches sirene install StockEtablissement_utf8.zip StockUniteLegale_utf8.zip »."
        )
        return
    info = resolved.info()
    click.echo(f"Répertoire SIRENE installé : {info.path} ({number(round(info.octets / 1e6, 1))} Mo).")
    click.echo(f"  Stock du {_date_fr(info.date_stock)}, installé le {_date_fr(info.installe_le)}.")
    click.echo(
        f"  {plural(info.etablissements, 'établissement')}, "
        f"{plural(info.unites_legales, 'unité légale', 'unités légales')}."
    )
    for source in json.loads(info.fichiers or "[]"):
        click.echo(f"  Source : {source['fichier']} ({source['type']}, {plural(source['lignes'], 'ligne')}).")


@sirene.command("generate")
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Dossier où écrire StockEtablissement_utf8 et StockUniteLegale_utf8.",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["zip", "csv", "parquet"]),
    default="zip",
    show_default=True,
    help="CSV zippé (comme l'INSEE le publie), CSV, ou Parquet (petits fichiers seulement).",
)
@click.option(
    "-n",
    "--etablissements",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Nombre total d'établissements (au moins ceux des contrats) ; 40 000 000 à l'échelle nationale.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Graine de « marches generate ».")
@click.option(
    "--contracts",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Nombre de contrats donné à « marches generate » (mêmes acheteurs et titulaires).",
)
@_fatal_errors
def sirene_generate(out: Path, fmt: str, etablissements: int, seed: int, contracts: int) -> None:
    """Générer des fichiers SIRENE fictifs au format de l'INSEE (tests, démonstration, mesures).

    Les établissements des acheteurs et titulaires de « marches generate » (même graine, même
    nombre de contrats) y figurent, sauf quelques-uns (SIRET inconnus) ; certains sont fermés,
    certains acheteurs ne sont pas des personnes publiques, certains entrepreneurs sont en
    diffusion partielle. Des unités fictives complètent jusqu'au nombre demandé.

    \b
    Exemple :
      marches generate -o decp.json -n 20000 --seed 1
      marches sirene generate -o sirene/ --contracts 20000 --seed 1
    """
    from marches.generate.sirene import generate_sirene

    paths, truth = generate_sirene(out, fmt, etablissements, seed, contracts)
    click.echo(
        f"Fichiers SIRENE fictifs : {', '.join(str(p) for p in paths.values())} ({plural(len(truth.unknown), 'SIRET', 'SIRET')} "
        f"laissé{'s' if len(truth.unknown) > 1 else ''} inconnu{'s' if len(truth.unknown) > 1 else ''}, "
        f"{plural(len(truth.closed), 'établissement')} fermé{'s' if len(truth.closed) > 1 else ''}).",
        err=True,
    )


def _date_fr(value: str | None) -> str:
    if not value:
        return "date inconnue"
    return f"{value[8:10]}/{value[5:7]}/{value[:4]}" + (f" à {value[11:16]}" if len(value) > 10 else "")
