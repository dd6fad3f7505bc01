"""Streaming reader of DECP JSON files, every shape real publishers use.

* 2022 object shape: ``{"marches": {"marche": [...], "contrat-concession": [...]}}``;
* array shape: ``{"marches": [...]}`` holding 2019 records, 2022 (schema 2.0.0) records, or a mix;
* a bare top-level array of records.

Records are built one at a time by ijson's C backend, so memory does not grow with the file; the
lists of a plain well-formed 2022 file are read by orjson a few megabytes at a time
(:mod:`marches.readers.json_segment`), ijson taking over wherever orjson would not read as it does.
For worker processes (``Source.unparsed``), chunks of 2022 records proved whole are handed unparsed
(``base.UnparsedRecords``): the workers parse them, the reading process only proves their bounds.
No value longer than ``MAX_VALUE_BYTES`` is ever parsed: the first pass over the bytes refuses the file.
The object shape is read in one pass per list. Bare ``NaN``/``Infinity`` tokens, which JSON
forbids but real exports contain, are turned into a sentinel string on the fly, so that the
record is still read and the value reported.
"""

from __future__ import annotations

import codecs
import functools
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ijson

from marches.errors import InputError
from marches.flatten.structure import detect_generation, signed_2019
from marches.flatten.vocabulary import V2_MARKERS
from marches.french import number, plural, short_path
from marches.normalize import fold
from marches.readers import base, json_segment
from marches.readers.base import RawRecord, Source, hash_file, value_too_long

UTF8_BOM = b"\xef\xbb\xbf"
OTHER_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff", b"\xff\xfe", b"\xfe\xff")
EXACT_LOCATION_LIMIT = 32 << 20  # below this size a syntax error is located exactly (file re-read in memory)
_ESCAPE = re.compile(rb"\\.", re.S)
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


class _LiteralFilter(io.RawIOBase):
    """Rewrites, outside strings, the numbers JSON readers cannot hold (bare NaN, Infinity, 1e400) into a
    string sentinel ``"\u0000<token>"`` (see :func:`marches.normalize.literal`), so that the record is still
    read and the value reported."""

    HOLD = 32  # longest token held back at a chunk's end (a number with a long exponent)

    def __init__(self, raw, surrogates: bool = False):
        self.raw, self.in_string, self.pending, self.out = raw, False, b"", b""
        self.surrogates = surrogates  # also turn lone surrogate escapes into \ufffd (yajl cannot decode them)

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
            escape = data.rfind(b"\\", max(0, cut - 12), cut)
            if escape >= 0:  # never split a \\uXXXX\\uXXXX pair
                cut = escape
            while cut and (
                data[cut - 1 : cut] in (b"\\", b"-", b"+", b".", b"e", b"E") or data[cut - 1 : cut].isdigit()
            ):
                cut -= 1  # never split an escape sequence or a number
            self.pending = data[cut:]
            self.out = self._rewrite(data[:cut])
        n = min(len(buffer), len(self.out))
        buffer[:n] = self.out[:n]
        self.out = self.out[n:]
        return n

    def _rewrite(self, data: bytes) -> bytes:
        if self.surrogates and b"\\u" in data:
            data = _LONE_SURROGATE.sub(rb"\\ufffd", data)
        if not _LITERAL_TOKEN.search(data):  # fast path: only track whether we end inside a string
            if _ESCAPE.sub(b"", data).count(b'"') % 2:
                self.in_string = not self.in_string
            return data
        out, i = bytearray(), 0
        for m in _LITERAL_SCAN.finditer(data):
            token = m.group()
            if token == b'"':
                self.in_string = not self.in_string
            elif token[0:1] != b"\\" and not self.in_string and (m.group(1) or m.group(2) or m.group(3)):
                out += data[i : m.start()] + b'"\\u0000' + token + b'"'
                i = m.end()
        out += data[i:]
        return bytes(out)


# Python refuses to turn more digits than this into an integer (a quadratic conversion): such a number
# is read as a literal, like 1e400 (both are beyond what any JSON reader holds as a double)
MAX_DIGITS = sys.get_int_max_str_digits() or 4300
_LITERAL_TOKEN = re.compile(rb"-?Infinity|NaN|\d[eE][+-]?\d{3}|\d{%d}" % (MAX_DIGITS + 1))
# an escape, a quote, a literal (1), a number with an exponent of three digits or more (2), or an integer
# part longer than MAX_DIGITS (3); a number is matched from its first digit only (no quadratic rescans)
_LITERAL_SCAN = re.compile(
    rb'\\.|"|(-?Infinity|NaN)|(?<![\d.])(-?\d++(?:\.\d++)?[eE][+-]?\d{3,})'
    rb"|(?<![\d.])(-?\d{%d,}+(?:\.\d++)?(?:[eE][+-]?\d++)?)" % (MAX_DIGITS + 1),
    re.S,
)
MAX_DEPTH = 64  # a DECP file nests at most a dozen levels; deeper is refused before parsing (memory)
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
# a high surrogate escape without its low half, or a low one without its high half
_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


