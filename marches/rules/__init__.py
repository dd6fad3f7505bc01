"""Business rules: each one a Pandera check with a stable code, a severity, a French message,
its reason, and its own valid and invalid examples (run by a parametrized test).

A rule looks at one table of the model. ``prepare`` may add columns it needs (a value from the
parent table, a lookup in the CPV nomenclature, a checksum computed once per distinct value);
``ok`` is a polars expression, true where the row passes. Thresholds come from ``Config``. Rules
that need the SIRENE register (``needs_sirene``) run only when it is installed or given.
"""

from __future__ import annotations

import contextlib
import json
import math
import string
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from marches.regulation import GENERATIONS, PUBLICATION_DELAY_MONTHS

if TYPE_CHECKING:
    from marches.cpv import Nomenclature
    from marches.sirene import Sirene

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Config:
    """Thresholds of the rules; defaults documented in the README, overridable by options or a TOML file.

    Regulatory facts (publication threshold at a date, publication delay) come from
    :mod:`marches.regulation`; ``publication_threshold`` set here replaces the dated threshold
    by one amount for every date.

    Every value is checked when the configuration is made (its type, then its range, see
    ``SETTINGS``): a wrong one raises ``ValueError`` with a French message naming the key, the
    value and what is expected, never a failure later in the rules.
    """

    as_of: date = field(default_factory=date.today)
    year_floor: int = 2000
    publication_delay_months: int = PUBLICATION_DELAY_MONTHS
    amount_implausible: float = 3_000_000_000
    amount_placeholder_floor: float = 100_000_000  # repeated digits above this are placeholders
    amount_repeated_digits: int = 7
    publication_threshold: float | None = None
    duration_implausible: int = 180
    concession_duration_implausible: int = 480
    day_like_durations: tuple[int, ...] = (360, 365, 366)
    day_like_amount_max: float = 200_000

    def __post_init__(self) -> None:
        problems = [p for name in SETTINGS if (p := setting_problem(name, getattr(self, name))) is not None]
        if problems:
            raise ValueError(" ; ".join(problems))

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Config:
        """A Config from the values of a ``[seuils]`` table (``as_of`` may be a TOML date or a string AAAA-MM-JJ).

        Raises ``ValueError`` (French message) naming every unknown key and every wrong value."""
        if not isinstance(values, dict):
            raise ValueError(f"attendu une table de paramètres [seuils], reçu {_shown(values)}")
        converted = dict(values)
        if isinstance(converted.get("as_of"), str):
            with contextlib.suppress(ValueError):  # else reported below, as published
                converted["as_of"] = date.fromisoformat(converted["as_of"])
        unknown = set(converted) - set(SETTINGS)
        problems = [p for name, value in converted.items() if name in SETTINGS and (p := setting_problem(name, value))]
        if unknown:
            problems.insert(
                0, f"paramètres inconnus : {', '.join(sorted(unknown))} (paramètres possibles : {', '.join(SETTINGS)})"
            )
        if problems:
            raise ValueError(" ; ".join(problems))
        if "day_like_durations" in converted:
            converted["day_like_durations"] = tuple(converted["day_like_durations"])
        return cls(**converted)


# What each setting of Config must be: its kind ("date", "int", "amount", "ints"), its lowest and highest
# value (ints, inclusive) and, in French, what a reader is told is expected. An amount is a finite number
# above 0. Bounds keep every value meaningful (a year 0 or an amount of -5 € would switch a rule off or
# flag every contract) and within what the rules compute with (dates end in 9999).
SETTINGS: dict[str, tuple[str, int, int, str]] = {
    "as_of": ("date", 0, 0, "une date AAAA-MM-JJ (comme 2026-11-30)"),
    "year_floor": ("int", 1, 9999, "une année, nombre entier de 1 à 9999"),
    "publication_delay_months": ("int", 1, 1200, "un nombre entier de mois, de 1 à 1200"),
    "amount_implausible": ("amount", 0, 0, "un montant en euros HT, nombre supérieur à 0"),
    "amount_placeholder_floor": ("amount", 0, 0, "un montant en euros HT, nombre supérieur à 0"),
    "amount_repeated_digits": ("int", 2, 20, "un nombre entier de chiffres, de 2 à 20"),
    "publication_threshold": ("amount", 0, 0, "un montant en euros HT, nombre supérieur à 0"),
    "duration_implausible": ("int", 1, 2**53, "un nombre entier de mois supérieur à 0"),
    "concession_duration_implausible": ("int", 1, 2**53, "un nombre entier de mois supérieur à 0"),
    "day_like_durations": (
        "ints",
        1,
        2**53,
        "une liste de durées en mois, nombres entiers supérieurs à 0 (comme [360, 365, 366])",
    ),
    "day_like_amount_max": ("amount", 0, 0, "un montant en euros HT, nombre supérieur à 0"),
}


def setting_problem(name: str, value: Any) -> str | None:
    """None if ``value`` suits the setting ``name`` of Config, else the French sentence saying why not."""
    kind, low, high, expected = SETTINGS[name]

    def whole(v: Any) -> bool:  # a bool is an int in Python, never a number here
        return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high

    if kind == "date":
        fits = isinstance(value, date) and not isinstance(value, datetime)
    elif kind == "int":
        fits = whole(value)
    elif kind == "ints":
        fits = isinstance(value, list | tuple) and all(whole(v) for v in value)
    else:
        fits = (name == "publication_threshold" and value is None) or (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
        )
    return None if fits else f"« {name} » = {_shown(value)} : attendu {expected}"


