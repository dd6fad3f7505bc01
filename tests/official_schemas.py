"""The official schemas as an oracle: every error they find, located as a dotted published path.

Locations use the published path in dotted form with 0-based indices and the published wrappers,
the form marches' findings use: ``marches.marche[0].titulaires[1].titulaire.id`` (2022 JSON),
``marches[0].titulaires[1].id`` (2019 JSON), ``marches.marche[0].titulaires.titulaire[1].id``
(XML: an element repeatable in the XSD always carries its index among same-name siblings, any
other element only when it has same-name siblings, like XPath but from 0).

An error the schema reports on an object (a required or an unknown property, a missing or an
unexpected child element) is located on the child it names. The 1.5.0 JSON Schema accepts a
record through ``anyOf`` (marché or concession): its errors are those of the branch matching the
record's kind.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jsonschema
from lxml import etree

from tests.conftest import SHARED

SCHEMAS = SHARED / "decp" / "schemas"
XS = "{http://www.w3.org/2001/XMLSchema}"
_SEGMENT = re.compile(r"\[\d+\]|[^.\[]+")
_EXPECTED = re.compile(r"Expected is (?:one of )?\( ([^)]*) \)")


@dataclass(frozen=True)
class SchemaError:
    """One error of the official schema: where (any of ``locations``), what, and the XML line."""

    locations: tuple[str, ...]
    message: str
    line: int | None = None


# -- dotted paths --------------------------------------------------------------------------------------


def segments(path: str) -> list[str]:
    """``a.b[1].c`` -> ``["a", "b", "[1]", "c"]``."""
    return _SEGMENT.findall(path)


def joined(parts: list[str]) -> str:
    """The inverse of ``segments``."""
    return "".join(p if p.startswith("[") else f".{p}" for p in parts).removeprefix(".")


def related(a: str, b: str) -> bool:
    """Equal paths, or one a prefix of the other at a segment boundary; a key published in the wrong
    case (« Nature ») is the same field (the schema sees an unexpected key and a missing one)."""
    sa, sb = segments(a.casefold()), segments(b.casefold())
    n = min(len(sa), len(sb))
    return sa[:n] == sb[:n]


def dotted(parts) -> str:
    """A jsonschema path (keys and indices) in dotted form."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# -- JSON Schema ---------------------------------------------------------------------------------------


class JsonOracle:
    """An official JSON Schema: its errors on a document, and the sub-schema of any record field."""

    def __init__(self, path: Path, validator: type[jsonschema.protocols.Validator]):
        self.schema = json.loads(path.read_text(encoding="utf-8"))
        self.validator = validator(self.schema)

    def errors(self, document) -> list[SchemaError]:
        out: list[SchemaError] = []
        for error in self.validator.iter_errors(document):
            out.extend(self._located(error))
        return out

    def _located(self, error) -> list[SchemaError]:
        path = list(error.absolute_path)
        instance, message = error.instance, error.message
        if error.validator == "anyOf" and _is_record(path) and error.context:
            branch = 1 if record_kind(instance) == "concession" else 0
            chosen = [e for e in error.context if e.relative_schema_path[0] == branch]
            return [located for sub in chosen for located in self._located(sub)]
        if error.validator == "required" and isinstance(instance, dict):
            names = [n for n in error.validator_value if n not in instance and message.startswith(repr(n))]
            return [SchemaError((dotted([*path, n]),), message) for n in names[:1]] or [
                SchemaError((dotted(path),), message)
            ]
        if error.validator == "additionalProperties" and isinstance(instance, dict):
            known = error.schema.get("properties", {})
            extra = [k for k in instance if k not in known]
            return [SchemaError((dotted([*path, k]),), f"{k!r} : propriété non prévue ({message})") for k in extra]
        return [SchemaError((dotted(path),), message)]

    def record_schema(self, kind: str) -> dict:
        return self.resolve({"$ref": f"#/definitions/{'marche' if kind == 'marche' else 'contrat-concession'}"})

    def resolve(self, node: dict | None) -> dict | None:
        while isinstance(node, dict) and "$ref" in node:
            target = self.schema
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def subschema(self, kind: str, path: tuple) -> dict | None:
        """The schema of the value at ``path`` inside a record of ``kind``, or None when the format has no such field."""
        node = self.record_schema(kind)
        for part in path:
            if not isinstance(node, dict):
                return None
            node = self.resolve(node.get("items") if isinstance(part, int) else node.get("properties", {}).get(part))
        return node


def _is_record(path: list) -> bool:
    """A record of the 2019 array shape (the only place the schemas use anyOf on records)."""
    return len(path) == 2 and path[0] == "marches" and isinstance(path[1], int)


def record_kind(record) -> str:
    """'concession' or 'marche', from the record's own keys (as the 2019 format identifies it)."""
    if isinstance(record, dict) and (
        record.get("_type") == "Contrat de concession" or "autoriteConcedante" in record or "concessionnaires" in record
    ):
        return "concession"
    return "marche"


# -- XSD -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facets:
    """What the XSD says about a simple element: base type and restriction facets."""

    base: str | None = None
    enumeration: tuple[str, ...] = ()
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None


Key = tuple[str, ...]  # an element's names from its record element down: ("marche", "titulaires", "titulaire")


