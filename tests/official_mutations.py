"""Field-by-field mutations of valid DECP records, JSON and XML, for the official-schema differential test.

Each mutation kind is tried on every field path of the base records (nested objects and list
items included); for each distinct path (list indices ignored) one base record carrying it is
picked with a seeded generator, so a mutated document holds one independent record per field
path. The oracle, not this module, says whether a mutation breaks the format: a kind may produce
values the schema accepts (an unknown key where the format allows it, a date with a time zone),
which checks the agreement the other way.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree

from marches.regulation import XSD_ITEM_NAMES
from tests.official_schemas import Facets

UNKNOWN_KEY = "champInconnu"
UNKNOWN_VALUE = "Valeur inconnue"
UNKNOWN_ATTRIBUTE = "lang"  # the format has no attribute at all
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
# Labels of other versions of the format (``../shared/docs/decp.md`` §2), by field name.
LEGACY = {
    "procedure": (
        "Procédure concurrentielle avec négociation",
        "Procédure négociée avec mise en concurrence préalable",
        "Marché négocié sans publicité ni mise en concurrence préalable",
    ),
    "nature": ("Accord-cadre", "Marché subséquent", "Marché de défense ou de sécurité"),
    "formePrix": ("Ferme", "Forfaitaire"),
    "typeIdentifiant": ("UE", "TVA intracommunautaire", "FRW"),
    "modaliteExecution": ("Marché à tranches", "Bon de commande"),
}
# 2019 list items as a 2022 publisher (or an XML-to-JSON converter) wraps them.
ITEM_NAMES = {
    "titulaires": "titulaire",
    "modifications": "modification",
    "concessionnaires": "concessionnaire",
    "donneesExecution": "donneesAnnuelles",
    "tarifs": "tarif",
}


def folded_upper(text: str) -> str:
    """``Marché`` -> ``MARCHE``: the case and accent variant real exports carry."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).upper()


def _date_parts(text) -> tuple[str, str, str] | None:
    m = _DATE.match(text) if isinstance(text, str) else None
    return m.groups() if m else None


DATE_VARIANTS: dict[str, Callable[[str, str, str], str]] = {
    "date-unpadded": lambda y, m, d: f"{y}-{int(m)}-{int(d)}",
    "date-french": lambda y, m, d: f"{d}/{m}/{y}",
    "date-time": lambda y, m, d: f"{y}-{m}-{d}T10:00:00",
    "date-offset": lambda y, m, d: f"{y}-{m}-{d}+01:00",
    "date-impossible": lambda y, m, d: f"{y}-02-30",
}


def _shorter(text: str) -> str | None:
    """One digit less in the first run of digits: a 13-digit SIRET, a 7-digit CPV code."""
    m = re.search(r"\d+", text)
    return None if m is None else text[: m.end() - 1] + text[m.end() :]


def _with_letter(text: str) -> str | None:
    """A digit replaced by the letter O, as when a code is typed by hand."""
    m = re.search(r"\d", text)
    return None if m is None else text[: m.start()] + "O" + text[m.end() :]


def _changed(new, old):
    return None if new == old else new


# -- text values, shared by JSON strings and XML leaves ---------------------------------------------------


@dataclass(frozen=True)
class Constraints:
    """What the format says about one value, from the JSON Schema or the XSD, in one vocabulary."""

    enum: tuple = ()
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    number: bool = False
    date: bool = False

    @classmethod
    def of_json(cls, sub: dict | None) -> Constraints:
        if not sub:
            return cls()
        pattern = sub.get("pattern")
        is_date = bool(pattern and "\\d{4}-" in pattern)
        return cls(
            enum=tuple(sub.get("enum", ())),
            pattern=None if is_date else pattern,
            min_length=sub.get("minLength"),
            max_length=sub.get("maxLength"),
            minimum=sub.get("minimum"),
            maximum=sub.get("maximum"),
            integer=sub.get("type") == "integer",
            number=sub.get("type") in ("number", "integer"),
            date=is_date,
        )

    @classmethod
    def of_xsd(cls, facets: Facets | None) -> Constraints:
        if facets is None:
            return cls()
        base = facets.base or ""
        return cls(
            enum=facets.enumeration,
            pattern=facets.pattern,
            min_length=facets.min_length,
            max_length=facets.max_length,
            minimum=facets.minimum,
            maximum=facets.maximum,
            integer=base.endswith("integer"),
            number=base.endswith(("integer", "decimal")),
            date=base.endswith("date"),
        )


