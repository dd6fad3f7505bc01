"""Readers: every shape, every real-world defect as a located finding, clear fatal errors, safe XML."""

from __future__ import annotations

import inspect
import json
import re
import time
from pathlib import Path

import pytest
from lxml import etree

from marches.errors import InputError
from marches.flatten import flatten
from marches.readers import detect_format, open_input
from tests.conftest import FIXTURES, example_params
from tests.official_schemas import SCHEMAS, oracle

DEFECTS = FIXTURES / "defects"
MALFORMED = FIXTURES / "malformed"


def read_all(path: Path):
    opened = open_input(path)
    records = [flatten(raw) for raw in opened.records]
    return opened.source, records


def codes(source, records) -> list[str]:
    return [f.code for f in source.findings] + [f.code for r in records for f in r.findings]


@pytest.mark.parametrize("path", example_params())
def test_every_official_example_is_read_and_flattened(path):
    source, records = read_all(path)
    assert records, f"no record read from {path.name}"
    assert source.records == len(records)
    for r in records:
        root = r.rows["marches" if r.kind == "marche" else "concessions"][0]
        assert root["id"], "every official record has an id"
        assert r.generation == ("2019" if "v1.5.0" in str(path) else "2022")
        assert not [f for f in r.findings if f.severity == "error"], [f.message for f in r.findings]


def test_readers_are_lazy_generators(tmp_path):
    """Records come one at a time: nothing is parsed before the first one is asked for."""
    opened = open_input(FIXTURES / "valid-2022.json")
    assert inspect.isgenerator(opened.records)
    assert opened.source.bytes_read == 0
    first = next(opened.records)
    assert first.position == 0
    xml = open_input(FIXTURES / "modification-actes-xsd-spelling.xml")
    assert inspect.isgenerator(xml.records)


def test_json_reading_does_not_keep_earlier_records(tmp_path):
    """A large file: the records already yielded are not held by the reader (weakref-free check on ids)."""
    record = json.loads((FIXTURES / "valid-2022.json").read_text())["marches"]["marche"][0]
    big = tmp_path / "big.json"
    with big.open("w") as fh:
        fh.write('{"marches": {"marche": [')
        for i in range(3000):
            fh.write(("," if i else "") + json.dumps({**record, "id": f"N{i}"}))
        fh.write("]}}")
    opened = open_input(big)
    seen = 0
    for _raw in opened.records:
        seen += 1
        if seen == 10:
            assert opened.source.bytes_read < big.stat().st_size  # still streaming, not read whole
    assert seen == 3000


@pytest.mark.parametrize(
    ("fixture", "expected", "path_part"),
    [
        ("number-as-string.json", "number-as-string", "montant"),
        ("id-as-number.json", "id-as-number", "marches.marche[0].titulaires[0].titulaire.id"),
        ("nc-placeholder.json", "placeholder", "montant"),
        ("nested-list.json", "object-expected", "titulaires[0]"),  # 2.0.3 does not type titulaires' items
        ("flat-key.json", "flat-key", "acheteur.id"),
        ("single-object.json", "list-shape", "titulaires"),
        ("empty-list.json", "empty-list", "modifications"),
        ("enum-case.json", "enum-normalized", "nature"),
        ("boolean-as-string.json", "boolean-as-string", "marcheInnovant"),
        ("date-format.json", "date-format", "dateNotification"),
        ("unknown-field.json", "unknown-field", "commentaire"),
        ("nan-literal.json", "nan-literal", "montant"),
        ("bom.json", "bom", None),
        ("damaged-text.json", "damaged-text", "objet"),
    ],
)
def test_each_defect_is_a_located_finding_and_nothing_is_lost(fixture, expected, path_part):
    source, records = read_all(DEFECTS / fixture)
    assert len(records) == 1, "the defective record is still read"
    found = [f for f in source.findings + records[0].findings if f.code == expected]
    assert found, f"{expected} not reported: {codes(source, records)}"
    if path_part:
        found = [f for f in found if path_part in f.path]
        assert found, f"{expected} not located at {path_part}"
    finding = found[0]
    assert finding.file.endswith(fixture)
    assert finding.message
    if path_part:
        assert finding.path.startswith(("marches.marche[0]", "marches[0]"))
        assert finding.id == records[0].id and finding.record_key == records[0].record_key