class _Scan:
    """What the hashing pass learns of a JSON file on the way (bytes only, C speed).

    ``depth``: an upper bound of the nesting depth (brackets outside strings, balanced pairs removed
    level by level); ``literals``: NaN, Infinity or a huge exponent may be there; ``surrogates``: a
    surrogate escape (``\\ud800``) may be there; ``long_tokens``: a string or number spans megabytes;
    ``too_long``: the first value (string or number) longer than ``MAX_VALUE_BYTES``, found before any
    parser holds it.

    Values are measured where they cross the edge of a piece of at most ``MAX_VALUE_BYTES`` bytes: one
    that starts and ends within a piece cannot be longer, so the common case costs two searches a chunk.
    """

    _BRACKETS = bytes.maketrans(b"[{]}", b"(())")
    _DELETE = bytes(set(range(256)) - set(b'"[]{}'))
    _NUMBER = b"0123456789+-.eE"

    def __init__(self) -> None:
        self.depth = self.bound = 0
        self.in_string = self.escaped = False
        self.literals = self.surrogates = self.long_tokens = False
        self.python_numbers = False  # read by ijson's pure-Python backend (integers beyond 64 bits, see _items)
        self.offset = 0  # bytes seen
        self.string: int | None = None  # where the open string starts (its quote)
        self.number: int | None = None  # where the number open at the end of the last piece starts
        self.too_long: _TooLong | None = None
        self.first: dict[bytes, int] = {}  # byte offset of each needle's first occurrence (see hash_file)

    def __call__(self, chunk: bytes) -> None:
        # a huge exponent (1e400) is found by the parser itself, which then reads again with the filter
        self.literals = self.literals or b"NaN" in chunk or b"Infinity" in chunk
        if b"\\" in chunk and b"\\u" in chunk and _SURROGATE.search(chunk):  # a backslash first: one byte, faster
            self.surrogates = self.surrogates or bool(_LONE_SURROGATE.search(chunk))
        self.long_tokens = self.long_tokens or (len(chunk) > 1 << 20 and _fewer(chunk, b'"', 16))
        step = base.MAX_VALUE_BYTES
        if len(chunk) <= step:
            self._piece(chunk)
        else:  # a limit below the chunk size (tests): a value within a piece is still shorter than it
            for i in range(0, len(chunk), step):
                self._piece(chunk[i : i + step])

    def _piece(self, chunk: bytes) -> None:
        start, self.offset = self.offset, self.offset + len(chunk)
        if self.escaped:  # the last piece ended inside an escape: this first byte is escaped
            chunk, start, self.escaped = chunk[1:], start + 1, False
        was_in_string = self.in_string
        # escaped backslashes, then escaped quotes, become two harmless bytes: positions are kept and
        # every quote left opens or closes a string
        plain = chunk.replace(b"\\\\", b"__").replace(b'\\"', b"__") if b"\\" in chunk else chunk
        if plain.endswith(b"\\"):  # the chunk ends inside an escape: the next byte is escaped
            self.escaped, plain = True, plain[:-1] + b"_"
        marks = plain.translate(self._BRACKETS, self._DELETE)
        if self.in_string:
            marks = b'"' + marks
        marks = marks.replace(b'""', b"")
        if b'"' in marks:
            marks = re.sub(rb'"[^"]*"', b"", marks)
        self.in_string = b'"' in marks
        if self.in_string:
            marks = marks[: marks.index(b'"')]
        levels = 0
        while b"()" in marks and levels <= MAX_DEPTH:
            marks, levels = marks.replace(b"()", b""), levels + 1
        opened = len(marks) - len(marks.lstrip(b")"))
        still_open = len(marks) - opened
        self.bound = max(self.bound, self.depth + still_open + levels)
        self.depth = max(0, self.depth - opened) + still_open
        self._values(chunk, plain, start, was_in_string)

    def _values(self, chunk: bytes, plain: bytes, start: int, was_in_string: bool) -> None:
        """Follow the string or number that crosses either edge of the piece."""
        end = start + len(chunk)
        first = plain.find(b'"') if was_in_string else -1
        if was_in_string and self.string is not None:
            if first < 0:  # the whole piece is inside the string
                self._measure("string", self.string, end - self.string - 1, finished=False)
            else:
                self._measure("string", self.string, start + first - self.string - 1, finished=True)
                self.string = None
        if not was_in_string and self.number is not None:
            lead = len(chunk) - len(chunk.lstrip(self._NUMBER))
            self._measure("number", self.number, start + lead - self.number, finished=lead < len(chunk))
            if lead < len(chunk):
                self.number = None
        if self.in_string:
            if not (was_in_string and first < 0):
                self.string = start + plain.rfind(b'"')
                self._measure("string", self.string, end - self.string - 1, finished=False)
        else:
            tail = len(chunk) - len(chunk.rstrip(self._NUMBER))
            if not tail:
                self.number = None
            elif self.number is None or tail < len(chunk):
                self.number = end - tail

    def _measure(self, kind: str, where: int, length: int, finished: bool) -> None:
        if self.too_long is not None and self.too_long.offset == where:
            self.too_long.length, self.too_long.finished = length, finished
        elif self.too_long is None and length > base.MAX_VALUE_BYTES:
            self.too_long = _TooLong(kind, where, length, finished)


def _fewer(data: bytes, byte: bytes, count: int) -> bool:
    """Whether ``data`` holds ``byte`` fewer than ``count`` times (stops at the count-th one)."""
    at = -1
    for _ in range(count):
        at = data.find(byte, at + 1)
        if at < 0:
            return True
    return False


