"""The lists of a well-formed 2022 file read by orjson chunk by chunk: the values, findings and errors of
ijson, wherever the chunks are cut."""

from __future__ import annotations

from pathlib import Path

import ijson
import pytest

from marches.errors import InputError
from marches.generate import generate
from marches.readers import json_reader, json_segment, open_input

_C = '{"id": "C1", "autoriteConcedante": {"id": "21750001600019"}}'


def _file(tmp_path: Path, marche: str, name: str = "f.json") -> Path:
    """A plain 2022 file whose « marche » list is ``marche`` (its JSON text, brackets included)."""
    path = tmp_path / name
    path.write_text(f'{{"marches": {{"marche": {marche}, "contrat-concession": [{_C}]}}}}', encoding="utf-8")
    return path


def _by_ijson(path: Path) -> list[str]:
    """The list's values as ijson (yajl) gives them, each as its repr: 1 and 1.0, 0.0 and -0.0, key orders differ."""
    with path.open("rb") as fh:
        return [repr(v) for v in ijson.items(fh, "marches.marche.item", use_float=True)]


def _by_segment(path: Path, raw: frozenset[str] | None = None, chunks: list | None = None) -> tuple[list[str], int]:
    """The list's values through :func:`json_segment.values`, each as its repr, and the bytes counted;
    with ``raw``, the chunks handed unparsed are parsed here (and kept in ``chunks``)."""
    source = json_reader.prepare(path, path.name)
    plan = [("marches.marche", "marche"), ("marches.contrat-concession", "concession")]
    segments = json_reader._segments(source, plan, source.markers)
    assert segments, "the plain layout has its segments"
    start, end = segments["marches.marche"]
    values = []
    for value in json_segment.values(source, start, end, "marche.item", 1 << 16, raw):
        if isinstance(value, json_segment.RawChunk):
            (chunks if chunks is not None else []).append(value)
            values.extend(repr(v) for v in value.elements())
        else:
            values.append(repr(value))
    assert source.bytes_read == end - start, "every byte of the list counted once"
    return values, end - start


@pytest.fixture
def slow(monkeypatch):
    """Records the boundaries from which ijson reads the rest of a list."""
    calls: list[int] = []
    original = json_segment._by_ijson

    def spy(source, head, start, *args):
        calls.append(start)
        return original(source, head, start, *args)

    monkeypatch.setattr(json_segment, "_by_ijson", spy)
    return calls


_RECORD = '{"id": "M%d", "acheteur": {"id": "21750001600019"}, "titulaires": [{"titulaire": {"id": "%d"}}, {"titulaire": {}}]}'
TRICKY = {
    "numbers": '[{"a": 1.0, "b": 1e2, "c": -0, "d": 0.1, "e": -0.0, "f": 1E+99, "g": 2.5e-99, "h": 1.7976931348623157e308,'
    ' "i": 5e-324, "j": 999999999999999999, "k": -999999999999999999, "l": 123456789012345678, "m": 0e5,'
    ' "n": 0.30000000000000004, "o": 100e-2, "p": 3.0e0}]',
    "largest-integers": '[{"a": 9223372036854775807}, {"b": -9223372036854775807}, {"c": 1}]',  # ijson reads them
    "long-fraction": '[{"a": 0.12345678901234567890123, "b": 1.00000000000000000000001}, {"c": -0.99999999999999999999999}]',
    "escapes": r'[{"a": "\u00e9", "b": "caf\u00e9", "c": "\ud83d\ude00", "d": "\"},{\"", "e": "\\", "f": "\/\b\f\n\r\t"}]',
    "utf8": '[{"objet": "Réfection de l’école — 😀"}, {"objet": "ÉÈ"}]',
    "braces-in-strings": '[{"a": "},{"}, {"b": "}, {\\"a\\":1}, {"}, {"c": "x}, {"}, {"d": "} ,\\n\\t{"}]',
    "nested-lists": '[[{"a": 1}, {"b": 2}], {"c": [{"d": 3}, {"e": [{"f": 4}, {"g": 5}]}]}, [[{"h": 6}, {"i": 7}]]]',
    "not-objects": '[1, "x", null, true, false, [], {}, [1, 2], 2.5, {"a": null}]',
    "empty": "[]",
    "empty-blanks": "[ \n\t\r ]",
    "blanks": '[\n  {"a": 1} ,\n\t{"b": 2}\r\n,{"c":3}  ,  \r\n  {"d": {"e": [ ]}}\n]',
    "duplicate-keys": '[{"a": 1, "b": 2, "a": 3}, {"x": {"y": 1, "y": [2]}}]',
    "records": "[" + ", ".join(_RECORD % (i, i) for i in range(40)) + "]",
    "one-big-record": '[{"id": "M1", "objet": "'
    + "x" * 5000
    + '", "l": ['
    + ", ".join(['{"k": "}, {"}'] * 200)
    + "]}]",
    "digits-in-strings": '[{"id": "12345678901234567890123"}, {"id": "-1234567890123456789012", "f": 1.12345678901234567890}]',
}


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 16, 61, 1 << 22])
@pytest.mark.parametrize("case", list(TRICKY), ids=list(TRICKY))
def test_the_values_are_ijsons_wherever_the_chunks_are_cut(tmp_path, monkeypatch, slow, case, chunk):
    monkeypatch.setattr(json_segment, "CHUNK", chunk)
    path = _file(tmp_path, TRICKY[case])
    values, _size = _by_segment(path)
    assert values == _by_ijson(path)
    if case == "largest-integers":
        assert slow, "integers of 19 digits are left to ijson"
    elif chunk == 1 << 22 or case in ("empty", "empty-blanks", "not-objects", "records", "numbers", "blanks"):
        assert slow == [], "read by orjson alone"