def test_defects_are_repaired_where_meaning_is_unambiguous():
    row = read_all(DEFECTS / "number-as-string.json")[1][0].rows["marches"][0]
    assert row["montant"] == 85000 and row["original_values"] == {"montant": "85000"}
    rec = read_all(DEFECTS / "id-as-number.json")[1][0]
    assert rec.rows["marches_titulaires"][0]["id"] == "38012986643097"
    assert rec.rows["marches"][0]["id"] == "20240042"
    row = read_all(DEFECTS / "enum-case.json")[1][0].rows
    assert row["marches"][0]["nature"] == "Marché"
    assert row["marches"][0]["lieuExecution_typeCode"] == "Code commune"
    assert row["marches"][0]["procedure"] == "Procédure adaptée"
    assert row["marches_titulaires"][0]["typeIdentifiant"] == "SIRET"
    assert row["marches"][0]["original_values"]["nature"] == "MARCHE"
    assert read_all(DEFECTS / "flat-key.json")[1][0].rows["marches"][0]["acheteur_id"] == "21690123100011"
    assert read_all(DEFECTS / "nested-list.json")[1][0].rows["marches_titulaires"][0]["id"] == "38012986643097"
    assert read_all(DEFECTS / "single-object.json")[1][0].rows["marches_titulaires"][0]["id"] == "38012986643097"
    dated = read_all(DEFECTS / "date-format.json")[1][0]
    assert dated.rows["marches"][0]["dateNotification"] == "2019-03-12"
    assert dated.rows["marches"][0]["datePublicationDonnees"] == "2019-03-20"
    assert [f.field for f in dated.findings] == ["dateNotification"], "the 2019 format allows an offset, not a time"


def test_placeholders_become_empty_with_the_published_value_kept():
    row = read_all(DEFECTS / "nc-placeholder.json")[1][0].rows["marches"][0]
    assert row["montant"] is None and row["offresRecues"] is None
    assert row["original_values"] == {"montant": "NC", "offresRecues": "NC"}
    nan = read_all(DEFECTS / "nan-literal.json")[1][0].rows["marches"][0]
    assert nan["montant"] is None and nan["original_values"] == {"montant": "NaN"}


def test_unknown_fields_are_kept():
    row = read_all(DEFECTS / "unknown-field.json")[1][0].rows["marches"][0]
    assert row["extra_fields"] == {"commentaire": "champ maison"}


def test_mixed_array_detects_generation_per_record_and_maps_2019_values():
    source, (v1, v2) = read_all(FIXTURES / "mixed-array-2019-2022.json")
    assert source.shape == "json-array"
    assert (v1.generation, v2.generation) == ("2019", "2022")
    m1 = v1.rows["marches"][0]
    assert m1["nature"] == "Marché" and m1["nature_2019"] == "Accord-cadre"
    assert m1["techniques"] == ["Accord-cadre"]
    assert m1["typesPrix"] == ["Définitif actualisable"] and m1["formePrix_2019"] == "Ferme et actualisable"
    assert m1["formePrix"] is None
    assert m1["acheteur_nom"] == "Ville exemple" and m1["lieuExecution_nom"] == "Rennes"
    assert v1.rows["marches_titulaires"][0]["denominationSociale"] == "Papeterie SARL"
    assert m1["uid"] == "213502388000192019AC07"
    m2 = v2.rows["marches"][0]
    assert m2["techniques"] == ["Système d'acquisition dynamique"]
    assert m2["modalitesExecution"] == ["Bons de commande", "Marchés subséquents"]  # 2.0.0 "Mixte"
    assert m2["procedure"] == "Procédure avec négociation"
    assert m2["typesPrix"] == ["Définitif ferme"]
    assert m2["considerationsSociales"] == ["Clause sociale"]
    assert v2.rows["marches_titulaires"][0]["typeIdentifiant"] == "TVA"
    legacy = [f for f in v2.findings if f.code == "enum-legacy"]
    assert {f.value for f in legacy} >= {"Procédure concurrentielle avec négociation", "Mixte"}


