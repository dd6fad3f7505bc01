"""Validation: reading findings, the official format's structure, business rules -> a Report.

Inputs are validated batch by batch: records read from JSON or XML are flattened and gathered
into text tables; the project's own CSV tables are read with polars directly. Each batch is cast
and checked against the Table Schemas, every row against the constraints of its own generation
(``x-format``), then against the business rules, all vectorised (Pandera on polars).

One defect gives one finding. A place the reading already reported as unusable (null, « NC »,
missing object…) gets no other finding; a cell that breaks the format is hidden from the rules;
a cell a rule of its own value flags (a year 5021, a 0 € amount) is hidden from the rules that
compare it with other cells (publication delay, threshold). Duplicates are found at the end over
the keys of every record, independently of the order of the files.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandera.polars as pa
import polars as pl

from marches import french, gcpause, parallel
from marches.convert import open_inputs
from marches.cpv import Nomenclature
from marches.errors import InputError
from marches.findings import FINDINGS, Finding, within
from marches.flatten import flatten
from marches.model import CONCESSION_TABLES, MARCHE_TABLES, TABLES, TECHNICAL_COLUMNS, Table, load_tables
from marches.normalize import line_of
from marches.readers import Input
from marches.readers.base import RawRecord, Source, UnparsedRecords
from marches.report import Report, catalogue
from marches.rules import Config, Rule, RuleContext, rules_for, with_published
from marches.sirene import NOTICE as SIRENE_NOTICE
from marches.sirene import Sirene
from marches.tables import text_frames
from marches.validation import structure

BATCH_RECORDS = 50_000
BATCH_RECORDS_XML = 5_000  # XML records carry the line of each element
TABLE_BATCH_RECORDS = 150_000  # CSV tables: records validated at a time (see _key_batches)
ROOTS = {"marches": MARCHE_TABLES, "concessions": CONCESSION_TABLES}
LOCATION = ("record_key", "source_file", "source_position", "source_path", "source_line", "uid", "id", "generation")
ROOT_OF = {t: "marches" for t in MARCHE_TABLES[1:]} | {t: "concessions" for t in CONCESSION_TABLES[1:]}
TABLES_NOTICE = (
    "{directory} : tables CSV de marches. Les défauts de forme du fichier publié (null, nombres en texte, "
    "listes mal enveloppées…) ne s'y voient plus ; validez aussi le fichier publié lui-même."
)
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
    """A value as a French reader reads it in a message: 60 000, 12,5, 21/12/2018, lists as text."""
    if isinstance(value, bool) or value is None:
        return french.json_value(value)
    if isinstance(value, int | float):
        return french.number(value)
    if hasattr(value, "strftime"):
        return french.date(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return value


@dataclass
class Validator:
    config: Config
    cpv: Nomenclature | None
    report: Report
    progress: Callable[[Source], None] | None = None
    sirene: Sirene | None = None  # the SIRENE register: its rules run only with it
    keys: dict[str, list[pl.DataFrame]] = field(default_factory=lambda: {"marches": [], "concessions": []})
    table_dir: str | None = None  # while validating marches' CSV tables: findings point at their lines
    current_file: str | None = None  # while validating a JSON or XML file: its name as the user gave it
    point_at_tables: bool = True  # False: findings on CSV tables point at the original sources instead
    # record_key -> published paths the reading found unusable: nothing else is said about them (those of
    # the batch for a file; of every record for run_tables, whose batches share the reading findings)
    consumed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    lines: dict[str, dict[str, int]] = field(default_factory=dict)  # XML record_key -> element lines (batch)
    # CSV tables validated in batches: table -> row of the batch's frame -> row in its file
    file_rows: dict[str, pl.Series] = field(default_factory=dict)
    # when a set: filled with the records whose rows break the Table Schemas common to both generations
    blocking: set[str] | None = None
    workers: int = 0  # worker processes for large files (0 or 1: all in this process)
    _pool: parallel.Workers | None = field(default=None, repr=False)

    # -- inputs --------------------------------------------------------------------------------------

    def run(self, paths: Iterable[Path]) -> Report:
        if self.cpv is None:
            self.report.notices.append(CPV_NOTICE)
        try:
            self._inputs(paths)
        finally:
            self.close()
        self._global_rules()
        return self.report

    def _inputs(self, paths: Iterable[Path]) -> None:
        for opened, path, skipped in open_inputs(paths):
            if opened is None:
                self.report.notices.append(f"{path} : {skipped}")
                continue
            source = opened.source
            if source.shape == "csv":
                self._tables(opened)
            else:
                self._file(opened)
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

    def consume(self, findings: Iterable[Finding]) -> None:
        """Remember the places these reading findings made unusable, so that no other finding repeats them.

        Records read from a file are consumed batch by batch (and forgotten with their batch); tables
        validated by ``run_tables`` are consumed all at once beforehand, for every one of their batches."""
        for f in findings:
            if f.record_key and f.path and FINDINGS.get(f.code) is not None and FINDINGS[f.code].consumes:
                self.consumed[f.record_key].append(f.path)

    def _file(self, opened: Input) -> None:
        """A JSON or XML file, batch by batch: in this process, or in worker processes for large files."""
        source = opened.source
        size = BATCH_RECORDS_XML if source.shape == "xml" else BATCH_RECORDS
        self.current_file = source.name
        try:
            with gcpause.paused():  # reading builds many small acyclic objects (see marches.gcpause)
                if self._workers().wanted(source):
                    source.unparsed = True  # what the reader can hand unparsed, the workers parse
                    self._in_workers(_read(opened, self.progress), size)
                else:  # each record flattened as it is read: a batch never holds its records whole
                    records = _read(opened, self.progress)
                    while self._process(itertools.islice(records, size)):
                        gcpause.between_batches()
        finally:
            self.current_file = None

    def _process(self, raws: Iterable[RawRecord]) -> int:
        """One batch of raw records: reading findings, then the structure and the rules of its tables.

        Returns the number of records (0: nothing was validated)."""
        piece = _flattened(raws)
        if isinstance(raws, list):
            raws.clear()
        self._take(piece)
        if piece.count:
            self._batch(piece.frames)
        self.consumed.clear()  # the batch's own records (tables validated in batches keep theirs: see consume)
        return piece.count

    def _take(self, piece: _Piece) -> None:
        """The reading findings of flattened records, as they were read."""
        self.report.records.update(piece.kinds)
        self.report.extend(piece.findings)
        self.consume(piece.findings)
        self.lines.update(piece.lines)

    def _in_workers(self, records: Iterator[RawRecord | UnparsedRecords], size: int) -> None:
        """Batches of ``size`` records flattened by the worker processes in pieces of ``size`` / ``PIECES``
        records at most (fewer where the reader handed fewer unparsed at once), their rules run here on
        each whole batch.

        The pieces come back in reading order and make up the batches ``_process`` makes, so the report
        is byte for byte the one of a single process; a worker holds a piece, not a batch, and flattens
        the next pieces while this process runs the rules."""
        shipments = parallel.shipments(records, -(-size // PIECES), batch=size)
        # a batch's worth of pieces in flight: the workers flatten the next batch while the rules run here
        pieces = self._workers().map(_flatten_in_worker, ((s,) for s in shipments), ahead=PIECES)
        for parts in _whole_batches(pieces, size):
            frames: dict[str, list[pl.DataFrame]] = defaultdict(list)
            for piece in parts:
                self._take(piece)
                for name, frame in piece.frames.items():
                    frames[name].append(frame)
            del parts
            self._batch({name: pl.concat(frames.pop(name)) for name in TABLES if name in frames})
            self.consumed.clear()
            gcpause.between_batches()

    def _workers(self) -> parallel.Workers:
        if self._pool is None:
            self._pool = parallel.Workers(self.workers, gcpause.paused_for_life)
        return self._pool

    def close(self) -> None:
        """Stop the worker processes, if any were started."""
        if self._pool is not None:
            self._pool.close()

    def _tables(self, opened: Input) -> None:
        """The project's own CSV tables, read column-wise by polars (no record-by-record pass).

        Large tables are validated in batches of ``TABLE_BATCH_RECORDS`` records, so that memory does
        not grow with the tables: a batch holds a set of record keys and every row of every table
        carrying one of them (a record, its children and any repeated key stay together, so the
        primary and foreign keys are judged exactly as on the whole tables); rows whose key no root
        table has (orphans) go with the last batch. Each finding keeps its line in its own table."""
        directory, models = opened.source.path, load_tables()
        scans: dict[str, pl.LazyFrame] = {}
        for name in TABLES:
            path = directory / f"{name}.csv"
            if not path.is_file():
                continue
            try:
                columns = pl.read_csv(path, infer_schema=False, encoding="utf8", n_rows=0).columns
            except pl.exceptions.PolarsError as exc:
                raise InputError(str(path), f"CSV illisible : {exc}") from exc
            unknown = [c for c in columns if c not in models[name].types]
            if unknown:
                raise InputError(str(path), f"colonnes inconnues du schéma {name} : {', '.join(unknown)}", line=1)
            scans[name] = pl.scan_csv(path, infer_schema=False, encoding="utf8")
        opened.source.records += self._scanned_tables(
            directory, scans, directory.name if self.point_at_tables else None, TABLES_NOTICE
        )

    def run_tables(self, directory: Path, scans: dict[str, pl.LazyFrame]) -> Report:
        """Like ``run`` on a directory of marches tables, but on tables already opened (``scans``: table
        name -> its rows as text, in the order of its file), such as the work tables of ``marches
        package``; findings point at the records' sources."""
        if self.cpv is None:
            self.report.notices.append(CPV_NOTICE)
        self._scanned_tables(directory, scans, None)
        self._global_rules()
        return self.report

    def _scanned_tables(
        self, directory: Path, scans: dict[str, pl.LazyFrame], table_dir: str | None, notice: str | None = None
    ) -> int:
        """The batches of ``_tables``; returns the number of records (rows of the root tables)."""
        keys = {name: _collect(directory, name, scan.select("record_key")) for name, scan in scans.items()}
        records = 0
        for root in ROOTS:
            if root in keys:
                records += keys[root].height
                self.report.records["marche" if root == "marches" else "concession"] += keys[root].height
        batches = _key_batches(keys, TABLE_BATCH_RECORDS)
        del keys  # the batches hold row ranges, or the distinct keys of a table read by keys: not every row's
        self.table_dir = table_dir
        if notice is not None:
            self.report.notices.append(notice.format(directory=directory.name))
        try:
            for batch in batches:
                frames = {}
                for name, scan in scans.items():
                    frame = _collect(directory, name, _rows(scan, None if batch is None else batch[name]))
                    self.file_rows[name] = frame.get_column("_file_row")
                    frames[name] = frame.drop("_file_row")
                if self.table_dir is not None:
                    self._table_lists(frames)
                self._batch(frames)
                gcpause.between_batches()
        finally:
            self.table_dir = None
            self.file_rows.clear()
            self.consumed.clear()  # as after the batches of a file: the rules on every record's keys come next
        return records

    def _table_lists(self, frames: dict[str, pl.DataFrame]) -> None:
        """What the tables still carry of the format's list rules (schemas 1.5.0 and 2.0.3): every
        marché has a titulaire and every concession a concessionnaire (minItems), and no item is
        repeated in its list (uniqueItems); each finding on its line of the table."""
        for root, child, name in (
            ("marches", "marches_titulaires", "titulaires"),
            ("concessions", "concessions_concessionnaires", "concessionnaires"),
        ):
            if root not in frames:
                continue
            present = frames[child].get_column("record_key") if child in frames else pl.Series([], dtype=pl.String)
            alone = frames[root].with_row_index("_row").filter(~pl.col("record_key").is_in(present.implode()))
            for row in alone.select("_row", "record_key", "uid", "id").iter_rows():
                self._table_finding(
                    "required",
                    root,
                    row,
                    name,
                    f"« {name} » est obligatoire et absent : aucune ligne de {child}.csv pour ce contrat "
                    "(au moins un élément).",
                )
        for table, frame in frames.items():
            if table not in ROOT_OF:
                continue
            keys = [c for c in frame.columns if c not in ("source_path", "position")]
            copies = frame.with_row_index("_row").filter(~pl.struct(keys).is_first_distinct())
            if not copies.height:
                continue
            root = ROOT_OF[table]
            if root in frames:
                copies = copies.join(frames[root].select("record_key", "uid", "id"), on="record_key", how="left")
            else:
                copies = copies.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in ("uid", "id"))
            for row in copies.select("_row", "record_key", "uid", "id").iter_rows():
                self._table_finding(
                    "duplicate-item",
                    table,
                    row,
                    None,
                    f"Ligne répétée dans {table}.csv : le même élément figure deux fois dans sa liste. Retirez la copie.",
                )

    def _table_finding(self, code: str, table: str, row: tuple, field_name: str | None, message: str) -> None:
        index, record_key, uid, id_ = row
        self.report.add(
            Finding(
                code=code,
                severity=catalogue()[code].severity,
                message=message,
                file=f"{self.table_dir}/{table}.csv",
                record_key=record_key,
                uid=uid,
                id=id_,
                path=field_name,
                line=(self.file_rows[table][index] if table in self.file_rows else index) + 2,
                table=table,
                field=field_name,
            )
        )

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
            pl.concat([raw[root].select(LOCATION) for root in ROOTS if root in raw], how="vertical_relaxed").unique(
                "record_key", keep="first"
            )
            if any(root in raw for root in ROOTS)
            else pl.DataFrame(schema=dict.fromkeys(LOCATION, pl.String))
        )
        typed: dict[str, pl.DataFrame] = {}
        defective: dict[str, pl.DataFrame] = {}
        for name, frame in raw.items():  # parents before children: foreign keys look at typed parents
            typed[name], defective[name] = self._structure(name, frame, models[name], locations, typed)
        self._rules(raw, typed, defective, locations)
        for root in ROOTS:
            if root in raw:
                keys = raw[root].select(KEYS)
                if self.table_dir is not None:  # a record read from a table is found on its line of that table
                    keys = keys.with_columns(
                        pl.lit(f"{self.table_dir}/{root}.csv").alias("source_file"),
                        (self._file_rows(root, raw[root].height) + 2).cast(pl.String).alias("source_line"),
                        pl.lit(None, dtype=pl.String).alias("source_path"),
                    )
                self.keys[root].append(keys)
        self.lines.clear()

    def _file_rows(self, table: str, height: int) -> pl.Series:
        """The row in its CSV file of each row of the batch's table (0 for the line after the header)."""
        if table in self.file_rows:
            return self.file_rows[table].cast(pl.Int64)
        return pl.int_range(height, eager=True, dtype=pl.Int64)

    def _structure(
        self, name: str, frame: pl.DataFrame, model: Table, locations: pl.DataFrame, parents: dict[str, pl.DataFrame]
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """One table against the format of each row's generation: (typed frame, failing cells: row, field)."""
        generations = _generations(frame, locations)
        typed, type_errors = structure.typed_frame(frame, model)
        failures = structure.constraint_failures(typed, name, generations)
        if type_errors.height:
            failures = failures.join(type_errors.select("row", "field"), on=["row", "field"], how="anti")
            self._emit(
                name,
                frame,
                locations,
                type_errors.get_column("row").to_list(),
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
            rows = part.get_column("row").to_list()
            values = [frame[f][r] for r, f in zip(rows, fields, strict=True)]
            if code == "enum":  # a list's message names its values outside the closed list (a JSON list)
                found = part.get_column("value").to_list()
                values = [v if model.types[f] == "array" else p for f, v, p in zip(fields, found, values, strict=True)]
            self._emit(
                name,
                frame,
                locations,
                rows,
                code,
                fields,
                [
                    structure.message(code, f, v, c, model.types[f], g)
                    for f, v, c, g in zip(
                        fields,
                        values,
                        part.get_column("constraint").to_list(),
                        part.get_column("generation").to_list(),
                        strict=True,
                    )
                ],
            )
        duplicates = structure.primary_key_failures(typed, model)
        if duplicates.height:
            key = ",".join(model.primary_key)
            self._emit(
                name,
                frame,
                locations,
                duplicates.get_column("row").to_list(),
                "primary-key",
                [key] * duplicates.height,
                [structure.message("primary-key", key, v) for v in duplicates.get_column("value")],
            )
        orphans = structure.foreign_key_failures(typed, model, parents)
        if orphans.height:
            rows = orphans.get_column("row").to_list()
            fields = orphans.get_column("field").to_list()
            values = frame.get_column("record_key").gather(rows).to_list()
            self._emit(
                name,
                frame,
                locations,
                rows,
                "foreign-key",
                fields,
                [structure.message("foreign-key", f, v) for f, v in zip(fields, values, strict=True)],
            )
        cells = pl.concat([type_errors.select("row", "field"), failures.select("row", "field")], how="vertical_relaxed")
        if self.blocking is not None:
            broken = pl.concat(
                [
                    type_errors.get_column("row"),
                    duplicates.get_column("row"),
                    orphans.get_column("row"),
                    structure.common_failure_rows(typed, name, failures.get_column("row").unique()),
                ]
            ).unique()
            self.blocking.update(frame.get_column("record_key").gather(broken).to_list())
        return typed, cells

    # -- business rules --------------------------------------------------------------------------------

    def _rules(
        self,
        raw: dict[str, pl.DataFrame],
        typed: dict[str, pl.DataFrame],
        defective: dict[str, pl.DataFrame],
        locations: pl.DataFrame,
    ) -> None:
        """Rules of a cell's own value first, then rules comparing cells; each sees only sound cells."""
        clean = {
            name: with_published(_hide(frame, defective[name]), raw[name], name).with_columns(
                _generations(raw[name], locations).alias("_generation")
            )
            for name, frame in typed.items()
        }
        usable = [
            r
            for name in raw
            for r in rules_for(name)
            if r.scope == "batch"
            and (self.cpv or not r.needs_cpv)
            and (self.sirene or not r.needs_sirene)
            and clean[r.table].height
        ]
        reported = defective
        for level in (1, 2):
            flagged = self._evaluate([r for r in usable if r.level == level], clean, raw, locations, reported)
            if level == 1:
                clean = {name: _hide(frame, flagged.get(name)) for name, frame in clean.items()}
                reported = {
                    name: pl.concat(
                        [c for c in (defective.get(name), flagged.get(name)) if c is not None], how="vertical_relaxed"
                    )
                    for name in defective.keys() | flagged.keys()
                }

    def _evaluate(
        self,
        rules: list[Rule],
        frames: dict[str, pl.DataFrame],
        raw: dict[str, pl.DataFrame],
        locations: pl.DataFrame,
        reported: dict[str, pl.DataFrame] | None = None,
        global_scope: bool = False,
    ) -> dict[str, pl.DataFrame]:
        """Run rules as Pandera checks (evaluated together); one finding per cell, the first rule's.

        ``reported``: cells (row, field) already found by table, by the structure or by the rules of a
        cell's own value. They are hidden (null) from the rules, and no rule speaks of them again: a rule
        that finds its field missing ("sans identifiant") is not told of a value the format rejected.
        Returns the cells found, by table (row, field)."""
        if not rules:
            return {}
        ctx = RuleContext(self.config, self.cpv, frames, self.sirene)
        prepared: dict[Any, pl.DataFrame] = {}
        inputs = []
        for r in rules:
            key = (r.table, r.prepare)
            if key not in prepared:  # each prepare step on the table itself: rules never share helper columns
                prepared[key] = r.prepare(frames[r.table], ctx) if r.prepare else frames[r.table]
            inputs.append(prepared[key])
        checks = [
            pa.Check(
                lambda data, r=r: data.lazyframe.select(
                    r.ok(self.config).fill_null(True)
                    | ~pl.col("_generation").is_in(list(r.generations)).fill_null(True)
                ),
                name=r.code,
            )
            for r in rules
        ]
        outputs = pl.collect_all(
            [structure.check_output(check, frame.lazy()) for check, frame in zip(checks, inputs, strict=True)]
        )
        said = {table: set(cells.select("row", "field").iter_rows()) for table, cells in (reported or {}).items()}
        taken: dict[str, set[tuple[int, str]]] = defaultdict(set)
        for r, frame, output in zip(rules, inputs, outputs, strict=True):
            already = said.get(r.table, ())
            rows = [
                row
                for row in (~output.to_series()).arg_true().to_list()
                if (row, r.field) not in taken[r.table] and (row, r.field) not in already
            ]
            if not rows:
                continue
            taken[r.table].update((row, r.field) for row in rows)
            self._emit(
                r.table,
                raw[r.table],
                locations,
                rows,
                r.code,
                [r.field] * len(rows),
                _messages(r, frame, raw[r.table], rows, self.config),
                severity=r.severity,
                global_scope=global_scope,
            )
        return {
            table: pl.DataFrame(
                [(row, f) for row, f in cells], schema={"row": pl.Int64, "field": pl.String}, orient="row"
            )
            for table, cells in taken.items()
        }

    def _global_rules(self) -> None:
        for root, parts in self.keys.items():
            if not parts:
                continue
            keys = pl.concat(parts, how="vertical_relaxed")
            rules = [r for r in rules_for(root) if r.scope == "global"]
            locations = keys.with_columns(pl.lit(None, dtype=pl.String).alias("generation"))
            frames = {root: keys.with_columns(pl.lit(None, dtype=pl.String).alias("_generation"))}
            self._evaluate(rules, frames, {root: keys}, locations, global_scope=True)

    # -- findings ------------------------------------------------------------------------------------

    def _emit(
        self,
        table: str,
        raw: pl.DataFrame,
        locations: pl.DataFrame,
        rows: list[int],
        code: str,
        fields: list[str],
        messages: list[str],
        severity: str | None = None,
        global_scope: bool = False,
    ) -> None:
        if severity is None:
            severity = catalogue()[code].severity
        index = pl.Series("row", rows, dtype=pl.Int64)
        own = raw.select("record_key", pl.col("source_path").alias("_item_path")).gather(index)
        located = own.join(locations, on="record_key", how="left", maintain_order="left")
        columns = located.to_dict(as_series=False)
        cells = {c: raw.get_column(c).gather(index).to_list() for c in set(fields) if c in raw.columns}
        csv_file = f"{self.table_dir}/{table}.csv" if self.table_dir is not None and not global_scope else None
        file_rows = self.file_rows[table].gather(index).to_list() if csv_file and table in self.file_rows else rows
        for i, column in enumerate(fields):
            record_key = columns["record_key"][i]
            item_path = columns["_item_path"][i] or columns["source_path"][i] or ""
            path = item_path
            if column not in TECHNICAL_COLUMNS and "," not in column:
                path = (
                    f"{item_path}.{structure.published_name(column)}" if item_path else structure.published_name(column)
                )
            consumed = self.consumed.get(record_key)
            if consumed and any(
                within(path, place) or (code == "required" and within(place, path)) for place in consumed
            ):
                continue  # already said: the place (or, for a missing value, what was published in it) is unusable
            value = cells[column][i] if column in cells else None
            line = row_line = _int(columns["source_line"][i])
            if record_key in self.lines and columns["source_path"][i]:
                rel = path[len(columns["source_path"][i]) :].lstrip(".")
                line = line_of(self.lines[record_key], rel, row_line)
            self.report.add(
                Finding(
                    code=code,
                    severity=severity,
                    message=messages[i],
                    file=csv_file or columns["source_file"][i],
                    position=_int(columns["source_position"][i]),
                    record_key=record_key,
                    uid=columns["uid"][i],
                    id=columns["id"][i],
                    path=path or None,
                    line=file_rows[i] + 2 if csv_file else line,
                    table=table,
                    field=column,
                    value=None if value is None else str(value),
                )
            )


def _messages(r: Rule, frame: pl.DataFrame, raw: pl.DataFrame, rows: list[int], config: Config) -> list[str]:
    """The rule's message for each failing row: its own parameters, the row's values written the French way."""
    names = r.placeholders() - {"value"}
    params = r.params(config) if r.params else {}
    wanted = [c for c in names if c in frame.columns and c not in params]
    index = pl.Series(rows, dtype=pl.Int64)
    values = frame.select(wanted).gather(index).to_dicts() if wanted else [{} for _ in rows]
    texts = raw.get_column(r.field).gather(index).to_list() if r.field in raw.columns else [None] * len(rows)
    typed_values = frame.get_column(r.field).gather(index).to_list()
    messages = []
    for row, text, typed_value in zip(values, texts, typed_values, strict=True):
        shown = _Values({k: r.display.get(k, _display)(v) for k, v in row.items()})
        shown.update(params)
        shown["value"] = _value(r, typed_value, text)
        messages.append(r.message.format_map(shown))
    return messages


def _value(r: Rule, typed_value: Any, text: str | None) -> str:
    """The field's value in a rule's message: formatted by the rule, French numbers, else as published."""
    if typed_value is None:
        return text if text is not None else "null"
    if "value" in r.display:
        return r.display["value"](typed_value)
    if isinstance(typed_value, float) and text is not None and (exact := french.published_number(text)):
        return exact  # the published digits, not their rounding to a double (« 99 999 999 999 999 999 999 »)
    return _display(typed_value)


def _generations(frame: pl.DataFrame, locations: pl.DataFrame) -> pl.Series:
    """The generation of each row's record ("2019", "2022", or null when unknown)."""
    if "generation" in frame.columns:
        return frame.get_column("generation")
    joined = frame.select("record_key").join(
        locations.select("record_key", "generation"), on="record_key", how="left", maintain_order="left"
    )
    return joined.get_column("generation")


def _hide(frame: pl.DataFrame, cells: pl.DataFrame | None) -> pl.DataFrame:
    """The frame with these cells (row, field) emptied: what is broken is not judged again."""
    if cells is None or cells.height == 0:
        return frame
    frame = frame.with_row_index("_row")
    for column, part in cells.group_by("field"):
        name = column[0]
        if name in frame.columns:
            rows = part.get_column("row").implode()
            frame = frame.with_columns(
                pl.when(pl.col("_row").is_in(rows)).then(None).otherwise(pl.col(name)).alias(name)
            )
    return frame.drop("_row")


def _complete(frame: pl.DataFrame, model: Table) -> pl.DataFrame:
    """All the model's columns, as text, in the schema's order (a missing column is empty)."""
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c in model.field_names if c not in frame.columns]
    frame = frame.with_columns(missing) if missing else frame
    return frame.select([pl.col(c).cast(pl.String) for c in model.field_names])


def _collect(directory: Path, name: str, frame: pl.LazyFrame) -> pl.DataFrame:
    try:
        return frame.collect()
    except pl.exceptions.PolarsError as exc:
        raise InputError(str(directory / f"{name}.csv"), f"CSV illisible : {exc}") from exc


def _key_batches(keys: dict[str, pl.DataFrame], size: int) -> Iterator[dict[str, slice | pl.Expr] | None]:
    """Which rows of each table each batch holds: ``size`` records at a time, in the order of the root
    tables (None: the tables are small enough for one batch). Keys only child tables have (orphans) and
    rows without a key go with the last batch.

    A table whose rows come batch after batch (tables written record by record, such as the work tables
    of ``marches package``) is read by its range of rows for the batch (a ``slice``), which reads none of
    the rest of it; any other table by the keys of the batch (an expression to filter it on, which reads
    it whole each time). Either way a batch holds the same rows, in the order of their table. Everything is
    computed at once: ``keys`` is not held by the batches."""
    roots = [keys[root].get_column("record_key") for root in ROOTS if root in keys]
    if sum(len(r) for r in roots) <= size:
        return iter([None])
    children = [k.get_column("record_key") for name, k in keys.items() if name not in ROOTS]
    ordered = pl.concat([*roots, *children]).drop_nulls().unique(maintain_order=True)
    known = pl.concat(roots).drop_nulls().n_unique()
    last = (max(known, 1) - 1) // size  # the last batch's number
    numbers = pl.DataFrame(
        {"record_key": ordered, "_batch": (pl.int_range(len(ordered), eager=True) // size).clip(upper_bound=last)}
    )
    ranges: dict[str, list[slice]] = {}
    filtered: list[str] = []
    for name, frame in keys.items():
        batch = (
            frame.join(numbers, on="record_key", how="left", maintain_order="left").get_column("_batch").fill_null(last)
        )
        if batch.is_sorted():
            bounds = batch.search_sorted(pl.int_range(last + 2, eager=True), side="left").to_list()
            ranges[name] = [slice(start, stop) for start, stop in itertools.pairwise(bounds)]
        else:
            filtered.append(name)
    return _batches(ranges, filtered, ordered if filtered else None, known, size)


def _batches(
    ranges: dict[str, list[slice]], filtered: list[str], ordered: pl.Series | None, known: int, size: int
) -> Iterator[dict[str, slice | pl.Expr]]:
    for number, start in enumerate(range(0, max(known, 1), size)):
        batch: dict[str, slice | pl.Expr] = {name: rows[number] for name, rows in ranges.items()}
        if ordered is not None:
            if start + size < known:
                among = pl.col("record_key").is_in(ordered.slice(start, size).implode())
            else:
                among = pl.col("record_key").is_in(ordered.slice(start).implode()) | pl.col("record_key").is_null()
            batch.update(dict.fromkeys(filtered, among))
        yield batch


def _rows(scan: pl.LazyFrame, rows: slice | pl.Expr | None) -> pl.LazyFrame:
    """The rows of a table a batch holds (``_key_batches``), each numbered in its file (``_file_row``).

    A range is sliced before the rows are numbered: numbered first, polars would read the whole table."""
    if isinstance(rows, slice):
        return scan.slice(rows.start, rows.stop - rows.start).with_row_index("_file_row", offset=rows.start)
    scan = scan.with_row_index("_file_row")
    return scan if rows is None else scan.filter(rows)


def _whole_batches(pieces: Iterator[_Piece], size: int) -> Iterator[list[_Piece]]:
    """The pieces flattened, a batch of ``size`` records at a time (no piece holds records of two batches)."""
    parts, count = [], 0
    for piece in pieces:
        parts.append(piece)
        count += piece.count
        if count >= size:
            yield parts
            parts, count = [], 0
    if parts:
        yield parts


def _read(opened: Input, progress) -> Iterator[RawRecord | UnparsedRecords]:
    """The records of a file in reading order, the progress told every 500 records (and records handed
    unparsed) and at the end."""
    for count, raw in enumerate(opened.records, start=1):
        if progress and (count % 500 == 0 or raw.__class__ is UnparsedRecords):
            progress(opened.source)
        yield raw
    if progress:
        progress(opened.source)


PIECES = 10  # pieces of a batch flattened by the worker processes


@dataclass(slots=True)
class _Piece:
    """Records flattened: their number, kinds, reading findings, XML element lines (record_key -> lines)
    and the rows of each table as a text frame (``text_frames``)."""

    count: int
    kinds: Counter
    findings: list[Finding]
    lines: dict[str, dict[str, int]]
    frames: dict[str, pl.DataFrame]


def _flattened(raws: Iterable[RawRecord]) -> _Piece:
    """Flatten records (in this process, or in a worker process: see ``Validator._in_workers``)."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    kinds, findings, lines, count = Counter(), [], {}, 0
    for raw in raws:
        count += 1
        record = flatten(raw)
        kinds[record.kind] += 1
        findings.extend(record.findings)
        if record.lines:
            lines[record.record_key] = record.lines
        for name, table_rows in record.rows.items():
            rows[name].extend(table_rows)
    frames = text_frames(rows, load_tables(), always=ROOTS) if count else {}
    return _Piece(count, kinds, findings, lines, frames)


_PIECES_FLATTENED = itertools.count(1)


def _flatten_in_worker(shipment: parallel.Shipment | parallel.UnparsedShipment) -> _Piece:
    piece = _flattened(shipment.unpack())
    if next(_PIECES_FLATTENED) % PIECES == 0:  # the cyclic collector as often as in a single process
        gcpause.between_batches()
    return piece


def validate(
    paths: list[Path],
    config: Config | None = None,
    cpv: Nomenclature | None = None,
    report: Report | None = None,
    progress: Callable[[Source], None] | None = None,
    workers: int = 0,
    sirene: Sirene | None = None,
) -> Report:
    """Validate DECP files (JSON, XML or marches tables) and return the report.

    ``workers`` > 1 validates the batches of large files in that many processes; the report is the
    same, finding for finding, as with one process. Without the SIRENE register, its rules do not run
    and the report says so once."""
    config = config or Config()
    report = report or Report(as_of=config.as_of)
    report.as_of = config.as_of
    if sirene is None:
        report.notices.append(SIRENE_NOTICE)
    return Validator(config, cpv, report, progress, sirene=sirene, workers=workers).run(paths)
