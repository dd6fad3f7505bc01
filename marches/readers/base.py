"""What every reader yields: raw records with their location."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from marches.errors import display_path
from marches.findings import Finding
from marches.french import number

Kind = Literal["marche", "concession"]
HASH_CHUNK = 1 << 22
# The longest value (a text, a key, a number) any reader accepts, in bytes as published. A parser holds a
# value whole in memory, several times over (a 200 MB JSON string took 2.5 GB), so without a bound memory
# grows with the longest value whatever the streaming around it. 10 MB is libxml2's own limit on a text
# node (XML_MAX_TEXT_LENGTH, kept by the XML reader: huge_tree=False), so both formats refuse the same
# files; the format caps its longest text, « objet », at 1 000 characters.
MAX_VALUE_BYTES = 10_000_000


def value_too_long(subject: str) -> str:
    """The one sentence of both readers for a value beyond MAX_VALUE_BYTES (``subject`` says which)."""
    return (
        f"valeur trop longue : {subject} dépasse la limite de {number(MAX_VALUE_BYTES)} octets par valeur "
        "(le format limite son texte le plus long, « objet », à 1 000 caractères) ; fichier refusé pour que la "
        "mémoire utilisée reste bornée"
    )


@dataclass(slots=True)
class Source:
    """One input file: its display name, its content hash and what a pre-scan saw in it."""

    path: Path
    name: str
    sha256: str
    size: int
    shape: str = "unknown"
    records: int = 0
    work: int = 0  # bytes the reader expects to read (a file read in two passes counts twice)
    bytes_read: int = 0  # advanced by readers, for progress bars
    findings: list[Finding] = field(default_factory=list)  # about the file as a whole
    markers: dict[bytes, int] = field(default_factory=dict)  # occurrences of the byte strings the pre-scan counted
    scan: Any = None  # what a reader's own pre-scan learnt of the bytes (JSON: nesting, literals…)
    unparsed: bool = False  # the reader may hand records unparsed (``UnparsedRecords``), for worker processes
    _file_name: str | None = field(default=None, repr=False, compare=False)

    @property
    def file_name(self) -> str:
        """The file's own name as text (bytes that are not UTF-8 shown as « \ufffd »): its provenance."""
        if self._file_name is None:
            self._file_name = display_path(self.path.name)
        return self._file_name

    def open(self) -> io.BufferedReader:
        """The file's bytes, through a handle without a name: parsers that turn the handle's name into
        text (lxml's base URL) never meet a name whose bytes are not UTF-8."""
        return open(os.open(self.path, os.O_RDONLY), "rb")

    @property
    def key_prefix(self) -> str:
        return self.sha256[:12]

    def note(
        self, code: str, message: str, value: Any = None, line: int | None = None, path: str | None = None
    ) -> None:
        self.findings.append(Finding.of(code, message, value, file=self.name, line=line, path=path))


@dataclass(slots=True)
class RawRecord:
    """One published record (a marché or a concession), as parsed, with where it was found."""

    kind: Kind | None
    data: Any
    source: Source
    position: int  # ordinal of the record in its file, in reading order, from 0
    path: str  # JSON path ("marches.marche[3]") or XML path ("/marches/marche[4]")
    origin: Literal["json", "xml", "csv"]
    line: int | None = None
    generation: str | None = None  # known from the file shape, else detected from the record's keys
    findings: list[Finding] = field(default_factory=list)
    provenance: dict[str, Any] | None = None  # technical columns read back from the project's own CSV
    text: str | None = None  # the record as published, when the parsed data cannot say it (an XML fragment)
    lines: dict[str, int] | None = None  # XML: path of each element (relative to the record) -> its line
    extra: dict[str, Any] | None = None  # what the reader found outside the format's values (XML attributes)

    @property
    def record_key(self) -> str:
        if self.provenance and self.provenance.get("record_key"):
            return self.provenance["record_key"]
        return f"{self.source.key_prefix}-{self.position}"

    def note(
        self, code: str, message: str, value: Any = None, path: str | None = None, line: int | None = None
    ) -> None:
        self.findings.append(
            Finding.of(
                code,
                message,
                value,
                file=self.source.name,
                position=self.position,
                path=path or self.path,
                line=line or self.line,
            )
        )


@dataclass(slots=True)
class UnparsedRecords:
    """``count`` records a reader hands as published, for a worker process to parse (``records``): those
    of a list at ``list_path`` from its ``index``-th on, numbered from ``position`` in their file.

    The reader proved their bytes a whole part of the list (``chunk``: an object whose ``elements()``
    are their values) and each of them a record of ``generation``, with nothing to say about it."""

    kind: Kind | None
    source: Source  # a plain copy: path, name, hash, size, shape
    position: int
    list_path: str
    index: int
    count: int
    generation: str
    chunk: Any

    def records(self, skip: int = 0, take: int | None = None) -> list[RawRecord]:
        """The records, as the reader would have handed them parsed (``take`` of them from the ``skip``-th)."""
        values = self.chunk.elements()
        stop = self.count if take is None else skip + take
        kind, source, generation, position, index = self.kind, self.source, self.generation, self.position, self.index
        return [
            RawRecord(kind, values[i], source, position + i, f"{self.list_path}[{index + i}]", "json", None, generation)
            for i in range(skip, stop)
        ]


def hash_file(
    path: Path,
    needles: tuple[bytes, ...] = (),
    observe: Callable[[bytes], None] | None = None,
    first: dict[bytes, int] | None = None,
) -> tuple[str, dict[bytes, int]]:
    """SHA-256 of a file, and how many times each of ``needles`` occurs in it, in one streaming pass.

    Needles must not overlap themselves (``"marche"`` is fine, ``aa`` is not). ``observe`` sees
    every chunk, in order (a reader's own pre-scan). ``first``, when given, receives the byte offset
    of each needle's first occurrence (needles absent from the file are absent from it)."""
    digest = hashlib.sha256()
    counts = dict.fromkeys(needles, 0)
    overlap = max((len(n) for n in needles), default=1) - 1
    tail = b""
    offset = 0  # bytes before the current chunk
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
            if observe is not None:
                observe(chunk)
            window = tail + chunk
            for needle in needles:
                found = window.count(needle) - tail.count(needle)
                if found and first is not None and needle not in first:  # none before: none in the tail
                    first[needle] = offset - len(tail) + window.find(needle)
                counts[needle] += found
            tail = window[-overlap:] if overlap else b""
            offset += len(chunk)
    return digest.hexdigest(), counts
