"""Streaming, safe reader of DECP XML files (2019 and 2022 generations).

Safety: a DTD is refused outright (DECP XML has none: a ``<!DOCTYPE`` or ``<!ENTITY`` in the
prolog, before the root element, is refused; the same text inside a CDATA section or a comment
is harmless data), only the encodings DECP publishers use are read (UTF-8, UTF-16, the ISO-8859
and Windows single-byte families: a file declared in UTF-7 or EBCDIC could hide markup from any
byte-level check), entities are never resolved, the network is never used, and libxml2's
huge-tree mode stays off. Records are converted to the same nested dictionaries as JSON records,
then released, so memory does not grow with the file.

What XML or the format forbids but whose meaning is clear is read with an error: control
characters (replaced by a space, so that lines and offsets stay true), text mixed with elements,
a declared encoding the bytes contradict (read in the encoding of the bytes), attributes (the
format has none: their values go to ``extra_fields``), elements in a namespace (read by their
local name).
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.sax import saxutils

from lxml import etree

from marches import french
from marches.errors import InputError
from marches.readers.base import RawRecord, Source, hash_file, value_too_long
from marches.regulation import LISTS, OBJECT_KEYS, VALUE_LISTS, XML_MIXED, XSD_ITEM_NAMES

RECORD_TAGS = {"marche": "marche", "contrat-concession": "concession"}
ROOT_TAGS = {"marches", *RECORD_TAGS}
# elements that hold other elements in the format: stray text in them is dropped (with a finding)
CONTAINERS = frozenset(
    {"marches", *RECORD_TAGS, *OBJECT_KEYS, *VALUE_LISTS}
    | {spec.name for spec in LISTS.values()}
    | {spec.item for spec in LISTS.values()}
    | set(XSD_ITEM_NAMES.values())
)
# XML's white space (the S production of XML 1.0): what may stand between elements. A no-break or any other
# Unicode space is text, which str.strip() would remove.
XML_SPACES = " \t\n\r"
# (list element, item element): an item's published path always carries its index (titulaire[0]); an item
# spelt as either schema spells it
LIST_ITEMS = frozenset(
    {(spec.name, spec.item) for spec in LISTS.values()}
    | {(spec.name, XSD_ITEM_NAMES[spec.item]) for spec in LISTS.values() if spec.item in XSD_ITEM_NAMES}
    | set(VALUE_LISTS.items())
)
# elements a record may repeat: list items, and lists themselves (a repeated list is read whole by the flattener)
REPEATABLE = frozenset({name for pair in LIST_ITEMS for name in pair})
_NAME = re.compile(r"[A-Za-z_][\w.\-]*(:[A-Za-z_][\w.\-]*)?")
_DECLARED = re.compile(r"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_SINGLE_BYTE = re.compile(r"^(iso-?8859-\d+|latin-?\d|l\d|windows-125\d|cp125\d|us-ascii|ascii)$", re.I)
_UNICODE = re.compile(r"^utf-?(8|16|16le|16be)$", re.I)
# bytes XML 1.0 forbids (every control character but tab, newline, carriage return), raw or as a reference
_CONTROL = re.compile(
    rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|&#(?:x0*[0-8bBcCeEfF]|x0*1[0-9a-fA-F]|0*(?:[0-8]|1[124-9]|2[0-9]|3[01]));"
)
PROLOG_LIMIT = 1 << 20
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
# the only attributes an XSD validator accepts on an element that declares none
ALLOWED_ATTRIBUTES = frozenset({f"{XSI}schemaLocation", f"{XSI}noNamespaceSchemaLocation"})
ATTRIBUTES_NAMED = 5  # beyond this many on one element, one finding names the first ones and counts the rest
SHOWN = 200  # characters of a value quoted in a message


class _XmlScan:
    """What the hashing pass learns of an XML file: UTF-8 validity, multibyte text, control characters."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.valid_utf8, self.multibyte, self.controls = True, False, False
        self.tail = b""

    def __call__(self, chunk: bytes) -> None:
        if self.valid_utf8:
            try:
                self.decoder.decode(chunk)
            except UnicodeDecodeError:
                self.valid_utf8 = False
        self.multibyte = self.multibyte or not chunk.isascii()
        self.controls = self.controls or bool(_CONTROL.search(self.tail + chunk))
        self.tail = chunk[-8:]


