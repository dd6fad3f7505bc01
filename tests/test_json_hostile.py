"""Hostile JSON inputs: every one a French finding or a French fatal error (exit 3), never a traceback.

Each input is written in tmp_path from the project's own valid fixture, with one defect.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from marches.cli import cli
from marches.errors import InputError
from marches.flatten import flatten
from marches.readers import json_reader, open_input
from tests.conftest import FIXTURES

VALID = (FIXTURES / "valid-2022.json").read_bytes()
OBJET = b"Entretien des espaces verts"  # in the fixture's first record


def _with(tmp_path: Path, name: str, old: bytes, new: bytes) -> Path:
    assert old in VALID
    path = tmp_path / name
    path.write_bytes(VALID.replace(old, new, 1))
    return path


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


def _read(path: Path):
    opened = open_input(path)
    return opened.source, [flatten(raw) for raw in opened.records]


# -- T1: every kind of invalid UTF-8 ---------------------------------------------------------------------

INVALID_UTF8 = {
    "overlong-slash": b"\xc0\xaf",  # « / » written on two bytes
    "overlong-three-bytes": b"\xe0\x80\xaf",
    "encoded-surrogate": b"\xed\xa0\x80",  # U+D800 encoded as if it were a character
    "beyond-u10ffff": b"\xf4\x90\x80\x80",
    "lead-byte-f5": b"\xf5\x80\x80\x80",
    "latin1-e-acute": b"\xe9",
}


@pytest.mark.parametrize("command", ["validate", "convert"])
@pytest.mark.parametrize("bad", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
def test_any_invalid_utf8_is_a_french_encoding_error_with_its_byte(tmp_path, bad, command):
    path = _with(tmp_path, "bad.json", OBJET, OBJET + bad)
    offset = VALID.index(OBJET) + len(OBJET)
    args = [command, str(path)] + (["-o", str(tmp_path / "out")] if command == "convert" else [])
    result = _run(*args)
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    assert "encodage invalide : le fichier n'est pas en UTF-8" in result.stderr
    assert f"octet {offset})" in result.stderr  # exact, not « vers octet »
    assert f"{bad[0]:02X}" in result.stderr


def test_invalid_utf8_in_a_large_file_is_located_exactly(tmp_path, monkeypatch):
    """Beyond the size where a syntax error is located by re-reading in memory, the encoding error still is."""
    from marches.readers import json_reader

    monkeypatch.setattr(json_reader, "EXACT_LOCATION_LIMIT", 0)
    monkeypatch.setattr(json_reader, "SURVEY_LIMIT", 0)
    path = _with(tmp_path, "bad.json", OBJET, OBJET + b"\xed\xa0\x80")
    with pytest.raises(InputError) as err:
        _read(path)
    assert err.value.offset == VALID.index(OBJET) + len(OBJET) and not err.value.approximate


def test_a_file_cut_inside_a_character_is_said_truncated(tmp_path):
    text = VALID[: VALID.index(OBJET)] + "é".encode()[:1]
    path = tmp_path / "cut.json"
    path.write_bytes(text)
    with pytest.raises(InputError) as err:
        _read(path)
    assert "tronqué" in err.value.problem and "pas en UTF-8" not in err.value.problem
    assert err.value.offset == len(text) - 1


def test_two_byte_order_marks_are_said_in_french(tmp_path):
    path = tmp_path / "bom2.json"
    path.write_bytes(b"\xef\xbb\xbf\xef\xbb\xbf" + VALID)
    result = _run("validate", str(path))
    assert result.exit_code == 3
    assert "deuxième marque d'ordre d'octets (BOM UTF-8)" in result.stderr and "Unexpected" not in result.stderr


# -- T2: numbers no reader can hold ------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "convert", "package"])
def test_an_integer_of_100_000_digits_is_a_finding_and_kept(tmp_path, command):
    digits = "7" * 100_000
    path = _with(tmp_path, "long.json", b'"montant": 85000', f'"montant": {digits}'.encode())
    out = tmp_path / "out"
    args = [command, str(path), "--format", "json"] if command == "validate" else [command, str(path), "-o", str(out)]
    result = _run(*args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1), result.output[-2000:]
    if command == "validate":
        report = json.loads(result.stdout)
        assert [f["code"] for f in report["findings"]] == ["nan-literal"]
        assert report["findings"][0]["value"] == digits  # the published digits, all of them
    else:
        tables = "".join(p.read_text(encoding="utf-8") for p in out.glob("*.csv"))
        assert digits in tables  # kept as published (original_values)


def test_long_integers_below_the_limit_are_still_numbers(tmp_path):
    """1 000 digits: a Python integer (not a literal), whether the file has other literals or not."""
    digits = "9" * 1000
    for extra in (b"", b', "dureeMois": NaN'):
        path = _with(tmp_path, "thousand.json", b'"montant": 85000', f'"montant": {digits}'.encode() + extra)
        _, records = _read(path)
        assert records[0].rows["marches"][0]["montant"] == int(digits)


# -- T5: pipes are read once ------------------------------------------------------------------------------


def test_standard_input_is_read_with_a_dash(tmp_path):
    result = CliRunner().invoke(cli, ["validate", "-", "--format", "json"], input=VALID)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["sources"][0]["file"] == "-" and report["summary"]["records"] == {"marche": 1}


def test_a_named_pipe_is_read_once_and_its_copy_removed(tmp_path):
    import os
    import subprocess
    import sys
    import tempfile
    import threading

    fifo = tmp_path / "tube.json"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_bytes, args=(VALID,), daemon=True)
    writer.start()
    before = set(Path(tempfile.gettempdir()).glob("marches-entree-*"))
    result = subprocess.run(
        [sys.executable, "-m", "marches.cli", "convert", str(fifo), "-o", str(tmp_path / "out"), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    writer.join(5)
    assert result.returncode == 0, result.stderr
    marches = (tmp_path / "out" / "marches.csv").read_text(encoding="utf-8")
    assert marches.count("\n") == 2 and ",tube.json," in marches  # provenance: the pipe's own name
    assert set(Path(tempfile.gettempdir()).glob("marches-entree-*")) == before


def test_a_device_is_refused_in_french():
    result = _run("validate", "/dev/zero")
    assert result.exit_code == 3 and "c'est un périphérique, pas un fichier" in result.stderr


# -- T4: the report stays a whole document when an input is unreadable -----------------------------------


@pytest.mark.parametrize("fmt", ["json", "csv", "github", "text", "html"])
def test_an_unreadable_input_leaves_whole_reports_in_every_format(tmp_path, fmt):
    good = tmp_path / "bon.json"
    good.write_bytes(VALID)
    broken = tmp_path / "casse.json"
    broken.write_bytes(VALID[: len(VALID) // 2])
    report, also = tmp_path / f"rapport.{fmt}", tmp_path / "rapport-complet.json"
    result = _run("validate", str(good), str(broken), "--format", fmt, "-o", str(report), "--json-report", str(also))
    assert result.exit_code == 3 and "casse.json : JSON invalide" in result.stderr
    full = json.loads(also.read_text(encoding="utf-8"))
    assert [f["code"] for f in full["findings"]][-1] == "unreadable"
    assert full["findings"][-1]["file"].endswith("casse.json") and "JSON invalide" in full["findings"][-1]["message"]
    assert full["summary"]["valid"] is False and full["summary"]["records"] == {"marche": 1}
    text = report.read_text(encoding="utf-8")
    if fmt == "json":
        assert json.loads(text)["findings"] == full["findings"]
    elif fmt == "csv":
        rows = text.lstrip("\ufeff").splitlines()
        assert rows[-1].startswith("unreadable;error;") and "casse.json" in rows[-1]
    elif fmt == "github":
        assert "::error file=" in text and "title=unreadable::" in text and text.endswith("\n")
    elif fmt == "html":
        assert "Fichier illisible" in text and text.rstrip().endswith("</html>")
    else:
        assert "unreadable — Fichier illisible : 1" in text and "NON CONFORME" in text.splitlines()[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["bon.json", "casse.json", report.name, also.name])


def test_an_unreadable_input_leaves_a_whole_json_report_on_stdout(tmp_path):
    path = tmp_path / "null.json"
    path.write_text("null")
    result = _run("validate", str(path), "--format", "json")
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert [f["code"] for f in report["findings"]] == ["unreadable"]


# -- W10: a list of records repeated under the same key -----------------------------------------------------


def _record(**changes) -> dict:
    record = json.loads(VALID)["marches"]["marche"][0]
    record.update(changes)
    return record


def _pairs(*pairs: tuple[str, str]) -> str:
    """A JSON object with the keys in this order, repeated keys included (values already JSON text)."""
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs) + "}"


@pytest.mark.parametrize("large", [False, True], ids=["surveyed", "large-file"])
def test_a_repeated_list_of_records_is_an_error_and_its_records_are_located(tmp_path, monkeypatch, large):
    if large:  # files beyond SURVEY_LIMIT are surveyed when the pre-scan sees a container key twice
        from marches.readers import json_reader

        monkeypatch.setattr(json_reader, "SURVEY_LIMIT", 0)
    first, second = _record(id="A-1"), _record(id="B-1")
    second_b = _record(id="B-2", montant="x")
    inner = _pairs(("marche", json.dumps([first])), ("marche", json.dumps([second, second_b])))
    path = tmp_path / "deux-listes.json"
    path.write_text(_pairs(("marches", inner)))
    source, records = _read(path)
    assert [r.rows["marches"][0]["id"] for r in records] == ["A-1", "B-1", "B-2"]  # nothing lost
    repeated = [f for f in source.findings if f.code == "duplicate-key"]
    assert len(repeated) == 1 and repeated[0].severity == "error" and repeated[0].path == "marches.marche"
    assert "1 contrat puis 2 contrats" in repeated[0].message
    wrong = [f for r in records for f in r.findings if f.code != "duplicate-key" and "montant" in (f.path or "")]
    assert wrong and all(f.path.startswith("marches.marche#2[1]") for f in wrong), [f.path for f in wrong]


def test_marches_twice_at_the_top_is_an_error(tmp_path):
    path = tmp_path / "deux-marches.json"
    path.write_text(_pairs(("marches", json.dumps([_record(id="A-1")])), ("marches", json.dumps([_record(id="B-1")]))))
    result = _run("validate", str(path), "--format", "json")
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    assert [(f["code"], f["path"]) for f in findings if f["code"] == "duplicate-key"] == [("duplicate-key", "marches")]


def test_a_repeated_key_inside_a_record_of_the_second_list_is_located_there(tmp_path):
    twice = _pairs(*[(k, json.dumps(v)) for k, v in _record(id="B-1").items()], ("montant", "12"))
    inner = _pairs(("marche", json.dumps([_record(id="A-1")])), ("marche", f"[{twice}]"))
    path = tmp_path / "cle-repetee.json"
    path.write_text(_pairs(("marches", inner)))
    source, records = _read(path)
    found = [(r.rows["marches"][0]["id"], f.path) for r in records for f in r.findings if f.code == "duplicate-key"]
    assert found == [("B-1", "marches.marche#2[0].montant")]
    assert [f.path for f in source.findings if f.code == "duplicate-key"] == ["marches.marche"]


# -- M3: a bare top-level list ------------------------------------------------------------------------------


def test_a_bare_list_of_records_gets_one_file_shape_finding_and_no_ignored_key(tmp_path):
    path = tmp_path / "liste.json"
    path.write_text(json.dumps([_record(id="A-1"), _record(id="A-2")]))
    source, records = _read(path)
    assert len(records) == 2
    assert [f.code for f in source.findings] == ["file-shape"]


# -- M6: the right diagnosis ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "said"), [("null", "null"), ("42", "un nombre"), ('"marches"', "du texte")])
def test_a_lone_json_value_is_said_to_be_one(tmp_path, text, said):
    path = tmp_path / "seul.json"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        _read(path)
    assert f"le document JSON est {said} seul, pas un objet" in err.value.problem


@pytest.mark.parametrize("encoding", ["utf-16-be", "utf-16-le", "utf-32-le"])
def test_json_in_utf16_or_utf32_without_bom_is_named(tmp_path, encoding):
    path = tmp_path / "large.json"
    path.write_bytes(VALID.decode().encode(encoding))
    result = _run("validate", str(path))
    assert result.exit_code == 3 and "JSON en UTF-16 ou UTF-32 sans marque d'ordre d'octets" in result.stderr


def test_a_folder_of_json_and_xml_files_is_read_file_by_file(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "b.json").write_bytes(VALID.replace(b'"id": "2024-', b'"id": "2025-'))
    (folder / "a.json").write_bytes(VALID)
    (folder / "notes.txt").write_text("pas un export")
    (folder / "c.xml").write_bytes((FIXTURES / "modification-actes-xsd-spelling.xml").read_bytes())
    (folder / "2025").mkdir()  # a sub-folder is read too (a defective file there must not go unseen)
    (folder / "2025" / "d.json").write_bytes(VALID.replace(b'"id": "2024-', b'"id": "2023-'))
    (folder / ".git").mkdir()
    (folder / ".git" / "x.json").write_text("pas un export")
    result = _run("validate", str(folder), "--format", "json")
    assert result.exit_code in (0, 1), result.output
    sources = json.loads(result.stdout)["sources"]
    assert [Path(s["file"]).name for s in sources] == ["d.json", "a.json", "b.json", "c.xml"]
    empty = tmp_path / "vide"
    empty.mkdir()
    refused = _run("validate", str(empty))
    assert refused.exit_code == 3 and "ni fichiers .json ou .xml, ni tables CSV de marches" in refused.stderr


# -- M10: what is quoted in messages stays readable -----------------------------------------------------------


def test_a_huge_unknown_key_is_shortened_in_the_message_and_the_path(tmp_path):
    key = "k" * 300_000
    path = _with(tmp_path, "cle.json", b'"montant": 85000', f'"montant": 85000, "{key}": 1'.encode())
    result = _run("validate", str(path), "--format", "json")
    report = json.loads(result.stdout)
    unknown = [f for f in report["findings"] if f["code"] == "unknown-field"]
    assert len(unknown) == 1
    assert len(unknown[0]["message"]) < 1000 and "(300\u202f000 caractères)" in unknown[0]["message"]
    assert len(unknown[0]["path"]) < 1000 and unknown[0]["path"].startswith("marches.marche[0].kkk")
    assert len(result.stdout) < 20_000


def test_shortened_keeps_both_ends_and_says_the_length():
    from marches.french import shortened

    assert shortened("abc") == "abc"
    cut = shortened("a" * 150 + "b" * 150)
    assert cut.startswith("a" * 100 + " […] ") and cut.endswith("b" * 100 + " (300 caractères)")


# -- T6: one value longer than the limit (memory bounded whatever the input) ------------------------------


@pytest.fixture
def small_limit(monkeypatch):
    """A 1 000-byte limit, read in 64-byte chunks: every edge case of the scan on a small file."""
    from marches.readers import base

    monkeypatch.setattr(base, "MAX_VALUE_BYTES", 1000)
    monkeypatch.setattr(base, "HASH_CHUNK", 64)
    return 1000


QUOTED_OBJET = b'"' + OBJET + b'"'
OBJET_PATH = "« marches.marche[0].objet », un texte"
TOO_LONG = {  # name: (what is replaced, by what, where the long value starts, what the message says of it)
    "text": (QUOTED_OBJET, b'"' + b"a" * 1500 + b'"', b'"aaa', f"{OBJET_PATH} de 1\u202f500 octets"),
    "accents": (QUOTED_OBJET, b'"' + "é".encode() * 600 + b'"', b'"\xc3', f"{OBJET_PATH} de 1\u202f200 octets"),
    "escaped-quotes": (QUOTED_OBJET, b'"' + b'\\"' * 600 + b'"', b'"\\"', f"{OBJET_PATH} de 1\u202f200 octets"),
    "backslash-runs": (QUOTED_OBJET, b'"' + b"\\\\\\\\x" * 300 + b'"', b'"\\', f"{OBJET_PATH} de 1\u202f500 octets"),
    "key": (b'"montant": 85000', b'"montant": 85000, "' + b"k" * 1001 + b'": 1', b'"kkk',
            "une clé de 1\u202f001 octets dans « marches.marche[0] »"),
    "number": (b'"montant": 85000', b'"montant": ' + b"9" * 1200, b"999",
               "« marches.marche[0].montant », un nombre de 1\u202f200 octets"),
}  # fmt: skip


@pytest.mark.parametrize(("old", "new", "start", "said"), TOO_LONG.values(), ids=TOO_LONG.keys())
def test_a_value_beyond_the_limit_is_refused_before_it_is_read(tmp_path, small_limit, old, new, start, said):
    path = _with(tmp_path, "long.json", old, new)
    with pytest.raises(InputError) as err:
        open_input(path)  # refused by the first pass over the bytes, before any record is parsed
    assert said in err.value.problem
    assert "dépasse la limite de 1\u202f000 octets par valeur" in err.value.problem
    assert err.value.offset == path.read_bytes().index(start) and err.value.records_read == 0
    result = _run("validate", str(path))
    assert result.exit_code == 3 and said in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize(("length", "refused"), [(1000, False), (1001, True)], ids=["at-limit", "one-byte-more"])
def test_the_limit_itself_is_allowed(tmp_path, small_limit, length, refused):
    path = _with(tmp_path, "long.json", QUOTED_OBJET, b'"' + b"a" * length + b'"')
    result = _run("validate", str(path))
    assert (result.exit_code == 3) is refused, result.output


def test_a_file_cut_inside_a_long_text_says_at_least(tmp_path, small_limit):
    path = tmp_path / "cut.json"
    path.write_bytes(VALID[: VALID.index(QUOTED_OBJET)] + b'"' + b"a" * 1300)
    with pytest.raises(InputError) as err:
        open_input(path)
    assert f"{OBJET_PATH} d'au moins 1\u202f300 octets" in err.value.problem


def test_a_value_after_a_syntax_error_is_located_by_its_offset(tmp_path, small_limit):
    path = _with(tmp_path, "long.json", QUOTED_OBJET, b'nul, "suite": "' + b"a" * 1500 + b'"')  # no path
    with pytest.raises(InputError) as err:
        open_input(path)
    assert err.value.problem.startswith("valeur trop longue : un texte de 1\u202f500 octets dépasse la limite")
    assert err.value.offset == path.read_bytes().index(b'"aaa')


def _encoded(value, ascii_only: bool) -> int:
    """The bytes a value takes in the file, quotes aside."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    return len(text.encode()) - (2 if isinstance(value, str) else 0)


