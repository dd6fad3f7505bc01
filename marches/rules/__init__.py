"""Business rules: each one a Pandera check with a stable code, a severity, a French message,
its reason, and its own valid and invalid examples (run by a parametrized test).

A rule looks at one table of the model. ``prepare`` may add columns it needs (a value from the
parent table, a lookup in the CPV nomenclature, a checksum computed once per distinct value);
``ok`` is a polars expression, true where the row passes. Thresholds come from ``Config``. Rules
that need the SIRENE register (``needs_sirene``) run only when it is installed or given.
"""

from __future__ import annotations

import string
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
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

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Config:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"paramètres inconnus : {', '.join(sorted(unknown))}")
        converted = dict(values)
        if isinstance(converted.get("as_of"), str):
            converted["as_of"] = date.fromisoformat(converted["as_of"])
        if "day_like_durations" in converted:
            converted["day_like_durations"] = tuple(converted["day_like_durations"])
        return cls(**converted)


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