def prepare(path: Path, name: str) -> Source:
    scan = _XmlScan()
    sha, _ = hash_file(path, observe=scan)
    source = Source(path=path, name=name, sha256=sha, size=path.stat().st_size, shape="xml", scan=scan)
    if scan.valid_utf8:
        try:
            scan.decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            scan.valid_utf8 = False
    scan.encoding, scan.declared, scan.root, scan.root_line = _prolog(source)
    return source


def _prolog(source: Source) -> tuple[str, str | None, str, int]:
    """(encoding of the bytes, encoding declared, root element, its line), refusing DTDs and odd encodings."""
    with source.path.open("rb") as fh:
        head = fh.read(PROLOG_LIMIT)
    encoding = _encoding_of_bytes(source, head)
    text = head.decode(encoding, "replace").lstrip("\ufeff")
    m = _DECLARED.match(text)
    declared = m.group(1) if m else None
    if declared and not (_UNICODE.match(declared) or _SINGLE_BYTE.match(declared)):
        raise InputError(
            source.name,
            f"encodage déclaré « {declared} » non pris en charge : un fichier DECP s'écrit en UTF-8",
            line=1,
            records_read=0,
            hint='Enregistrez-le en UTF-8 avec la déclaration <?xml version="1.0" encoding="UTF-8"?>',
        )
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        rest = text[position:]
        closing = {"<?": "?>", "<!--": "-->"}
        opener = next((o for o in closing if rest.startswith(o)), None)
        if opener is not None:
            end = rest.find(closing[opener])
            if end < 0:
                raise InputError(
                    source.name,
                    "prologue XML non terminé ou trop long (plus de 1 Mo avant la racine)",
                    line=text.count("\n", 0, position) + 1,
                    records_read=0,
                )
            position += end + len(closing[opener])
            continue
        if rest.startswith(("<!DOCTYPE", "<!ENTITY", "<!doctype")):
            raise InputError(
                source.name,
                "déclaration DOCTYPE ou ENTITY refusée : un fichier DECP n'en contient pas, "
                "et elles permettent des attaques (entités externes, « billion laughs »)",
                line=text.count("\n", 0, position) + 1,
                records_read=0,
            )
        name = _NAME.match(rest, 1) if rest.startswith("<") else None
        if name is None:
            raise InputError(
                source.name,
                "aucun élément XML trouvé en tête du fichier",
                line=text.count("\n", 0, position) + 1,
                records_read=0,
            )
        return encoding, declared, name.group(0).rsplit(":", 1)[-1], text.count("\n", 0, position) + 1


_UNSUPPORTED_BYTES = (  # first bytes of "<?" in encodings no DECP publisher uses, and their name
    ((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, b"<\x00\x00\x00", b"\x00\x00\x00<"), "UTF-32"),
    ((b"\x4c\x6f\xa7\x94",), "EBCDIC"),
)


def _encoding_of_bytes(source: Source, head: bytes) -> str:
    """'utf-8' (any ASCII-compatible encoding), 'utf-16-le' or 'utf-16-be', from the first bytes; UTF-32 and
    EBCDIC refused (UTF-32's byte order mark begins like UTF-16's, so it is tested first)."""
    for starts, name in _UNSUPPORTED_BYTES:
        if head.startswith(starts):
            raise InputError(
                source.name,
                f"encodage {name} non pris en charge : un fichier DECP s'écrit en UTF-8",
                offset=0,
                records_read=0,
                hint='Enregistrez-le en UTF-8 avec la déclaration <?xml version="1.0" encoding="UTF-8"?>',
            )
    if head.startswith((codecs.BOM_UTF16_LE, b"<\x00")):
        return "utf-16-le"
    if head.startswith((codecs.BOM_UTF16_BE, b"\x00<")):
        return "utf-16-be"
    return "utf-8"


def _normalized(encoding: str) -> str:
    return encoding.lower().replace("_", "-").replace("utf8", "utf-8").replace("utf16", "utf-16")