def test_the_scan_measures_every_value_as_a_parser_would(tmp_path, monkeypatch):
    """Random documents of texts full of escapes and numbers, random chunk sizes: refused exactly when a
    value (or a key) is longer than the limit, and the scan always ends outside any string at depth 0."""
    import random

    from marches.readers import base

    rng = random.Random(10)
    pieces = ["a", "1", "é", "\\", '"', "\n", "/", "\\\\", '\\"', "{", "]", "\u2028"]
    path = tmp_path / "random.json"
    for _ in range(400):
        limit = rng.randint(3, 40)
        monkeypatch.setattr(base, "MAX_VALUE_BYTES", limit)
        monkeypatch.setattr(base, "HASH_CHUNK", rng.randint(1, 50))
        values = [
            int("9" * rng.randint(1, 60)) if rng.random() < 0.3 else "".join(rng.choices(pieces, k=rng.randint(0, 25)))
            for _ in range(rng.randint(1, 5))
        ]
        keys = ["k" + "\\" * rng.randint(0, 12) for _ in values]
        records = [{"objet": v, k: [v, {"x": v}]} for k, v in zip(keys, values, strict=True)]
        ascii_only = rng.random() < 0.5
        path.write_text(json.dumps({"marches": {"marche": records}}, ensure_ascii=ascii_only), encoding="utf-8")
        longest = max(_encoded(v, ascii_only) for v in [*values, *keys])
        try:
            source = open_input(path).source
        except InputError as err:
            assert longest > limit, err
            assert "valeur trop longue" in err.problem
        else:
            assert longest <= limit
            assert not source.scan.in_string and source.scan.depth == 0


