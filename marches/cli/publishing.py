"""Publishing: ``marches package``, ``publish``, ``serve``, and the end-to-end ``demo``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from marches.cli.base import (
    _config,
    _fatal_errors,
    _Progress,
    _sirene_option,
    _validation_options,
    _waiting,
    _workers_option,
    cli,
)
from marches.cli.data import generate
from marches.errors import printable
from marches.site_validation import MIB, Settings

DEMO_DEFECT_RATE = 0.05
PUBLISH_NOTICE = (
    "Répertoire SIRENE non installé : les acheteurs et titulaires n'ont que les noms publiés (format 2019). "
    "Installez-le avec « marches sirene install » ou passez --sirene FICHIER."
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
@click.option(
    "--skip-unreadable",
    is_flag=True,
    help="Continuer sans les fichiers illisibles (JSON tronqué, fichier vide…) au lieu de s'arrêter : "
    "chacun est écarté en entier et listé avec son erreur dans les métadonnées du paquet.",
)
@click.option("--parquet", is_flag=True, help="Écrire aussi chaque table au format Parquet (dossier parquet/).")
@click.option("--title", help="Titre du paquet (par défaut : le nom du dossier).")
@_validation_options
@_sirene_option
@_workers_option("aplatissent les contrats")
@click.option("-q", "--quiet", is_flag=True, help="Ni barre de progression ni résumé.")
@_fatal_errors
def package_command(
    files: tuple[Path, ...],
    out: Path,
    update: bool,
    drop_invalid: bool,
    skip_unreadable: bool,
    parquet: bool,
    title: str | None,
    as_of,
    config_file: Path | None,
    cpv_file: Path | None,
    sirene_file: Path | None,
    workers: int,
    quiet: bool,
) -> None:
    """Empaqueter des fichiers DECP en paquet de données Frictionless, avec provenance.

    Chaque enregistrement lu est dans le paquet : dans les tables principales (conforme ou
    signalé), en quarantaine tel que publié (s'il enfreint les Table Schemas), ou parmi les
    doublons (copie écartée d'un contrat publié plusieurs fois, dont les modifications sont
    reprises par la copie retenue). Le paquet passe « frictionless validate », clés étrangères
    comprises. Deux exécutions sur le même paquet ne se mélangent pas : la seconde attend la
    fin de la première.

    \b
    Exemples :
      marches package decp-2024.json decp-2025.xml -o datapackages/national
      marches package nouveau.json -o datapackages/national --update
      marches package exports/*.json -o datapackages/national --skip-unreadable
    """
    from marches import cpv as nomenclature
    from marches import sirene as register
    from marches.package import STATUTS, package

    progress = _Progress(quiet)
    try:
        summary = package(
            list(files),
            out,
            update=update,
            drop_invalid=drop_invalid,
            parquet=parquet,
            skip_unreadable=skip_unreadable,
            config=_config(config_file, as_of),
            cpv=nomenclature.resolve(cpv_file),
            sirene=register.resolve(sirene_file),
            title=title,
            progress=progress,
            on_wait=_waiting(out, quiet),
            workers=workers,
        )
    finally:
        progress.close()
    for path, error in summary.sources_unreadable:  # shown even with --quiet: data was left out
        click.secho(f"Attention : {printable(path)} écarté, illisible : {printable(error)}", fg="yellow", err=True)
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
@_sirene_option
@click.option("-q", "--quiet", is_flag=True, help="Pas de résumé.")
@_fatal_errors
def publish(
    packages: tuple[Path, ...], out: Path, cpv_file: Path | None, sirene_file: Path | None, quiet: bool
) -> None:
    """Construire la base SQLite de la plateforme à partir de paquets de données.

    Tables typées (SIRET et codes restent du texte), clés, index, recherche plein texte
    insensible aux accents, libellés CPV, vue à plat marché × titulaire et tables
    d'indicateurs pré-calculées. Un contrat présent dans plusieurs paquets n'est publié
    qu'une fois. Chaque paquet est vérifié (empreintes SHA-256) avant d'être lu. Avec le
    répertoire SIRENE (installé, ou --sirene) : noms, communes, départements, activités et
    catégories des acheteurs et des titulaires.

    \b
    Exemple :
      marches publish datapackages/national -o decp.db
    """
    from marches import cpv as nomenclature
    from marches import sirene as register
    from marches.publish import publish as run

    store = register.resolve(sirene_file)
    summary = run(list(packages), out, nomenclature.resolve(cpv_file), on_wait=_waiting(out, quiet), sirene=store)
    if not quiet:
        if store is None:
            click.echo(f"Note : {PUBLISH_NOTICE}", err=True)
        click.echo(
            f"Base {out} : {summary.rows.get('marches', 0)} marché(s), {summary.rows.get('concessions', 0)} "
            f"concession(s) ; lancez « marches serve {out} ».",
            err=True,
        )
        if summary.skipped:
            click.echo(
                f"  {summary.skipped} ligne(s) déjà présentes (même source dans deux paquets) ignorées.", err=True
            )
        if summary.duplicates:
            click.echo(
                f"  {summary.duplicates} contrat(s) retenu(s) dans plusieurs paquets : une seule copie publiée, avec "
                "les modifications de toutes ; les autres sont dans « doublons ».",
                err=True,
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
@click.option(
    "--validation/--no-validation",
    default=True,
    show_default=True,
    help="Proposer la page de validation (/-/valider), où un acheteur dépose ses fichiers et lit le rapport.",
)
@click.option(
    "--validation-max-mb",
    default=Settings.max_bytes / MIB,
    show_default=True,
    type=click.FloatRange(0.01, 10_000),
    help="Taille maximale d'un envoi sur la page de validation, en Mo (tous ses fichiers ensemble).",
)
@click.option(
    "--validation-time-limit",
    default=Settings.time_limit,
    show_default=True,
    type=click.FloatRange(5, 3600),
    help="Durée maximale d'une validation sur la page, en secondes (au-delà, elle est arrêtée).",
)
@click.option(
    "--validation-workers",
    default=Settings.workers,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Validations menées en même temps (chacune dans son processus) ; deux fois plus peuvent attendre, "
    "les suivantes sont invitées à réessayer.",
)
@_sirene_option
@_fatal_errors
def serve(
    database: Path,
    host: str,
    port: int,
    allow_robots: bool,
    sql_time_limit_ms: int,
    validation: bool,
    validation_max_mb: float,
    validation_time_limit: float,
    validation_workers: int,
    sirene_file: Path | None,
) -> None:
    """Servir la base avec Datasette : lecture seule, immuable, requêtes limitées en durée et en taille, avec
    la page de validation des fichiers (/-/valider).

    Le serveur sert un instantané de la base pris au démarrage : republier la base pendant
    qu'il tourne ne change pas ce qu'il montre ; redémarrez-le pour servir la nouvelle base.
    Ctrl-C, SIGTERM ou SIGHUP l'arrêtent proprement (Datasette compris).

    \b
    Exemples :
      marches serve decp.db --port 8001
      marches serve decp.db --validation-max-mb 20 --validation-workers 4
      marches serve decp.db --no-validation
      marches serve decp.db --sirene sirene.sqlite
    """
    from marches.serve import serve as run

    def started(service) -> None:
        click.echo(f"Plateforme : http://{host}:{port}/  (Ctrl-C pour arrêter)", err=True)
        if not service.snapshot:
            click.echo(
                "Attention : instantané de la base impossible (dossier en lecture seule ?) : ne republiez pas "
                "la base tant que ce serveur tourne.",
                err=True,
            )

    def stopping(signum: int) -> None:
        click.echo("Arrêt de la plateforme…", err=True)

    limits = Settings(
        max_bytes=round(validation_max_mb * MIB), time_limit=validation_time_limit, workers=validation_workers
    )
    code = run(
        database,
        host,
        port,
        allow_robots=allow_robots,
        sql_time_limit_ms=sql_time_limit_ms,
        validation=limits.to_config() if validation else None,
        on_start=started,
        on_signal=stopping,
        sirene=sirene_file,
    )
    if code != 0:  # Datasette stopped by itself: its own (English) message is above
        click.secho(
            f"Erreur : Datasette s'est arrêté (code {code}) ; le message ci-dessus en donne la raison.",
            fg="red",
            err=True,
        )
        sys.exit(3)


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
    décrits dans defauts-injectes.csv) et un répertoire SIRENE fictif de ses acheteurs et
    titulaires (sirene.sqlite, jamais celui installé), le valide (résumé à l'écran, rapport
    complet dans rapport-validation.json), l'empaquette (datapackages/demo), construit la base
    (decp.db) et la sert avec Datasette (--no-serve pour s'arrêter avant).

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
    store = _demo_sirene(out, contracts, seed)
    _demo_validation(data, out / "rapport-validation.json", quiet, store)
    ctx.invoke(
        package_command,
        files=(data,),
        out=out / "datapackages" / "demo",
        update=False,
        drop_invalid=False,
        skip_unreadable=False,
        parquet=False,
        title="démonstration",
        as_of=None,
        config_file=None,
        cpv_file=None,
        sirene_file=store,
        quiet=quiet,
    )
    database = out / "decp.db"
    ctx.invoke(
        publish,
        packages=(out / "datapackages" / "demo",),
        out=database,
        cpv_file=None,
        sirene_file=store,
        quiet=quiet,
    )
    if not quiet:
        click.echo(
            f"Consultez {out / 'rapport-validation.json'} (rapport complet), {out / 'datapackages' / 'demo'} "
            f"(paquet de données), {database} (base) et {out / 'defauts-injectes.csv'} (défauts injectés).",
            err=True,
        )
    if serve_after:
        if ctx.get_parameter_source("port") is click.core.ParameterSource.DEFAULT:
            port = _free_port(port)
        ctx.invoke(
            serve,
            database=database,
            host="127.0.0.1",
            port=port,
            allow_robots=False,
            sql_time_limit_ms=3000,
            sirene_file=store,  # the validation page checks SIRETs with the demo's own register
        )


def _free_port(port: int) -> int:
    """The demo's default port, or the next free one when another program holds it (said on stderr)."""
    from marches.errors import OutputError
    from marches.serve import check_port, next_free_port

    try:
        check_port("127.0.0.1", port)
    except OutputError:
        chosen = next_free_port("127.0.0.1", port)
        click.echo(f"Le port {port} est déjà utilisé : la démonstration est servie sur le port {chosen}.", err=True)
        return chosen
    return port


def _demo_sirene(out: Path, contracts: int, seed: int) -> Path:
    """A fictitious SIRENE register of the demo's buyers and titulaires, in INSEE's layout, installed apart."""
    from marches.generate.sirene import generate_sirene
    from marches.sirene.install import install

    paths, _ = generate_sirene(out / "sirene", "zip", 0, seed, contracts)
    return install(list(paths.values()), out / "sirene.sqlite").path


def _demo_validation(data: Path, report_path: Path, quiet: bool, store_path: Path) -> None:
    """Validate the demo data: summary on stderr (it is a demonstration, not a CI gate), full JSON report."""
    from marches import cpv as nomenclature
    from marches.report import SINKS, Report, render_text
    from marches.sirene import Sirene
    from marches.validate import validate as run

    with report_path.open("w", encoding="utf-8") as fh:
        sink = SINKS["json"](fh)
        report = Report(examples_per_rule=2, sink=sink)
        progress = _Progress(quiet)
        try:
            run([data], None, nomenclature.resolve(None), report, progress, sirene=Sirene(store_path))
        finally:
            progress.close()
        sink.close(report, False)
    if not quiet:
        click.echo(render_text(report, False, click.style), err=True)