def _reading_encoding(source: Source) -> str | None:
    """The encoding to read the file with when its declaration contradicts its bytes, else None.

    A contradiction is an error (a conforming reader refuses the file or reads wrong characters),
    noted once for the file; the text is read in the encoding of its bytes."""
    scan = source.scan
    declared = _normalized(scan.declared) if scan.declared else None
    said = f"déclare l'encodage {scan.declared}" if scan.declared else "ne déclare pas d'encodage (il vaut alors UTF-8)"
    fix = 'Corrigez la déclaration : <?xml version="1.0" encoding="UTF-8"?>.'
    if scan.encoding != "utf-8":  # UTF-16 bytes: libxml2 reads them from their first bytes
        actual = scan.encoding.replace("utf-16-", "UTF-16").upper()
        if declared and declared not in (
            "utf-16",
            scan.encoding,
            scan.encoding.replace("-le", "le").replace("-be", "be"),
        ):
            source.note(
                "encoding-mismatch",
                f"Le fichier {said} mais ses octets sont en {actual} : la déclaration est fausse (une erreur selon la "
                f"norme XML). marches le lit en {actual}. Enregistrez-le en UTF-8 avec la déclaration "
                '<?xml version="1.0" encoding="UTF-8"?>.',
            )
        return None
    real = "utf-8" if scan.valid_utf8 else "windows-1252"
    shown = "UTF-8" if scan.valid_utf8 else "Windows-1252"
    if declared is None or declared == "utf-8":
        if scan.valid_utf8:
            return None
        source.note(
            "encoding-mismatch",
            f"Le fichier {said} mais ses octets ne sont pas de l'UTF-8 (Windows-1252 ou ISO-8859-1 sans doute) : ce n'est pas du XML "
            "bien formé, un lecteur conforme le refuse. marches le lit en Windows-1252. Enregistrez-le en UTF-8.",
        )
        return real
    if declared.startswith("utf-16"):
        source.note(
            "encoding-mismatch",
            f"Le fichier {said} mais ses octets sont en {shown} : un lecteur conforme le refuse. marches le lit en "
            f"{shown}. {fix}",
        )
        return real
    ascii_declared = declared in ("ascii", "us-ascii")
    if scan.multibyte and (scan.valid_utf8 or ascii_declared):
        source.note(
            "encoding-mismatch",
            f"Le fichier {said} mais ses octets sont en {shown} : un lecteur conforme "
            + ("le refuse" if ascii_declared else "y lit des caractères faux (« MarchÃ© » pour « Marché »)")
            + f". marches le lit en {shown}. {fix}",
        )
        return real
    return None


class _ControlFilter(io.RawIOBase):
    """Replaces the control characters XML forbids by spaces of the same length (lines and offsets stay
    true) and notes where each was, so that the file can still be read."""

    def __init__(self, raw, found: Callable[[int, str], None]):
        self.raw, self.found, self.line, self.tail = raw, found, 1, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self.raw.read(max(1, len(buffer) - len(self.tail)))
        data, self.tail = self.tail + chunk, b""
        if not data:
            return 0
        if chunk:  # more may follow: a character reference cut at the end waits for the next read
            amp = data.rfind(b"&", max(0, len(data) - 10))
            if amp > 0 and b";" not in data[amp:]:
                data, self.tail = data[:amp], data[amp:]
        out = bytearray(data)
        for m in _CONTROL.finditer(data):
            token = m.group()
            self.found(
                self.line + data.count(b"\n", 0, m.start()), f"U+{token[0]:04X}" if len(token) == 1 else token.decode()
            )
            out[m.start() : m.end()] = b" " * len(token)
        self.line += data.count(b"\n")
        buffer[: len(out)] = out
        return len(out)


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _namespace(tag) -> str:
    return tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""


def _clip(text: str) -> str:
    return text if len(text) <= SHOWN else f"{text[:SHOWN]}…"


def _attribute_name(el, key: str) -> str:
    """``{uri}name`` as the publisher wrote it (``xml:lang``, ``foo:x``)."""
    uri = _namespace(key)
    if not uri:
        return key
    if uri == "http://www.w3.org/XML/1998/namespace":
        return f"xml:{_local(key)}"
    prefix = next((p for p, u in el.nsmap.items() if u == uri and p), None)
    return f"{prefix}:{_local(key)}" if prefix else _local(key)


def foreign_attributes(el) -> list[tuple[str, str]]:
    """The attributes of ``el`` the format does not allow (all but xsi:schemaLocation), as (name, value)."""
    if not el.attrib:
        return []
    if len(el.attrib) > _FEW_ATTRIBUTES:
        return _many_attributes(el)
    return [(_attribute_name(el, k), v) for k, v in el.items() if k not in ALLOWED_ATTRIBUTES]


