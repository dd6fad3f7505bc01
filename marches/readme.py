"""The parts of the README that the code states: regenerated, never written by hand.

``python -m marches.readme`` rewrites, between their ``<!-- name:start -->`` and
``<!-- name:end -->`` markers, the tables of finding codes and rules (from the catalogue and
the rules' declarations), the regulatory facts (from :mod:`marches.regulation`), the default
thresholds (from :class:`marches.rules.Config`) and the real output of ``marches validate`` on
the demonstration file; ``--demo`` also reruns ``marches demo`` (a minute) for its section.
A test checks that the README holds what this module writes (except the demo's output).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import re
import sys
import tempfile
from pathlib import Path

from marches import french
from marches.regulation import FORMATS, PUBLICATION_DELAY_MONTHS, PUBLICATION_DELAY_SOURCE, PUBLICATION_THRESHOLDS

ROOT = Path(__file__).resolve().parent.parent
SEVERITY = {"error": "erreur", "warning": "avertissement", "info": "information"}
KINDS = {
    "format": "Format officiel : ce que le schéma du format de l'enregistrement refuse (la valeur est lue quand "
    "son sens est clair, et le message dit comment)",
    "reading": "Lecture : le fichier lui-même, ou ce que la lecture n'a pas pu faire",
    "rule": "Règles métier : au-delà du schéma, chacune avec sa raison, ses exemples et les formats où elle s'applique",
}
EXAMPLE = "tests/fixtures/rapport/exemple.json"
EXAMPLE_AS_OF = "2026-11-22"


def _generations(generations: tuple[str, ...]) -> str:
    return " et ".join(generations) if len(generations) < 2 else "2019 et 2022"


def rules_tables() -> str:
    """One table per kind of finding: code, severity, title, and where a rule applies."""
    from marches.report import catalogue
    from marches.rules import all_rules

    rules: dict[str, tuple[str, ...]] = {}
    for r in all_rules():
        rules.setdefault(r.code, r.generations)
    codes = catalogue()
    out = []
    for kind, heading in KINDS.items():
        out.append(f"{heading} :\n")
        extra = " formats |" if kind == "rule" else ""
        out.append(f"| code | gravité | ce qu'il signale |{extra}")
        out.append("|---|---|---|" + ("---|" if kind == "rule" else ""))
        for code, info in codes.items():
            if info.kind != kind:
                continue
            cells = f"| `{code}` | {SEVERITY[info.severity]} | {info.title} |"
            if kind == "rule":
                cells += f" {_generations(rules[code]) if code in rules else '2019 et 2022'} |"
            out.append(cells)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def regulation_table() -> str:
    """The regulatory facts the rules apply, with their dates and sources."""
    lines = ["| fait | valeur | depuis | source |", "|---|---|---|---|"]
    for f in FORMATS.values():
        until = f" au {french.date(f.in_force[1])}" if f.in_force[1] else ""
        lines.append(
            f"| format {f.generation} | schéma {f.schema} | du {french.date(f.in_force[0])}{until} | {f.texts} |"
        )
    for t in PUBLICATION_THRESHOLDS:
        lines.append(
            f"| seuil de publication des marchés | {french.amount(t.amount)} HT | notifiés depuis le "
            f"{french.date(t.since)} | {t.source} |"
        )
    lines.append(
        f"| délai de publication des marchés | {PUBLICATION_DELAY_MONTHS} mois calendaires après la notification "
        f"| — | {PUBLICATION_DELAY_SOURCE} |"
    )
    return "\n".join(lines) + "\n"


def thresholds_toml() -> str:
    """The [seuils] section with the default of every setting of Config."""
    from marches.rules import Config

    notes = {
        "as_of": "date de référence (défaut : aujourd'hui)",
        "year_floor": "année minimale d'une date",
        "publication_delay_months": "délai de publication des marchés, en mois calendaires",
        "amount_implausible": "montant invraisemblable (€ HT)",
        "amount_placeholder_floor": "au-delà, un chiffre répété…",
        "amount_repeated_digits": "…tant de fois est un montant de remplissage",
        "publication_threshold": "un seuil unique à la place du seuil en vigueur à la date de notification",
        "duration_implausible": "durée invraisemblable d'un marché (mois)",
        "concession_duration_implausible": "durée invraisemblable d'une concession (mois)",
        "day_like_durations": "durées « en jours »…",
        "day_like_amount_max": "…pour un montant inférieur à celui-ci (€ HT)",
    }
    lines = ["```toml", "[seuils]"]
    defaults = Config(as_of=dt.date.fromisoformat(EXAMPLE_AS_OF))
    for field in dataclasses.fields(Config):
        value = getattr(defaults, field.name)
        if value is None:
            text = f"# {field.name} = 40000"
        elif isinstance(value, tuple):
            text = f"{field.name} = [{', '.join(str(v) for v in value)}]"
        elif isinstance(value, str | dt.date):
            text = f'{field.name} = "{value}"'
        else:
            text = f"{field.name} = {int(value) if isinstance(value, float) and value.is_integer() else value}"
        lines.append(f"{text:<40}# {notes[field.name]}")
    lines.append("```")
    return "\n".join(lines) + "\n"


def validate_example() -> str:
    """The real text report on the demonstration file."""
    from click.testing import CliRunner

    from marches.cli import cli

    with contextlib.chdir(ROOT), tempfile.TemporaryDirectory() as empty:  # no CPV list installed: the same output
        result = CliRunner().invoke(
            cli,
            ["validate", EXAMPLE, "--as-of", EXAMPLE_AS_OF],
            env={"MARCHES_CACHE_DIR": empty},
            catch_exceptions=False,
        )
    return f"```console\n$ marches validate {EXAMPLE} --as-of {EXAMPLE_AS_OF}\n{result.output.rstrip()}\n```\n"


def demo_output() -> str:
    """The real output of ``marches demo`` (generate, validate, package, publish), without serving."""
    from click.testing import CliRunner

    from marches.cli import cli

    runner = CliRunner()
    with runner.isolated_filesystem():
        result = runner.invoke(cli, ["demo", "-o", "sortie", "--no-serve"], catch_exceptions=False)
    return f"```text\n{result.output.rstrip()}\n```\n"


SECTIONS = {
    "rules": rules_tables,
    "regulation": regulation_table,
    "thresholds": thresholds_toml,
    "validate-example": validate_example,
}


def render(text: str, sections: dict) -> str:
    """The README with each known section replaced by what the code says now."""
    for name, make in sections.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"section {name} absente du README (marqueurs <!-- {name}:start --> … :end -->)")
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + m.group(2), text)
    return text


def main(argv: list[str]) -> None:
    path = ROOT / "README.md"
    sections = dict(SECTIONS)
    if "--demo" in argv:
        sections["demo"] = demo_output
    path.write_text(render(path.read_text(encoding="utf-8"), sections), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
