"""The ``marches`` command group and what its commands share: errors, progress, validation options."""

from __future__ import annotations

import functools
import re
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


# click writes its help in English: the words it adds around ours, in French (README: the CLI is French).
_HELP_WORDS = (
    ("[%Y-%m-%d]", "AAAA-MM-JJ"),
    ("INTEGER RANGE", "N"),
    ("FLOAT RANGE", "NOMBRE"),
    ("INTEGER", "N"),
    ("FLOAT", "NOMBRE"),
    ("DIRECTORY", "DOSSIER"),
    ("FILE", "FICHIER"),
    ("PATH", "CHEMIN"),
    ("TEXT", "TEXTE"),
    ("[default: ", "[par défaut : "),
    ("[required]", "[obligatoire]"),
)
_HEADINGS = {"Options": "Options ", "Commands": "Commandes ", "Arguments": "Arguments "}  # « Options : »


class _FrenchFormatter(click.HelpFormatter):
    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        words = _french(args).replace("COMMAND [ARGS]", "COMMANDE [ARGUMENTS]").replace("FILES", "FICHIERS")
        super().write_usage(prog, words, "Utilisation : ")

    def write_heading(self, heading: str) -> None:
        super().write_heading(_HEADINGS.get(heading, heading))

    def write_dl(self, rows, col_max: int = 30, col_spacing: int = 2) -> None:
        super().write_dl([(_french(a), _french(b)) for a, b in rows], col_max, col_spacing)


def _french(text: str) -> str:
    for english, french in _HELP_WORDS:
        text = text.replace(english, french)
    return text


class _FrenchContext(click.Context):
    formatter_class = _FrenchFormatter


class _FrenchCommand(click.Command):
    context_class = _FrenchContext

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = "Afficher cette aide et quitter."
        return option


class _FrenchGroup(_FrenchCommand, click.Group):
    command_class = _FrenchCommand
    group_class = type  # sub-groups (cpv, sirene) are French groups too

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """click's own errors (unknown option, missing argument, bad value) in French, exit code 2."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            _show(exc)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("Interrompu.", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


# click's usage errors, as it writes them, and their French wording (the values quoted stay as typed)
_ERRORS = (
    (
        r"No such option:? '?([^' ]+)'?\.?(?: Did you mean '?([^' ]+?)'?\?)?$",
        lambda m: f"option inconnue : {m[1]}" + (f" (vouliez-vous dire {m[2]} ?)" if m[2] else "."),
    ),
    (r"No such command '(.+)'\.$", lambda m: f"commande inconnue : « {m[1]} »."),
    (r"Missing argument '(.+)'\.$", lambda m: f"argument manquant : {_french(m[1]).replace('FILES', 'FICHIERS')}"),
    (r"Missing option '(.+)'\.$", lambda m: f"option obligatoire manquante : {_names(m[1])}."),
    (r"Option '(.+)' requires an argument\.$", lambda m: f"l'option {_names(m[1])} attend une valeur."),
    (r"Got unexpected extra arguments? \((.+)\)$", lambda m: f"argument(s) en trop : {m[1]}."),
    (r"Invalid value for '(.+?)': (.+)$", lambda m: f"valeur invalide pour {_names(m[1])} : {_value_error(m[2])}"),
)


def _names(quoted: str) -> str:
    """click's « -f' / '--format » (quotes inside) as « -f / --format »."""
    return "« " + quoted.replace("' / '", " / ") + " »"


# click's words on a bad value (after « Invalid value for '…': »)
_VALUE_ERRORS = (
    (r"'(.*)' does not match the formats? '%Y-%m-%d'\.", lambda m: f"« {m[1]} » n'est pas une date AAAA-MM-JJ."),
    (r"(?:File|Path|Directory) '(.*)' does not exist\.", lambda m: f"« {m[1]} » n'existe pas."),
    (r"(?:File|Path) '(.*)' is a directory\.", lambda m: f"« {m[1]} » est un dossier, un fichier est attendu."),
    (r"'(.*)' is not one of (.+)\.", lambda m: f"« {m[1]} » n'est pas parmi {m[2]}."),
    (r"'(.*)' is not a valid integer(?: range)?\.", lambda m: f"« {m[1]} » n'est pas un nombre entier."),
    (r"'(.*)' is not a valid float(?: range)?\.", lambda m: f"« {m[1]} » n'est pas un nombre."),
    (r"(.+) is not in the range (.+)\.", lambda m: f"{m[1]} n'est pas dans l'intervalle {m[2]}."),
)


def _value_error(text: str) -> str:
    return _translated(text, _VALUE_ERRORS)


def _translated(text: str, table) -> str:
    """``text`` in French by the first pattern of ``table`` it matches, else unchanged."""
    for pattern, french in table:
        if m := re.match(pattern, text):
            return french(m)
    return text


def _show(exc: click.ClickException) -> None:
    message = _translated(exc.format_message(), _ERRORS)
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        click.echo(ctx.get_usage(), err=True)
        click.echo(f"Aide : « {ctx.command_path} -h ».\n", err=True)
    click.secho(f"Erreur : {message}", fg="red", err=True)


@click.group(cls=_FrenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="marches", help="Afficher la version et quitter.")
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


def _workers_option(work: str, by_default: str | None = None):
    """--workers: the worker processes a large file's ``work`` is shared among (none for small files).

    ``by_default``: what the option does when not given (None: one process per core, at most 4)."""

    def per_core() -> int:  # a callable: also when a command is invoked by another (demo)
        from marches import parallel

        return parallel.default_workers()

    return click.option(
        "--workers",
        type=click.IntRange(min=0),
        default=per_core if by_default is None else 0,
        help=f"Processus qui {work} des gros fichiers JSON et XML (16 Mo et plus), le résultat restant le "
        "même octet pour octet ; 0 ou 1 : un seul processus. Par défaut : "
        + (by_default or "un par cœur de la machine, au plus 4 (chacun tient un lot en mémoire)")
        + ".",
    )


def _config(config_file: Path | None, as_of):
    """The Config of ``--config`` and ``--as-of``; any unreadable file or wrong value is a usage error (exit 2)."""
    import tomllib

    from marches.errors import display_path
    from marches.rules import Config

    values: dict = {}
    where = display_path(config_file) if config_file is not None else ""
    if config_file is not None:
        try:
            data = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise click.BadParameter(f"{where} : {os_problem(exc, with_file=False)}.", param_hint="'--config'") from exc
        except UnicodeDecodeError as exc:
            raise click.BadParameter(f"{where} : fichier qui n'est pas en UTF-8.", param_hint="'--config'") from exc
        except tomllib.TOMLDecodeError as exc:
            at = re.search(r"at line (\d+), column (\d+)", str(exc))
            place = f", ligne {at[1]}, colonne {at[2]}" if at else ""
            raise click.BadParameter(f"{where} : TOML invalide{place}.", param_hint="'--config'") from exc
        values = data.get("seuils", data)
    try:
        if as_of is not None and isinstance(values, dict):
            values = {**values, "as_of": as_of.date()}
        return Config.from_mapping(values)
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(f"{where} : {exc}." if where else f"{exc}.", param_hint="'--config'") from exc