# lxml fetches each attribute value by name (quadratic in their number): beyond a few, the start tag is
# serialized once and read back
_FEW_ATTRIBUTES = 500
_ATTRIBUTE = re.compile(r'\s([^\s=]+)="([^"]*)"')
_ESCAPES = {"&quot;": '"', "&apos;": "'", "&#10;": "\n", "&#13;": "\r", "&#9;": "\t"}


def _many_attributes(el) -> list[tuple[str, str]]:
    text = etree.tostring(el, encoding="unicode", with_tail=False)
    start = text[: text.index(">")]  # lxml writes ">" in a value as &gt;
    xsi = [p for p, uri in el.nsmap.items() if p and f"{{{uri}}}" == XSI]
    allowed = {f"{p}:{_local(k)}" for p in xsi for k in ALLOWED_ATTRIBUTES}
    return [
        (name, saxutils.unescape(value, _ESCAPES))
        for name, value in _ATTRIBUTE.findall(start)
        if not name.startswith("xmlns") and name not in allowed
    ]


def attribute_messages(name: str, found: list[tuple[str, str]], kept: bool) -> list[tuple[str, str]]:
    """(value, message) for the attributes of element ``name``: one each, or one for many of them."""
    where = "conservée dans extra_fields" if kept else "ignorée (hors de tout contrat)"
    advice = "publiez la valeur dans un élément du format ou retirez l'attribut"
    if len(found) <= ATTRIBUTES_NAMED:
        return [
            (
                value,
                f"« {name} » : attribut {attr}=« {_clip(value)} » ; le format DECP n'a pas d'attributs XML, un "
                f"outil conforme refuse le fichier. Valeur {where} ; {advice}.",
            )
            for attr, value in found
        ]
    named = ", ".join(f"{attr}=« {_clip(value)} »" for attr, value in found[:ATTRIBUTES_NAMED])
    return [
        (
            f"{len(found)} attributs",
            f"« {name} » : {french.plural(len(found), 'attribut')} ({named}…) ; le format DECP n'a pas d'attributs "
            f"XML, un outil conforme refuse le fichier. Valeurs {where.replace('ée', 'ées')} ; {advice}.",
        )
    ]


class _Walk:
    """What reading the elements of one record finds besides values: lines, findings, attribute values."""

    __slots__ = ("extra", "lines", "notes")

    def __init__(self) -> None:
        self.lines: dict[str, int] = {}
        self.notes: list[tuple[str, str, str, str, Any]] = []  # (key of its line, published path, code, message, value)
        self.extra: dict[str, Any] = {}

    def note(self, rel: str, where: str, code: str, message: str, value: Any = None) -> None:
        self.notes.append((rel, where, code, message, value))

    def attributes(self, el, rel: str, where: str) -> None:
        found = foreign_attributes(el)
        if not found:
            return
        for attr, value in found:
            self.extra[f"{where}@{attr}"] = value
        parent = el.getparent()
        if parent is not None and _namespace(parent.tag) != _namespace(el.tag):
            return  # an element of another vocabulary (<xi:include href=…>): its namespace is the one finding
        for value, message in attribute_messages(where or _local(el.tag), found, kept=True):
            self.note(rel, where, "xml-attribute", message, value)