def test_xml_accepts_the_xsd_spelling_of_modifications_of_subcontracting_acts():
    source, (record,) = read_all(FIXTURES / "modification-actes-xsd-spelling.xml")
    assert source.shape == "xml"
    rows = record.rows
    assert rows["marches_modifications_actes_sous_traitance"][0]["montant"] == 52000
    assert rows["marches_actes_sous_traitance"][0]["sousTraitant_id"] == "29384756200031"
    root = rows["marches"][0]
    assert root["marcheInnovant"] is False and root["sousTraitanceDeclaree"] is True
    assert root["attributionAvance"] is False
    assert root["montant"] == 230000
    assert root["source_line"] == 3 and root["source_path"] == "marches.marche[0]"
    assert not [f for f in record.findings if f.code in ("boolean-as-string", "number-as-string")], (
        "XML booleans oui/non/0/1 and numbers in text are the XML way, not defects"
    )


def test_truncated_json_names_file_location_and_records_read():
    with pytest.raises(InputError) as err:
        read_all(MALFORMED / "truncated.json")
    e = err.value
    assert e.file.endswith("truncated.json") and e.records_read == 1 and e.line and not e.approximate
    assert "truncated.json" in str(e) and "1 enregistrement lu" in str(e)


def test_wrong_encoding_json_is_a_clear_error():
    with pytest.raises(InputError) as err:
        read_all(MALFORMED / "latin1.json")
    assert "UTF-8" in str(err.value) and err.value.line


def test_broken_xml_names_line_and_records_read():
    with pytest.raises(InputError) as err:
        read_all(MALFORMED / "broken.xml")
    assert err.value.records_read == 1 and err.value.line == 11
    assert "broken.xml" in str(err.value)


def test_undeclared_latin1_xml_is_read_as_windows_1252_with_an_error():
    source, records = read_all(MALFORMED / "latin1-undeclared.xml")
    assert records and [(f.code, f.severity) for f in source.findings] == [("encoding-mismatch", "error")]
    assert "Windows-1252" in source.findings[0].message
    assert "é" in json.dumps([r.rows["marches"][0]["objet"] for r in records], ensure_ascii=False)


def test_xml_declared_latin1_but_written_in_utf8_is_read_as_utf8(tmp_path):
    text = (FIXTURES / "modification-actes-xsd-spelling.xml").read_text(encoding="utf-8")
    path = tmp_path / "declared-latin1.xml"
    path.write_bytes(text.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').encode("utf-8"))
    assert b"ISO-8859-1" in path.read_bytes()
    source, (record,) = read_all(path)
    assert [f.code for f in source.findings] == ["encoding-mismatch"]
    assert not [f for f in record.findings if f.severity == "error"]
    assert record.rows["marches"][0]["procedure"] == "Procédure adaptée"


@pytest.mark.parametrize("fixture", ["xxe.xml", "billion-laughs.xml"])
def test_unsafe_xml_is_refused_fast_without_expanding_anything(fixture):
    start = time.process_time()
    with pytest.raises(InputError) as err:
        read_all(MALFORMED / fixture)
    assert "DOCTYPE" in str(err.value)
    assert time.process_time() - start < 5  # guard against a hang, not a performance target


def test_lxml_never_resolves_entities_even_without_the_prescan(tmp_path):
    """Defence in depth: the parser options alone keep an external entity out of the data."""
    from marches.readers import xml_reader
    from marches.readers.base import Source

    path = MALFORMED / "xxe.xml"
    scan = xml_reader._XmlScan()  # what prepare() would have found, without its refusal of the DOCTYPE
    scan.encoding, scan.declared, scan.root, scan.root_line = "utf-8", None, "marches", 1
    source = Source(path=path, name="xxe.xml", sha256="0" * 64, size=path.stat().st_size, scan=scan)
    try:
        records = list(xml_reader.read_xml(source))
    except InputError as err:  # libxml2 may refuse the undefined entity: nothing was resolved either
        assert "root:" not in str(err)
        return
    assert "root:" not in json.dumps([r.data for r in records])


def test_format_detection(tmp_path):
    assert detect_format(FIXTURES / "valid-2022.json") == "json"
    assert detect_format(DEFECTS / "bom.json") == "json"
    assert detect_format(FIXTURES / "modification-actes-xsd-spelling.xml") == "xml"
    other = tmp_path / "x.txt"
    other.write_text("hello")
    with pytest.raises(InputError, match="format non reconnu"):
        detect_format(other)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(InputError, match="introuvable"):
        open_input(tmp_path / "absent.json")
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="vide"):
        open_input(empty)


def test_json_without_marches_key_is_a_clear_error(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"foo": [1, 2]}')
    with pytest.raises(InputError, match="marches"):
        list(open_input(path).records)