def text_variants(name: str, value, c: Constraints, integer_value: Callable[[float], Any]) -> dict[str, Any]:
    """Mutations of one value driven by its constraints: kind -> new value (absent: not applicable)."""
    out: dict[str, Any] = {}
    if c.enum and isinstance(value, str):
        out["enum-other"] = UNKNOWN_VALUE
        out["enum-case"] = _changed(folded_upper(value), value)
        legacy = [label for label in LEGACY.get(name, ()) if label not in c.enum]
        if legacy:
            out["enum-legacy"] = legacy[0]
    if isinstance(value, str) and c.max_length is not None:
        out["too-long"] = "x" * (c.max_length + 1)
        out["at-max-length"] = "x" * c.max_length
    if isinstance(value, str) and c.min_length:
        out["too-short"] = "x" * (c.min_length - 1)
    if isinstance(value, str) and c.pattern:
        out["pattern-digit"] = _shorter(value)
        out["pattern-letter"] = _with_letter(value)
    if c.date and (parts := _date_parts(value)):
        for kind, variant in DATE_VARIANTS.items():
            out[kind] = _changed(variant(*parts), value)
    if c.minimum is not None:
        out["below-minimum"] = integer_value(c.minimum - 1)
    if c.maximum is not None:
        out["above-maximum"] = c.maximum + 0.5
    if c.integer and _is_int(value):
        out["fraction"] = float(value) + 0.5
    return {kind: v for kind, v in out.items() if v is not None}