def element_to_value(el, walk: _Walk | None = None, rel: str = "", where: str = ""):
    """An element as JSON-like data: text for a leaf, a dict for children (repeated tags -> list).

    ``walk`` receives the line of every descendant, keyed by its path relative to ``el``: the
    first of same-named siblings as ``a.b``, the next ones as ``a.b[1]``, ``a.b[2]``; and the
    findings on the way: text mixed with elements (a field of the format is read as its whole
    text, stray text in an object of the format is left out), attributes (kept in ``extra``),
    elements in another namespace than their parent's. ``where`` is the published path of ``el``
    (relative to the record), where findings lie: a list item always carries its index.
    """
    name = _local(el.tag)
    if walk is not None:
        walk.attributes(el, rel, where)
    children = [c for c in el if isinstance(c.tag, str)]
    if not children:
        return el.text or ""  # as published: spaces around a value the format closes are a deviation
    stray = " ".join(t.strip(XML_SPACES) for t in [el.text, *(c.tail for c in el)] if t and t.strip(XML_SPACES))
    if stray:
        if name not in CONTAINERS:
            text = "".join(el.itertext())
            if walk is not None:
                tags = ", ".join(sorted({f"<{_local(c.tag)}>" for c in children}))
                walk.note(
                    rel,
                    where,
                    "wrong-type",
                    f"« {where or name} » : du texte mêlé à des éléments XML ({tags}) ; lu comme le "
                    f"texte « {text.strip()} ». Publiez du texte seul.",
                )
            return text
        if walk is not None and name in XML_MIXED:  # the XSD admits it: kept aside, a warning
            walk.extra[f"{where or name}#texte"] = stray
            walk.note(
                rel,
                where,
                "xml-mixed-text",
                f"« {where or name} » : du texte entre ses éléments (« {stray} ») ; le XSD l'admet, mais ce texte "
                "n'est aucune donnée du format : il est conservé dans extra_fields. Retirez-le.",
                stray,
            )
        elif walk is not None:
            walk.note(
                rel,
                where,
                "wrong-type",
                f"« {where or name} » : du texte hors des éléments (« {stray} ») ; ignoré.",
                stray,
            )
    out: dict = {}
    seen: dict[str, int] = {}
    namespace = _namespace(el.tag)
    for child in children:
        key = _local(child.tag)
        rank = seen.get(key, 0)
        seen[key] = rank + 1
        child_rel = (f"{rel}.{key}" if rel else key) + (f"[{rank}]" if rank else "")
        child_where = (f"{where}.{key}" if where else key) + (f"[{rank}]" if rank or (name, key) in LIST_ITEMS else "")
        if walk is not None:
            walk.lines[child_rel] = child.sourceline
            if _namespace(child.tag) != namespace:
                walk.note(child_rel, child_where, "xml-namespace", _namespace_message(child_where, child.tag))
        value = element_to_value(child, walk, child_rel, child_where)
        if key in out and key not in REPEATABLE and walk is not None:
            walk.extra[child_where] = value
            first = out[key]
            times = "deux fois" if rank == 1 else f"{rank + 1} fois"
            walk.note(
                child_rel,
                child_where,
                "duplicate-element",
                f"« {child_where.rsplit('[', 1)[0]} » : l'élément <{key}> figure {times} (ligne "
                f"{walk.lines.get(f'{rel}.{key}' if rel else key)}, puis ligne {child.sourceline}) ; le format n'en "
                "admet qu'un, un outil conforme refuse le contrat. Lu : le premier"
                + (f" (« {_clip(first)} »)" if isinstance(first, str) else "")
                + " ; celui-ci"
                + (f" (« {_clip(value)} »)" if isinstance(value, str) else "")
                + " est conservé dans extra_fields. Retirez la copie.",
                value if isinstance(value, str) else None,
            )
        elif key in out:
            previous = out[key]
            if isinstance(previous, list) and getattr(previous, "_repeated", False):
                previous.append(value)
            else:
                out[key] = _Repeated([previous, value])
        else:
            out[key] = value
    return out


def _namespace_message(where: str, tag: str) -> str:
    uri = _namespace(tag)
    placed = f"dans l'espace de noms « {uri} »" if uri else "hors de l'espace de noms de son parent"
    return (
        f"« {where} » : élément {placed} ; le format DECP n'a pas d'espace de noms, un outil conforme ne reconnaît "
        f"pas cet élément. Lu comme <{_local(tag)}> ; retirez la déclaration xmlns."
    )


class _Repeated(list):
    """A list built from repeated XML elements (as opposed to a value that is itself a list)."""

    _repeated = True


