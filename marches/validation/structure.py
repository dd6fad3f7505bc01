"""Structural validation built from the Table Schemas: types, then every constraint.

The Table Schemas of ``schemas/`` are the single source of truth: each field's type gives a
vectorised polars cast (a non-empty cell that does not cast is a ``type-error``), and its
constraints become a Pandera (polars backend) schema: ``required``, ``enum``, ``pattern``,
``minimum``/``maximum``, ``minLength``/``maxLength``, item enums of arrays, the primary key and
the foreign keys. Each row is held to its own generation's constraints (``x-format``, see
:meth:`marches.model.Table.constraints_for`). The codes and the cells they point at agree with
``frictionless validate`` given the same per-generation schema (a differential test checks it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData
from pandera.constants import CHECK_OUTPUT_KEY

from marches import french
from marches.model import Table, load_tables
from marches.regulation import FORMATS, GENERATIONS

TRUE_VALUES = ("true", "True", "TRUE", "1")
FALSE_VALUES = ("false", "False", "FALSE", "0")
_JSON_ARRAY = r"^\s*\[.*\]\s*$"
PATTERN_HINTS = {
    "^[0-9]{14}$": "14 chiffres (SIRET)",
    "^[0-9]{8}(-[0-9])?$": "8 chiffres, éventuellement suivis d'un tiret et du chiffre de contrôle (CPV)",
}
TYPE_NAMES = {
    "integer": "un nombre entier",
    "number": "un nombre",
    "boolean": "true ou false",
    "date": "une date AAAA-MM-JJ",
    "array": "une liste JSON",
    "string": "du texte",
}


@dataclass(frozen=True, slots=True)
class CheckMeta:
    """What a Pandera check of a column stands for, to turn its failures into findings."""

    code: str
    field: str
    constraint: Any = None


# -- casting -------------------------------------------------------------------------------------------


def cast_expr(name: str, type_: str) -> pl.Expr:
    """The typed value of a text column, null where the text is not of the type."""
    col = pl.col(name)
    if type_ == "integer":
        return col.str.strip_chars().cast(pl.Int128, strict=False)  # frictionless reads integers of any size
    if type_ == "number":
        return col.str.strip_chars().cast(pl.Float64, strict=False)
    if type_ == "boolean":
        return pl.when(col.is_in(TRUE_VALUES)).then(True).when(col.is_in(FALSE_VALUES)).then(False).otherwise(None)
    if type_ == "date":
        return pl.when(col.str.contains(r"^\d{4}-\d{2}-\d{2}$")).then(col.str.to_date("%Y-%m-%d", strict=False))
    return col


def _decode_arrays(series: pl.Series) -> pl.Series:
    """JSON arrays of strings; anything else null (reported as a type error).

    The same texts come back again and again (« Sans objet », « Pas de considération sociale »…): each
    distinct text is decoded once (50 000 contracts, 7 array columns: 0.23 -> 0.06 s)."""
    texts = series.unique()
    decoded = pl.DataFrame({"text": texts, "value": _decoded(texts)})
    return (
        series.to_frame("text")
        .join(decoded, on="text", how="left", maintain_order="left")
        .get_column("value")
        .alias(series.name)
    )


def _decoded(texts: pl.Series) -> pl.Series:
    candidate = texts.str.contains(_JSON_ARRAY).fill_null(False)
    try:
        only_arrays = pl.select(pl.when(candidate).then(texts)).to_series()
        return only_arrays.str.json_decode(pl.List(pl.String))
    except pl.exceptions.PolarsError:  # a malformed array among them: decode cell by cell
        values = []
        for text in texts.to_list():
            try:
                value = json.loads(text) if text is not None else None
            except ValueError:
                value = None
            values.append([str(v) for v in value] if isinstance(value, list) else None)
        return pl.Series(values, dtype=pl.List(pl.String))


def typed_frame(raw: pl.DataFrame, table: Table) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(typed frame, type errors as rows: row, field, value) for one table's text frame."""
    types = table.types
    exprs = [cast_expr(name, types[name]).alias(name) for name in raw.columns if types.get(name) != "array"]
    typed = raw.with_columns(exprs)
    for name in raw.columns:
        if types.get(name) == "array":
            typed = typed.with_columns(_decode_arrays(raw[name]))
    errors = []
    for name in raw.columns:
        if types.get(name, "string") == "string":
            continue
        bad = raw[name].is_not_null() & typed[name].is_null()
        if bad.any():
            rows = bad.arg_true()
            errors.append(pl.DataFrame({"row": rows.cast(pl.Int64), "field": name, "value": raw[name].gather(rows)}))
    type_errors = (
        pl.concat(errors) if errors else pl.DataFrame(schema={"row": pl.Int64, "field": pl.String, "value": pl.String})
    )
    return typed, type_errors


