"""Validation: reader findings, Table Schema structure and business rules -> a Report.

Inputs are validated batch by batch: records read from JSON or XML are flattened and gathered
``BATCH_RECORDS`` at a time into text tables; the project's own CSV tables are read with polars
directly. Each batch is cast and checked against the Table Schemas, then against the business
rules, all vectorised (Pandera on polars). Duplicates are found at the end over the keys of every
record, so memory stays bounded by the batch size plus one small row per record.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandera.polars as pa
import polars as pl

from marches.convert import open_inputs
from marches.cpv import Nomenclature
from marches.errors import InputError
from marches.findings import Finding
from marches.flatten import flatten
from marches.model import CONCESSION_TABLES, MARCHE_TABLES, TABLES, TECHNICAL_COLUMNS, Table, load_tables
from marches.readers import Input
from marches.readers.base import Source
from marches.report import Report, catalogue
from marches.rules import Config, Rule, RuleContext, rules_for
from marches.tables import to_cell
from marches.validation import structure

BATCH_RECORDS = 50_000
ROOTS = {"marches": MARCHE_TABLES, "concessions": CONCESSION_TABLES}
LIST_PATHS = {
    "marches_titulaires": (("titulaires", "position"),),
    "marches_modifications": (("modifications", "position"),),
    "marches_modifications_titulaires": (("modifications", "modification_position"), ("titulaires", "position")),
    "marches_actes_sous_traitance": (("actesSousTraitance", "position"),),
    "marches_modifications_actes_sous_traitance": (("modificationsActesSousTraitance", "position"),),
    "concessions_concessionnaires": (("concessionnaires", "position"),),
    "concessions_modifications": (("modifications", "position"),),
    "concessions_donnees_execution": (("donneesExecution", "position"),),
    "concessions_tarifs": (("donneesExecution", "donneesExecution_position"), ("tarifs", "position")),
}
LOCATION = ("record_key", "source_file", "source_position", "source_path", "source_line", "uid", "id", "generation")
KEYS = ("uid", "source_file", "source_position", "source_path", "source_line", "record_key", "id")
CPV_NOTICE = (
    "Nomenclature CPV non installée : seul le format des codes CPV est vérifié. "
    "Installez-la avec « marches cpv install FICHIER » ou passez --cpv FICHIER."
)


class _Values(dict):
    """Row values for message templates; a missing name shows as '?' instead of failing."""

    def __missing__(self, key: str) -> str:
        return "?"


def _int(value: Any) -> int | None:
    """A location number read from a table, or None when the cell is empty or broken."""
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _display(value: Any) -> Any:
    """Numbers as people read them in messages: 60 000 rather than 60000.0."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}".replace(",", "\u202f")
    return value


def _json_field(column: str) -> str:
    return column.removesuffix("_2019").replace("_", ".")