def _shown(value: Any, kind: bool = True) -> str:
    """A value as TOML writes it, with its kind when that is what is wrong (« "abc" (texte) », « true (booléen) »)."""
    if isinstance(value, bool):
        text, what = str(value).lower(), "booléen"
    elif isinstance(value, int | float):
        text, what = str(value).lower(), ""
    elif isinstance(value, str):
        text, what = json.dumps(value, ensure_ascii=False), "texte"
    elif isinstance(value, datetime):
        text, what = value.isoformat(), "date et heure"
    elif isinstance(value, date):
        text, what = value.isoformat(), ""
    elif isinstance(value, list | tuple):
        text, what = "[" + ", ".join(_shown(v, kind=False) for v in value) + "]", ""
    elif isinstance(value, dict):
        text, what = "{…}", "table"
    else:
        text, what = repr(value), ""
    return f"{text} ({what})" if kind and what else text


@dataclass
class RuleContext:
    config: Config
    cpv: Nomenclature | None
    frames: dict[str, pl.DataFrame]  # typed frames of the batch, by table
    sirene: Sirene | None = None


@dataclass(frozen=True)
class Rule:
    """A business rule: a polars expression true where a row passes, and everything a reader needs.

    ``message`` is a ``str.format`` template: ``{value}`` is the field's value, other names are
    columns of the (prepared) row or the rule's own ``params`` (values it computes from the
    configuration and formats itself), so that no rule prints another's limit. ``reads`` names the
    other cells the rule compares its field with: such a rule runs after the rules on single
    values, and a cell one of those flags is hidden from it (one defect, one finding).
    ``generations`` are the formats the rule belongs to.
    """

    code: str
    severity: Severity
    table: str
    field: str
    title: str
    message: str
    reason: str
    ok: Callable[[Config], pl.Expr]
    valid: tuple[dict, ...] = ()
    invalid: tuple[dict, ...] = ()
    prepare: Callable[[pl.DataFrame, RuleContext], pl.DataFrame] | None = None
    needs_cpv: bool = False
    needs_sirene: bool = False  # runs only with the SIRENE register (installed, or --sirene)
    scope: Literal["batch", "global"] = "batch"  # global rules run once on every record's keys (duplicates)
    reads: tuple[str, ...] = ()
    params: Callable[[Config], dict[str, str]] | None = None
    generations: tuple[str, ...] = GENERATIONS
    display: dict[str, Callable[[Any], str]] = field(default_factory=dict)  # how to write a value (« 20 % »)

    @property
    def level(self) -> int:
        """1 for a rule on its field's value alone, 2 for a rule comparing it with other cells."""
        return 2 if self.reads else 1

    def placeholders(self) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(self.message) if name}

    @property
    def column(self) -> str:
        """The boolean column of this rule in an evaluated frame (unique per rule)."""
        return f"_ok:{self.code}:{self.field}"

    def evaluate(self, frame: pl.DataFrame, ctx: RuleContext) -> pl.DataFrame:
        """The frame with this rule's extra columns and a boolean column named after its code."""
        if self.prepare is not None:
            frame = self.prepare(frame, ctx)
        return frame.with_columns(self.ok(ctx.config).fill_null(True).alias(self.column))


RULES: list[tuple[int, Rule]] = []  # (rank of the declaring module, rule)


# The order of priority when two rules flag the same cell: by module in this order, then by declaration.
MODULES = ("amounts", "dates", "identifiers", "sirene", "nomenclature", "coherence", "identity")


def rule(**kwargs) -> Rule:
    """Declare and register a rule (in the module that calls this)."""
    r = Rule(**kwargs)
    if any((e.code, e.table, e.field) == (r.code, r.table, r.field) for _, e in RULES):
        raise ValueError(f"règle en double : {r.code} sur {r.table}.{r.field}")
    module = sys._getframe(1).f_globals["__name__"].rsplit(".", 1)[-1]
    RULES.append((MODULES.index(module), r))
    return r


def rules_for(table: str) -> list[Rule]:
    return [r for r in all_rules() if r.table == table]


PUBLISHED = ":publié"  # suffix of the column holding a number as published, next to its typed value


def published(column: str) -> str:
    """The column of ``column``'s published text in the frames rules see (``"montant:publié"``)."""
    return column + PUBLISHED


def with_published(typed: pl.DataFrame, raw: pl.DataFrame, table: str) -> pl.DataFrame:
    """``typed`` (rows of ``table``) with the published text of its number columns: a double rounds what it
    cannot hold (« 99999999999999999999 » becomes 1e20), and rules on digits (placeholders) read the digits."""
    from marches.model import load_tables

    numbers = [c for c, t in load_tables()[table].types.items() if t == "number" and c in raw.columns]
    return typed.with_columns(raw.get_column(c).alias(published(c)) for c in numbers)


def all_rules() -> list[Rule]:
    """Every rule, in order of priority (whatever the order the rule modules were imported in)."""
    _load()
    return [r for _, r in sorted(RULES, key=lambda entry: entry[0])]


def _load() -> None:
    from marches.rules import amounts, coherence, dates, identifiers, identity, nomenclature, sirene  # noqa: F401