_LIBXML = (  # libxml2's words, and what a publisher reads instead
    ("Resource limit exceeded", value_too_long("un texte ou un attribut")),  # huge_tree=False: MAX_VALUE_BYTES
    ("Opening and ending tag mismatch", "balise fermante qui ne correspond pas à la balise ouvrante"),
    ("Premature end of data", "fichier tronqué : fin de fichier avant la fermeture des éléments"),
    ("EndTag: '</' not found", "fichier tronqué : balise fermante manquante"),
    ("Extra content at the end of the document", "contenu après la fin du document"),
    ("Document is empty", "document vide"),
    ("StartTag: invalid element name", "nom d'élément invalide"),
    ("Couldn't find end of Start Tag", "balise ouvrante non terminée"),
    ("EntityRef: expecting ';'", "« & » isolé : écrivez &amp;"),
    ("Entity '", "entité non déclarée (seules &amp; &lt; &gt; &quot; &apos; existent)"),
    ("xmlParseCharRef: invalid xmlChar value", "référence à un caractère interdit en XML"),
    ("PCDATA invalid Char value", "caractère interdit en XML"),
    ("Char 0x", "caractère interdit en XML"),
    ("Input is not proper UTF-8", "encodage invalide : le fichier n'est pas en UTF-8"),
    ("AttValue: \" or ' expected", "valeur d'attribut sans guillemets"),
    ("attributes construct error", "attribut mal formé"),
    ("Specification mandates value for attribute", "attribut sans valeur"),
    ("Unescaped '<' not allowed", "« < » dans une valeur : écrivez &lt;"),
    ("expected '>'", "« > » attendu : balise mal fermée"),
    ("error parsing attribute name", "attribut mal formé dans une balise"),
    ("no element found", "aucun élément : fichier vide ou tronqué"),
    ("xmlParseEntityRef: no name", "« & » isolé : écrivez &amp;"),
    ("Invalid bytes in character encoding", "octets impossibles dans l'encodage déclaré"),
    ("Start tag expected", "balise ouvrante attendue"),
    (
        "Excessive depth in document",
        "éléments imbriqués trop profondément (plus de 256 niveaux ; un contrat en compte moins de 10)",
    ),
    ("Text node too long", value_too_long("un texte")),
    ("CData section too big", value_too_long("une section CDATA")),
    ("Comment too big", value_too_long("un commentaire")),
    ("PI too big", value_too_long("une instruction de traitement")),
    ("Name too long", "nom d'élément ou d'attribut trop long (plus de 50 000 caractères)"),
    ("Blank needed here", "espace manquante dans une balise ou dans la déclaration <?xml …?>"),
)
# libxml2 advice no publisher can follow (a parser option), removed from a message left untranslated
_OPTION_ADVICE = re.compile(r",?\s*(?:use|try) XML_PARSE_\w+(?: option)?", re.I)


def _french(message: str) -> str:
    for english, translated in _LIBXML:
        if english in message:
            return translated
    detail = _OPTION_ADVICE.sub("", re.sub(r",? line \d+, column \d+", "", message)).strip()
    return f"XML mal formé (message de l'analyseur libxml2 : « {detail} »)"


def _unwrapped(data: dict, path: str, lines: dict[str, int]) -> tuple[Any, str, str, dict[str, int]]:
    """A record published inside another (``<marche><marche>…</marche></marche>``): the inner one, its path,
    kind and lines."""
    ((tag, inner),) = data.items()
    prefix = f"{tag}."
    inner_lines = {k[len(prefix) :]: v for k, v in lines.items() if k.startswith(prefix)}
    return inner, f"{path}.{tag}", RECORD_TAGS[tag], inner_lines


class _Container:
    """The root <marches>: what it holds besides records (attributes, a namespace, text) is reported once
    it is known, on the file."""

    def __init__(self, source: Source):
        self.source, self.root = source, None

    def found(self, root) -> None:
        """The root element, from the first event that reaches it: its start tag and leading text are read."""
        if self.root is not None:
            return
        self.root, source = root, self.source
        name = _local(root.tag)
        if _namespace(root.tag):
            source.note(
                "xml-namespace",
                f"L'élément racine <{name}> est dans l'espace de noms « {_namespace(root.tag)} » (xmlns) ; le format "
                "DECP n'en a pas : un outil conforme ne reconnaît aucun élément du fichier. Les contrats sont lus par "
                "le nom de leurs éléments ; retirez la déclaration xmlns.",
                line=root.sourceline,
            )
        if name != "marches":
            return  # a record as root: its attributes and text are the record's
        for value, message in attribute_messages(name, foreign_attributes(root), kept=False):
            source.note("xml-attribute", message, value, line=root.sourceline)
        first = next((c for c in root if isinstance(c.tag, str)), None)
        self.text(root.text, first.sourceline if first is not None else root.sourceline)

    def text(self, text: str | None, line: int | None) -> None:
        if text and text.strip():
            self.source.note(
                "wrong-type",
                f"« marches » : du texte hors des éléments (« {_clip(text.strip())} ») ; ignoré. <marches> ne contient "
                "que des <marche> et des <contrat-concession> : retirez ce texte.",
                _clip(text.strip()),
                line=line,
            )

    def release(self, child) -> None:
        """Drop the children of the root before ``child`` (read), checking the text after each."""
        parent = child.getparent()
        while child.getprevious() is not None:
            first = parent[0]
            following = first.getnext()
            self.text(first.tail, following.sourceline if following is not None else None)
            del parent[0]

    def close(self, root) -> None:
        """The end of the root: the text after its last children."""
        self.found(root)
        for child in root:
            self.text(child.tail, None)