class XmlOracle:
    """An official XSD: its errors on a document, and what it declares for each element (by its ``Key``)."""

    def __init__(self, path: Path):
        tree = etree.parse(str(path))
        self.schema = etree.XMLSchema(tree)
        self.repeatable: set[Key] = set()
        self.facets: dict[Key, Facets] = {}
        self.required: dict[Key, list[str]] = {}  # element -> names of its mandatory children
        for decl in tree.iter(f"{XS}element"):
            key = (*_declared_key(decl), decl.get("name") or decl.get("ref"))
            if key[0] == "marches":  # the record elements, referenced from the root
                key = key[1:]
            if _repeats(decl):
                self.repeatable.add(key)
            if decl.get("name"):
                self.facets[key] = _facets(decl)
            if len(key) > 1 and decl.get("minOccurs") != "0":
                self.required.setdefault(key[:-1], []).append(key[-1])

    def key_of(self, element) -> Key:
        tags = []
        while element is not None and element.getparent() is not None:
            tags.append(element.tag)
            element = element.getparent()
        return tuple(reversed(tags))

    def errors(self, tree) -> list[SchemaError]:
        """Every XSD error, plus the mandatory children missing where libxml2 stopped at a first content error."""
        self.schema.validate(tree)
        out, stopped = [], {}
        for entry in self.schema.error_log:
            found = tree.xpath(entry.path) if entry.path else []
            where = self.path_of(found[0]) if found else ""
            expected = _EXPECTED.search(entry.message)
            if "Missing child element" in entry.message and expected:
                children = [c.strip() for c in expected.group(1).split(",")]
                locations = tuple(f"{where}.{c}" for c in children)
                if found:
                    stopped[id(found[0])] = found[0]
            else:
                locations = (where,)
                if found and "This element is not expected" in entry.message and found[0].getparent() is not None:
                    stopped[id(found[0].getparent())] = found[0].getparent()
            out.append(SchemaError(locations, entry.message, entry.line))
        reported = {loc for e in out for loc in e.locations}
        for parent in stopped.values():
            present = {c.tag for c in parent}
            where = self.path_of(parent)
            for name in self.required.get(self.key_of(parent), []):
                if name not in present and f"{where}.{name}" not in reported:
                    message = (
                        f"Element '{parent.tag}': '{name}' manquant (non signalé par libxml2 après une première erreur)"
                    )
                    out.append(SchemaError((f"{where}.{name}",), message, parent.sourceline))
        return out

    def path_of(self, element) -> str:
        parts = []
        while element is not None:
            parent = element.getparent()
            name = element.tag
            same = [s for s in parent if s.tag == name] if parent is not None else [element]
            repeat = parent is not None and (parent.getparent() is None or self.key_of(element) in self.repeatable)
            parts.append(f"{name}[{same.index(element)}]" if repeat or len(same) > 1 else name)
            element = parent
        return ".".join(reversed(parts))

    def element_at(self, root, path: str):
        """The element a dotted path names, or its deepest existing ancestor (None if the root differs)."""
        parts = segments(path)
        if not parts or parts[0] != root.tag:
            return None
        current, i = root, 1
        while i < len(parts):
            name, index = parts[i], 0
            if i + 1 < len(parts) and parts[i + 1].startswith("["):
                index = int(parts[i + 1][1:-1])
                i += 1
            children = [c for c in current if c.tag == name]
            if index >= len(children):
                break
            current = children[index]
            i += 1
        return current


def _declared_key(decl) -> Key:
    """Names of the element declarations enclosing ``decl``, outermost first."""
    names = []
    node = decl.getparent()
    while node is not None:
        if node.tag == f"{XS}element" and node.get("name"):
            names.append(node.get("name"))
        node = node.getparent()
    return tuple(reversed(names))


def _repeats(decl) -> bool:
    if decl.get("maxOccurs") not in (None, "0", "1"):
        return True
    node = decl.getparent()
    while node is not None and node.tag != f"{XS}element":
        if node.tag in (f"{XS}sequence", f"{XS}choice") and node.get("maxOccurs") not in (None, "0", "1"):
            return True
        node = node.getparent()
    return False


def _facets(decl) -> Facets:
    if decl.get("type"):
        return Facets(base=decl.get("type"))
    restriction = None
    for node in decl.iter(f"{XS}restriction", f"{XS}element"):
        if node.tag == f"{XS}element" and node is not decl:
            break  # a complex element: its children have their own facets
        if node.tag == f"{XS}restriction":
            restriction = node
            break
    if restriction is None:
        return Facets()

    def value(name: str):
        found = restriction.find(f"{XS}{name}")
        return None if found is None else found.get("value")

    number = {k: value(k) for k in ("minInclusive", "maxInclusive", "minLength", "maxLength")}
    return Facets(
        base=restriction.get("base"),
        enumeration=tuple(e.get("value") for e in restriction.findall(f"{XS}enumeration")),
        pattern=value("pattern"),
        min_length=int(number["minLength"]) if number["minLength"] else None,
        max_length=int(number["maxLength"]) if number["maxLength"] else None,
        minimum=float(number["minInclusive"]) if number["minInclusive"] else None,
        maximum=float(number["maxInclusive"]) if number["maxInclusive"] else None,
    )


# -- the oracle of each generation ---------------------------------------------------------------------

GENERATIONS = ("json-2019", "json-2022", "xml-2022", "xml-2019")


@cache
def oracle(generation: str) -> JsonOracle | XmlOracle:
    if generation == "json-2019":
        return JsonOracle(SCHEMAS / "v1.5.0" / "marches.json", jsonschema.Draft4Validator)
    if generation == "json-2022":
        return JsonOracle(SCHEMAS / "v2.0.3" / "schema_decp_v2.0.3.json", jsonschema.Draft7Validator)
    if generation == "xml-2022":
        return XmlOracle(SCHEMAS / "v2.0.3" / "schema_decp_v2.0.2.xsd")
    return XmlOracle(SCHEMAS / "v1.5.0" / "marches.xsd")