def test_escapes_in_texts_do_not_hide_a_deep_nesting(tmp_path):
    """The first pass tells strings from structure across escapes (« \\n » before a closing quote), so a
    deep file is refused before its records are built."""
    from marches.readers.json_reader import MAX_DEPTH

    deep = b'"x": ' + b"[" * 100 + b"]" * 100
    path = _with(tmp_path, "deep.json", QUOTED_OBJET, b'"ligne\\nsuite", ' + deep)
    source = open_input(path).source
    assert source.scan.bound > MAX_DEPTH and not source.scan.in_string


def test_xml_says_the_same_sentence_for_a_text_beyond_the_limit(tmp_path):
    from marches.readers.base import MAX_VALUE_BYTES, value_too_long

    path = tmp_path / "long.xml"
    text = b"a" * (MAX_VALUE_BYTES + 1)
    path.write_bytes(b"<marches><marche><id>1</id><objet>" + text + b"</objet></marche></marches>")
    result = _run("validate", str(path))
    assert result.exit_code == 3, result.output
    assert value_too_long("un texte ou un attribut") in result.stderr and "XML_PARSE_HUGE" not in result.stderr


def test_the_limits_are_those_the_readme_states():
    import re

    from marches.readers.base import MAX_VALUE_BYTES
    from marches.readers.json_reader import MAX_DEPTH

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    limits = " ".join(readme[readme.index("**Limites") :].split("\n\n")[0].split())
    stated = re.search(r"de plus de ([\d\u202f ]+) octets", limits)
    assert stated and int(re.sub(r"\D", "", stated.group(1))) == MAX_VALUE_BYTES
    depth = re.search(r"sur plus de (\d+) niveaux", limits)
    assert depth and int(depth.group(1)) == MAX_DEPTH