# -- constraints as Pandera schemas ------------------------------------------------------------------


def _dtype(type_: str):
    return {
        "integer": pl.Int64,
        "number": pl.Float64,
        "boolean": pl.Boolean,
        "date": pl.Date,
        "array": pl.List(pl.String),
    }.get(type_, pl.String)


def _field_checks(field: dict) -> list[tuple[pa.Check, CheckMeta]]:
    name, type_ = field["name"], field["type"]
    constraints = field.get("constraints") or {}
    checks: list[tuple[pa.Check, CheckMeta]] = []
    if "enum" in constraints:
        checks.append((pa.Check.isin(constraints["enum"]), CheckMeta("enum", name, constraints["enum"])))
    if "pattern" in constraints:
        checks.append(
            (pa.Check.str_matches(constraints["pattern"]), CheckMeta("pattern", name, constraints["pattern"]))
        )
    if "minimum" in constraints:
        checks.append((pa.Check.ge(constraints["minimum"]), CheckMeta("minimum", name, constraints["minimum"])))
    if "maximum" in constraints:
        checks.append((pa.Check.le(constraints["maximum"]), CheckMeta("maximum", name, constraints["maximum"])))
    if type_ == "string" and "minLength" in constraints:
        checks.append(
            (
                pa.Check.str_length(min_value=constraints["minLength"]),
                CheckMeta("minLength", name, constraints["minLength"]),
            )
        )
    if type_ == "string" and "maxLength" in constraints:
        checks.append(
            (
                pa.Check.str_length(max_value=constraints["maxLength"]),
                CheckMeta("maxLength", name, constraints["maxLength"]),
            )
        )
    if type_ == "array":
        if "minLength" in constraints:
            minimum = constraints["minLength"]
            checks.append(
                (
                    pa.Check(
                        lambda data, m=minimum: data.lazyframe.select(pl.col(data.key).list.len() >= m),
                        name="array-min-length",
                    ),
                    CheckMeta("minLength", name, minimum),
                )
            )
        items = (field.get("arrayItem") or {}).get("constraints", {}).get("enum")
        if items:
            checks.append(
                (
                    pa.Check(
                        lambda data, allowed=tuple(items): data.lazyframe.select(
                            pl.col(data.key).list.eval(pl.element().is_in(allowed)).list.all()
                        ),
                        name="array-item-enum",
                    ),
                    CheckMeta("enum", name, items),
                )
            )
    return checks


@cache
def pandera_schema(
    table_name: str, generation: str | None = None
) -> tuple[pa.DataFrameSchema, dict[tuple[str, int], CheckMeta]]:
    """The Pandera schema of one table for the records of one generation (``None``: what both share)."""
    table = load_tables()[table_name]
    if generation is not None:
        table = table.for_generation(generation)
    columns, meta = {}, {}
    for field in table.fields:
        checks = _field_checks(field)
        for number, (_check, m) in enumerate(checks):
            meta[(field["name"], number)] = m
        columns[field["name"]] = pa.Column(
            _dtype(field["type"]),
            [c for c, _ in checks],
            nullable=not (field.get("constraints") or {}).get("required", False),
            required=False,
        )
    return pa.DataFrameSchema(columns, name=table_name), meta


def check_output(check: pa.Check, lazy: pl.LazyFrame, column: str | None = None) -> pl.LazyFrame:
    """``check(lazy, column=column).check_output``, still lazy: one boolean column, null counted as Pandera does.

    Pandera collects each check's output as soon as the check is called, one pass over the frame per
    check; left lazy, the outputs of all the checks are collected together (``pl.collect_all``). The
    check function, its output and the handling of nulls are Pandera's own (its polars check backend)."""
    name = getattr(check._check_fn, "__name__", None)
    if name is not None and check.is_builtin_check(name):  # as Check.__call__ does
        check._check_fn = check.get_builtin_check_fn(name)
    backend = check.get_backend(lazy)(check)
    out = backend.apply(PolarsData(backend.preprocess(lazy, column), column or "*"))
    if isinstance(out, bool):
        return check(lazy, column=column).check_output
    result = pl.col(CHECK_OUTPUT_KEY)
    return out.with_columns(result | result.is_null() if check.ignore_na else result.fill_null(False))


