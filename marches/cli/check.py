"""Checking: ``marches validate`` and the CPV nomenclature (``marches cpv``)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click

from marches.cli.base import (
    _config,
    _fatal_errors,
    _Progress,
    _sirene_option,
    _validation_options,
    _workers_option,
    cli,
)
from marches.errors import InputError, MarchesError, printable


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "csv", "html", "github"]),
    default="text",
    show_default=True,
    help="text : résumé en français ; json : rapport complet versionné ; csv : un constat "
    "par ligne, pour Excel ; html : rapport autonome à partager (s'ouvre sans réseau) ; github : "
    "annotations GitHub Actions.",
)
@click.option(
    "--csv-separator",
    type=click.Choice([";", ","]),
    default=";",
    show_default=True,
    help="Séparateur du rapport CSV : « ; » pour Excel en français, « , » pour les autres outils. "
    "Le fichier commence toujours par un BOM UTF-8 (Excel lit alors les accents).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Écrire le rapport dans ce fichier plutôt que sur la sortie standard.",
)
@click.option("--strict", is_flag=True, help="Les avertissements font échouer la validation (code de sortie 1).")
@_validation_options
@_sirene_option
@click.option(
    "--examples",
    type=click.IntRange(0, 100_000),
    help="Nombre de constats montrés par règle : dans le résumé texte (5 par défaut) ou le rapport HTML "
    "(500 par défaut) ; les rapports JSON et CSV les donnent tous.",
)
@click.option(
    "--json-report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Écrire aussi le rapport JSON complet dans ce fichier (en plus du format choisi).",
)
@click.option(
    "--summary",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Ajouter le résumé texte, en Markdown, à ce fichier (par exemple $GITHUB_STEP_SUMMARY).",
)
@_workers_option("lisent et aplatissent les contrats")
@click.option("-q", "--quiet", is_flag=True, help="Pas de barre de progression.")
@_fatal_errors
def validate(
    files: tuple[Path, ...],
    fmt: str,
    csv_separator: str,
    output: Path | None,
    strict: bool,
    as_of,
    config_file: Path | None,
    cpv_file: Path | None,
    sirene_file: Path | None,
    examples: int | None,
    json_report: Path | None,
    summary: Path | None,
    workers: int,
    quiet: bool,
) -> None:
    """Valider des fichiers DECP avant publication : structure et règles métier.

    Lit JSON, XML (formats 2019 et 2022) ou les tables CSV de marches ; vérifie les Table
    Schemas (types, obligatoires, listes fermées, formats, bornes, clés) puis les règles
    métier (SIRET, CPV, dates, montants, durées, doublons, cohérence ; avec le répertoire
    SIRENE : SIRET inconnus, établissements fermés, acheteurs privés). Chaque constat est
    localisé (fichier, enregistrement, chemin JSON ou ligne XML) et expliqué en français.

    Codes de sortie : 0 conforme (avertissements permis), 1 erreurs (ou avertissements avec
    --strict), 2 erreur d'utilisation, 3 entrée illisible.

    \b
    Exemples :
      marches validate export.json
      marches validate decp.xml --format json -o rapport.json
      marches validate export.json --format html -o rapport.html
      marches validate tables/ --strict --as-of 2026-01-01 --format github
    """
    from marches import sirene as register
    from marches.report_html import HTML_FINDINGS_PER_RULE

    config = _config(config_file, as_of)
    store = register.resolve(sirene_file)
    if examples is None:
        examples = HTML_FINDINGS_PER_RULE if fmt == "html" else 5
    with contextlib.ExitStack() as outputs:
        handle = outputs.enter_context(_ReportFile(output, newline="")) if output else None
        json_handle = outputs.enter_context(_ReportFile(json_report)) if json_report else None
        passed, fatal = _report(
            files,
            fmt,
            csv_separator,
            handle,
            json_handle,
            strict,
            config,
            cpv_file,
            examples,
            summary,
            workers,
            quiet,
            store,
        )
    if fatal is not None:
        raise fatal  # after the report: the French message on stderr, exit 3
    sys.exit(0 if passed else 1)


def _report(
    files, fmt, csv_separator, handle, json_handle, strict, config, cpv_file, examples, summary, workers, quiet, store
) -> tuple[bool, MarchesError | None]:
    """Validate and write the report; whether it passed, and an input that cannot be read ends the validation but not the
    report: it is recorded as an ``unreadable`` finding and every report stays a whole document."""
    from marches import cpv as nomenclature
    from marches.findings import Finding
    from marches.report import SINKS, Report, render_text
    from marches.report_html import render_html, report_view
    from marches.validate import validate as run

    stream = handle or sys.stdout
    if fmt == "csv":
        sinks = [SINKS["csv"](stream, delimiter=csv_separator)]
    else:
        sinks = [SINKS[fmt](stream)] if fmt in SINKS else []
    if json_handle:
        sinks.append(SINKS["json"](json_handle))
    report = Report(examples_per_rule=examples, sink=_fan_out(sinks), as_of=config.as_of)
    progress = _Progress(quiet)
    fatal = None
    try:
        run(list(files), config, nomenclature.resolve(cpv_file), report, progress, workers=workers, sirene=store)
    except MarchesError as exc:
        fatal = exc
        problem = exc.describe_problem() if isinstance(exc, InputError) else str(exc)
        report.add(Finding.of("unreadable", printable(problem), file=getattr(exc, "file", None)))
    finally:
        progress.close()
    for sink in sinks:
        sink.close(report, strict)
    if fmt == "github":
        for notice in report.notices:
            stream.write(f"::notice title=marches::{notice}\n")
    if fmt == "html":
        stream.write(render_html(report_view(report, strict)))
    if fmt == "text":
        text = render_text(report, strict, click.style)
        if handle:
            handle.write(click.unstyle(text) + "\n")
        else:
            click.echo(text)
    if summary is not None:
        with summary.open("a", encoding="utf-8") as fh:
            fh.write("## Validation des données essentielles (marches)\n\n```text\n")
            fh.write(click.unstyle(render_text(report, strict, click.style)) + "\n```\n")
    return report.passed(strict), fatal


class _ReportFile:
    """A report file written beside its target and put in its place when whole (one rename): a reader
    never sees half a report, and a run killed midway leaves the previous report, if any."""

    def __init__(self, target: Path, **options):
        self.target, self.options = target, options

    def __enter__(self):
        from marches.atomic import staging_path

        self.staging = staging_path(self.target)
        self.handle = self.staging.open("w", encoding="utf-8", **self.options)
        return self.handle

    def __exit__(self, kind, error, trace) -> None:
        self.handle.close()
        if kind is None:
            os.replace(self.staging, self.target)
        else:
            self.staging.unlink(missing_ok=True)


def _fan_out(sinks):
    if not sinks:
        return None
    if len(sinks) == 1:
        return sinks[0]
    return lambda finding: [sink(finding) for sink in sinks]


@cli.group()
def cpv() -> None:
    """Installer et consulter la nomenclature CPV 2008 officielle (jamais fournie avec marches)."""


@cpv.command("install")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_fatal_errors
def cpv_install(source: Path) -> None:
    """Installer la nomenclature CPV 2008 officielle depuis un fichier CSV, XLSX ou JSON.

    Le fichier est vérifié puis copié, normalisé, dans le cache de l'utilisateur, où
    « marches validate » le trouve ensuite.

    \b
    Exemple :
      marches cpv install cpv_2008.xlsx
    """
    from marches import cpv as nomenclature

    target, loaded = nomenclature.install(source)
    click.echo(f"Nomenclature CPV installée : {len(loaded)} codes, dans {target}.", err=True)


@cpv.command("info")
def cpv_info() -> None:
    """Dire si la nomenclature CPV est installée, et où."""
    from marches import cpv as nomenclature

    path = nomenclature.installed_path()
    if path.is_file():
        click.echo(f"Nomenclature CPV installée : {path} ({len(nomenclature.load(path))} codes).")
    else:
        click.echo(
            f"Nomenclature CPV non installée (emplacement attendu : {path}). "
            "Installez-la avec « marches cpv install FICHIER »."
        )
