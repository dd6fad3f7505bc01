"""The ``marches`` command group and what its commands share: errors, progress, validation options."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from marches import __version__
from marches.errors import MarchesError, os_problem, printable

PROGRESS_MIN_BYTES = 5 << 20  # below this a file reads in a blink: no bar


EXIT_IO = 3  # input or output failure (README: exit codes)


def _fatal_errors(command):
    """Turn fatal errors into a French message and an exit code; a traceback only with --debug.

    MarchesError carries its own message and code; any other system error (a name too long, a
    folder created by another process at the same moment, a full disk) is an input/output
    failure: exit 3.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (MarchesError, OSError) as exc:
            if click.get_current_context().find_root().params.get("debug"):
                raise
            if isinstance(exc, MarchesError):
                message, code = str(exc), exc.exit_code
            else:
                message, code = f"entrée-sortie impossible : {os_problem(exc)}", EXIT_IO
            click.secho(f"Erreur : {printable(message)}", fg="red", err=True)
            sys.exit(code)

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


def _waiting(target: Path, quiet: bool):
    """What to say while another process writes the same output (the lock is awaited)."""

    def on_wait(pid: int | None) -> None:
        if not quiet:
            who = f" (pid {pid})" if pid else ""
            click.echo(
                f"{printable(str(target))} est en cours d'écriture par un autre processus marches{who} : "
                "attente de la fin de son travail…",
                err=True,
            )

    return on_wait


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


def _sirene_option(command):
    """--sirene: the SIRENE register to check SIRETs with, or to name buyers and titulaires with."""
    return click.option(
        "--sirene",
        "sirene_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Répertoire SIRENE construit par « marches sirene install -o FICHIER » ; par défaut celui installé "
        "dans le cache.",
    )(command)


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