def constraint_failures(typed: pl.DataFrame, table_name: str, generations: pl.Series | None = None) -> pl.DataFrame:
    """Cells that break a constraint of their record's format: row, field, code, value, constraint, generation.

    Each row is checked against its own generation's constraints (``x-format`` merged in); rows of
    unknown generation against the constraints both generations share. One failure per cell, the
    first in the schema's order (required, then enum, pattern, bounds, lengths).
    """
    if generations is None:
        return _failures_of(typed, table_name, None)
    parts = []
    for generation in (*GENERATIONS, None):
        mask = generations.is_null() if generation is None else (generations == generation).fill_null(False)
        if not mask.any():
            continue
        if mask.all():
            return _failures_of(typed, table_name, generation)
        rows = mask.arg_true()
        found = _failures_of(typed.filter(mask), table_name, generation)
        parts.append(found.with_columns(rows.gather(found.get_column("row")).cast(pl.Int64).alias("row")))
    return pl.concat(parts) if parts else _empty_failures()


def common_failure_rows(typed: pl.DataFrame, table_name: str, rows: pl.Series) -> pl.Series:
    """Which of ``rows`` break the constraints shared by both generations (what packaged tables must meet)."""
    if rows.len() == 0:
        return pl.Series("row", [], dtype=pl.Int64)
    rows = rows.cast(pl.Int64)
    found = _failures_of(typed[rows], table_name, None)
    return rows.gather(found.get_column("row").unique()).alias("row")


def _failures_of(typed: pl.DataFrame, table_name: str, generation: str | None) -> pl.DataFrame:
    """Rows that break a constraint (Pandera checks evaluated together; their boolean output gives the rows).

    Pandera's own failure-case report is much slower when thousands of rows fail, which national files do.
    """
    schema, meta = pandera_schema(table_name, generation)
    lazy = typed.lazy()
    parts, pending = [], []
    for name, column in schema.columns.items():
        if name not in typed.columns:
            continue
        if not column.nullable:
            rows = typed.get_column(name).is_null().arg_true()
            if len(rows):
                parts.append(_failures(rows, name, "required", None, True))
        pending += [(name, number, check_output(check, lazy, name)) for number, check in enumerate(column.checks)]
    outputs = pl.collect_all([output for *_, output in pending])  # one pass, checks evaluated together
    for (name, number, _), output in zip(pending, outputs, strict=True):
        rows = (~output.to_series().fill_null(True)).arg_true()
        if len(rows):
            m = meta[(name, number)]
            column_values = typed.get_column(name).gather(rows)
            if column_values.dtype == pl.List(pl.String) and m.code == "enum":  # the values outside, as a JSON list
                outside = column_values.list.eval(pl.element().filter(~pl.element().is_in(list(m.constraint))))
                values = pl.Series([json.dumps(v, ensure_ascii=False) for v in outside.to_list()], dtype=pl.String)
            elif column_values.dtype == pl.List(pl.String):
                values = column_values.list.join(", ")
            else:
                values = column_values.cast(pl.String)
            parts.append(_failures(rows, name, m.code, values, m.constraint))
    if not parts:
        return _empty_failures()
    found = pl.concat(parts).unique(subset=["row", "field"], keep="first", maintain_order=True)
    return found.with_columns(pl.lit(generation, dtype=pl.String).alias("generation"))


def _failures(rows: pl.Series, field: str, code: str, values: pl.Series | None, constraint: Any) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "row": rows.cast(pl.Int64),
            "field": pl.Series([field] * len(rows), dtype=pl.String),
            "code": pl.Series([code] * len(rows), dtype=pl.String),
            "value": values if values is not None else pl.Series([None] * len(rows), dtype=pl.String),
            "constraint": pl.Series([constraint] * len(rows), dtype=pl.Object),
        }
    )


def _empty_failures() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "row": pl.Int64,
            "field": pl.String,
            "code": pl.String,
            "value": pl.String,
            "constraint": pl.Object,
            "generation": pl.String,
        }
    )


def primary_key_failures(typed: pl.DataFrame, table: Table) -> pl.DataFrame:
    """Rows repeating the primary key of an earlier row (the first occurrence is not an error)."""
    key = table.primary_key
    if not set(key) <= set(typed.columns):
        return pl.DataFrame(schema={"row": pl.Int64, "value": pl.String})
    repeated = (~pl.struct(key).is_first_distinct()) & pl.all_horizontal([pl.col(k).is_not_null() for k in key])
    rows = typed.select(
        repeated.alias("bad"), pl.concat_str([pl.col(k).cast(pl.String) for k in key], separator=", ").alias("value")
    ).with_row_index("row")
    return rows.filter("bad").select(pl.col("row").cast(pl.Int64), "value")