@dataclass
class _TooLong:
    """A value longer than MAX_VALUE_BYTES: a string (its opening quote) or a number, where it starts."""

    kind: str
    offset: int
    length: int
    finished: bool  # False while the file has not shown its end (a truncated file never shows it)


RECORD_NEEDLES = (b'"acheteur"', b'"autoriteConcedante"')  # once per marché, once per concession
CONTAINER_NEEDLES = (b'"marches"', b'"marche"', b'"contrat-concession"')  # once each in a well-formed file


def _repeated_lists(found: dict[bytes, int]) -> bool:
    return any(found.get(needle, 0) > 1 for needle in CONTAINER_NEEDLES)


_KEY_TAIL = 256  # bytes carried from one chunk to the next: a key, its spaces and its colon fit


def _key_counts(source: Source, skip: int, needles: tuple[bytes, ...]) -> dict[bytes, int]:
    """How many times each quoted name of ``needles`` is an object key (followed by a colon), not a value.

    The hashing pass counts the quoted names anywhere: a value such as ``"nature": "marche"`` (a real
    defect) counts as a second list « marche » and would send a national file through the structural
    pass, event by event in Python. A string value is never followed by a colon in JSON, and an escaped
    quote inside a string is preceded by a backslash: one regular-expression pass (C speed) tells keys
    apart."""
    pattern = re.compile(b"(" + b"|".join(re.escape(n) for n in needles) + rb")[ \t\r\n]*:")
    counts = dict.fromkeys(needles, 0)
    tail = b""
    with source.path.open("rb") as fh:
        fh.seek(skip)
        while True:
            chunk = fh.read(base.HASH_CHUNK)
            window = tail + chunk
            limit = len(window) - _KEY_TAIL if chunk else len(window)  # later matches: with the next chunk
            for match in pattern.finditer(window, 0, len(window)):
                if match.start() >= limit:
                    break
                counts[match.group(1)] += 1
            if not chunk:
                return counts
            tail = window[max(limit, 0) :]


def prepare(path: Path, name: str) -> Source:
    scan = _Scan()
    sha, found = hash_file(path, (*CONTAINER_NEEDLES, *RECORD_NEEDLES), observe=scan, first=scan.first)
    source = Source(path=path, name=name, sha256=sha, size=path.stat().st_size)
    source.shape = "json"
    source.markers = found
    source.scan = scan
    if scan.too_long is not None:
        raise _too_long(source, scan.too_long)
    return source


def _too_long(source: Source, value: _TooLong) -> InputError:
    """The error for a value beyond MAX_VALUE_BYTES, named by its JSON path when the file up to it can say."""
    where = _path_before(source, value.offset)
    if value.kind == "number":
        what = "un nombre"
    elif where is not None and where[1]:
        what = "une clé"
    else:
        what = "un texte"
    size = f"de {number(value.length)} octets" if value.finished else f"d'au moins {number(value.length)} octets"
    if where is None:
        subject = f"{what} {size}"
    elif where[1]:
        subject = f"{what} {size} dans « {where[0]} »" if where[0] else f"{what} {size}"
    else:
        subject = f"« {where[0]} », {what} {size}," if where[0] else f"le document, {what} {size},"
    return InputError(
        source.name,
        value_too_long(subject),
        offset=value.offset,
        records_read=0,
        hint="Vérifiez cette valeur dans l'export : aucune donnée DECP n'a cette taille",
    )


class _Until(io.RawIOBase):
    """The bytes of a file up to an offset, then an end of file."""

    def __init__(self, raw, remaining: int):
        self.raw, self.remaining = raw, remaining

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        got = self.raw.readinto(memoryview(buffer)[: min(len(buffer), self.remaining)])
        self.remaining -= got
        return got


def _path_before(source: Source, offset: int) -> tuple[str, bool] | None:
    """The JSON path of the value starting at ``offset``, and whether it is a key, from the events before it.

    Every value before it is within the limit (the scan keeps the first too long), so this reading is
    bounded; None when the file breaks before the offset or nests deeper than MAX_DEPTH there."""
    with source.path.open("rb") as fh:
        skip = len(UTF8_BOM) if fh.read(len(UTF8_BOM)) == UTF8_BOM else 0
        fh.seek(skip)
        raw = _Until(fh, offset - skip)
        stream = _LiteralFilter(raw, source.scan.surrogates) if source.scan.literals or source.scan.surrogates else raw
        stack: list[list] = []  # as in _survey: arrays [index, None], maps [current key, {}, 1]
        key_next = False  # the next string is a key
        try:
            for event, value in ijson.basic_parse(io.BufferedReader(stream, 1 << 16), use_float=True):
                if event == "map_key":
                    stack[-1][0], key_next = value, False
                    continue
                if event in ("start_map", "start_array"):
                    if len(stack) >= MAX_DEPTH:
                        return None
                    stack.append([0, None] if event == "start_array" else [None, {}, 1])
                    key_next = event == "start_map"
                    continue
                if event in ("end_map", "end_array"):
                    stack.pop()
                _advance(stack)
                key_next = bool(stack) and stack[-1][1] is not None
        except ijson.IncompleteJSONError as exc:
            if raw.remaining or "premature EOF" not in str(exc):
                return None  # broken before the value: the offset says where
        except (ijson.JSONError, UnicodeDecodeError, ValueError):
            return None
    if key_next:
        return short_path(_path(stack[:-1], marked=False)), True
    return short_path(_path(stack, marked=False)), False


