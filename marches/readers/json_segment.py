"""One list of a well-formed 2022 JSON file, read from its own bytes by orjson, ijson behind it.

:func:`values` reads a list whose bytes ``json_reader._segments`` has proved: the list's key at
``start``, its closing bracket just before ``end``. It yields exactly the values
``ijson.items(b"{" + segment + b"}", key + ".item", use_float=True)`` yields, and raises what that
parse raises, after the same values.

Why a chunk is only ever cut at a true boundary
-----------------------------------------------
The bytes are read ``CHUNK`` at a time from a *true boundary*: a place at the list's own level,
outside any string, where an element starts (past the key, the colon, ``[`` and blanks; later the
``{`` that follows a comma). A *candidate* end is any ``}`` followed by blanks, a comma, blanks and
``{``; it may lie inside a string or inside a nested object or list. The chunk up to and including
that ``}`` is given to orjson as ``[`` + chunk + ``]``. A JSON parser is a deterministic pushdown
automaton: just past ``[`` its state is the true parse's just past the list's own ``[`` (an element or
``]`` expected), so it goes through the chunk in the true parse's states, byte for byte, for as long
as it has not closed its ``[``. The parse succeeds only if the appended ``]`` then closes that ``[`` and
ends the document, which needs, at the candidate, a state outside any string (else ``]`` is a character
of an unterminated string) and at the list's own level (else an object or list stays open, or the
brackets mismatch). Had the chunk closed the list before, what follows would be trailing data: a
failure too. So a success proves the candidate a true boundary and the values the list's elements, in
order; reading resumes at the ``{`` past the comma, a true boundary again. A failure proves nothing:
earlier candidates are tried (``ATTEMPTS`` a round, those followed by the first key of the chunk's
first record before others), then a longer chunk; after ``ROUNDS`` failed rounds, or past
``GROW_LIMIT`` bytes, ijson reads the rest from the last true boundary. The chunk that reaches ``end``
ends with the list's ``]`` and is given to orjson as ``[`` + chunk.

Where orjson and ijson differ
-----------------------------
ijson (yajl, ``use_float=True``) reads every chunk orjson refuses, from the chunk's true boundary, with
the list's key before it (``{`` + key + ``: [`` + rest + ``}``): it yields the values before a defect
and raises where it does today (invalid UTF-8, control characters, lone surrogates, NaN, a form feed
yajl takes for a blank…), and ``json_reader._items`` then reads the whole file as before. orjson
accepts integers beyond 64 bits (as floats from 2**64) where yajl stops with an overflow: orjson is
only given the bytes before the first run of 19 digits that is not plainly in a string or a fraction
(every integer from 2**63 has one), and ijson reads from the true boundary before it. Otherwise both give equal values: an integer as ``int``, a number with a fraction or an exponent
as ``float``, correctly rounded by both, strings decoded alike, a repeated key's last value at its first
place.

Chunks handed unparsed
----------------------
For worker processes (``raw``: the keys a record must carry, one of them at least), a chunk is proved
by simdjson instead of orjson: a validating parser, ten times faster, that builds no Python value.
A chunk of at most ``RAW_MOST`` elements, all objects carrying one of those keys, is handed as it is, a
:class:`RawChunk`: its bytes and its number of elements, for orjson to parse in a worker (the parse
``_loads`` does here). Any other chunk, and any chunk simdjson refuses (it stops at integers beyond
64 bits, which orjson reads), gets the orjson parse above. The elements are the same either way; only
where they are parsed differs.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import ijson
import orjson
import simdjson

from marches.readers.base import Source

CHUNK = 4 << 20  # bytes given to orjson at a time (its values are held until yielded)
ATTEMPTS = 3  # candidates tried a round, last first
ROUNDS = 2  # failed rounds in a row (candidates, no true boundary among them) before ijson reads the rest
GROW_LIMIT = 64 << 20  # a chunk grows up to this size to hold one huge record, then ijson reads the rest
HEAD = 1 << 16  # the list's key, colon, bracket and blanks are read within this many bytes
# elements of a chunk handed unparsed at most (a real record takes about 1 KB, 4 000 a chunk): a chunk
# of tiny records is parsed here, so that a worker never holds more records than a shipment of parsed ones
RAW_MOST = 8_000

_CANDIDATE = re.compile(rb"\}[ \t\r\n]*,[ \t\r\n]*\{")
_FIRST_KEY = re.compile(rb'\{[ \t\r\n]*("[^"\\]{0,64}")')
_DIGITS = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_RUN = b"0" * 19  # 2**63 has 19 digits: shorter integers fit in 64 bits for yajl
_BEFORE_NUMBER = frozenset(b" \t\r\n:,[")


@dataclass(slots=True, frozen=True)
class RawChunk:
    """Elements of a list as published, proved whole: ``data`` is ``[`` + the chunk + ``]``, a JSON list
    of ``count`` objects; ``elements`` parses it (orjson) into the values the list has there."""

    data: bytes
    count: int

    def elements(self) -> list:
        values = _loads(self.data)
        if values is None or len(values) != self.count:  # simdjson proved it: orjson must read it alike
            raise ValueError(f"orjson ne relit pas un morceau de {self.count} éléments prouvé par simdjson")
        return values


def values(
    source: Source, start: int, end: int, item_prefix: str, buf_size: int, raw: frozenset[str] | None = None
) -> Iterator:
    """The values of the list at ``item_prefix`` (``"marche.item"``) whose bytes are ``[start, end)``
    of ``source``'s file: the key at ``start``, the list's ``]`` just before ``end``.

    With ``raw``, chunks of objects carrying one of these keys come as :class:`RawChunk` (their elements
    unparsed) instead of their values: see « Chunks handed unparsed » above.

    Raises what ijson raises on the bytes (``ijson.JSONError``, ``UnicodeDecodeError``, ``ValueError``);
    ``source.bytes_read`` advances by the bytes read (a chunk before its values)."""
    key = item_prefix.removesuffix(".item").encode()
    with source.path.open("rb") as fh:
        fh.seek(start)
        head = re.compile(rb'"%s"[ \t\r\n]*:[ \t\r\n]*\[[ \t\r\n]*' % re.escape(key)).match(
            fh.read(min(HEAD, end - start))
        )
        if head is None:  # not the plain « "key": [ »: ijson reads the segment as it is
            yield from _by_ijson(source, b"", start, end, item_prefix, buf_size)
            return
        source.bytes_read += head.end()
        fh.seek(start + head.end())
        rest = yield from _by_orjson(fh, source, start + head.end(), end, _loads if raw is None else _prover(raw))
    if rest is not None:
        yield from _by_ijson(source, head.group(), rest, end, item_prefix, buf_size)


def _by_orjson(fh, source: Source, at: int, end: int, parse: Callable[[bytes], list | None]) -> Iterator:
    """The values from the true boundary ``at``, chunk by chunk, each chunk's by ``parse`` (``_loads``,
    or a ``_prover``); returns None when the list is read whole, else the true boundary from which ijson
    must read (``source.bytes_read`` then counts up to it)."""
    buffer, failed, tried = b"", 0, 0  # buffer: the file's bytes from ``at``; tried: candidates up to there failed
    while True:
        more = fh.read(min(CHUNK, end - at - len(buffer)))
        source.bytes_read += len(more)
        buffer += more
        limit = _long_integer(buffer)
        last = at + len(buffer) >= end or not more  # the list's end: the buffer ends with its ]
        if last and limit == len(buffer):
            parsed = parse(b"[" + buffer)
            if parsed is None:
                break
            yield from _handed(parsed)
            return None
        candidates = _candidates(buffer, tried, limit)
        found = _first_boundary(buffer, candidates, parse)
        if found is None:
            if candidates:  # a parse refuses the same bytes again: only later candidates are new
                failed, tried = failed + 1, max(cut for cut, _resume in candidates)
            # a longer chunk cannot pass the long integer at ``limit``
            if last or failed >= ROUNDS or limit < len(buffer) or len(buffer) > GROW_LIMIT:
                break
            continue
        failed = tried = 0
        yield from _handed(found[0])
        at, buffer = at + found[1], buffer[found[1] :]
    source.bytes_read -= len(buffer)  # ijson reads them again
    return at


def _candidates(buffer: bytes, tried: int, limit: int) -> list[tuple[int, int]]:
    """Up to ATTEMPTS likely ends between ``tried`` and ``limit``: (end of the part to parse, start of the
    rest), the last first, those followed by the key the buffer's first object starts with (a record's)
    before others."""
    first = _FIRST_KEY.match(buffer)
    same_key = re.compile(rb"[ \t\r\n]*" + re.escape(first.group(1))) if first else None
    window = 1 << 16
    while True:
        low = max(tried, limit - window)
        found = [m for m in _CANDIDATE.finditer(buffer, low) if m.start() < limit][-16:]
        if found or low == tried:
            break
        window *= 16
    found.reverse()
    if same_key is not None:
        found.sort(key=lambda m: same_key.match(buffer, m.end()) is None)  # stable: the last first within each
    return [(m.start() + 1, m.end() - 1) for m in found[:ATTEMPTS]]


def _first_boundary(
    buffer: bytes, candidates: list[tuple[int, int]], parse: Callable[[bytes], list | None]
) -> tuple[list, int] | None:
    """The values up to the first candidate that ``parse`` proves a true boundary, and where the rest starts."""
    for cut, resume in candidates:
        parsed = parse(b"[" + buffer[:cut] + b"]")
        if parsed is not None:
            return parsed, resume
    return None


def _long_integer(buffer: bytes) -> int:
    """Where the first run of 19 digits or more that may be an integer starts in ``buffer``, else its length.

    A run is surely not an integer's when a dot (a fraction) or a character that cannot come before a
    number (a quote, a letter: the run is in a string) is before it."""
    marked = buffer.translate(_DIGITS)
    at = marked.find(_LONG_RUN)
    while at >= 0:
        before = at - 1 if at and buffer[at - 1] == 0x2D else at  # a minus sign
        if before == 0 or buffer[before - 1] in _BEFORE_NUMBER:
            return at - (before < at)
        after = at + len(_LONG_RUN)
        while after < len(marked) and marked[after] == 0x30:
            after += 1
        at = marked.find(_LONG_RUN, after)
    return len(buffer)


def _loads(data: bytes) -> list | None:
    """The elements of the JSON list ``data``, or None when orjson refuses it."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _prover(keys: frozenset[str]) -> Callable[[bytes], list | None]:
    """A ``parse`` for ``_by_orjson`` that proves a chunk by simdjson and hands it unparsed, as a
    one-element list ``[RawChunk]``, when its elements (``RAW_MOST`` at most) are all objects carrying one
    of ``keys``; the chunk's values (``_loads``) otherwise, None when neither parser reads it."""
    parser = simdjson.Parser()

    def parse(data: bytes) -> list | None:
        try:
            elements = parser.parse(data)
        except (ValueError, RuntimeError):  # invalid JSON (ValueError), integers beyond 64 bits (RuntimeError)
            return _loads(data)
        try:
            whole = all(
                element.__class__ is simdjson.Object and not keys.isdisjoint(element.keys()) for element in elements
            )
            count = len(elements)
        finally:
            del elements  # the parser's next document needs its buffer back
        return [RawChunk(data, count)] if whole and 0 < count <= RAW_MOST else _loads(data)

    return parse