def read_xml(source: Source) -> Iterator[RawRecord]:
    scan = source.scan
    root = scan.root
    if root not in ROOT_TAGS:
        raise InputError(
            source.name,
            f"élément racine <{root}> inattendu : attendu <marches>, <marche> ou <contrat-concession>",
            line=scan.root_line,
            records_read=0,
        )
    encoding = _reading_encoding(source)
    source.work = source.size
    counters = dict.fromkeys(RECORD_TAGS, 0)
    position = 0
    container = _Container(source)

    def control(line: int, shown: str) -> None:
        source.note(
            "control-character",
            f"Caractère de contrôle {shown} interdit en XML (ligne {line}) : remplacé par une espace pour lire le "
            "fichier. Retirez-le de la donnée.",
            shown,
            line=line,
        )

    with source.open() as fh:
        stream = _ControlFilter(fh, control) if scan.controls and scan.encoding == "utf-8" else fh
        parser = etree.iterparse(
            stream,
            events=("end",),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            encoding=encoding,
        )
        try:
            for _event, el in parser:
                local = _local(el.tag)
                parent = el.getparent()
                if parent is None and root == "marches":
                    container.close(el)
                    continue
                at_record_level = (
                    parent is None if root != "marches" else (parent is not None and parent.getparent() is None)
                )
                if not at_record_level:
                    continue
                container.found(parent if parent is not None else el)
                if local not in RECORD_TAGS:  # <marches> holds records only
                    if isinstance(el.tag, str):
                        source.note(
                            "unknown-container",
                            f"« marches.{local} » (ligne {el.sourceline}) : <marches> ne contient que des <marche> et "
                            "des <contrat-concession> ; élément ignoré.",
                        )
                        el.clear(keep_tail=True)
                    continue
                path = local if parent is None else f"marches.{local}[{counters[local]}]"
                counters[local] += 1
                walk = _Walk()
                data = element_to_value(el, walk)
                kind, lines, outer = RECORD_TAGS[local], walk.lines, path
                if isinstance(data, dict) and len(data) == 1 and next(iter(data)) in RECORD_TAGS:
                    data, path, kind, lines = _unwrapped(data, path, walk.lines)
                record = RawRecord(
                    kind=kind,
                    data=data,
                    text=etree.tostring(el, encoding="unicode", with_tail=False),
                    source=source,
                    position=position,
                    path=path,
                    origin="xml",
                    line=el.sourceline,
                    lines=lines,
                    extra=walk.extra or None,
                )
                if path != outer:
                    inner = path.rsplit(".", 1)[-1]
                    record.note(
                        "nested-record",
                        f"« {path} » : un <{inner}> dans un <{local}> ; lu comme le contrat qu'il contient. Publiez "
                        "chaque contrat directement sous <marches>.",
                        line=walk.lines.get(inner),
                    )
                if parent is not None and _namespace(el.tag) != _namespace(parent.tag):
                    record.note("xml-namespace", _namespace_message(path, el.tag))
                for rel, where, code, message, value in walk.notes:
                    record.note(
                        code, message, value, path=f"{outer}.{where}" if where else outer, line=walk.lines.get(rel)
                    )
                source.bytes_read = fh.tell()
                yield record
                position += 1
                el.clear(keep_tail=True)
                if parent is not None:
                    container.release(el)
        except etree.XMLSyntaxError as exc:
            line, column = exc.position if exc.position else (getattr(exc, "lineno", None), None)
            raise InputError(
                source.name, _french(exc.msg or str(exc)), line=line, column=column, records_read=position
            ) from exc
    source.bytes_read = source.size
    source.records = position
    if position == 0:
        source.note(
            "no-record",
            "Aucun contrat lu dans ce fichier : <marches> ne contient ni <marche> ni <contrat-concession>.",
        )