def _open(source: Source, skip: int) -> tuple[io.BufferedReader, _Counting]:
    fh = source.path.open("rb")
    fh.seek(skip)
    counting = _Counting(fh, source)
    scan = source.scan
    stream = _LiteralFilter(counting, scan.surrogates) if scan.literals or scan.surrogates else counting
    return io.BufferedReader(stream, 1 << 16), counting


def _buffer(source: Source) -> int:
    """ijson's read size: large when a token spans megabytes (yajl re-reads a token at every read)."""
    return 1 << 22 if source.scan.long_tokens else 1 << 16


def _sniff(source: Source, skip: int) -> str:
    """'object' for the 2022 shape, 'array' for {"marches": [...]}, 'bare' for a top-level list."""
    with source.path.open("rb") as fh:
        fh.seek(skip)
        try:
            for prefix, event, _value in ijson.parse(fh):
                if prefix == "" and event == "start_array":
                    return "bare"
                if prefix == "" and event not in ("start_map", "map_key", "end_map"):
                    raise InputError(
                        source.name,
                        f"le document JSON est {_EVENTS.get(event, event)} seul, pas un objet",
                        records_read=0,
                        hint='Un fichier DECP JSON a la forme {"marches": …}',
                    )
                if prefix == "marches" and event in ("start_map", "start_array"):
                    return "object" if event == "start_map" else "array"
                if prefix == "marches" and event != "map_key":
                    raise InputError(
                        source.name,
                        f"la clé « marches » contient {_EVENTS.get(event, event)}, pas une liste ni un objet",
                        records_read=0,
                        hint='Un fichier DECP JSON a la forme {"marches": …}',
                    )
                if prefix == "" and event == "end_map":
                    break
        except (ijson.JSONError, UnicodeDecodeError):
            return "broken"  # the real parse reports the error with its location
    raise InputError(
        source.name,
        "aucune clé « marches » : ce n'est pas un fichier DECP",
        records_read=0,
        hint='Un fichier DECP JSON a la forme {"marches": …}',
    )


_EVENTS = {
    "null": "null",
    "boolean": "un booléen",
    "integer": "un nombre",
    "double": "un nombre",
    "number": "un nombre",
    "string": "du texte",
    "start_map": "un objet",
    "start_array": "une liste",
}


def _kind_of_container(key: str) -> str | None:
    """The record kind an unknown container's name suggests (« Marche », « marchés », « concessions »…)."""
    folded = fold(key)
    if folded.startswith("marche"):
        return "marche"
    if "concession" in folded:
        return "concession"
    return None


def read_json(source: Source) -> Iterator[RawRecord]:
    """Every record of a DECP JSON file, in reading order; what is around them is checked too.

    A structural pass (``_survey``, memory flat at any depth) refuses files nested deeper than
    ``MAX_DEPTH`` before the records are built, finds keys repeated in an object (the first value is
    lost to every JSON reader) and the keys around the records. It runs on every file up to
    ``SURVEY_LIMIT``; on larger ones when the hashing pass saw deep nesting or a container key
    twice, or when fewer records were read than the file has buyers. Records under an unknown container are read and reported,
    other values reported; a file without any record gets an error.
    """
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
    survey = None
    keys = found  # the container names counted anywhere; as keys only when a value may have been counted
    if _repeated_lists(found):
        keys = {**found, **_key_counts(source, skip, CONTAINER_NEEDLES)}
    repeated = _repeated_lists(keys)
    if source.size <= SURVEY_LIMIT or source.scan.bound > MAX_DEPTH or repeated:
        survey = _survey(source, skip, 0)
        source.bytes_read = 0  # progress counts the reading of the records
    shape = _sniff(source, skip)
    source.shape = {"object": "json-2022", "array": "json-array", "bare": "json-array"}.get(shape, "json")
    reading = _Reading(source, skip, shape, survey)
    if shape == "bare":
        source.note(
            "file-shape",
            "Le fichier est une liste de contrats sans la clé « marches » ; lu tel quel. "
            'Publiez {"marches": [...]} (format 2019) ou {"marches": {"marche": [...]}} (format 2022).',
        )
    if shape == "object":
        plan = [(f"marches.{key}", kind) for key, kind in LISTS if found[f'"{key}"'.encode()]]
    else:
        plan = [("" if shape == "bare" else "marches", None)]
    source.work = max(1, len(plan)) * (source.size - skip)
    if shape == "object" and plan:  # each list from its own bytes, by orjson: faster than yajl, even alone
        reading.segments = _segments(source, plan, keys)
        if reading.segments:
            source.work = sum(end - start for start, end in reading.segments.values())
    for prefix, kind in plan:
        yield from reading.list(prefix, kind)
    buyers = sum(found[n] for n in RECORD_NEEDLES)
    if survey is None and 0 < reading.position < buyers:  # a buyer's name may also be a value: keys only
        buyers = sum(_key_counts(source, skip, RECORD_NEEDLES).values())
    if survey is None and (reading.position < buyers or reading.position == 0):
        survey = _survey(source, skip, reading.position)
    if survey is not None:
        yield from _around(reading, survey.keys, {p for p, _ in plan})
        _repeated_containers(source, survey)
    if reading.position == 0:
        source.note(
            "no-record",
            "Aucun contrat lu dans ce fichier : il ne contient ni marché ni contrat de concession "
            'à l\'endroit prévu par le format ({"marches": {"marche": [...]}} en 2022, {"marches": [...]} en 2019).',
        )
    source.records = reading.position