@pytest.mark.parametrize("chunk", [1, 7, 61, 1 << 22])
@pytest.mark.parametrize("case", list(TRICKY), ids=list(TRICKY))
def test_chunks_handed_unparsed_hold_the_same_values(tmp_path, monkeypatch, slow, case, chunk):
    """Proved by simdjson and parsed later by orjson, or parsed at once when an element is not an object
    carrying one of the keys asked for: the same values as ijson's, in the same order."""
    monkeypatch.setattr(json_segment, "CHUNK", chunk)
    path = _file(tmp_path, TRICKY[case])
    chunks: list = []
    values, _size = _by_segment(path, frozenset({"id", "a", "objet"}), chunks)
    assert values == _by_ijson(path)
    assert all(c.count == len(c.elements()) and c.data.startswith(b"[") for c in chunks)
    if case == "records":
        assert sum(c.count for c in chunks) == 40, "records carrying « id »: all handed unparsed"
    if case in ("not-objects", "nested-lists", "empty", "largest-integers"):
        assert chunks == [], "a chunk with an element that is not such an object is parsed"


def test_a_chunk_of_many_tiny_records_is_parsed_by_the_reader(tmp_path, monkeypatch):
    """More than ``RAW_MOST`` elements in a chunk (tiny records): parsed by the reader, never handed
    unparsed, so that a worker never holds more records than a shipment of parsed ones."""
    path = _file(tmp_path, TRICKY["records"])
    chunks: list = []
    monkeypatch.setattr(json_segment, "RAW_MOST", 39)
    values, _size = _by_segment(path, frozenset({"id"}), chunks)
    assert values == _by_ijson(path) and chunks == []
    monkeypatch.setattr(json_segment, "RAW_MOST", 40)
    values, _size = _by_segment(path, frozenset({"id"}), chunks)
    assert values == _by_ijson(path) and [c.count for c in chunks] == [40]


def test_a_boundary_is_found_even_when_the_last_candidates_are_inside_a_record(tmp_path, monkeypatch, slow):
    """Candidates inside nested lists and strings are refused by the parse; reading goes on by orjson."""
    parsed = []
    loads = json_segment._loads
    monkeypatch.setattr(json_segment, "_loads", lambda data: parsed.append(data) or loads(data))
    monkeypatch.setattr(json_segment, "CHUNK", 150)
    monkeypatch.setattr(json_segment, "ATTEMPTS", 1)
    path = _file(tmp_path, TRICKY["records"])
    values, _size = _by_segment(path)
    assert values == _by_ijson(path) and len(values) == 40
    assert slow == [], "never handed to ijson"
    assert any(b'"titulaire": {}}]}' in data[-20:] for data in parsed), "every parse ends a record"


