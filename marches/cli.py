"""The ``marches`` command line. The only module that prints or exits."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from marches import __version__
from marches.errors import MarchesError
from marches.findings import READER_FINDINGS

PROGRESS_MIN_BYTES = 5 << 20  # below this a file reads in a blink: no bar
DEMO_DEFECT_RATE = 0.05


def _fatal_errors(command):
    """Turn MarchesError into a French message and its exit code; a traceback only with --debug."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except MarchesError as exc:
            if click.get_current_context().find_root().params.get("debug"):
                raise
            click.secho(f"Erreur : {exc}", fg="red", err=True)
            sys.exit(exc.exit_code)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="marches")
@click.option("--debug", is_flag=True, help="Afficher la trace Python complète des erreurs.")
def cli(debug: bool) -> None:
    """marches : lire, valider, empaqueter et publier les données essentielles de la commande publique."""


def _is_terminal() -> bool:
    """Progress bars are for people: none in logs and pipes."""
    return sys.stderr.isatty()


class _Progress:
    """One progress bar per large input file, on stderr."""

    def __init__(self, quiet: bool):
        self.quiet, self.bar, self.source, self.shown, self.calls = quiet, None, None, 0, 0

    def __call__(self, source) -> None:
        if self.quiet or source.size < PROGRESS_MIN_BYTES or not _is_terminal():
            return
        self.calls += 1
        if source is not self.source:
            self.close()
            self.source, self.shown = source, 0
            self.bar = click.progressbar(
                length=max(source.work, source.size), label=source.name, file=sys.stderr, show_eta=True, width=30
            )
            self.bar.__enter__()
        if self.calls % 500 == 0 or source.bytes_read >= source.work:
            self.bar.update(source.bytes_read - self.shown)
            self.shown = source.bytes_read

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


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
    help="Dossier où écrire les tables CSV (créé s'il n'existe pas ; les tables existantes sont remplacées).",
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
        summary = run(list(files), out, progress)
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