@dataclass
class Validator:
    config: Config
    cpv: Nomenclature | None
    report: Report
    progress: Callable[[Source], None] | None = None
    keys: dict[str, list[pl.DataFrame]] = field(default_factory=lambda: {"marches": [], "concessions": []})
    table_dir: str | None = None  # while validating marches' CSV tables: findings point at their lines
    current_file: str | None = None  # while validating a JSON or XML file: its name as the user gave it
    point_at_tables: bool = True  # False: findings on CSV tables point at the original sources instead

    # -- inputs --------------------------------------------------------------------------------------

    def run(self, paths: Iterable[Path]) -> Report:
        if self.cpv is None:
            self.report.notices.append(CPV_NOTICE)
        for opened, path, skipped in open_inputs(paths):
            if opened is None:
                self.report.notices.append(f"{path} : {skipped}")
                continue
            source = opened.source
            if source.shape == "csv":
                self._tables(opened)
            else:
                self.current_file = source.name
                try:
                    for batch in _batches(opened, self.report, self.progress):
                        self._batch(batch)
                finally:
                    self.current_file = None
            self.report.extend(source.findings)
            self.report.sources.append(
                {
                    "file": source.name,
                    "sha256": source.sha256,
                    "bytes": source.size,
                    "shape": source.shape,
                    "records": source.records,
                }
            )
        self._global_rules()
        return self.report

    def _tables(self, opened: Input) -> None:
        """The project's own CSV tables, read column-wise by polars (no record-by-record pass)."""
        directory, models = opened.source.path, load_tables()
        frames = {}
        for name in TABLES:
            path = directory / f"{name}.csv"
            if not path.is_file():
                continue
            try:
                frame = pl.read_csv(path, infer_schema=False, encoding="utf8")
            except pl.exceptions.PolarsError as exc:
                raise InputError(str(path), f"CSV illisible : {exc}") from exc
            unknown = [c for c in frame.columns if c not in models[name].types]
            if unknown:
                raise InputError(str(path), f"colonnes inconnues du schéma {name} : {', '.join(unknown)}", line=1)
            frames[name] = frame
        for root in ROOTS:
            if root in frames:
                opened.source.records += frames[root].height
                self.report.records["marche" if root == "marches" else "concession"] += frames[root].height
        self.table_dir = directory.name if self.point_at_tables else None
        try:
            self._batch(frames)
        finally:
            self.table_dir = None

    # -- one batch -----------------------------------------------------------------------------------

    def _batch(self, raw: dict[str, pl.DataFrame]) -> None:
        models = load_tables()
        raw = {name: _complete(frame, models[name]) for name, frame in raw.items()}
        if self.current_file is not None:  # findings name the file as the user gave it, not the bare name
            raw = {
                name: frame.with_columns(pl.lit(self.current_file).alias("source_file")) if name in ROOTS else frame
                for name, frame in raw.items()
            }
        locations = (
            pl.concat([raw[root].select(LOCATION) for root in ROOTS if root in raw], how="vertical_relaxed")
            if any(root in raw for root in ROOTS)
            else pl.DataFrame(schema=dict.fromkeys(LOCATION, pl.String))
        )
        typed: dict[str, pl.DataFrame] = {}
        for name, frame in raw.items():
            model = models[name]
            typed[name], type_errors = structure.typed_frame(frame, model)
            failures = structure.constraint_failures(typed[name], name)
            if type_errors.height:
                failures = failures.join(type_errors.select("row", "field"), on=["row", "field"], how="anti")
                self._emit(
                    name,
                    frame,
                    locations,
                    type_errors.get_column("row"),
                    "type-error",
                    type_errors.get_column("field").to_list(),
                    [
                        structure.message("type-error", f, v, type_=model.types[f])
                        for f, v in type_errors.select("field", "value").iter_rows()
                    ],
                )
            for code in failures.get_column("code").unique(maintain_order=True).to_list():
                part = failures.filter(pl.col("code") == code)
                fields = part.get_column("field").to_list()
                values = [frame[f][r] for r, f in zip(part.get_column("row").to_list(), fields, strict=True)]
                self._emit(
                    name,
                    frame,
                    locations,
                    part.get_column("row"),
                    code,
                    fields,
                    [
                        structure.message(code, f, v, c)
                        for f, v, c in zip(fields, values, part.get_column("constraint").to_list(), strict=True)
                    ],
                )
            generation = frame.select("record_key").join(
                locations.select("record_key", "generation"), on="record_key", how="left", maintain_order="left"
            )
            missing = structure.required_2022(typed[name], model, generation.get_column("generation"))
            if missing.height:
                missing = missing.join(type_errors.select("row", "field"), on=["row", "field"], how="anti")
                fields = missing.get_column("field").to_list()
                self._emit(
                    name,
                    frame,
                    locations,
                    missing.get_column("row"),
                    "required-2022",
                    fields,
                    [structure.message("required-2022", f, None) for f in fields],
                )
            duplicates = structure.primary_key_failures(typed[name], model)
            if duplicates.height:
                key = ",".join(model.primary_key)
                self._emit(
                    name,
                    frame,
                    locations,
                    duplicates.get_column("row"),
                    "primary-key",
                    [key] * duplicates.height,
                    [structure.message("primary-key", key, v) for v in duplicates.get_column("value")],
                )
            orphans = structure.foreign_key_failures(typed[name], model, typed)
            if orphans.height:
                rows = orphans.get_column("row")
                fields = orphans.get_column("field").to_list()
                values = frame.select(pl.col("record_key")).to_series().gather(rows).to_list()
                self._emit(
                    name,
                    frame,
                    locations,
                    rows,
                    "foreign-key",
                    fields,
                    [structure.message("foreign-key", f, v) for f, v in zip(fields, values, strict=True)],
                )
        ctx = RuleContext(self.config, self.cpv, typed)
        for name in raw:
            self._rules(
                name,
                raw[name],
                typed[name],
                locations,
                [r for r in rules_for(name) if r.scope == "batch" and (self.cpv or not r.needs_cpv)],
                ctx,
            )
        for root in ROOTS:
            if root in raw:
                self.keys[root].append(raw[root].select(KEYS))

    def _rules(
        self,
        name: str,
        raw: pl.DataFrame,
        typed: pl.DataFrame,
        locations: pl.DataFrame,
        rules: list[Rule],
        ctx: RuleContext,
    ) -> None:
        """Run each rule as a Pandera check over the prepared frame; its boolean output gives the failing rows."""
        if not rules or typed.height == 0:
            return
        frame, prepared = typed, set()
        for r in rules:
            if r.prepare is not None and r.prepare not in prepared:
                frame = r.prepare(frame, ctx)
                prepared.add(r.prepare)
        lazy = frame.lazy()
        checks = [
            pa.Check(lambda data, r=r: data.lazyframe.select(r.ok(self.config).fill_null(True)), name=r.code)
            for r in rules
        ]
        outputs = pl.collect_all([check(lazy).check_output for check in checks])  # evaluated together
        for r, output in zip(rules, outputs, strict=True):
            rows = (~output.to_series()).arg_true().cast(pl.Int64)
            if len(rows) == 0:
                continue
            names = {n for _, n, _, _ in string.Formatter().parse(r.message) if n} - {"value"}
            wanted = [c for c in names if c in frame.columns]
            values = frame.select(wanted).gather(rows) if wanted else pl.DataFrame({"_": [None] * len(rows)})
            for column in wanted:
                dtype = frame.schema[column]
                if dtype == pl.List(pl.String):
                    values = values.with_columns(pl.col(column).list.join(", "))
            texts = raw.get_column(r.field).gather(rows).to_list() if r.field in raw.columns else [None] * len(rows)
            fallback = frame.get_column(r.field).gather(rows).to_list()
            messages = []
            for row, text, typed_value in zip(values.to_dicts(), texts, fallback, strict=True):
                row = _Values({k: _display(v) for k, v in row.items()})
                row["value"] = text if text is not None else _display(typed_value)
                messages.append(r.message.format_map(row))
            self._emit(
                name,
                raw,
                locations,
                rows,
                r.code,
                [r.field] * len(rows),
                messages,
                severity=r.severity,
                global_scope=r.scope == "global",
            )

    def _global_rules(self) -> None:
        for root, parts in self.keys.items():
            if not parts:
                continue
            keys = pl.concat(parts, how="vertical_relaxed")
            ctx = RuleContext(self.config, self.cpv, {root: keys})
            rules = [r for r in rules_for(root) if r.scope == "global"]
            self._rules(
                root, keys, keys, keys.with_columns(pl.lit(None, dtype=pl.String).alias("generation")), rules, ctx
            )

    # -- findings ------------------------------------------------------------------------------------

    def _emit(
        self,
        table: str,
        raw: pl.DataFrame,
        locations: pl.DataFrame,
        rows: pl.Series,
        code: str,
        fields: list[str],
        messages: list[str],
        severity: str | None = None,
        global_scope: bool = False,
    ) -> None:
        if severity is None:
            severity = catalogue()[code].severity
        lists = LIST_PATHS.get(table, ())
        selected = raw.select("record_key", *[c for _, c in lists]).gather(rows)
        located = selected.join(locations.unique("record_key"), on="record_key", how="left", maintain_order="left")
        columns = located.to_dict(as_series=False)
        cells = {c: raw.get_column(c).gather(rows).to_list() for c in set(fields) if c in raw.columns}
        row_numbers = rows.to_list()
        csv_file = f"{self.table_dir}/{table}.csv" if self.table_dir is not None and not global_scope else None
        for i, column in enumerate(fields):
            path = columns["source_path"][i] or ""
            for list_name, position_column in lists:
                path += f".{list_name}[{columns[position_column][i]}]"
            if column not in TECHNICAL_COLUMNS and "," not in column:
                path += f".{_json_field(column)}"
            value = cells[column][i] if column in cells else None
            self.report.add(
                Finding(
                    code=code,
                    severity=severity,
                    message=messages[i],
                    file=csv_file or columns["source_file"][i],
                    position=_int(columns["source_position"][i]),
                    record_key=columns["record_key"][i],
                    uid=columns["uid"][i],
                    id=columns["id"][i],
                    path=path or None,
                    line=row_numbers[i] + 2 if csv_file else _int(columns["source_line"][i]),
                    table=table,
                    field=column,
                    value=None if value is None else str(value),
                )
            )