def test_single_record_object_instead_of_list(tmp_path):
    record = json.loads((FIXTURES / "valid-2022.json").read_text())["marches"]["marche"][0]
    path = tmp_path / "single.json"
    path.write_text(json.dumps({"marches": {"marche": record}}))
    source, records = read_all(path)
    assert len(records) == 1 and "list-shape" in codes(source, records)


def test_big_integers_do_not_crash_the_json_reader(tmp_path):
    record = json.loads((FIXTURES / "valid-2022.json").read_text())["marches"]["marche"][0]
    text = json.dumps({"marches": {"marche": [record, record]}}).replace(
        '"montant": 85000', '"montant": 123456789012345678901234', 1
    )
    path = tmp_path / "bigint.json"
    path.write_text(text)
    _, records = read_all(path)
    assert len(records) == 2
    assert records[0].rows["marches"][0]["montant"] == 123456789012345678901234


def test_bare_top_level_list_is_read(tmp_path):
    record = json.loads((FIXTURES / "mixed-array-2019-2022.json").read_text())["marches"][0]
    path = tmp_path / "bare.json"
    path.write_text(json.dumps([record]))
    source, records = read_all(path)
    assert len(records) == 1 and records[0].generation == "2019"
    assert "file-shape" in [f.code for f in source.findings]


def test_record_that_is_not_an_object_is_kept(tmp_path):
    path = tmp_path / "scalar.json"
    path.write_text('{"marches": ["n\'importe quoi"]}')
    _, (record,) = read_all(path)
    assert "not-an-object" in [f.code for f in record.findings]
    assert record.rows["marches"][0]["extra_fields"] == {"": "n'importe quoi"}


def test_record_keys_are_content_addressed_and_unique_per_file():
    _, a = read_all(FIXTURES / "mixed-array-2019-2022.json")
    _, b = read_all(FIXTURES / "mixed-array-2019-2022.json")
    assert [r.record_key for r in a] == [r.record_key for r in b]
    assert len({r.record_key for r in a}) == 2


# -- hostile or broken inputs: records with findings, or a clear French error ------------------------------

XML_RECORD = (FIXTURES / "modification-actes-xsd-spelling.xml").read_text(encoding="utf-8")


