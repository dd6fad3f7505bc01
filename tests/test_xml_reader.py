"""The XML reader: what the format forbids is an error on its place, the text is still read (issue 9)."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from click.testing import CliRunner

from marches.cli import cli
from marches.errors import InputError
from marches.flatten import flatten
from marches.readers import open_input
from tests.conftest import FIXTURES

RECORD = (FIXTURES / "modification-actes-xsd-spelling.xml").read_text(encoding="utf-8")
BODY = RECORD.split("\n", 1)[1]  # without the XML declaration
XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'


def _write(tmp_path: Path, data: bytes | str, name: str = "f.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _read(path: Path):
    opened = open_input(path)
    records = [flatten(raw) for raw in opened.records]
    return opened.source, records


def _errors(source, records) -> list:
    return [f for f in [*source.findings, *(f for r in records for f in r.findings)] if f.severity == "error"]


# -- a declared encoding the bytes contradict ---------------------------------------------------------------


def _declared(declaration: str | None, text: str = BODY) -> str:
    return (f'<?xml version="1.0" encoding="{declaration}"?>\n' if declaration else "") + text


CONTRADICTIONS = [
    pytest.param("ISO-8859-1", "utf-8", id="declared-latin1-written-utf8"),
    pytest.param("windows-1252", "utf-8", id="declared-cp1252-written-utf8"),
    pytest.param("US-ASCII", "utf-8", id="declared-ascii-written-utf8"),
    pytest.param("UTF-8", "cp1252", id="declared-utf8-written-cp1252"),
    pytest.param(None, "cp1252", id="undeclared-written-cp1252"),
    pytest.param("UTF-16", "utf-8", id="declared-utf16-written-utf8"),
    pytest.param("UTF-16LE", "utf-16-be", id="declared-utf16le-written-utf16be"),
]


@pytest.mark.parametrize(("declaration", "encoding"), CONTRADICTIONS)
def test_a_declaration_the_bytes_contradict_is_one_error_and_the_text_is_read_right(tmp_path, declaration, encoding):
    source, (record,) = _read(_write(tmp_path, _declared(declaration).encode(encoding)))
    assert [(f.code, f.severity) for f in _errors(source, [record])] == [("encoding-mismatch", "error")]
    (finding,) = source.findings
    assert "marches le lit en" in finding.message and (
        "Enregistrez" in finding.message or "Corrigez" in finding.message
    )
    root = record.rows["marches"][0]
    assert (root["procedure"], root["nature"]) == ("Procédure adaptée", "Marché")


@pytest.mark.parametrize(
    ("declaration", "encoding"),
    [("ISO-8859-1", "latin-1"), ("windows-1252", "cp1252"), ("UTF-8", "utf-8"), (None, "utf-8"), ("UTF-16", "utf-16")],
    ids=str,
)
def test_a_declaration_the_bytes_follow_gives_no_finding(tmp_path, declaration, encoding):
    source, (record,) = _read(_write(tmp_path, _declared(declaration).encode(encoding)))
    assert not source.findings and record.rows["marches"][0]["procedure"] == "Procédure adaptée"


def test_the_verdict_of_a_file_in_the_wrong_encoding_is_non_conforme(tmp_path):
    path = _write(tmp_path, _declared("ISO-8859-1").encode("utf-8"))
    result = CliRunner().invoke(cli, ["validate", "--quiet", str(path)])
    assert result.exit_code == 1 and "NON CONFORME" in result.output and "encoding-mismatch" in result.output


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        pytest.param(_declared("UTF-32").encode("utf-32"), "UTF-32", id="utf32-bom"),
        pytest.param(_declared("UTF-32").encode("utf-32-be"), "UTF-32", id="utf32-be-without-bom"),
        pytest.param(_declared("IBM037").encode("cp037"), "EBCDIC", id="ebcdic"),
    ],
)
def test_encodings_no_publisher_uses_are_named_when_refused(tmp_path, data, problem):
    with pytest.raises(InputError, match=f"encodage {problem} non pris en charge"):
        _read(_write(tmp_path, data))


# -- attributes -------------------------------------------------------------------------------------------


def test_an_attribute_is_an_error_on_its_element_and_its_value_is_kept(tmp_path):
    text = RECORD.replace("<nature>", '<nature lang="fr">', 1)
    line = text[: text.index('lang="fr"')].count("\n") + 1
    source, (record,) = _read(_write(tmp_path, text))
    (finding,) = _errors(source, [record])
    assert (finding.code, finding.path, finding.line) == ("xml-attribute", "marches.marche[0].nature", line)
    assert "lang=« fr »" in finding.message and "extra_fields" in finding.message
    root = record.rows["marches"][0]
    assert root["nature"] == "Marché" and root["extra_fields"] == {"nature@lang": "fr"}


def test_a_finding_in_a_list_item_names_the_item_by_its_index(tmp_path):
    text = RECORD.replace("<titulaire>", '<titulaire lang="fr">', 1)
    source, (record,) = _read(_write(tmp_path, text))
    (finding,) = _errors(source, [record])
    assert finding.path == "marches.marche[0].titulaires.titulaire[0]"
    assert record.rows["marches"][0]["extra_fields"] == {"titulaires.titulaire[0]@lang": "fr"}


def test_xsi_schema_locations_are_allowed_anywhere(tmp_path):
    text = RECORD.replace("<marches>", f'<marches {XSI} xsi:noNamespaceSchemaLocation="decp.xsd">', 1)
    text = text.replace("<objet>", '<objet xsi:schemaLocation="a b">', 1)
    source, (record,) = _read(_write(tmp_path, text))
    assert _errors(source, [record]) == []


def test_many_attributes_give_one_finding_per_element_and_every_value_is_kept(tmp_path):
    many = " ".join(f'a{i}="v{i}"' for i in range(1200))
    text = RECORD.replace("<marches>", f"<marches {many}>", 1).replace("<objet>", f"<objet {many}>", 1)
    source, (record,) = _read(_write(tmp_path, text))
    assert [(f.code, f.path) for f in _errors(source, [record])] == [
        ("xml-attribute", None),  # the container: no record to keep the values in
        ("xml-attribute", "marches.marche[0].objet"),
    ]
    assert "1\u202f200 attributs" in source.findings[0].message
    extra = record.rows["marches"][0]["extra_fields"]
    assert len(extra) == 1200 and extra["objet@a1199"] == "v1199"


# -- namespaces and text outside the elements --------------------------------------------------------------


def test_a_foreign_namespace_on_the_root_is_one_error_and_the_records_are_read(tmp_path):
    text = RECORD.replace("<marches>", '<marches xmlns="http://example.org/decp">', 1)
    source, (record,) = _read(_write(tmp_path, text))
    assert [(f.code, f.path, f.line) for f in _errors(source, [record])] == [("xml-namespace", None, 2)]
    assert "http://example.org/decp" in source.findings[0].message
    assert record.rows["marches"][0]["objet"] == "Travaux de voirie"


def test_an_element_in_a_namespace_inside_a_record_is_an_error_on_it(tmp_path):
    text = RECORD.replace("<objet>Travaux de voirie</objet>", '<d:objet xmlns:d="urn:x">Travaux de voirie</d:objet>')
    source, (record,) = _read(_write(tmp_path, text))
    assert [(f.code, f.path) for f in _errors(source, [record])] == [("xml-namespace", "marches.marche[0].objet")]
    assert record.rows["marches"][0]["objet"] == "Travaux de voirie"


def test_an_element_of_another_vocabulary_gets_one_namespace_finding_not_one_per_attribute(tmp_path):
    xinclude = '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd" parse="text"/>'
    text = RECORD.replace("<objet>Travaux de voirie</objet>", f"<objet>{xinclude}</objet>")
    source, (record,) = _read(_write(tmp_path, text))
    found = [(f.code, f.path) for f in _errors(source, [record]) if f.path.startswith("marches.marche[0].objet.")]
    assert found == [("xml-namespace", "marches.marche[0].objet.include")]
    assert record.rows["marches"][0]["extra_fields"]["objet.include@href"] == "/etc/passwd"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda t: t.replace("<marches>", "<marches>du texte", 1), id="before-the-records"),
        pytest.param(lambda t: t.replace("</marche>", "</marche>du texte", 1), id="after-a-record"),
        pytest.param(lambda t: t.replace("</marches>", "<autre/>du texte</marches>", 1), id="after-an-unknown-element"),
    ],
)
def test_text_directly_under_marches_is_an_error(tmp_path, change):
    source, records = _read(_write(tmp_path, change(RECORD)))
    stray = [f for f in _errors(source, records) if f.code == "wrong-type"]
    assert len(stray) == 1 and "« du texte »" in stray[0].message and stray[0].path is None
    assert len(records) == 1


# -- fatal errors in French ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "said"),
    [
        pytest.param(
            lambda t: t.replace("Travaux de voirie", "<a>" * 300 + "x" + "</a>" * 300), "trop profondément", id="deep"
        ),
        pytest.param(lambda t: t.replace("<objet>", f"<{'o' * 60_000}/><objet>"), "trop long", id="long-name"),
        pytest.param(lambda t: t.replace("Travaux de voirie", "é" * 6_000_000), "valeur trop longue", id="long-value"),
    ],
)
def test_parser_limits_are_told_in_french_without_its_options(tmp_path, change, said):
    with pytest.raises(InputError) as err:
        _read(_write(tmp_path, change(RECORD)))
    assert said in str(err.value) and "XML_PARSE" not in str(err.value) and "libxml2" not in str(err.value)


def test_utf16_without_byte_order_mark_is_recognised(tmp_path):
    path = _write(tmp_path, _declared("UTF-16BE").encode("utf-16-be"))
    assert not path.read_bytes().startswith((codecs.BOM_UTF16_BE, b"<"))
    source, (record,) = _read(path)
    assert not source.findings and record.rows["marches"][0]["procedure"] == "Procédure adaptée"


# -- elements the format admits once, records inside records --------------------------------------------------


def test_a_doubled_element_is_one_error_on_the_copy_and_both_values_are_kept(tmp_path):
    text = RECORD.replace(
        "<nature>Marché</nature>", "<nature>Marché</nature>\n    <nature>Marché de partenariat</nature>"
    )
    first = text[: text.index("<nature>")].count("\n") + 1
    source, (record,) = _read(_write(tmp_path, text))
    (finding,) = _errors(source, [record])
    assert (finding.code, finding.path, finding.line) == ("duplicate-element", "marches.marche[0].nature[1]", first + 1)
    assert f"l'élément <nature> figure deux fois (ligne {first}, puis ligne {first + 1})" in finding.message
    assert "[" not in finding.message.split(":", 1)[1].split("(")[0]  # no JSON list shown
    root = record.rows["marches"][0]
    assert root["nature"] == "Marché" and root["extra_fields"] == {"nature[1]": "Marché de partenariat"}


def test_a_record_inside_a_record_is_one_error_and_the_inner_record_is_read(tmp_path):
    text = RECORD.replace("<marche>", "<marche><marche>", 1).replace("</marche>", "</marche></marche>", 1)
    source, (record,) = _read(_write(tmp_path, text))
    assert [(f.code, f.path) for f in _errors(source, [record])] == [("nested-record", "marches.marche[0].marche")]
    root = record.rows["marches"][0]
    assert record.generation == "2022" and root["id"] == "ST-2024-1" and root["procedure"] == "Procédure adaptée"


# -- numbers ------------------------------------------------------------------------------------------------


def test_a_number_beyond_any_double_is_read_as_absent_with_one_finding(tmp_path):
    source, records = _read(
        _write(tmp_path, RECORD.replace("<montant>230000.00</montant>", "<montant>1e400</montant>", 1))
    )
    errors = _errors(source, records)
    assert [(f.code, f.path.rsplit(".", 1)[-1]) for f in errors] == [("nan-literal", "montant")]
    assert "inf" not in errors[0].message.lower().replace("infinity", "")
    assert records[0].rows["marches"][0]["montant"] is None


def test_an_integer_published_with_a_decimal_point_is_told_it_is_not_an_integer(tmp_path):
    text = RECORD.replace("<dureeMois>10</dureeMois>", "<dureeMois>10.0</dureeMois>", 1)
    source, records = _read(_write(tmp_path, text))
    (error,) = _errors(source, records)
    assert error.code == "number-format" and "n'est pas un nombre entier XML" in error.message
    assert records[0].rows["marches"][0]["dureeMois"] == 10
