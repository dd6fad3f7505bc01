"""Whatever the bytes, marches answers: records with findings, or a clear French error (exit 3).

Seeded mutations of small valid files — truncations, byte flips, hostile tokens (deep nesting,
numbers JSON cannot hold, integers beyond 64 bits, lone surrogates, control characters, DTDs),
other encodings — are read by `validate` and `convert`: each run ends with a report or an
InputError whose message is French and located, never another exception.
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
from datetime import date

import pytest

from marches.convert import convert
from marches.errors import InputError
from marches.generate import generate
from marches.report import Report
from marches.rules import Config
from marches.validate import validate

CONFIG = Config(as_of=date(2026, 11, 30))
JSON_TOKENS = [
    b"null",
    b"1e400",
    b"-1e400",
    b"NaN",
    b"-Infinity",
    b'"\\ud800"',
    b'"\\udfff\\ud800"',
    b"123456789012345678901234567890",
    b"[" * 3000,
    b'{"a":' * 3000,
    b"[[[]]]",
    b'"' + "é".encode() * 20000 + b'"',
    b"\x00",
    b"\xff\xfe",
    b'"\x0b"',
    b"{}",
    b"true",
    b'""',
]
XML_TOKENS = [
    b"\x0b",
    b"&#1;",
    b"&#x1F;",
    b"<!DOCTYPE x>",
    b'<!ENTITY e "x">',
    b"&e;",
    b"<![CDATA[<!DOCTYPE x>]]>",
    b"<b>gras</b>",
    b"<autre/>",
    b"</marche>",
    b"&",
    b"<",
    b"\xff",
    b"<" * 2000,
]


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, bytes]:
    directory = tmp_path_factory.mktemp("fuzz-bases")
    out = {}
    for fmt, suffix in (("json-2022", "json"), ("json-2019", "json"), ("xml-2022", "xml")):
        path = directory / f"base.{suffix}"
        generate(path, fmt, contracts=6, seed=3, concession_share=0.3)
        out[fmt] = path.read_bytes()
    return out


def _mutations(rng: random.Random, data: bytes, tokens: list[bytes]) -> list[tuple[str, bytes]]:
    out = []
    for _ in range(12):
        cut = rng.randrange(1, len(data))
        out.append((f"truncated-{cut}", data[:cut]))
    for _ in range(12):
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        out.append(("byte-flip", bytes(flipped)))
    for token in tokens:
        at = rng.randrange(len(data))
        out.append((f"token-{token[:12]!r}", data[:at] + token + data[at:]))
        # in place of a value, where one starts
        value_at = data.find(b": ", rng.randrange(len(data))) if tokens is JSON_TOKENS else data.find(b"<objet>")
        if value_at > 0:
            offset = value_at + (2 if tokens is JSON_TOKENS else 7)
            out.append((f"value-{token[:12]!r}", data[:offset] + token + data[offset:]))
    text = data.decode("utf-8")
    for encoding in ("latin-1", "utf-16", "utf-16-be", "utf-32", "cp1252"):
        out.append((f"encoding-{encoding}", text.encode(encoding, "replace")))
    out.append(("bom", b"\xef\xbb\xbf" + data))
    out.append(("empty-ish", b" \n"))
    return out


def _cases(bases) -> list:
    rng = random.Random(20261201)
    cases = []
    for fmt, data in bases.items():
        tokens = XML_TOKENS if fmt.startswith("xml") else JSON_TOKENS
        cases += [(fmt, name, blob) for name, blob in _mutations(rng, data, tokens)]
    return cases


def test_every_mutated_input_gets_a_report_or_a_french_error(bases, tmp_path):
    outcomes = {"report": 0, "error": 0}
    for i, (fmt, name, blob) in enumerate(_cases(bases)):
        path = tmp_path / f"{i}-{fmt}.{'xml' if fmt.startswith('xml') else 'json'}"
        path.write_bytes(blob)
        for run in ("validate", "convert"):
            try:
                if run == "validate":
                    validate([path], CONFIG, None, Report(sink=lambda f: None))
                else:
                    convert([path], tmp_path / f"out-{i}")
                outcomes["report"] += 1
            except InputError as err:
                outcomes["error"] += 1
                message = str(err)
                assert path.name in message, (fmt, name, run, message)
                assert not any(word in message for word in ("Traceback", "Error:", "expected", "invalid token")), (
                    fmt,
                    name,
                    run,
                    message,
                )
            except Exception as exc:  # pragma: no cover - the failure is the point
                pytest.fail(f"{fmt} / {name} / {run}: {type(exc).__name__}: {exc}")
    assert outcomes["report"] > 40 and outcomes["error"] > 100, outcomes  # both paths exercised


def test_deep_nesting_is_refused_in_bounded_memory(tmp_path):
    """200 KB of nested lists took the process past 4 GB: it is now refused before the records are built."""
    path = tmp_path / "deep.json"
    path.write_text('{"marches": {"marche": [' + "[" * 100_000 + "]" * 100_000 + "]}}")
    script = (
        "import resource, sys\n"
        "from marches.readers import open_input\n"
        "from marches.errors import InputError\n"
        "try:\n"
        f"    list(open_input({str(path)!r}).records)\n"
        "except InputError as err:\n"
        "    print(err)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    message, peak_kb = result.stdout.strip().rsplit("\n", 1)
    assert "imbrication trop profonde" in message
    assert int(peak_kb) < 1_000_000, f"{int(peak_kb) // 1024} Mo"  # a safety bound, not a speed target
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 1_000_000


def test_values_json_cannot_hold_are_reported_and_kept(tmp_path):
    record = json.loads(json.dumps(_base_2022()))
    text = json.dumps({"marches": {"marche": [record, {**record, "id": "2025-0102"}]}})
    text = text.replace('"montant": 85000', '"montant": 1e400', 1).replace('"montant": 85000', '"montant": -1e400', 1)
    path = tmp_path / "literals.json"
    path.write_text(text)
    found = []
    validate([path], CONFIG, None, Report(sink=found.append))
    literals = [(f.code, f.path, f.value) for f in found if f.code == "nan-literal"]
    assert literals == [
        ("nan-literal", "marches.marche[0].montant", "1e400"),
        ("nan-literal", "marches.marche[1].montant", "-1e400"),
    ]


def _base_2022() -> dict:
    from tests.test_verdicts import MARCHE_2022

    return MARCHE_2022