def _is_int(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.strip().isdigit()


# -- JSON ------------------------------------------------------------------------------------------------

Path = tuple  # keys and indices from the record


def json_nodes(value, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from json_nodes(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from json_nodes(child, (*path, i))


def get(record, path: Path):
    for part in path:
        record = record[part]
    return record


def _put(record, path: Path, value):
    if not path:
        return value
    get(record, path[:-1])[path[-1]] = value
    return record


def _json_type_variants(value) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if value is not None:
        out["null"] = None
    if not isinstance(value, str) and value is not None:
        if isinstance(value, bool):
            out["as-string"] = "true" if value else "false"
        elif isinstance(value, int | float):
            out["as-string"] = str(value)
        elif isinstance(value, dict):
            out["as-string"] = value["id"] if isinstance(value.get("id"), str) else UNKNOWN_VALUE
        else:
            out["as-string"] = UNKNOWN_VALUE
    if isinstance(value, str):
        out["as-number"] = int(value) if value.isdigit() else _float(value)
    elif isinstance(value, bool | dict | list):
        out["as-number"] = 1
    if not isinstance(value, bool) and value is not None:
        out["as-boolean"] = True
    if not isinstance(value, dict) and value is not None:
        out["as-object"] = {"valeur": value}
    if not isinstance(value, list) and value is not None:
        out["as-array"] = [value]
    return out


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 1


def _field_name(path: Path) -> str:
    return next((p for p in reversed(path) if isinstance(p, str)), "")


Op = Callable[[Any], Any]  # takes a copy of the record, returns it mutated


def _replace(path: Path, new) -> Op:
    return lambda record: _put(record, path, copy.deepcopy(new))


def _edit(path: Path, change: Callable[[Any], Any]) -> Op:
    return lambda record: _put(record, path, change(get(record, path)))


def _delete(path: Path) -> Op:
    def op(record):
        del get(record, path[:-1])[path[-1]]
        return record

    return op


def json_mutations(record, path: Path, sub: dict | None, generation: str) -> dict[str, Op]:
    """Every mutation of a record at ``path``: kind -> operation on a copy of the record."""
    value = get(record, path)
    replacements = _json_type_variants(value)
    c = Constraints.of_json(sub)
    replacements.update(text_variants(_field_name(path), value, c, int))
    if c.integer and _is_int(value) and not isinstance(value, str):
        replacements["integer-as-float"] = float(value)
    out = {kind: _replace(path, new) for kind, new in replacements.items()}
    if path and isinstance(get(record, path[:-1]), dict):
        out["missing"] = _delete(path)
    if isinstance(value, dict):
        out["extra"] = _edit(path, lambda v: {**v, UNKNOWN_KEY: UNKNOWN_VALUE})
        out["extra-null"] = _edit(path, lambda v: {**v, UNKNOWN_KEY: None})
        nested = next(((k, v) for k, v in value.items() if isinstance(v, dict) and v), None)
        if nested is not None:  # "acheteur.id" next to "acheteur": a dotted key
            dotted, (first, inner) = nested[0], next(iter(nested[1].items()))
            out["extra-dotted"] = _edit(path, lambda v: {**v, f"{dotted}.{first}": copy.deepcopy(inner)})
    if path and isinstance(path[-1], str) and path[-1][:1].islower():
        out["key-case"] = _rename(path, path[-1][0].upper() + path[-1][1:])
    if isinstance(value, list) and value:
        out["duplicate-item"] = _edit(path, lambda v: [v[0], copy.deepcopy(v[0]), *v[1:]])
        out["empty-list"] = _replace(path, [])
    out.update(_json_wrapping(path, value, generation))
    return out


def _single(value) -> tuple[str, Any] | None:
    """``{"titulaire": {...}}`` -> ``("titulaire", {...})``: a published wrapper."""
    if isinstance(value, dict) and len(value) == 1:
        return next(iter(value.items()))
    return None


def _rename(path: Path, new: str) -> Op:
    def op(record):
        parent = get(record, path[:-1])
        parent[new] = parent.pop(path[-1])
        return record

    return op


def _json_wrapping(path: Path, value, generation: str) -> dict[str, Op]:
    out: dict[str, Op] = {}
    if not path:
        return out
    key = path[-1]
    inner = _single(value)
    if generation == "json-2022":
        if isinstance(key, int) and inner and isinstance(inner[1], dict):
            out["unwrap-item"] = _edit(path, lambda v: next(iter(v.values())))
        if isinstance(key, str) and inner and isinstance(inner[1], list):
            out["bare-list"] = _edit(path, lambda v: next(iter(v.values())))
        singular = None
        if isinstance(key, str) and inner and isinstance(inner[1], list):
            singular = inner[0]
        elif isinstance(key, str) and isinstance(value, list) and value and (item := _single(value[0])):
            singular = item[0]
        if singular and singular != key:
            out["singular-name"] = _rename(path, singular)
        if isinstance(key, int) and inner and inner[0] in XSD_ITEM_NAMES:  # the XSD's name of the item
            out["xsd-item-name"] = _edit(path, lambda v: {XSD_ITEM_NAMES[k]: x for k, x in v.items()})
    else:
        name = ITEM_NAMES.get(path[-2]) if len(path) > 1 and isinstance(key, int) else None
        if name and isinstance(value, dict):
            out["wrap-item"] = _edit(path, lambda v: {name: v})
        if isinstance(key, str) and key in ITEM_NAMES and isinstance(value, list) and value:
            out["wrap-list"] = _edit(path, lambda v: {ITEM_NAMES[key]: v})
    return out


def json_record_mutations(record, kind: str, generation: str) -> dict[str, Op]:
    """Mutations of the record as a whole: keys of the other generation at record level."""
    if generation == "json-2022":
        buyer = (record.get("acheteur") or record.get("autoriteConcedante") or {}).get("id", "")
        extra = {
            "uid": f"{buyer}{record.get('id', '')}",
            "_type": "Marché" if kind == "marche" else "Contrat de concession",
        }
    elif kind == "marche":
        extra = {"techniques": {"technique": ["Sans objet"]}, "marcheInnovant": False}
    else:
        extra = {"considerationsSociales": {"considerationSociale": ["Pas de considération sociale"]}}
    return {"other-generation-keys": _edit((), lambda r: {**r, **copy.deepcopy(extra)})}


# -- XML -------------------------------------------------------------------------------------------------


def xml_nodes(element, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """(path of (tag, index among same-tag siblings), element) for the record and every descendant."""
    yield path, element
    seen: dict[str, int] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        index = seen.get(child.tag, 0)
        seen[child.tag] = index + 1
        yield from xml_nodes(child, (*path, (child.tag, index)))


def xml_find(record, path: tuple):
    element = record
    for tag, index in path:
        element = [c for c in element if c.tag == tag][index]
    return element


def _at(path: tuple, change: Callable[[Any], Any]) -> Op:
    def op(record):
        change(xml_find(record, path))
        return record

    return op


def _set_text(value: str) -> Callable[[Any], None]:
    def change(element) -> None:
        element.text = value

    return change


def xml_mutations(record, path: tuple, facets: Facets | None, wraps_list: bool) -> dict[str, Op]:
    """Every mutation of the element at ``path`` in a record: kind -> operation on a copy of the record.

    ``wraps_list``: the element wraps a list (``<titulaires>`` around repeatable ``<titulaire>``).
    """
    element = xml_find(record, path)
    children = [c for c in element if isinstance(c.tag, str)]
    out: dict[str, Op] = {}
    if not children:
        value = (element.text or "").strip()
        c = Constraints.of_xsd(facets)
        texts = {"text-other": UNKNOWN_VALUE}
        if value:
            texts.update({"text-empty": "", "text-padded": f" {value} "})
        variants = text_variants(element.tag, value, c, lambda n: int(n) if float(n).is_integer() else n)
        texts.update({kind: _xml_number(new) for kind, new in variants.items()})
        if c.number and not c.integer and re.fullmatch(r"\d+(\.\d+)?", value):
            texts["decimal-comma"] = value.replace(".", ",") if "." in value else f"{value},5"
        out.update({kind: _at(path, _set_text(new)) for kind, new in texts.items()})
    if path:
        out["missing"] = _at(path, lambda e: e.getparent().remove(e))
        out["duplicated"] = _at(path, lambda e: e.addnext(copy.deepcopy(e)))
    if children or not path:
        out["unknown-element"] = _at(path, _add_unknown)
    out["attribute"] = _at(path, lambda e: e.set(UNKNOWN_ATTRIBUTE, "fr"))
    if path and wraps_list:
        out["wrapper-removed"] = _at(path, _unwrap)
        out["empty-list"] = _at(path, _empty)
    return out


def _empty(element) -> None:
    for child in list(element):
        element.remove(child)


def _xml_number(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _add_unknown(element) -> None:
    etree.SubElement(element, UNKNOWN_KEY).text = UNKNOWN_VALUE


def _unwrap(element) -> None:
    """``<titulaires><titulaire/>…</titulaires>`` -> the ``<titulaire/>`` elements in its place."""
    parent = element.getparent()
    index = parent.index(element)
    for offset, child in enumerate(list(element)):
        parent.insert(index + offset, child)
    parent.remove(element)