def foreign_key_failures(child: pl.DataFrame, table: Table, parents: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Rows whose foreign key has no parent row: row, fields."""
    parts = []
    for fk in table.descriptor.get("foreignKeys") or []:
        parent = parents.get(fk["reference"]["resource"])
        fields, ref = fk["fields"], fk["reference"]["fields"]
        keys = child.select(fields).with_row_index("row")
        if parent is None:
            missing = keys
        else:
            lookup = parent.select([pl.col(r).alias(f) for r, f in zip(ref, fields, strict=True)]).unique()
            missing = keys.join(lookup, on=fields, how="anti", nulls_equal=False)
        if missing.height:
            parts.append(missing.select(pl.col("row").cast(pl.Int64), pl.lit(",".join(fields)).alias("field")))
    return pl.concat(parts) if parts else pl.DataFrame(schema={"row": pl.Int64, "field": pl.String})


def published_name(column: str) -> str:
    """A column's name as publishers write the field: ``acheteur_id`` -> ``acheteur.id``, ``formePrix_2019`` -> ``formePrix``."""
    return column.removesuffix("_2019").replace("_", ".")


def _bound(value: Any) -> str:
    return french.number(value) if isinstance(value, int | float) else str(value)


def message(
    code: str, field: str, value: Any, constraint: Any = None, type_: str = "string", generation: str | None = None
) -> str:
    """The French explanation of a structural finding, naming the field as the publisher's format does."""
    name = published_name(field)
    shown = f"« {value} »"
    where = f"au {FORMATS[generation].label}" if generation in FORMATS else "dans les deux formats"
    damaged = " (des caractères y ont été détruits par une conversion d'encodage)" if "\ufffd" in str(value) else ""
    if code == "type-error":
        return f"« {name} » : {shown} n'est pas {TYPE_NAMES.get(type_, type_)}."
    if code == "required":
        return f"« {name} » est obligatoire {where} et absent."
    if code == "enum":
        allowed = ", ".join(f"« {v} »" for v in constraint[:8]) + (" …" if len(constraint) > 8 else "")
        outside = json.loads(value) if type_ == "array" else [value]  # of a list: the values outside it
        shown = ", ".join(f"« {v} »" for v in outside)
        verdict = "ne sont pas des valeurs autorisées" if len(outside) > 1 else "n'est pas une valeur autorisée"
        return f"« {name} » : {shown} {verdict} {where}{damaged} ; valeurs possibles : {allowed}."
    if code == "pattern":
        return f"« {name} » : {shown} n'a pas le format attendu ({_pattern_hint(field, value, constraint)})."
    if code in ("minimum", "maximum") and (exact := french.published_number(str(value))):
        shown = exact  # « 1,5 », as a French reader writes the number
    if code == "minimum":
        return f"« {name} » : {shown} est inférieur au minimum de {_bound(constraint)} {where}."
    if code == "maximum":
        return f"« {name} » : {shown} est supérieur au maximum de {_bound(constraint)} {where}."
    if code == "minLength":
        return (
            f"« {name} » : {shown} est trop court {where} (au moins {_bound(constraint)} caractère(s) ou élément(s))."
        )
    if code == "maxLength":
        length = f"{french.number(len(str(value)))} caractères" if value is not None else "trop long"
        return f"« {name} » : {length}, trop long {where} ({_bound(constraint)} caractères au plus)."
    if code == "primary-key":
        return f"Clé {shown} en double dans la table : chaque ligne doit avoir une clé unique ({field})."
    if code == "foreign-key":
        return f"Ligne rattachée à un enregistrement parent inexistant ({field} = {shown})."
    return f"« {name} » : {shown} ({code})."


def _pattern_hint(field: str, value: Any, constraint: str) -> str:
    hint = PATTERN_HINTS.get(constraint, constraint)
    text = str(value or "")
    code, dash, check = text.partition("-")
    if field == "codeCPV" and code.isdigit() and len(code) == 7 and code.strip("0") and (not dash or check.isdigit()):
        return f"{hint} ; il a 7 chiffres : le zéro initial a sans doute été perdu, le code est « 0{text} »"
    if constraint == "^[0-9]{14}$" and text.isdigit() and len(text) == 13 and text.strip("0"):
        return f"{hint} ; il a 13 chiffres : un zéro initial a peut-être été perdu (« 0{text} »)"
    return hint