def test_a_path_of_long_keys_is_shortened_in_the_message(tmp_path, small_limit):
    nested = b'{"' + b"k" * 900 + b'": {"' + b"j" * 900 + b'": {"' + b"i" * 900 + b'": "' + b"a" * 1500 + b'"}}}'
    path = _with(tmp_path, "long.json", QUOTED_OBJET, nested)
    with pytest.raises(InputError) as err:
        open_input(path)
    assert len(err.value.problem) < 2000 and "(900 caractères)" in err.value.problem
    assert "un texte de 1\u202f500 octets" in err.value.problem


# -- each list parsed from its own bytes (the 2022 shape with both lists) ------------------------------

_M = '{"id": "M1", "acheteur": {"id": "21750001600019"}, "objet": "une concession"}'
_C = '{"id": "C1", "autoriteConcedante": {"id": "21750001600019"}}'
SEGMENT_LAYOUTS = {
    "plain": f'{{"marches": {{"marche": [{_M}, {_M}], "contrat-concession": [{_C}]}}}}',
    "pretty": f'{{\n  "marches" : {{\n    "marche" : [\n{_M}\n ] ,\n  "contrat-concession":[{_C}]\n  }}\n}}\n',
    "concessions-first": f'{{"marches": {{"contrat-concession": [{_C}], "marche": [{_M}]}}}}',
    "key-between": f'{{"marches": {{"marche": [{_M}], "autre": [1], "contrat-concession": [{_C}]}}}}',
    "key-after": f'{{"marches": {{"marche": [{_M}], "contrat-concession": [{_C}]}}, "x": [2]}}',
    "schema-first": f'{{"$schema": "s", "marches": {{"marche": [{_M}], "contrat-concession": [{_C}]}}}}',
    "nested-key": f'{{"marches": {{"marche": [{{"x": {{"contrat-concession": [{_C}]}}}}, {_M}]}}}}',
    "broken-marche": f'{{"marches": {{"marche": [{_M}, {{"id": }}], "contrat-concession": [{_C}]}}}}',
    "broken-concession": f'{{"marches": {{"marche": [{_M}], "contrat-concession": [{_C}, ]}}}}',
    "truncated": f'{{"marches": {{"marche": [{_M}], "contrat-concession": [{_C}]',
    "needle-in-value": f'{{"marches": {{"marche": [{{"objet": "contrat-concession"}}], "contrat-concession": [{_C}]}}}}',
    "nan": f'{{"marches": {{"marche": [{_M}], "contrat-concession": [{{"valeurGlobale": NaN}}]}}}}',
}