SURVEY_LIMIT = 16 << 20  # a buyer's file; national files are surveyed only when something calls for it


class _Reading:
    """The reading of one file: the lists read one by one, the records counted across them."""

    def __init__(self, source: Source, skip: int, shape: str, survey: _Survey | None):
        self.source, self.skip, self.shape, self.survey = source, skip, shape, survey
        self.position = 0
        self.segments: dict[str, tuple[int, int]] = {}  # list prefix -> its bytes (see _segments)
        self.shape_noted = False  # a record of the other generation than the file's shape was reported

    def list(self, prefix: str, kind: str | None) -> Iterator[RawRecord]:
        """The records of the list at ``prefix`` (a single object there is read as a list of one)."""
        count = 0
        item_prefix = f"{prefix}.item" if prefix else "item"
        where = self._locator(prefix)
        # records handed unparsed when asked for, where nothing is to be said of them but their generation
        unparsed = self.source.unparsed and self.shape == "object" and self.survey is None
        segment = self.segments.get(prefix)
        items = _items(self.source, item_prefix, self.skip, self.position, segment, V2_MARKERS if unparsed else None)
        for value in items:
            if value.__class__ is json_segment.RawChunk:  # objects with a key only 2022 has: of that generation
                yield base.UnparsedRecords(kind, self._plain, self.position, prefix, count, value.count, "2022", value)
                self.position += value.count
                count += value.count
                continue
            count += 1
            path = where(count - 1)
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                for k, inner in enumerate(value):  # [[{...}]]: each inner object is a record
                    record = self._record(inner, kind, f"{path}[{k}]")
                    record.note(
                        "nested-list", f"« {prefix} » : liste imbriquée dans la liste des contrats ; lue aplatie."
                    )
                    yield record
                continue
            yield self._record(value, kind, path)
        if count == 0 and self.shape == "object":
            for value in _items(self.source, prefix, self.skip, self.position):
                if isinstance(value, dict):  # a single object instead of a list
                    record = self._record(value, kind, prefix)
                    record.note(
                        "list-shape",
                        f"« {prefix} » : un objet seul au lieu d'une liste [{{…}}] ; lu comme une liste d'un contrat.",
                    )
                    yield record

    @functools.cached_property
    def _plain(self) -> Source:
        """A plain copy of the source (path, name, hash, size, shape): what unparsed records carry."""
        source = self.source
        return Source(source.path, source.name, source.sha256, source.size, shape=source.shape)

    def _locator(self, prefix: str):
        """The path of the i-th record read at ``prefix``: ijson reads a repeated key's lists one after
        the other, and the second list's first record is ``marches.marche#2[0]``."""
        lists = self.survey.lists.get(prefix, []) if self.survey else []
        if len(lists) < 2:
            return lambda i: f"{prefix}[{i}]"

        def where(i: int) -> str:
            for marked, size in lists:
                if i < size:
                    return f"{marked}[{i}]"
                i -= size
            return f"{prefix}[{i}]"

        return where

    def _record(self, value, kind: str | None, path: str) -> RawRecord:
        generation = None
        if self.shape == "object":  # the 2022 shape, unless the record is plainly one of 2019
            plainly_2019 = isinstance(value, dict) and V2_MARKERS.isdisjoint(value) and signed_2019(value)
            generation = "2019" if plainly_2019 else "2022"
            if generation == "2019" and not self.shape_noted:
                self.shape_noted = True
                self.source.note(
                    "file-shape",
                    f"« {path} » est un contrat du format 2019 dans un fichier de forme 2022 : au format 2019, "
                    'publiez {"marches": [...]} ; au format 2022, publiez les contrats au format 2022. '
                    "Les contrats sont lus chacun selon leur format.",
                )
        record = RawRecord(
            kind=kind,
            data=value,
            source=self.source,
            position=self.position,
            path=path,
            origin="json",
            generation=generation,
        )
        self.position += 1
        if (
            self.shape == "array"
            and not self.shape_noted
            and isinstance(value, dict)
            and (detect_generation(value) == "2022")
        ):
            self.shape_noted = True
            self.source.note(
                "file-shape",
                f'« {path} » est un contrat du format 2022 dans un fichier de forme 2019 {{"marches": [...]}} '
                "(celle du projet de schéma 2.0.0) : au format 2022 en vigueur (schéma 2.0.3), publiez "
                '{"marches": {"marche": [...], "contrat-concession": [...]}}. Les contrats sont lus.',
            )
        for rel, key, first in self.survey.duplicates.pop(path, ()) if self.survey else ():
            lost = f" (« {first} »)" if first is not None else ""
            record.note(
                "duplicate-key",
                f"« {key} » figure deux fois dans le même objet : tout lecteur JSON ne garde que la dernière valeur, "
                f"la première{lost} est perdue. Gardez une seule clé.",
                path=f"{path}.{rel}" if rel else path,
            )
        return record


