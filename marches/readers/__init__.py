"""Readers: detect each file's format and yield its records lazily, with their location."""

from __future__ import annotations

import contextlib
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from marches.errors import InputError, display_path
from marches.readers import csv_reader, json_reader, xml_reader
from marches.readers.base import RawRecord, Source


def _wide_json(head: bytes) -> bool:
    """Whether the first bytes are JSON written in UTF-16 or UTF-32 without a byte order mark."""
    for encoding in ("utf-32-le", "utf-32-be", "utf-16-le", "utf-16-be"):
        try:
            text = head[:64].decode(encoding)
        except UnicodeDecodeError:
            continue
        if text.lstrip()[:1] in ("{", "[") and "\x00" not in text:
            return True
    return False


_JSON_SCALAR = re.compile(rb'(?:null|true|false|-?\d|")')

__all__ = ["Input", "RawRecord", "Source", "detect_format", "open_input"]
# "<" in UTF-16 (big endian, without byte order mark), in UTF-32 and in EBCDIC: an XML file the XML reader
# names the encoding of (UTF-16 is read, the others refused)
XML_STARTS = (b"\x00<", b"\x00\x00\x00<", b"\x4c\x6f\xa7\x94")


def detect_format(path: Path, name: str | None = None) -> str:
    """'json', 'xml' or 'csv' (the project's own tables), from the first significant bytes."""
    if path.is_dir() or path.name == "datapackage.json":
        return "csv"
    if path.suffix.lower() == ".csv":
        return "csv"
    with path.open("rb") as fh:
        head = fh.read(4096)
    stripped = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if b"\x00" in head[:8] and _wide_json(head):
        raise InputError(
            name or display_path(path),
            "JSON en UTF-16 ou UTF-32 sans marque d'ordre d'octets (BOM) : encodage non pris en charge",
            offset=0,
            records_read=0,
            hint="Enregistrez le fichier en UTF-8",
        )
    if stripped[:1] in (b"{", b"["):
        return "json"
    if stripped[:1] == b"<" or head.startswith(XML_STARTS):
        return "xml"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "json" if path.suffix.lower() == ".json" else "xml"
    if _JSON_SCALAR.match(stripped):
        return "json"  # a lone value: the JSON reader says what it is instead of a DECP object
    raise InputError(
        name or display_path(path), "format non reconnu : ni JSON, ni XML, ni tables CSV de marches", records_read=0
    )


@dataclass(slots=True)
class Input:
    """An opened input: its Source (hash, size, file-level findings) and its lazy records."""

    source: Source
    records: Iterator[RawRecord]


STDIN = "-"  # the name that reads the standard input


def open_input(path: Path | str, name: str | None = None) -> Input:
    """An input opened for reading: its format detected, its pre-scan done, its records ready to come.

    A pipe (``-`` for the standard input, ``/dev/stdin``, a named pipe) can be read only once while
    readers read a file several times (hash, structure, records): it is copied once into a private
    temporary file, removed when its records have been read."""
    path = Path(path)
    display = name or display_path(path)
    spooled = None
    if str(path) == STDIN or _is_pipe(path):
        spooled = _spool(path, display)
        path = spooled / ("stdin" if str(path) == STDIN else path.name)
    try:
        opened = _open(path, display)
    except BaseException:
        if spooled is not None:
            shutil.rmtree(spooled, ignore_errors=True)
        raise
    if spooled is not None:
        opened.records = _removing(opened.records, spooled)
    return opened


def _is_pipe(path: Path) -> bool:
    """A named pipe or socket (``/dev/stdin`` fed by a pipe is one); a device other than these is refused."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False  # absent, or the system refuses to look: said by the reading itself
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return True
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise InputError(
            display_path(path),
            "c'est un périphérique, pas un fichier",
            hint="Donnez un fichier, ou envoyez les données par un tube (« cat export.json | marches validate - »)",
        )
    return False


def _spool(path: Path, display: str) -> Path:
    """The bytes of a pipe, copied once into a new private folder (returned)."""
    dash = str(path) == STDIN
    if dash and sys.stdin.isatty():
        raise InputError(
            display,
            "l'entrée standard est un terminal",
            hint="Envoyez les données par un tube (« cat export.json | marches validate - »)",
        )
    folder = Path(tempfile.mkdtemp(prefix="marches-entree-"))
    try:
        source = contextlib.nullcontext(sys.stdin.buffer) if dash else path.open("rb")
        with source as fh, (folder / ("stdin" if dash else path.name)).open("wb") as copy:
            shutil.copyfileobj(fh, copy, 1 << 20)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def _removing(records: Iterator[RawRecord], folder: Path) -> Iterator[RawRecord]:
    try:
        yield from records
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _open(path: Path, display: str) -> Input:
    if not path.exists():
        raise InputError(display, "fichier introuvable")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(display, "fichier vide", records_read=0)
    try:
        fmt = detect_format(path, display)
        if fmt == "json":
            source = json_reader.prepare(path, display)
            return Input(source, json_reader.read_json(source))
        if fmt == "xml":
            source = xml_reader.prepare(path, display)
            return Input(source, xml_reader.read_xml(source))
        source = csv_reader.prepare(path, display)
        return Input(source, csv_reader.read_tables(source))
    except PermissionError as exc:
        raise InputError(display, "lecture refusée (droits d'accès)") from exc
    except IsADirectoryError as exc:
        raise InputError(display, "c'est un dossier sans tables CSV de marches") from exc