def _reading(path: Path):
    """What reading a file gives: each record (path, kind, data) and the findings, or the fatal error."""
    opened = open_input(path)
    try:
        records = [(r.path, r.kind, r.generation, r.data, [f.message for f in r.findings]) for r in opened.records]
    except InputError as exc:
        return ("error", str(exc), exc.line, exc.offset, exc.records_read)
    return records, [f.message for f in opened.source.findings]


@pytest.mark.parametrize("layout", list(SEGMENT_LAYOUTS), ids=list(SEGMENT_LAYOUTS))
def test_lists_read_from_their_own_bytes_as_from_the_whole_file(tmp_path, monkeypatch, layout):
    """Parsing each list of the 2022 shape from its own bytes gives the records, findings and errors of
    reading the whole file once per list, whatever the layout."""
    path = tmp_path / "f.json"
    path.write_text(SEGMENT_LAYOUTS[layout], encoding="utf-8")
    fast = _reading(path)
    used = {}
    original = json_reader._segments
    monkeypatch.setattr(json_reader, "_segments", lambda *a: used.setdefault("segments", original(*a)))
    assert _reading(path) == fast
    monkeypatch.setattr(json_reader, "_segments", lambda *a: {})
    assert _reading(path) == fast
    if layout in ("plain", "pretty", "concessions-first", "key-between"):
        assert used["segments"], "the plain layouts are read list by list"
    if layout in ("key-after", "nested-key", "truncated", "needle-in-value", "nan"):
        assert not used.get("segments")