@dataclass
class _Survey:
    """What the structural pass found: keys around the records, keys repeated within an object."""

    keys: dict[str, dict[str, str]] = field(default_factory=lambda: {"": {}, "marches": {}})
    # record path -> (path in the record, key, first value when it was a scalar)
    duplicates: dict[str, list[tuple[str, str, str | None]]] = field(default_factory=dict)
    records: int = 0  # records passed (what a syntax error says was read before it)
    # each list of records, by path: (its path with repeated keys marked, its size), one per occurrence
    lists: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


def _survey(source: Source, skip: int, records: int) -> _Survey:
    """One pass of ijson's basic events (no prefixes: memory stays flat however deep the file is).

    Refuses a file nested deeper than MAX_DEPTH; notes the keys at the top and under « marches »
    with the type of their value, and every key repeated within one object, by record.
    """
    parse = ijson.basic_parse
    while True:
        stream, counting = _open(source, skip)
        survey = _Survey()
        # one entry per open container: arrays [index, None], maps [current key, {key: first scalar},
        # occurrence of the current key (2 for its second time in the object), {repeated key: occurrences}]
        stack: list[list] = []
        try:
            with stream:
                for event, value in parse(stream, use_float=True, buf_size=_buffer(source)):
                    if event == "map_key":
                        top = stack[-1]
                        if value in top[1]:
                            _duplicate(survey, stack, value, top[1][value])
                            top[3][value] = top[2] = top[3].get(value, 1) + 1
                        else:
                            top[2] = 1
                        top[1][value] = None
                        top[0] = value
                        continue
                    if event in ("end_map", "end_array"):
                        if event == "end_array" and _record_level(stack):  # a list of records: its size
                            where = stack[:-1]
                            survey.lists.setdefault(_path(where, marked=False), []).append((_path(where), stack[-1][0]))
                        stack.pop()
                        survey.records += _record_level(stack)
                        _advance(stack)
                        continue
                    if (len(stack) == 1 and stack[0][1] is not None) or (
                        len(stack) == 2 and stack[0][0] == "marches" and stack[1][1] is not None
                    ):
                        survey.keys["" if len(stack) == 1 else "marches"][stack[-1][0]] = event
                    if event not in ("start_map", "start_array"):
                        if stack and stack[-1][1] is not None:
                            stack[-1][1][stack[-1][0]] = value if not isinstance(value, str) else value[:80]
                        _advance(stack)
                        continue
                    if len(stack) >= MAX_DEPTH:
                        raise InputError(
                            source.name,
                            f"imbrication trop profonde : plus de {MAX_DEPTH} niveaux d'objets et de listes "
                            "imbriqués (un fichier DECP en a moins de 15) ; fichier refusé avant lecture",
                            offset=counting.consumed + skip,
                            approximate=True,
                            records_read=records,
                        )
                    stack.append([0, None] if event == "start_array" else [None, {}, 1, {}])
            return survey
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            if _beyond_numbers(exc) and not source.scan.literals:
                source.scan.literals = True  # a number beyond doubles: read again, such numbers as literals
                continue
            if "overflow" in str(exc) and parse is ijson.basic_parse:  # yajl holds 64 bits: the Python backend
                parse = ijson.get_backend("python").basic_parse
                continue
            raise _locate(source, skip, exc, counting.consumed, max(records, survey.records)) from exc


def _record_level(stack: list[list]) -> bool:
    """Whether the open container is a list of records: a bare list, marches[…] or marches.<key>[…]."""
    if not stack or stack[-1][1] is not None:
        return False
    return (
        len(stack) == 1
        or (len(stack) == 2 and stack[0][0] == "marches")
        or (len(stack) == 3 and stack[0][0] == "marches" and stack[1][1] is not None)
    )


def _advance(stack: list[list]) -> None:
    """A value ended: the next one in an array has the next index."""
    if stack and stack[-1][1] is None:
        stack[-1][0] += 1


def _path(stack: list[list], marked: bool = True) -> str:
    """The JSON path of the open containers' current values; a key's second list is ``marche#2``."""
    return "".join(
        f"[{entry[0]}]" if entry[1] is None else f".{entry[0]}" + (f"#{entry[2]}" if marked and entry[2] > 1 else "")
        for entry in stack
    ).lstrip(".")


def _duplicate(survey: _Survey, stack: list[list], key: str, first: Any) -> None:
    """Note a key repeated in an object, under the path of the record that holds it (or of the
    container: a list of records repeated under the same key)."""
    record_depth = 3 if len(stack) > 2 and stack[1][1] is not None else 2  # marches.marche[i] or marches[i]
    record = _path(stack[:-1][:record_depth])
    rel = _path(stack[:-1][record_depth:])
    survey.duplicates.setdefault(record, []).append((f"{rel}.{key}" if rel else key, key, first))


def _repeated_containers(source: Source, survey: _Survey) -> None:
    """Keys repeated outside the records (``"marche"`` twice under ``"marches"``): every JSON reader
    keeps only the last value, so the records of the first list are lost to all of them."""
    for where, repeated in survey.duplicates.items():
        for rel, key, _first in repeated:
            path = f"{where}.{rel}" if where else rel
            sizes = [size for _marked, size in survey.lists.get(path, [])]
            counted = f" ({' puis '.join(plural(n, 'contrat') for n in sizes)})" if len(sizes) > 1 else ""
            source.note(
                "duplicate-key",
                f"« {path} » figure plusieurs fois dans le même objet{counted} : tout lecteur JSON ne garde que "
                "la dernière valeur, ce qui précède est perdu pour lui. marches lit tout (les contrats de la "
                f"deuxième « {key} » sont situés « {path}#2[…] »). Gardez une seule clé.",
                path=path,
            )
    survey.duplicates.clear()