def _handed(parsed: list) -> Iterator:
    """The values one by one, each dropped by the list as it is handed (memory falls as the caller reads)."""
    parsed.reverse()
    while parsed:
        yield parsed.pop()


def _by_ijson(source: Source, head: bytes, start: int, end: int, item_prefix: str, buf_size: int) -> Iterator:
    with io.BufferedReader(_Segment(source, head, start, end), 1 << 16) as stream:
        yield from ijson.items(stream, item_prefix, use_float=True, buf_size=buf_size)


class _Segment(io.RawIOBase):
    """``{`` + ``head`` + the file's bytes from ``start`` to ``end`` + ``}``: one list of the file as a
    document (``head``: the list's key, colon and bracket when ``start`` is past them)."""

    def __init__(self, source: Source, head: bytes, start: int, end: int):
        self.source, self.fh = source, source.path.open("rb")
        self.fh.seek(start)
        self.head, self.remaining, self.foot = b"{" + head, end - start, b"}"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n], self.head = self.head[:n], self.head[n:]
            return n
        if self.remaining > 0:
            got = self.fh.readinto(memoryview(buffer)[: min(len(buffer), self.remaining)])
            if got:
                self.remaining -= got
                self.source.bytes_read += got
                return got
            self.remaining = 0
        if self.foot:
            buffer[:1], self.foot = self.foot, b""
            return 1
        return 0

    def close(self) -> None:
        self.fh.close()
        super().close()