def _validation_options(command):
    """--as-of, --config and --cpv, shared by the commands that validate (validate, package)."""
    options = [
        click.option(
            "--as-of",
            type=click.DateTime(["%Y-%m-%d"]),
            help="Date de référence des contrôles de dates (par défaut : aujourd'hui).",
        ),
        click.option(
            "--config",
            "config_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Fichier TOML de seuils (voir le README).",
        ),
        click.option(
            "--cpv",
            "cpv_file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Nomenclature CPV 2008 officielle (CSV, XLSX ou JSON) ; par défaut celle installée par "
            "« marches cpv install ».",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _config(config_file: Path | None, as_of):
    import tomllib

    from marches.rules import Config

    values: dict = {}
    if config_file is not None:
        try:
            data = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise click.BadParameter(f"{config_file} : {exc}", param_hint="--config") from exc
        values = data.get("seuils", data)
    if as_of is not None:
        values["as_of"] = as_of.date()
    try:
        return Config.from_mapping(values)
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--config") from exc


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "csv", "github"]),
    default="text",
    show_default=True,
    help="text : résumé en français ; json : rapport complet versionné ; csv : un constat "
    "par ligne ; github : annotations GitHub Actions.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Écrire le rapport dans ce fichier plutôt que sur la sortie standard.",
)
@click.option("--strict", is_flag=True, help="Les avertissements font échouer la validation (code de sortie 1).")
@_validation_options
@click.option(
    "--examples",
    type=click.IntRange(0, 1000),
    default=5,
    show_default=True,
    help="Nombre d'exemples affichés par règle dans le résumé texte.",
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
@click.option("-q", "--quiet", is_flag=True, help="Pas de barre de progression.")
@_fatal_errors
def validate(
    files: tuple[Path, ...],
    fmt: str,
    output: Path | None,
    strict: bool,
    as_of,
    config_file: Path | None,
    cpv_file: Path | None,
    examples: int,
    json_report: Path | None,
    summary: Path | None,
    quiet: bool,
) -> None:
    """Valider des fichiers DECP avant publication : structure et règles métier.

    Lit JSON, XML (formats 2019 et 2022) ou les tables CSV de marches ; vérifie les Table
    Schemas (types, obligatoires, listes fermées, formats, bornes, clés) puis les règles
    métier (SIRET, CPV, dates, montants, durées, doublons, cohérence). Chaque constat est
    localisé (fichier, enregistrement, chemin JSON ou ligne XML) et expliqué en français.

    Codes de sortie : 0 conforme (avertissements permis), 1 erreurs (ou avertissements avec
    --strict), 2 erreur d'utilisation, 3 entrée illisible.

    \b
    Exemples :
      marches validate export.json
      marches validate decp.xml --format json -o rapport.json
      marches validate tables/ --strict --as-of 2026-01-01 --format github
    """
    from marches import cpv as nomenclature
    from marches.report import SINKS, Report, render_text
    from marches.validate import validate as run

    config = _config(config_file, as_of)
    handle = output.open("w", encoding="utf-8", newline="") if output else None
    stream = handle or sys.stdout
    sinks = [SINKS[fmt](stream)] if fmt in SINKS else []
    json_handle = json_report.open("w", encoding="utf-8") if json_report else None
    if json_handle:
        sinks.append(SINKS["json"](json_handle))
    report = Report(examples_per_rule=examples, sink=_fan_out(sinks), as_of=config.as_of)
    progress = _Progress(quiet)
    try:
        run(list(files), config, nomenclature.resolve(cpv_file), report, progress)
    finally:
        progress.close()
    for sink in sinks:
        sink.close(report, strict)
    if fmt == "github":
        for notice in report.notices:
            stream.write(f"::notice title=marches::{notice}\n")
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
    for h in (handle, json_handle):
        if h:
            h.close()
    sys.exit(0 if report.passed(strict) else 1)


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


@cli.command("package")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Dossier du paquet (par exemple datapackages/national) ; remplacé atomiquement.",
)
@click.option(
    "--update",
    is_flag=True,
    help="Ajouter les fichiers nouveaux au paquet existant sans relire les "
    "anciens ; un fichier déjà présent (même SHA-256) ne change rien.",
)
@click.option(
    "--drop-invalid",
    is_flag=True,
    help="Écarter les enregistrements qui enfreignent les Table Schemas "
    "au lieu de les garder en quarantaine (ils restent comptés et listés dans « enregistrements »).",
)
@click.option("--parquet", is_flag=True, help="Écrire aussi chaque table au format Parquet (dossier parquet/).")
@click.option("--title", help="Titre du paquet (par défaut : le nom du dossier).")
@_validation_options
@click.option("-q", "--quiet", is_flag=True, help="Ni barre de progression ni résumé.")
@_fatal_errors
def package_command(
    files: tuple[Path, ...],
    out: Path,
    update: bool,
    drop_invalid: bool,
    parquet: bool,
    title: str | None,
    as_of,
    config_file: Path | None,
    cpv_file: Path | None,
    quiet: bool,
) -> None:
    """Empaqueter des fichiers DECP en paquet de données Frictionless, avec provenance.

    Chaque enregistrement lu est dans le paquet : dans les tables principales (conforme ou
    signalé), en quarantaine tel que publié (s'il enfreint les Table Schemas), ou parmi les
    doublons (copie écartée d'un contrat publié plusieurs fois). Le paquet passe
    « frictionless validate », clés étrangères comprises.

    \b
    Exemples :
      marches package decp-2024.json decp-2025.xml -o datapackages/national
      marches package nouveau.json -o datapackages/national --update
    """
    from marches import cpv as nomenclature
    from marches.package import STATUTS, package

    progress = _Progress(quiet)
    try:
        summary = package(
            list(files),
            out,
            update=update,
            drop_invalid=drop_invalid,
            parquet=parquet,
            config=_config(config_file, as_of),
            cpv=nomenclature.resolve(cpv_file),
            title=title,
            progress=progress,
        )
    finally:
        progress.close()
    if quiet:
        return
    for path, reason in summary.sources_skipped:
        click.echo(f"  {path} : {reason}", err=True)
    if not summary.changed:
        click.echo(f"Paquet {out} inchangé : aucun fichier nouveau.", err=True)
    counts = ", ".join(f"{summary.counts.get(s, 0)} {s}" for s in STATUTS)
    click.echo(f"Paquet {out} : {summary.records} enregistrement(s) lu(s) au total — {counts}.", err=True)


@cli.command()
@click.argument("packages", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out",
    default=Path("decp.db"),
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Base SQLite à écrire (remplacée atomiquement ; le nom donne celui de la base dans Datasette).",
)
@click.option(
    "--cpv",
    "cpv_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Nomenclature CPV 2008 pour les libellés (par défaut celle installée).",
)
@click.option("-q", "--quiet", is_flag=True, help="Pas de résumé.")
@_fatal_errors
def publish(packages: tuple[Path, ...], out: Path, cpv_file: Path | None, quiet: bool) -> None:
    """Construire la base SQLite de la plateforme à partir de paquets de données.

    Tables typées (SIRET et codes restent du texte), clés, index, recherche plein texte
    insensible aux accents, libellés CPV, vue à plat marché × titulaire et tables
    d'indicateurs pré-calculées.

    \b
    Exemple :
      marches publish datapackages/national -o decp.db
    """
    from marches import cpv as nomenclature
    from marches.publish import publish as run

    summary = run(list(packages), out, nomenclature.resolve(cpv_file))
    if not quiet:
        click.echo(
            f"Base {out} : {summary.rows.get('marches', 0)} marché(s), {summary.rows.get('concessions', 0)} "
            f"concession(s) ; lancez « marches serve {out} ».",
            err=True,
        )
        if summary.skipped:
            click.echo(
                f"  {summary.skipped} ligne(s) déjà présentes (même source dans deux paquets) ignorées.", err=True
            )