def _around(reading: _Reading, skeleton: dict[str, dict[str, str]], planned: set[str]) -> Iterator[RawRecord]:
    """Records and values outside the lists the format names: read when they are contracts, reported always."""
    source = reading.source
    for key, event in skeleton[""].items():
        if key == "marches" or (key == "$schema" and event == "string"):
            continue  # "$schema" names the JSON Schema the document follows (the official examples have one)
        if event == "start_array" and _kind_of_container(key):
            source.note(
                "unknown-container",
                f"Clé « {key} » hors de « marches » : ses contrats sont lus, mais aucun outil conforme ne les lit. "
                "Publiez-les sous « marches ».",
            )
            yield from reading.list(key, _kind_of_container(key))
        else:
            source.note(
                "ignored-key",
                f"Clé « {key} » ({_EVENTS.get(event, event)}) à côté de « marches » : le format ne la prévoit pas ; "
                "elle est ignorée.",
            )
    if reading.shape != "object":
        return
    for key, event in skeleton["marches"].items():
        if f"marches.{key}" in planned:
            if event not in ("start_array", "start_map"):
                source.note(
                    "file-shape",
                    f"« marches.{key} » contient {_EVENTS.get(event, event)} au lieu d'une liste de contrats ; "
                    "rien n'y est lu.",
                )
            continue
        kind = dict(LISTS).get(key) or _kind_of_container(key)
        if event == "start_array" or (event == "start_map" and kind):
            official = "« marche » ou « contrat-concession »"
            source.note(
                "unknown-container",
                f"« marches.{key} » : le format 2022 n'a sous « marches » que {official} ; "
                f"{'ses contrats sont lus comme des ' + ('marchés' if kind == 'marche' else 'concessions') if kind else 'son contenu est lu'}, "
                "mais aucun outil conforme ne les lirait. Renommez la clé.",
            )
            yield from reading.list(f"marches.{key}", kind)
        elif event in ("start_map", "start_array"):  # it may hold contracts, which no conforming reader would see
            source.note(
                "unknown-container",
                f"« marches.{key} » ({_EVENTS.get(event, event)}) : le format 2022 n'a sous « marches » que "
                "« marche » et « contrat-concession » ; son contenu n'est pas lu. S'il contient des contrats, "
                "publiez-les sous « marche » ou « contrat-concession ».",
            )
        else:  # a value (the JSON Schema 2.0.3 admits other keys under "marches"): nothing is lost but the value
            source.note(
                "ignored-key",
                f"« marches.{key} » ({_EVENTS.get(event, event)}) : le format 2022 n'a sous « marches » que "
                "« marche » et « contrat-concession » ; cette clé ne contient aucun contrat, elle est ignorée.",
            )


def _items(
    source: Source,
    prefix: str,
    skip: int,
    already: int,
    segment: tuple[int, int] | None = None,
    raw: frozenset[str] | None = None,
) -> Iterator:
    """The values at ``prefix``, by yajl; read again past those already yielded when a number stops it.

    With ``segment`` (see :func:`_segments`), only the list's own bytes are parsed first, by orjson
    chunk by chunk (see :mod:`marches.readers.json_segment`); when they do not parse whole, the file is
    read as usual, past the values the segment gave. With ``raw`` too, the segment's chunks of objects
    carrying one of these keys come unparsed (``json_segment.RawChunk``)."""
    yielded, backend = 0, ijson
    if segment is not None:
        try:
            for value in json_segment.values(source, *segment, prefix.partition(".")[2], _buffer(source), raw):
                yielded += value.count if value.__class__ is json_segment.RawChunk else 1
                yield value
            return
        except (ijson.JSONError, UnicodeDecodeError, ValueError, OverflowError):
            pass  # the whole file below tells what is wrong, where
    while True:
        stream, counting = _open(source, skip)
        try:
            with stream:
                for i, value in enumerate(backend.items(stream, prefix, use_float=True, buf_size=_buffer(source))):
                    if i >= yielded:
                        yielded += 1
                        yield value
            return
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            if _beyond_numbers(exc) and not source.scan.literals:
                source.scan.literals = True  # a number beyond doubles: read again, such numbers as literals
                continue
            if "overflow" in str(exc) and backend is ijson:  # yajl holds 64 bits: the pure-Python backend
                backend = ijson.get_backend("python")
                source.scan.python_numbers = True
                continue
            raise _locate(source, skip, exc, counting.consumed, already + yielded) from exc


_WHITESPACE = b" \t\r\n"
_BEFORE_LISTS = re.compile(rb'"marches"[ \t\r\n]*:[ \t\r\n]*\{[ \t\r\n]*')