def test_long_integers_are_left_to_ijson_from_the_boundary_before_them(tmp_path, monkeypatch, slow):
    """yajl overflows at 2**63 where orjson reads on (as a float from 2**64): ijson reads from the record
    that holds the integer, and then the whole file by the pure-Python backend, as before."""
    monkeypatch.setattr(json_segment, "CHUNK", 40)
    records = ", ".join(f'{{"n": {i}}}' for i in range(10))
    path = _file(tmp_path, f'[{records}, {{"big": -18446744073709551616}}, {{"n": 11}}]')
    with pytest.raises(ijson.JSONError):
        _by_segment(path)
    assert len(slow) == 1 and path.read_bytes()[slow[0] :].startswith(b'{"big"')
    records = [r.data for r in open_input(path).records]
    assert records[10] == {"big": -18446744073709551616} and records[11] == {"n": 11}


def _reading(path: Path):
    """What reading a file gives: each record (path, kind, data) and the findings, or the fatal error."""
    opened = open_input(path)
    try:
        records = [
            (r.path, r.kind, r.generation, repr(r.data), [f.message for f in r.findings]) for r in opened.records
        ]
    except InputError as exc:
        return ("error", str(exc), exc.line, exc.column, exc.offset, exc.records_read)
    return records, [f.message for f in opened.source.findings], opened.source.bytes_read


DEFECTS = {
    "syntax-error": ('"objet": "x"}', '"objet": }'),
    "invalid-utf8": ("r\u00e9seau", "r\u00e9seau\udce9"),
    "control-character": ("r\u00e9seau", "r\u00e9seau\u0001"),
    "form-feed": ('"objet": "x"}', '"objet": "x"\f}'),
    "trailing-comma": ('"objet": "fin"}]', '"objet": "fin"},]'),
    "big-integer": ('"objet": "x"}', '"objet": "x", "n": 123456789012345678901234567890}'),
    "two-to-the-63": ('"objet": "x"}', '"objet": "x", "n": 9223372036854775808}'),
    "truncated-list": ('"objet": "fin"}]', '"objet": "fin"}'),
    "list-then-key": ('"objet": "fin"}]', '"objet": "fin"}], "autre": [{"a": 1}, {"b": 2}]'),
    "huge-exponent": ('"objet": "x"}', '"objet": "x", "v": 1e400}'),
}


@pytest.mark.parametrize("chunk", [5, 300, 1 << 22])
@pytest.mark.parametrize("defect", list(DEFECTS), ids=list(DEFECTS))
def test_what_orjson_refuses_gives_the_records_findings_and_errors_of_ijson(tmp_path, monkeypatch, defect, chunk):
    """The same reading three ways: orjson then ijson; ijson alone on the list's bytes (the reading before
    orjson); the whole file once per list."""
    old, new = DEFECTS[defect]
    records = [_RECORD % (i, i) for i in range(12)]
    records[7] = '{"id": "M7", "acheteur": {"id": "21750001600019"}, "objet": "r\u00e9seau", "objet": "x"}'
    records.append('{"id": "M12", "acheteur": {"id": "21750001600019"}, "objet": "fin"}')
    text = f'{{"marches": {{"marche": [{", ".join(records)}], "contrat-concession": [{_C}]}}}}'
    assert old in text
    path = tmp_path / "f.json"
    path.write_bytes(text.replace(old, new, 1).encode("utf-8", "surrogateescape"))
    monkeypatch.setattr(json_segment, "CHUNK", chunk)
    fast = _reading(path)
    monkeypatch.setattr(json_segment, "_loads", lambda data: None)
    assert _reading(path) == fast, "as ijson alone reads the list's bytes"
    monkeypatch.setattr(json_reader, "_segments", lambda *a: {})
    whole = _reading(path)
    if fast[0] == "error":
        assert whole == fast
    else:
        assert whole[:2] == fast[:2], "as the whole file gives"


