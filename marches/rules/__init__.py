"""Business rules: each one a Pandera check with a stable code, a severity, a French message,
its reason, and its own valid and invalid examples (run by a parametrized test).

A rule looks at one table of the model. ``prepare`` may add columns it needs (a value from the
parent table, a lookup in the CPV nomenclature, a checksum computed once per distinct value);
``ok`` is a polars expression, true where the row passes. Thresholds come from ``Config``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

if TYPE_CHECKING:
    from marches.cpv import Nomenclature

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Config:
    """Thresholds of the rules; defaults documented in the README, overridable by options or a TOML file."""

    as_of: date = field(default_factory=date.today)
    year_floor: int = 2000
    publication_delay_days: int = 61  # "within 2 months of notification"
    amount_implausible: float = 3_000_000_000
    amount_placeholder_floor: float = 100_000_000  # repeated digits above this are placeholders
    amount_repeated_digits: int = 7
    publication_threshold: float = 40_000
    duration_implausible: int = 180
    concession_duration_implausible: int = 480
    day_like_durations: tuple[int, ...] = (30, 31, 360, 365, 366)
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


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity
    table: str
    field: str
    title: str
    message: str  # str.format template over the row: {value} is the field, other columns by name
    reason: str
    ok: Callable[[Config], pl.Expr]
    valid: tuple[dict, ...] = ()
    invalid: tuple[dict, ...] = ()
    prepare: Callable[[pl.DataFrame, RuleContext], pl.DataFrame] | None = None
    needs_cpv: bool = False
    scope: Literal["batch", "global"] = "batch"  # global rules run once on every record's keys (duplicates)

    @property
    def column(self) -> str:
        """The boolean column of this rule in an evaluated frame (unique per rule)."""
        return f"_ok:{self.code}:{self.field}"

    def evaluate(self, frame: pl.DataFrame, ctx: RuleContext) -> pl.DataFrame:
        """The frame with this rule's extra columns and a boolean column named after its code."""
        if self.prepare is not None:
            frame = self.prepare(frame, ctx)
        return frame.with_columns(self.ok(ctx.config).fill_null(True).alias(self.column))


RULES: list[Rule] = []


def rule(**kwargs) -> Rule:
    """Declare and register a rule."""
    r = Rule(**kwargs)
    if any((e.code, e.table, e.field) == (r.code, r.table, r.field) for e in RULES):
        raise ValueError(f"règle en double : {r.code} sur {r.table}.{r.field}")
    RULES.append(r)
    return r


def rules_for(table: str) -> list[Rule]:
    _load()
    return [r for r in RULES if r.table == table]


def all_rules() -> list[Rule]:
    _load()
    return list(RULES)


def _load() -> None:
    from marches.rules import amounts, coherence, dates, identifiers, identity, nomenclature  # noqa: F401
