"""Documents for the official-schema differential test: base records, and mutated records written out.

Base records are the official examples and files of the project's generator, deduplicated. A
document holds independent records: each gets an id of its own (last 4 characters replaced by a
counter, ``uid`` recomputed), so that no rule about duplicates ties two of them together.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from marches.generate import generate
from tests.conftest import EXAMPLES
from tests.official_mutations import json_mutations, json_nodes, json_record_mutations, xml_mutations, xml_nodes
from tests.official_schemas import XmlOracle, joined, oracle, record_kind, segments

EXAMPLE_DIRS = {
    "json-2019": EXAMPLES / "v1.5.0" / "json",
    "json-2022": EXAMPLES / "v2.0.3" / "json",
    "xml-2022": EXAMPLES / "v2.0.3" / "xml",
    "xml-2019": EXAMPLES / "v1.5.0" / "xml",
}
GENERATED = {"json-2019": 11, "json-2022": 12, "xml-2022": 13}  # format -> seed of the generator
RECORD_REPLACEMENTS = ("null", "as-number", "as-boolean")  # values that do not depend on the record
BASES = {g: ("official", "generated") if g in GENERATED else ("official",) for g in EXAMPLE_DIRS}
# XML container mutations made on the bytes written: what the tree API cannot say or would correct
XML_CONTAINER_EDITS = {
    "container-namespace": lambda d: d.replace(b"<marches>", b'<marches xmlns="http://example.org/decp">', 1),
    "container-text": lambda d: d.replace(b"<marches>", b"<marches>du texte", 1),
    "container-attribute": lambda d: d.replace(b"<marches>", b'<marches lang="fr">', 1),
    # UTF-8 bytes declared ISO-8859-1: the oracle reads « MarchÃ© » as any conforming parser does
    "container-declared-latin1": lambda d: d.replace(b"encoding='UTF-8'", b"encoding='ISO-8859-1'", 1),
}


# -- base records ----------------------------------------------------------------------------------------


@dataclass
class Base:
    name: str  # where the record comes from: "marches_concessions.json#marche[0]"
    kind: str  # "marche" or "concession"
    data: Any  # a dict (JSON) or an lxml element (XML)


def _records_of(generation: str, path: Path) -> list[tuple[str, str, Any]]:
    if generation.startswith("xml"):
        root = etree.parse(str(path)).getroot()
        elements = [root] if root.tag != "marches" else [e for e in root if isinstance(e.tag, str)]
        counts: dict[str, int] = {}
        out = []
        for e in elements:
            counts[e.tag] = counts.get(e.tag, 0) + 1
            out.append((f"{e.tag}[{counts[e.tag] - 1}]", "marche" if e.tag == "marche" else "concession", e))
        return out
    document = json.loads(path.read_text(encoding="utf-8"))
    if generation == "json-2019":
        return [(f"marches[{i}]", record_kind(r), r) for i, r in enumerate(document["marches"])]
    return [
        (f"{key}[{i}]", "marche" if key == "marche" else "concession", r)
        for key in ("marche", "contrat-concession")
        for i, r in enumerate(document["marches"].get(key, []))
    ]


def _canonical(data) -> str:
    return etree.tostring(data, method="c14n").decode() if hasattr(data, "tag") else json.dumps(data, sort_keys=True)


def base_files(generation: str, base: str, directory: Path) -> list[Path]:
    extension = _extension(generation)
    if base == "official":
        return sorted(EXAMPLE_DIRS[generation].glob(f"*.{extension}"))
    out = directory / f"generated-{generation}.{extension}"
    if not out.exists():
        generate(out, generation, contracts=8, seed=GENERATED[generation], concession_share=0.25)
    return [out]


def _extension(generation: str) -> str:
    return "xml" if generation.startswith("xml") else "json"


def load_bases(generation: str, base: str, directory: Path) -> list[Base]:
    seen, out = set(), []
    for path in base_files(generation, base, directory):
        for where, kind, data in _records_of(generation, path):
            key = _canonical(data)
            if key not in seen:
                seen.add(key)
                out.append(Base(f"{path.name}#{where}", kind, data))
    return out


# -- mutated documents -----------------------------------------------------------------------------------


@dataclass
class Case:
    """One record of a mutated document."""

    position: int
    prefix: str  # dotted path of the record in the document
    origin: str
    mutation: str
    base: int  # index of its base record, for the findings the unmutated record already had
    kind: str  # the kind of mutation ("none" for the unmutated record)


@dataclass
class Document:
    generation: str
    path: Path
    cases: list[Case]
    tree: Any = None  # XML: the document as written, with its line numbers

    def __post_init__(self) -> None:
        self._index = {c.prefix: c for c in self.cases}
        self._depths = sorted({len(segments(c.prefix)) for c in self.cases}, reverse=True)

    def case_at(self, path: str) -> Case | None:
        """The record whose path is ``path`` or one of its ancestors."""
        parts = segments(path)
        for depth in self._depths:
            if len(parts) >= depth and (case := self._index.get(joined(parts[:depth]))):
                return case
        return None


def _renumber(data, n: int):
    """The record with an id of its own (last 4 characters replaced), so that no two records collide."""

    def fresh(old: str) -> str:
        return (old[:-4] if len(old) >= 4 else old) + f"{n:04d}"

    if hasattr(data, "tag"):
        ident, uid = data.find("id"), data.find("uid")
        if ident is not None and ident.text:
            ident.text = fresh(ident.text.strip())
            buyer = (
                data.find("acheteur/id") if data.find("acheteur/id") is not None else data.find("autoriteConcedante/id")
            )
            if uid is not None and buyer is not None:
                uid.text = f"{buyer.text}{ident.text}"
    elif isinstance(data, dict) and isinstance(data.get("id"), str):
        data["id"] = fresh(data["id"])
        if "uid" in data:
            buyer = (data.get("acheteur") or data.get("autoriteConcedante") or {}).get("id", "")
            data["uid"] = f"{buyer}{data['id']}"
    return data


class Mutator:
    """Every mutation of every field path of the base records of one generation and base."""

    def __init__(self, generation: str, bases: list[Base]):
        self.generation, self.bases = generation, bases
        self.ops: dict[str, dict[tuple, list[tuple[int, tuple, Any]]]] = {}  # kind -> normalized path -> candidates
        the_oracle = oracle(generation)
        for i, b in enumerate(bases):
            if isinstance(the_oracle, XmlOracle):
                for path, element in xml_nodes(b.data):
                    key = (b.data.tag, *(t for t, _ in path))
                    tags = {c.tag for c in element if isinstance(c.tag, str)}
                    wraps = len(tags) == 1 and (*key, *tags) in the_oracle.repeatable
                    ops = xml_mutations(b.data, path, the_oracle.facets.get(key), wraps)
                    self._add(i, (b.kind, *key[1:]), path, ops)
            else:
                for path, _value in json_nodes(b.data):
                    ops = json_mutations(b.data, path, the_oracle.subschema(b.kind, path), generation)
                    if not path:  # a record replaced by null, 1 or true: once per document, or the 2019 list repeats
                        shared = {k: ops.pop(k) for k in RECORD_REPLACEMENTS if k in ops}
                        self._add(i, ("<record>",), path, shared)
                    self._add(i, (b.kind, *("*" if isinstance(p, int) else p for p in path)), path, ops)
                self._add(i, (b.kind, "<record>"), (), json_record_mutations(b.data, b.kind, generation))

    def _add(self, base: int, normalized: tuple, path: tuple, ops: dict) -> None:
        for kind, op in ops.items():
            self.ops.setdefault(kind, {}).setdefault(normalized, []).append((base, path, op))

    def records(self, kind: str) -> list[tuple[str, int, str, Any]]:
        """(kind, base index, label, operation): one per distinct field path, seeded choice of record."""
        if kind == "none" or kind.startswith("container-"):
            return [(kind, i, "(aucune)" if kind == "none" else kind, _same) for i in range(len(self.bases))]
        rng = random.Random(f"{self.generation}/{kind}")
        out = []
        for candidates in self.ops.get(kind, {}).values():
            base, path, op = rng.choice(candidates)
            out.append((kind, base, f"{_label(path)} : {kind}", op))
        return out


def _same(record):
    return record


def _label(path: tuple) -> str:
    if path and isinstance(path[0], tuple):  # XML (tag, index) pairs
        return ".".join(f"{t}[{i}]" for t, i in path) or "<record>"
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[") or "<record>"


def write_document(generation: str, bases: list[Base], records, path: Path, container: str | None = None) -> Document:
    """The records in one file of the generation's shape, each with an id of its own.

    ``records``: (mutation kind, base index, label, operation); independent mutations share a file.
    """
    assert len(records) < 10_000, "the 4-digit counter that keeps ids apart would lengthen the ids"
    cases: list[Case] = []
    kinds = [kind for kind, *_ in records]
    placed = [
        (b, (label, kinds[n]), op(_renumber(copy.deepcopy(bases[b].data), n + 1)))
        for n, (_kind, b, label, op) in enumerate(records)
    ]
    if generation.startswith("xml"):
        root = etree.Element("marches")
        counts: dict[str, int] = {}
        for position, (b, label, data) in enumerate(placed):
            tag = data.tag if hasattr(data, "tag") else "?"
            cases.append(Case(position, f"marches.{tag}[{counts.get(tag, 0)}]", bases[b].name, label[0], b, label[1]))
            counts[tag] = counts.get(tag, 0) + 1
            root.append(data)
        if container == "container-unknown-element":
            root.insert(0, etree.Element("autre"))
        if container == "container-empty":
            root, cases = etree.Element("marches"), []
        etree.indent(root, space="  ")
        data = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
        path.write_bytes(XML_CONTAINER_EDITS.get(container, _same)(data))
        return Document(generation, path, cases, etree.parse(str(path)))
    if generation == "json-2019":
        items = [data for _, _, data in placed]
        cases = [
            Case(p, f"marches[{p}]", bases[b].name, *label[:1], b, label[1]) for p, (b, label, _) in enumerate(placed)
        ]
        document: Any = {"marches": items}
        if container == "container-object":
            document = {"marches": {"marche": items}}
            cases = [Case(c.position, f"marches.marche[{c.position}]", *_rest(c)) for c in cases]
        elif container == "container-empty":
            document, cases = {"marches": []}, []
        elif container == "container-root-extra":
            document["version"] = "1.5.0"
    else:
        lists: dict[str, list] = {"marche": [], "contrat-concession": []}
        for b, label, data in sorted(placed, key=lambda r: bases[r[0]].kind != "marche"):
            key = "marche" if bases[b].kind == "marche" else "contrat-concession"
            cases.append(Case(len(cases), f"marches.{key}[{len(lists[key])}]", bases[b].name, label[0], b, label[1]))
            lists[key].append(data)
        document = {"marches": {k: v for k, v in lists.items() if v}}
        if container == "container-key-case":
            document = {"marches": {k.capitalize(): v for k, v in lists.items() if v}}
            cases = [
                Case(c.position, c.prefix.replace("marche[", "Marche[").replace("contrat-", "Contrat-"), *_rest(c))
                for c in cases
            ]
        elif container == "container-single-object":
            document = {"marches": {"marche": lists["marche"][0]}}
            cases = [Case(0, "marches.marche", *_rest(cases[0]))]
        elif container == "container-extra-key":
            document["marches"]["autre"] = []
        elif container == "container-empty":
            document, cases = {"marches": {"marche": []}}, []
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    return Document(generation, path, cases)


def _rest(case: Case) -> tuple:
    return case.origin, case.mutation, case.base, case.kind
