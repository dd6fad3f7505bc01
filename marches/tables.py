"""The CSV form of the tabular model: cell encoding, and a streaming, all-or-nothing table writer."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from marches.errors import OutputError, display_path, os_problem
from marches.model import TABLES, load_tables, schema_dir

_INT = re.compile(r"^[+-]?\d+$")
JSON_OBJECT_COLUMNS = ("extra_fields", "original_values")
_dumps = orjson.dumps
_NATIVE = frozenset({str, int})


def to_cell(value: Any) -> str:
    """A typed value as a CSV cell, in the lexical forms Frictionless reads back."""
    if value is None:
        return ""
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        if not math.isfinite(value):
            return str(value)
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return json_text(value)


def json_text(value: Any) -> str:
    """Compact JSON text of a published value, whatever it holds.

    orjson is fast but refuses integers beyond 64 bits and lone surrogates, both of which real
    files contain; the standard library writes them (the surrogates as \\uNNNN escapes).
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(value, separators=(",", ":"), default=str)
        return text


def csv_text(fields: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    """The rows as CSV lines of these columns, the cells in their lexical form (``to_cell``)."""
    out = io.StringIO()
    # csv writes None, str and int right by itself: only the other types need to_cell
    csv.writer(out, lineterminator="\n").writerows(
        [v if v is None or type(v) in _NATIVE else to_cell(v) for v in map(row.get, fields)] for row in rows
    )
    return out.getvalue()


def text_frames(
    rows: dict[str, list[dict[str, Any]]], models: dict[str, Any], always: Iterable[str] = ()
) -> dict[str, pl.DataFrame]:
    """The rows of each table as a text frame: every column ``pl.String``, every value in its lexical form
    (``to_cell``), built by polars. A table without rows has no frame, unless it is one of ``always``.

    The rows are converted in place (they are the batch's own, read once more by polars)."""
    frames = {}
    for name, table_rows in rows.items():
        if not table_rows and name not in always:
            continue
        for r in table_rows:
            for k, v in r.items():
                kind = v.__class__
                if kind is str or v is None:
                    continue
                if kind is int:
                    r[k] = str(v)  # as to_cell writes it
                elif kind is list:  # closed lists: compact JSON, as to_cell writes it
                    try:
                        r[k] = _dumps(v).decode()
                    except TypeError:  # integers beyond 64 bits
                        r[k] = to_cell(v)
                else:
                    r[k] = to_cell(v)
        frames[name] = pl.from_dicts(table_rows, schema=dict.fromkeys(models[name].field_names, pl.String))
    return frames


def csv_lines(frame: pl.DataFrame) -> str:
    """A text frame as CSV lines without header, read back (``pl.scan_csv``, every column text) as the lines
    ``csv_text`` writes: an empty string becomes an empty cell, hence null, as the csv module writes it.

    polars writes the lines twice as fast as the csv module; the bytes may differ only in
    quoting (polars quotes a lone carriage return), never in the values read back."""
    return frame.with_columns(pl.all().replace("", None)).write_csv(include_header=False, null_value="")


def from_cell(text: str, type_: str, name: str = "") -> Any:
    """A CSV cell back to a typed value; a cell that does not parse is returned as published."""
    if text == "":
        return None
    try:
        if type_ == "integer":
            return int(text) if _INT.match(text) else text
        if type_ == "number":
            number = float(text)
            return int(number) if _INT.match(text) else number
        if type_ == "boolean":
            return {"true": True, "false": False}.get(text, text)
        if type_ == "array":
            value = json.loads(text)
            return value if isinstance(value, list) else text
        if type_ == "string" and name in JSON_OBJECT_COLUMNS:
            return json.loads(text)
    except ValueError:
        return text
    return text


class TableWriter:
    """Writes the CSV tables of the model, with their schemas and a ``datapackage.json``, into a new directory.

    The directory is private to the writer (a staging directory the caller puts in place once
    ``commit`` returns, see ``marches.atomic``), so a reader never sees tables half written.
    """

    def __init__(self, directory: Path, tables: tuple[str, ...] = TABLES):
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"Impossible d'écrire dans {display_path(self.directory)} : {os_problem(exc)}") from exc
        self.models = load_tables()
        self.tables = tables
        self.counts = dict.fromkeys(tables, 0)
        self._files, self._fields = {}, {}
        for name in tables:
            fh = (self.directory / f"{name}.csv").open("w", encoding="utf-8", newline="")
            self._files[name] = fh
            self._fields[name] = self.models[name].field_names
            csv.writer(fh, lineterminator="\n").writerow(self._fields[name])

    def write(self, table: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        self.write_text(table, csv_text(self._fields[table], rows), len(rows))

    def write_text(self, table: str, text: str, rows: int) -> None:
        """Rows already in CSV form (``csv_text`` of this table's fields): ``rows`` of them."""
        self._files[table].write(text)
        self.counts[table] += rows

    def mark(self) -> dict[str, tuple[int, int]]:
        """Where every table stands now: ``rollback`` comes back here (to drop one file's rows)."""
        marks = {}
        for name, fh in self._files.items():
            fh.flush()
            marks[name] = (fh.tell(), self.counts[name])
        return marks

    def rollback(self, marks: dict[str, tuple[int, int]]) -> None:
        """Forget every row written since ``mark``."""
        for name, (offset, count) in marks.items():
            fh = self._files[name]
            fh.flush()
            fh.seek(offset)
            fh.truncate()
            self.counts[name] = count

    def commit(self) -> None:
        for fh in self._files.values():
            fh.close()
        source_schemas = schema_dir()
        resources = []
        for name in self.tables:
            shutil.copyfile(source_schemas / f"{name}.json", self.directory / f"{name}.schema.json")
            resources.append(
                {
                    "name": name,
                    "path": f"{name}.csv",
                    "schema": f"{name}.schema.json",
                    "format": "csv",
                    "mediatype": "text/csv",
                    "encoding": "utf-8",
                    "title": self.models[name].descriptor.get("title"),
                }
            )
        descriptor = {
            "name": "decp-tables",
            "title": "Tables DECP produites par marches convert",
            "resources": resources,
        }
        (self.directory / "datapackage.json").write_text(
            json.dumps(descriptor, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )

    def files(self) -> set[str]:
        """The names of every file ``commit`` writes."""
        return {"datapackage.json"} | {f"{n}.csv" for n in self.tables} | {f"{n}.schema.json" for n in self.tables}

    def abort(self) -> None:
        for fh in self._files.values():
            fh.close()
