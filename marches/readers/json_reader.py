"""Streaming reader of DECP JSON files, every shape real publishers use.

* 2022 object shape: ``{"marches": {"marche": [...], "contrat-concession": [...]}}``;
* array shape: ``{"marches": [...]}`` holding 2019 records, 2022 (schema 2.0.0) records, or a mix;
* a bare top-level array of records.

Records are built one at a time by ijson's C backend, so memory does not grow with the file.
The object shape is read in one pass per list. Bare ``NaN``/``Infinity`` tokens, which JSON
forbids but real exports contain, are turned into a sentinel string on the fly, so that the
record is still read and the value reported.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import ijson

from marches.errors import InputError
from marches.readers.base import RawRecord, Source, hash_file

UTF8_BOM = b"\xef\xbb\xbf"
OTHER_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff", b"\xff\xfe", b"\xfe\xff")
EXACT_LOCATION_LIMIT = 32 << 20  # below this size a syntax error is located exactly (file re-read in memory)
_NAN_TOKEN = re.compile(rb"-?Infinity|NaN")
_ESCAPE = re.compile(rb"\\.", re.S)
_NAN_REPLACEMENT = b'"\\u0000NaN"'  # decoded as normalize.NAN_SENTINEL
LISTS = (("marche", "marche"), ("contrat-concession", "concession"))


class _Counting(io.RawIOBase):
    """Counts the bytes the parser consumed (progress bars, approximate error offsets)."""

    def __init__(self, raw, source: Source):
        self.raw, self.source, self.consumed = raw, source, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        got = self.raw.readinto(buffer)
        self.consumed += got
        self.source.bytes_read += got
        return got


class _NanFilter(io.RawIOBase):
    """Rewrites bare NaN / Infinity tokens (outside strings) into a JSON string sentinel."""

    HOLD = 9  # longest token, "-Infinity"

    def __init__(self, raw):
        self.raw, self.in_string, self.pending, self.out = raw, False, b"", b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.out:
            chunk = self.raw.read(1 << 16)
            data = self.pending + chunk
            if not chunk:
                self.pending = b""
                if not data:
                    return 0
                self.out = self._rewrite(data)
                break
            cut = max(0, len(data) - self.HOLD)
            while cut and data[cut - 1 : cut] == b"\\":  # never split an escape sequence
                cut -= 1
            self.pending = data[cut:]
            self.out = self._rewrite(data[:cut])
        n = min(len(buffer), len(self.out))
        buffer[:n] = self.out[:n]
        self.out = self.out[n:]
        return n

    def _rewrite(self, data: bytes) -> bytes:
        if not _NAN_TOKEN.search(data):  # fast path: only track whether we end inside a string
            if _ESCAPE.sub(b"", data).count(b'"') % 2:
                self.in_string = not self.in_string
            return data
        out, i = bytearray(), 0
        scanner = re.compile(rb'\\.|"|-?Infinity|NaN', re.S)
        for m in scanner.finditer(data):
            token = m.group()
            if token == b'"':
                self.in_string = not self.in_string
            elif token[0:1] != b"\\" and not self.in_string:
                out += data[i : m.start()] + _NAN_REPLACEMENT
                i = m.end()
        out += data[i:]
        return bytes(out)


def prepare(path: Path, name: str) -> Source:
    sha, found = hash_file(path, (b'"contrat-concession"', b'"marche"', b"NaN", b"Infinity"))
    source = Source(path=path, name=name, sha256=sha, size=path.stat().st_size)
    source.shape = "json"
    source.markers = found
    return source


def _open(source: Source, nan_filter: bool, skip: int) -> tuple[io.BufferedReader, _Counting]:
    fh = source.path.open("rb")
    fh.seek(skip)
    counting = _Counting(fh, source)
    stream = _NanFilter(counting) if nan_filter else counting
    return io.BufferedReader(stream, 1 << 16), counting


def _sniff(source: Source, skip: int) -> str:
    """'object' for the 2022 shape, 'array' for {"marches": [...]}, 'bare' for a top-level list."""
    with source.path.open("rb") as fh:
        fh.seek(skip)
        try:
            for prefix, event, _value in ijson.parse(fh):
                if prefix == "" and event == "start_array":
                    return "bare"
                if prefix == "marches" and event in ("start_map", "start_array"):
                    return "object" if event == "start_map" else "array"
                if prefix == "marches" and event != "map_key":
                    raise InputError(
                        source.name, f"la clé « marches » contient {event}, pas une liste ni un objet", records_read=0
                    )
                if prefix == "" and event == "end_map":
                    break
        except ijson.JSONError:
            return "broken"  # the real parse reports the error with its location
    raise InputError(
        source.name,
        "aucune clé « marches » : ce n'est pas un fichier DECP",
        records_read=0,
        hint='Un fichier DECP JSON a la forme {"marches": …}',
    )


def read_json(source: Source) -> Iterator[RawRecord]:
    with source.path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(UTF8_BOM):
        skip = len(UTF8_BOM)
        source.note("bom", "Le fichier commence par un BOM UTF-8 ; il a été ignoré. Enregistrez-le en UTF-8 sans BOM.")
    else:
        skip = 0
        for bom in OTHER_BOMS:
            if head.startswith(bom):
                raise InputError(
                    source.name,
                    "encodage UTF-16 ou UTF-32 non pris en charge",
                    offset=0,
                    records_read=0,
                    hint="Enregistrez le fichier en UTF-8",
                )
    if source.size <= skip:
        raise InputError(source.name, "fichier vide", records_read=0)
    found = source.markers
    nan = found[b"NaN"] or found[b"Infinity"]
    shape = _sniff(source, skip)
    source.shape = {"object": "json-2022", "array": "json-array", "bare": "json-array"}.get(shape, "json")

    if shape == "object":
        plan = [(f"marches.{key}", kind, f"marches.{key}") for key, kind in LISTS if found[f'"{key}"'.encode()]]
    else:
        plan = [("" if shape == "bare" else "marches", None, "" if shape == "bare" else "marches")]
    source.work = max(1, len(plan)) * (source.size - skip)
    position = 0
    for prefix, kind, path in plan:
        count = 0
        item_prefix = f"{prefix}.item" if prefix else "item"
        for count, record in enumerate(_items(source, item_prefix, skip, nan, position), start=1):
            yield _record(source, record, kind, f"{path}[{count - 1}]", position, shape)
            position += 1
        if count == 0 and shape == "object":
            for value in _items(source, prefix, skip, nan, position):  # a single object instead of a list
                if isinstance(value, dict):
                    rec = _record(source, value, kind, path, position, shape)
                    rec.note("single-object", f"« {path} » : un objet isolé au lieu d'une liste ; lu comme un marché.")
                    yield rec
                    position += 1
    source.records = position


def _record(source: Source, value, kind, path: str, position: int, shape: str) -> RawRecord:
    record = RawRecord(
        kind=kind,
        data=value,
        source=source,
        position=position,
        path=path,
        origin="json",
        generation="2022" if shape == "object" else None,
    )
    if shape == "bare" and position == 0:
        source.note("wrong-type", "Le fichier est une liste d'enregistrements sans la clé « marches » ; lu tel quel.")
    if isinstance(value, list):  # [[{...}]] at the top level
        record.note("nested-list", f"« {path} » : liste imbriquée au lieu d'un enregistrement.")
    return record


def _items(source: Source, prefix: str, skip: int, nan: bool, already: int) -> Iterator:
    stream, counting = _open(source, nan, skip)
    yielded = 0
    try:
        with stream:
            try:
                for value in ijson.items(stream, prefix, use_float=True):
                    yielded += 1
                    yield value
            except ijson.JSONError as exc:
                if "overflow" not in str(exc):
                    raise
                # yajl cannot hold integers beyond 64 bits: finish this list with the pure-Python backend
                python = ijson.get_backend("python")
                stream.close()
                again, counting = _open(source, nan, skip)
                with again:
                    for i, value in enumerate(python.items(again, prefix, use_float=True)):
                        if i >= yielded:
                            yielded += 1
                            yield value
    except ijson.JSONError as exc:
        raise _locate(source, skip, exc, counting.consumed, already + yielded) from exc


def _locate(source: Source, skip: int, exc: Exception, consumed: int, records: int) -> InputError:
    """Where a JSON file breaks: exactly for files of a reasonable size, else within a read buffer."""
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(detail, str) and detail.startswith("b'"):
        detail = detail[2:].split("\\n")[0]
    if source.size <= EXACT_LOCATION_LIMIT:
        data = source.path.read_bytes()[skip:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            line = data[: err.start].count(b"\n") + 1
            return InputError(
                source.name,
                "encodage invalide : le fichier n'est pas en UTF-8",
                line=line,
                offset=err.start + skip,
                records_read=records,
                hint="Enregistrez le fichier en UTF-8",
            )
        try:
            json.loads(text)
        except json.JSONDecodeError as err:
            return InputError(
                source.name,
                f"JSON invalide : {_french(err.msg)}",
                line=err.lineno,
                column=err.colno,
                offset=len(text[: err.pos].encode()) + skip,
                records_read=records,
            )
    line = None
    with source.path.open("rb") as fh:
        fh.seek(skip)
        line, remaining = 1, consumed
        while remaining > 0 and (chunk := fh.read(min(remaining, 1 << 22))):
            line += chunk.count(b"\n")
            remaining -= len(chunk)
    problem = "encodage invalide : le fichier n'est pas en UTF-8" if "UTF8" in detail else f"JSON invalide : {detail}"
    return InputError(source.name, problem, line=line, offset=consumed + skip, approximate=True, records_read=records)


_MESSAGES = {
    "Expecting value": "valeur attendue",
    "Expecting ',' delimiter": "virgule attendue",
    "Expecting ':' delimiter": "deux-points attendus",
    "Expecting property name enclosed in double quotes": "nom de propriété entre guillemets attendu",
    "Unterminated string starting at": "chaîne non terminée",
    "Extra data": "données après la fin du document",
    "Invalid control character at": "caractère de contrôle interdit",
}


def _french(message: str) -> str:
    for english, french in _MESSAGES.items():
        if message.startswith(english):
            return (
                french + " (fichier tronqué ?)" if english in ("Expecting value", "Expecting ',' delimiter") else french
            )
    return message