def test_a_large_file_whose_values_name_a_list_or_a_buyer_is_read_without_the_structural_pass(tmp_path, monkeypatch):
    """« "nature": "marche" » (a real defect) or an objet that is just « acheteur » count as the quoted
    names the hashing pass looks for; only keys may send a large file through the Python survey."""
    monkeypatch.setattr(json_reader, "SURVEY_LIMIT", 0)
    surveyed = []
    survey = json_reader._survey
    monkeypatch.setattr(json_reader, "_survey", lambda *a: surveyed.append(a) or survey(*a))
    first, second = _record(id="A-1", nature="marche"), _record(id="B-1", objet="acheteur")
    path = tmp_path / "valeurs.json"
    path.write_text(_pairs(("marches", _pairs(("marche", json.dumps([first, second]))))))
    source, records = _read(path)
    assert [r.rows["marches"][0]["id"] for r in records] == ["A-1", "B-1"]
    assert surveyed == [], "values are not keys: no structural pass"
    repeated = _pairs(("marches", _pairs(("marche", json.dumps([first])), ("marche", json.dumps([second])))))
    path.write_text(repeated)
    source, records = _read(path)
    assert len(surveyed) == 1 and [f.code for f in source.findings].count("duplicate-key") == 1


def test_key_counts_see_keys_only_across_chunk_edges(tmp_path, monkeypatch):
    from marches.readers import base

    text = b'{"marches" :\n\t{"marche"\n: [{"nature": "marche", "objet": "le \\"marche\\": x"}], "x": {"marche": 1}}}'
    path = tmp_path / "cles.json"
    path.write_bytes(text)
    source = json_reader.prepare(path, "cles.json")
    expected = {b'"marches"': 1, b'"marche"': 2, b'"contrat-concession"': 0}
    assert json_reader._key_counts(source, 0, json_reader.CONTAINER_NEEDLES) == expected
    monkeypatch.setattr(base, "HASH_CHUNK", 7)
    monkeypatch.setattr(json_reader, "_KEY_TAIL", 12)
    assert json_reader._key_counts(source, 0, json_reader.CONTAINER_NEEDLES) == expected