def _complete(frame: pl.DataFrame, model: Table) -> pl.DataFrame:
    """All the model's columns, as text, in the schema's order (a missing column is empty)."""
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c in model.field_names if c not in frame.columns]
    frame = frame.with_columns(missing) if missing else frame
    return frame.select([pl.col(c).cast(pl.String) for c in model.field_names])


def _batches(opened: Input, report: Report, progress) -> Iterator[dict[str, pl.DataFrame]]:
    """Flattened records gathered into text tables, BATCH_RECORDS at a time."""
    models = load_tables()
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    count = 0
    for raw in opened.records:
        record = flatten(raw)
        report.records[record.kind] += 1
        for f in record.findings:
            if f.code == "wrong-type" and f.field:
                continue  # a scalar of the wrong type: structure reports it as a type-error, with its cell
            report.add(f)
        for name, table_rows in record.rows.items():
            rows[name].extend(table_rows)
        count += 1
        if count % 500 == 0 and progress:
            progress(opened.source)
        if count % BATCH_RECORDS == 0:
            yield _frames(rows, models)
            rows = {name: [] for name in TABLES}
    if progress:
        progress(opened.source)
    if any(rows.values()):
        yield _frames(rows, models)


def _frames(rows: dict[str, list[dict[str, Any]]], models: dict[str, Table]) -> dict[str, pl.DataFrame]:
    frames = {}
    for name, table_rows in rows.items():
        if not table_rows and name not in ROOTS:
            continue
        columns = {}
        for column in models[name].field_names:
            columns[column] = [
                None if (v := r.get(column)) is None else v if type(v) is str else to_cell(v) for r in table_rows
            ]
        frames[name] = pl.DataFrame(columns, schema=dict.fromkeys(models[name].field_names, pl.String))
    return frames


def validate(
    paths: list[Path],
    config: Config | None = None,
    cpv: Nomenclature | None = None,
    report: Report | None = None,
    progress: Callable[[Source], None] | None = None,
) -> Report:
    """Validate DECP files (JSON, XML or marches tables) and return the report."""
    config = config or Config()
    report = report or Report(as_of=config.as_of)
    report.as_of = config.as_of
    return Validator(config, cpv, report, progress).run(paths)