def _xml(tmp_path, text: str, encoding: str = "utf-8", name: str = "f.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_xml_control_character_is_replaced_and_located(tmp_path):
    text = XML_RECORD.replace("</objet>", "\x0b</objet>", 1)
    line = text[: text.index("\x0b")].count("\n") + 1
    source, (record,) = read_all(_xml(tmp_path, text))
    assert [(f.code, f.line, f.value) for f in source.findings] == [("control-character", line, "U+000B")]
    assert "U+000B" in source.findings[0].message and "ligne" in source.findings[0].message
    assert record.rows["marches"][0]["objet"].endswith(" ")


def test_utf16_xml_is_read_and_utf7_is_refused(tmp_path):
    utf16 = XML_RECORD.replace('encoding="UTF-8"', 'encoding="UTF-16"')
    _, (record,) = read_all(_xml(tmp_path, utf16, "utf-16"))
    assert record.rows["marches"][0]["procedure"] == "Procédure adaptée"
    hidden = '<?xml version="1.0" encoding="UTF-7"?>\n+ADw-!DOCTYPE x+AD4-\n<marches/>'
    with pytest.raises(InputError, match="UTF-7"):
        read_all(_xml(tmp_path, hidden, "ascii", "utf7.xml"))


def test_a_doctype_inside_cdata_is_data_and_one_in_the_prolog_is_refused(tmp_path):
    cdata = XML_RECORD.replace("<objet>", "<objet><![CDATA[voir <!DOCTYPE html>]]>", 1)
    _, (record,) = read_all(_xml(tmp_path, cdata))
    assert "<!DOCTYPE html>" in record.rows["marches"][0]["objet"]
    prolog = XML_RECORD.replace("<marches", '<!DOCTYPE marches [<!ENTITY e "x">]>\n<marches', 1)
    with pytest.raises(InputError, match="DOCTYPE") as err:
        read_all(_xml(tmp_path, prolog, name="dtd.xml"))
    assert err.value.line == 2


def test_text_mixed_with_elements_is_read_whole_with_a_finding(tmp_path):
    mixed = XML_RECORD.replace("<objet>", "<objet>Lot <b>1</b> : ", 1)
    _, (record,) = read_all(_xml(tmp_path, mixed))
    assert record.rows["marches"][0]["objet"].startswith("Lot 1 : ")
    (finding,) = [f for f in record.findings if f.code == "wrong-type"]
    assert finding.path.endswith(".objet") and "<b>" in finding.message


@pytest.mark.parametrize(
    ("element", "code", "severity"),
    [("acheteur", "xml-mixed-text", "warning"), ("lieuExecution", "wrong-type", "error")],
)
def test_text_between_the_elements_of_an_object_is_an_error_unless_the_xsd_says_mixed(
    tmp_path, element, code, severity
):
    """Both XSDs declare <acheteur> mixed: text between its elements leaves the file valid (a warning, the
    text kept in extra_fields); in an object the XSD does not declare mixed, it makes the file invalid."""
    text = re.sub(rf"<{element}>", f"<{element}>Ville de Lyon", XML_RECORD, count=1)
    if SCHEMAS.is_dir():  # the official XSD agrees
        assert bool(oracle("xml-2022").errors(etree.fromstring(text.encode()).getroottree())) == (severity == "error")
    _, (record,) = read_all(_xml(tmp_path, text))
    (finding,) = [f for f in record.findings if f.path.endswith(f"marche[0].{element}")]
    assert (finding.code, finding.severity, finding.value) == (code, severity, "Ville de Lyon")
    if severity == "warning":
        assert record.rows["marches"][0]["extra_fields"] == {"acheteur#texte": "Ville de Lyon"}


def test_an_element_under_marches_that_is_not_a_record_is_reported(tmp_path):
    other = XML_RECORD.replace("</marches>", "<autre>x</autre></marches>")
    source, records = read_all(_xml(tmp_path, other))
    assert len(records) == 1 and [f.code for f in source.findings] == ["unknown-container"]


def test_a_repeated_json_key_reports_the_value_it_loses(tmp_path):
    record = json.loads((FIXTURES / "valid-2022.json").read_text())["marches"]["marche"][0]
    text = json.dumps({"marches": {"marche": [record]}}).replace('"objet": ', '"objet": "Perdu", "objet": ', 1)
    path = tmp_path / "dup.json"
    path.write_text(text)
    _, (flat,) = read_all(path)
    (finding,) = [f for f in flat.findings if f.code == "duplicate-key"]
    assert finding.path == "marches.marche[0].objet" and "« Perdu »" in finding.message


def test_lone_surrogates_become_replacement_characters_reported_as_damaged_text(tmp_path):
    record = json.loads((FIXTURES / "valid-2022.json").read_text())["marches"]["marche"][0]
    text = json.dumps({"marches": {"marche": [record]}}).replace('"objet": "', '"objet": "\\udfff\\ud800', 1)
    path = tmp_path / "lone.json"
    path.write_text(text)
    _, (flat,) = read_all(path)
    assert flat.rows["marches"][0]["objet"].startswith("\ufffd\ufffd")
    assert [f.path for f in flat.findings if f.code == "damaged-text"] == ["marches.marche[0].objet"]


def test_identifiers_beyond_64_bits_are_converted_to_tables(tmp_path):
    from marches.convert import convert

    record = json.loads((FIXTURES / "valid-2022.json").read_text())["marches"]["marche"][0]
    text = json.dumps({"marches": {"marche": [record]}}).replace('"id": "2024-0042"', '"id": 12345678901234567890123')
    path = tmp_path / "bigid.json"
    path.write_text(text)
    summary = convert([path], tmp_path / "tables")
    assert summary.records["marche"] == 1
    assert "12345678901234567890123" in (tmp_path / "tables" / "marches.csv").read_text()


@pytest.mark.parametrize("space", ["\u00a0", "\u2003", "\u3000"])
def test_a_unicode_space_between_xml_elements_is_text_not_white_space(tmp_path, space):
    """XML's white space is space, tab and line ends only: a no-break (or em, or ideographic) space inside an
    element that holds only elements is text the XSD refuses, not layout."""
    text = XML_RECORD.replace("<titulaire>", f"<titulaire>{space}", 1)
    if SCHEMAS.is_dir():  # the official XSD agrees
        assert oracle("xml-2022").errors(etree.fromstring(text.encode()).getroottree())
    _, (record,) = read_all(_xml(tmp_path, text))
    (finding,) = [f for f in record.findings if f.code == "wrong-type"]
    assert finding.path.endswith("titulaires.titulaire[0]") and finding.value == space