@cli.command()
@click.argument("database", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Adresse d'écoute.")
@click.option("-p", "--port", default=8001, show_default=True, type=int, help="Port d'écoute.")
@click.option(
    "--allow-robots",
    is_flag=True,
    help="Autoriser l'indexation par les moteurs de recherche (par défaut robots.txt l'interdit).",
)
@click.option(
    "--sql-time-limit-ms",
    default=3000,
    show_default=True,
    type=click.IntRange(100, 60000),
    help="Durée maximale d'une requête SQL.",
)
def serve(database: Path, host: str, port: int, allow_robots: bool, sql_time_limit_ms: int) -> None:
    """Servir la base avec Datasette : lecture seule, immuable, requêtes limitées en durée.

    \b
    Exemple :
      marches serve decp.db --port 8001
    """
    import subprocess

    from marches.site import datasette_command, environment

    click.echo(f"Plateforme : http://{host}:{port}/  (Ctrl-C pour arrêter)", err=True)
    command = datasette_command(database.resolve(), host, port, allow_robots, sql_time_limit_ms)
    try:
        sys.exit(subprocess.call(command, env=environment()))
    except KeyboardInterrupt:
        sys.exit(0)


@cli.command(hidden=True)
def metadata() -> None:
    """Écrire sur la sortie standard le metadata.yml de la plateforme (make metadata)."""
    from marches.site import metadata_yaml

    click.echo(metadata_yaml(), nl=False)


@cli.command()
@click.option(
    "-o",
    "--output",
    "out",
    default=Path("sortie"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Dossier de sortie.",
)
@click.option(
    "-n",
    "--contracts",
    type=click.IntRange(min=1),
    default=20000,
    show_default=True,
    help="Nombre de contrats du jeu de démonstration.",
)
@click.option("--seed", type=int, default=2026, show_default=True, help="Graine du jeu de démonstration.")
@click.option(
    "--serve/--no-serve",
    "serve_after",
    default=True,
    show_default=True,
    help="Servir la plateforme à la fin (Ctrl-C pour arrêter).",
)
@click.option("-p", "--port", default=8001, show_default=True, type=int, help="Port de la plateforme.")
@click.option("-q", "--quiet", is_flag=True, help="Ni barre de progression ni résumé.")
@click.pass_context
def demo(ctx: click.Context, out: Path, contracts: int, seed: int, serve_after: bool, port: int, quiet: bool) -> None:
    """Démonstration de bout en bout sur un jeu de données généré.

    Génère un fichier DECP JSON 2022 réaliste (5 % de contrats porteurs d'un défaut réel,
    décrits dans defauts-injectes.csv), le valide (résumé à l'écran, rapport complet dans
    rapport-validation.json), l'empaquette (datapackages/demo), construit la base (decp.db)
    et la sert avec Datasette (--no-serve pour s'arrêter avant).

    \b
    Exemple :
      marches demo -o sortie/
    """
    out.mkdir(parents=True, exist_ok=True)
    data = out / "decp-demo.json"
    ctx.invoke(
        generate,
        out=data,
        fmt="json-2022",
        contracts=contracts,
        seed=seed,
        concession_share=0.02,
        defect_rate=DEMO_DEFECT_RATE,
        truth=out / "defauts-injectes.csv",
        quiet=quiet,
    )
    _demo_validation(data, out / "rapport-validation.json", quiet)
    ctx.invoke(
        package_command,
        files=(data,),
        out=out / "datapackages" / "demo",
        update=False,
        drop_invalid=False,
        parquet=False,
        title="démonstration",
        as_of=None,
        config_file=None,
        cpv_file=None,
        quiet=quiet,
    )
    database = out / "decp.db"
    ctx.invoke(publish, packages=(out / "datapackages" / "demo",), out=database, cpv_file=None, quiet=quiet)
    if not quiet:
        click.echo(
            f"Consultez {out / 'rapport-validation.json'} (rapport complet), {out / 'datapackages' / 'demo'} "
            f"(paquet de données), {database} (base) et {out / 'defauts-injectes.csv'} (défauts injectés).",
            err=True,
        )
    if serve_after:
        ctx.invoke(serve, database=database, host="127.0.0.1", port=port, allow_robots=False, sql_time_limit_ms=3000)


def _demo_validation(data: Path, report_path: Path, quiet: bool) -> None:
    """Validate the demo data: summary on stderr (it is a demonstration, not a CI gate), full JSON report."""
    from marches import cpv as nomenclature
    from marches.report import SINKS, Report, render_text
    from marches.validate import validate as run

    with report_path.open("w", encoding="utf-8") as fh:
        sink = SINKS["json"](fh)
        report = Report(examples_per_rule=2, sink=sink)
        progress = _Progress(quiet)
        try:
            run([data], None, nomenclature.resolve(None), report, progress)
        finally:
            progress.close()
        sink.close(report, False)
    if not quiet:
        click.echo(render_text(report, False, click.style), err=True)


if __name__ == "__main__":  # pragma: no cover
    cli()
