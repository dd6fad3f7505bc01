"""Readers: detect each file's format and yield its records lazily, with their location."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from marches.errors import InputError
from marches.readers import csv_reader, json_reader, xml_reader
from marches.readers.base import RawRecord, Source

__all__ = ["Input", "RawRecord", "Source", "detect_format", "open_input"]
# "<" in UTF-16 (big endian, without byte order mark), in UTF-32 and in EBCDIC: an XML file the XML reader
# names the encoding of (UTF-16 is read, the others refused)
XML_STARTS = (b"\x00<", b"\x00\x00\x00<", b"\x4c\x6f\xa7\x94")


def detect_format(path: Path) -> str:
    """'json', 'xml' or 'csv' (the project's own tables), from the first significant bytes."""
    if path.is_dir() or path.name == "datapackage.json":
        return "csv"
    if path.suffix.lower() == ".csv":
        return "csv"
    with path.open("rb") as fh:
        head = fh.read(4096)
    stripped = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if stripped[:1] in (b"{", b"["):
        return "json"
    if stripped[:1] == b"<" or head.startswith(XML_STARTS):
        return "xml"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "json" if path.suffix.lower() == ".json" else "xml"
    raise InputError(str(path), "format non reconnu : ni JSON, ni XML, ni tables CSV de marches", records_read=0)


@dataclass(slots=True)
class Input:
    """An opened input: its Source (hash, size, file-level findings) and its lazy records."""

    source: Source
    records: Iterator[RawRecord]


def open_input(path: Path | str, name: str | None = None) -> Input:
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "fichier introuvable")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(str(path), "fichier vide", records_read=0)
    try:
        fmt = detect_format(path)
        display = name or str(path)
        if fmt == "json":
            source = json_reader.prepare(path, display)
            return Input(source, json_reader.read_json(source))
        if fmt == "xml":
            source = xml_reader.prepare(path, display)
            return Input(source, xml_reader.read_xml(source))
        source = csv_reader.prepare(path, display)
        return Input(source, csv_reader.read_tables(source))
    except PermissionError as exc:
        raise InputError(str(path), "lecture refusée (droits d'accès)") from exc
    except IsADirectoryError as exc:
        raise InputError(str(path), "c'est un dossier sans tables CSV de marches") from exc