def test_a_generated_file_with_defects_reads_alike_by_orjson_and_by_ijson(tmp_path, monkeypatch, slow):
    path = tmp_path / "decp.json"
    generate(path, contracts=300, seed=5, concession_share=0.1, defect_rate=0.2)
    monkeypatch.setattr(json_segment, "CHUNK", 997)
    fast = _reading(path)
    assert slow == [] and len(fast[0]) == 300
    monkeypatch.setattr(json_segment, "_loads", lambda data: None)
    assert _reading(path) == fast


def test_progress_advances_while_a_list_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(json_segment, "CHUNK", 500)
    path = _file(tmp_path, TRICKY["records"])
    opened = open_input(path)
    seen = [opened.source.bytes_read for _ in opened.records]
    assert seen == sorted(seen) and 0 < seen[0] < seen[-1] == opened.source.work


def test_the_first_candidates_tried_are_those_before_a_records_first_key():
    buffer = (
        b'{"id": 1, "l": [{"a": 1}, {"b": 2}]}, {"id": 2, "l": [{"c": 3}, {"d": 4}]}, {"id": 3, "l": [{"e": 5}, {"f'
    )
    cuts = json_segment._candidates(buffer, 0, len(buffer))
    assert [buffer[resume : resume + 7] for _cut, resume in cuts] == [b'{"id": ', b'{"id": ', b'{"f']
    assert all(buffer[cut - 1 : cut] == b"}" for cut, _resume in cuts)


@pytest.mark.parametrize(
    ("text", "at"),
    [
        (b'{"a": 12345678901234567890}', 6),
        (b'{"a": -12345678901234567890}', 6),
        (b"[1234567890123456789]", 1),
        (b"1234567890123456789", 0),
        (b'{"a": "x:1234567890123456789"}', 9),  # maybe a number: only the parse could tell
        (b'{"a": "1234567890123456789", "b": 0.1234567890123456789, "c": 123456789012345678}', None),
    ],
)
def test_long_integers_are_found_where_a_number_may_start(text, at):
    assert json_segment._long_integer(text) == (len(text) if at is None else at)


def test_a_list_without_the_plain_key_and_bracket_is_read_by_ijson(tmp_path, slow):
    path = tmp_path / "f.json"
    path.write_text('{"marches": {"marche": [{"a": 1}], "contrat-concession": [{"b": 2}]}}')
    source = json_reader.prepare(path, path.name)
    start = path.read_bytes().index(b'"marche"')
    end = path.read_bytes().index(b"]") + 1
    # a key the list does not have: the head does not match, ijson reads the bytes as they are
    assert list(json_segment.values(source, start, end, "autre.item", 1 << 16)) == []
    assert slow == [start]


@pytest.mark.parametrize(
    ("values", "by_segments"),
    [
        ({"nature": "marche", "objet": "marches"}, {"marches.marche", "marches.contrat-concession"}),
        ({"objet": "contrat-concession"}, set()),  # before the concessions' key: its offset is the value's
    ],
    ids=["names-as-values-after-their-keys", "a-name-as-a-value-before-its-key"],
)
def test_a_list_name_written_as_a_value_keeps_the_lists_read_alike(tmp_path, monkeypatch, values, by_segments):
    """A value naming a list (``"nature": "marche"``, a real defect) is not a second list: each list is still
    read from its own bytes when the layout allows it, and the records are the whole file's either way."""
    record = '{"id": "M%d", "acheteur": {"id": "21750001600019"}, %s}'
    extra = ", ".join(f'"{k}": "{v}"' for k, v in values.items())
    path = _file(tmp_path, "[" + ", ".join(record % (i, extra) for i in range(30)) + "]")
    read: list[str] = []
    original = json_segment.values
    monkeypatch.setattr(json_segment, "values", lambda source, *a: read.append(a[2]) or original(source, *a))
    fast = _reading(path)
    assert {f"marches.{key.removesuffix('.item')}" for key in read} == by_segments
    monkeypatch.setattr(json_reader, "_segments", lambda *a: {})
    assert _reading(path)[:2] == fast[:2] and len(fast[0]) == 31