def _segments(source: Source, plan: list[tuple[str, str | None]], keys: dict[bytes, int]) -> dict[str, tuple[int, int]]:
    """The bytes of each list of the 2022 shape, so that each is parsed alone instead of the whole file
    once per list: by list prefix, (offset of its key, offset just past its closing bracket).

    Only for the plain well-formed layout ``{… "marches": {"marche": [...], "contrat-concession": [...]} …}``
    with each key once in the file, the lists side by side (nothing between them but a comma), the
    last one closing both objects at the end of the file; nothing otherwise (then every list is read
    from the whole file). Parsing ``{`` + a segment + ``}`` then yields exactly the values the whole
    file has at the list's prefix; a segment that does not parse falls back on the whole file.

    ``keys``: how many times each container name is a key. A name also found as a value (``"nature":
    "marche"``, a real defect) before its key gives a wrong offset, which costs nothing: the layout
    checks below refuse it, or the segment fails to parse at once (a value is never followed by a
    colon) and the file is read whole."""
    scan = source.scan
    if scan.literals or scan.surrogates or keys.get(b'"marches"') != 1 or b'"marches"' not in scan.first:
        return {}
    starts = {}
    for prefix, _kind in plan:
        needle = f'"{prefix.partition(".")[2]}"'.encode()
        if keys.get(needle) != 1 or needle not in scan.first:
            return {}
        starts[prefix] = scan.first[needle]
    order = sorted(starts, key=starts.__getitem__)
    marches_at = scan.first[b'"marches"']
    segments = {}
    with source.path.open("rb") as fh:
        if not 0 < starts[order[0]] - marches_at <= 4096:
            return {}
        fh.seek(marches_at)
        if not _BEFORE_LISTS.fullmatch(fh.read(starts[order[0]] - marches_at)):
            return {}  # the first list is not the first key of « marches »
        for i, prefix in enumerate(order):
            start = starts[prefix]
            end = starts[order[i + 1]] if i + 1 < len(order) else source.size
            fh.seek(max(start, end - 4096))
            tail = fh.read(end - fh.tell())
            trimmed = tail.rstrip(_WHITESPACE)
            closers = (b",",) if i + 1 < len(order) else (b"}", b"}")  # before the next list, or the end
            for closer in closers:
                if not trimmed.endswith(closer):
                    return {}
                trimmed = trimmed[:-1].rstrip(_WHITESPACE)
            if not trimmed.endswith(b"]"):
                return {}
            segments[prefix] = (start, end - (len(tail) - len(trimmed)))
    return segments


def _beyond_numbers(exc: BaseException) -> bool:
    """Whether a parser stopped at a number it cannot hold: a double beyond 1.8e308 (yajl), or an
    integer of more than MAX_DIGITS digits (the pure-Python backend, whose int() refuses it)."""
    if "floating point" in str(exc):
        return True
    context = exc.__context__
    return isinstance(context, ValueError) and "integer string conversion" in str(context)


def _not_utf8(source: Source, skip: int, records: int) -> InputError | None:
    """The exact place of the first byte that is not UTF-8 (one streaming pass), or None.

    Python's decoder is strict where the parser's own check is not (overlong forms, encoded
    surrogates, code points beyond U+10FFFF); a file that ends inside a character is truncated."""
    with source.path.open("rb") as fh:
        fh.seek(skip)
        offset, line, tail = skip, 1, b""
        while True:
            chunk = fh.read(1 << 22)
            data = tail + chunk
            try:
                _text, used = codecs.utf_8_decode(data, "strict", not chunk)
            except UnicodeDecodeError as err:
                where = {"line": line + data.count(b"\n", 0, err.start), "offset": offset + err.start}
                if err.reason == "unexpected end of data":
                    return InputError(
                        source.name,
                        "JSON invalide : le fichier s'arrête au milieu d'un caractère (fichier tronqué ?)",
                        **where,
                        records_read=records,
                    )
                bad = data[err.start : err.end]
                shown = f"octet {bad[0]:02X}" if len(bad) == 1 else "octets " + " ".join(f"{b:02X}" for b in bad)
                return InputError(
                    source.name,
                    f"encodage invalide : le fichier n'est pas en UTF-8 ({shown} impossible à cette place en UTF-8)",
                    **where,
                    records_read=records,
                    hint="Enregistrez le fichier en UTF-8",
                )
            if not chunk:
                return None
            line += data.count(b"\n", 0, used)
            offset += used
            tail = data[used:]


def _locate(source: Source, skip: int, exc: Exception, consumed: int, records: int) -> InputError:
    """Where a JSON file breaks: exactly for files of a reasonable size, else within a read buffer.

    An encoding error is always located exactly (a decoding pass costs far less than a parse)."""
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(detail, str) and detail.startswith("b'"):
        detail = detail[2:].split("\\n")[0]
    if isinstance(exc, UnicodeDecodeError) or "UTF8" in detail or source.size <= EXACT_LOCATION_LIMIT:
        encoding = _not_utf8(source, skip, records)
        if encoding is not None:
            return encoding
    if source.size <= EXACT_LOCATION_LIMIT:
        text = source.path.read_bytes()[skip:].decode("utf-8")
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
        except ValueError:  # an integer too long for Python: located by the parser below
            pass
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
    "Unexpected UTF-8 BOM": "une deuxième marque d'ordre d'octets (BOM UTF-8) suit la première",
}


def _french(message: str) -> str:
    for english, french in _MESSAGES.items():
        if message.startswith(english):
            return (
                french + " (fichier tronqué ?)" if english in ("Expecting value", "Expecting ',' delimiter") else french
            )
    return message
