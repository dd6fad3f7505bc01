"""Reads back the project's own CSV tables (what ``marches convert`` writes), record by record.

The child tables are merge-joined with their root table on ``record_key``: they must list their
rows in the order of the root table, as ``marches convert`` writes them. Anything else (an
orphan row, a table reordered by hand) is a clear error, never a silent loss.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from marches.errors import InputError
from marches.model import CONCESSION_TABLES, MARCHE_TABLES, PROVENANCE_COLUMNS, load_tables
from marches.readers.base import RawRecord, Source, hash_file
from marches.tables import from_cell


def _directory(path: Path) -> Path:
    if path.is_dir():
        return path
    return path.parent


def prepare(path: Path, name: str) -> Source:
    directory = _directory(path)
    roots = [directory / f"{t}.csv" for t in ("marches", "concessions")]
    present = [p for p in roots if p.is_file()]
    if path.name == "datapackage.json":
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InputError(str(path), f"datapackage.json illisible : {exc}", records_read=0) from exc
    if not present:
        raise InputError(
            str(path), "ni marches.csv ni concessions.csv : ce ne sont pas des tables de marches", records_read=0
        )
    digests, size = [], 0
    for table in MARCHE_TABLES + CONCESSION_TABLES:
        p = directory / f"{table}.csv"
        if p.is_file():
            digests.append(hash_file(p)[0])
            size += p.stat().st_size
    sha = hashlib.sha256("".join(digests).encode()).hexdigest()
    source = Source(path=directory, name=name if path.is_dir() else directory.name, sha256=sha, size=size, shape="csv")
    source.work = size
    return source


class _Table:
    """One CSV table read row by row, typed by its Table Schema."""

    def __init__(self, path: Path, name: str, source: Source):
        self.path, self.name, self.source = path, name, source
        self.model = load_tables()[name]
        self.types = self.model.types
        self.fh = path.open(encoding="utf-8-sig", newline="")
        self.reader = csv.reader(self.fh)
        try:
            self.header = next(self.reader)
        except StopIteration:
            self.header = []
        missing = {"record_key"} - set(self.header)
        if missing:
            raise InputError(str(path), "colonne record_key absente : ce n'est pas une table de marches", line=1)
        unknown = [c for c in self.header if c not in self.types]
        if unknown:
            raise InputError(str(path), f"colonnes inconnues du schéma {name} : {', '.join(unknown)}", line=1)
        self.line = 1
        self.pending: dict | None = None
        self._advance()

    def _advance(self) -> None:
        try:
            cells = next(self.reader)
        except StopIteration:
            self.pending = None
            self.fh.close()
            return
        except csv.Error as exc:
            raise InputError(str(self.path), f"CSV invalide : {exc}", line=self.reader.line_num) from exc
        self.line = self.reader.line_num
        if len(cells) != len(self.header):
            raise InputError(str(self.path), f"{len(cells)} cellules au lieu de {len(self.header)}", line=self.line)
        self.source.bytes_read += sum(len(c) + 1 for c in cells)
        self.pending = {h: from_cell(c, self.types[h], h) for h, c in zip(self.header, cells, strict=True)}

    def take(self, key: str) -> list[dict]:
        rows = []
        while self.pending is not None and self.pending["record_key"] == key:
            rows.append(self.pending)
            self._advance()
        return rows

    def check_consumed(self) -> None:
        if self.pending is not None:
            raise InputError(
                str(self.path),
                f"ligne de clé « {self.pending['record_key']} » sans enregistrement "
                "parent à sa place : les lignes doivent suivre l'ordre de la table "
                "parente, comme marches convert les écrit",
                line=self.line,
            )


def read_tables(source: Source) -> Iterator[RawRecord]:
    directory = source.path
    position = 0
    for kind, tables in (("marche", MARCHE_TABLES), ("concession", CONCESSION_TABLES)):
        root_path = directory / f"{tables[0]}.csv"
        if not root_path.is_file():
            continue
        root = _Table(root_path, tables[0], source)
        children = [_Table(directory / f"{t}.csv", t, source) for t in tables[1:] if (directory / f"{t}.csv").is_file()]
        while root.pending is not None:
            row, line = root.pending, root.line
            root._advance()
            key = row["record_key"]
            rows = {tables[0]: [row]}
            for child in children:
                rows[child.name] = child.take(key)
            provenance = {k: row.get(k) for k in PROVENANCE_COLUMNS}
            yield RawRecord(
                kind=kind,
                data=rows,
                source=source,
                position=position,
                path=f"{tables[0]}.csv:{line}",
                origin="csv",
                line=line,
                generation=row.get("generation"),
                provenance=provenance,
            )
            position += 1
        for child in children:
            child.check_consumed()
    source.records = position
