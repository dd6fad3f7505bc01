"""Streaming, safe reader of DECP XML files (2019 and 2022 generations).

Safety: a DTD is refused outright (DECP XML has none: a ``<!DOCTYPE`` or ``<!ENTITY`` in the
prolog, before the root element, is refused; the same text inside a CDATA section or a comment
is harmless data), only the encodings DECP publishers use are read (UTF-8, UTF-16, the ISO-8859
and Windows single-byte families: a file declared in UTF-7 or EBCDIC could hide markup from any
byte-level check), entities are never resolved, the network is never used, and libxml2's
huge-tree mode stays off. Records are converted to the same nested dictionaries as JSON records,
then released, so memory does not grow with the file.

What XML forbids but whose meaning is clear is read with a finding: control characters (replaced
by a space, so that lines and offsets stay true), text mixed with elements, a declared encoding
the bytes contradict.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from lxml import etree

from marches.errors import InputError
from marches.readers.base import RawRecord, Source, hash_file, value_too_long
from marches.regulation import LISTS, OBJECT_KEYS, VALUE_LISTS

RECORD_TAGS = {"marche": "marche", "contrat-concession": "concession"}
ROOT_TAGS = {"marches", *RECORD_TAGS}
# elements that hold other elements in the format: stray text in them is dropped (with a finding)
CONTAINERS = frozenset(
    {"marches", *RECORD_TAGS, *OBJECT_KEYS, *VALUE_LISTS}
    | {spec.name for spec in LISTS.values()}
    | {spec.item for spec in LISTS.values()}
    | {"modificationActesSousTraitance"}
)
_NAME = re.compile(r"[A-Za-z_][\w.\-]*(:[A-Za-z_][\w.\-]*)?")
_DECLARED = re.compile(r"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_SINGLE_BYTE = re.compile(r"^(iso-?8859-\d+|latin-?\d|l\d|windows-125\d|cp125\d|us-ascii|ascii)$", re.I)
_UNICODE = re.compile(r"^utf-?(8|16|16le|16be)$", re.I)
# bytes XML 1.0 forbids (every control character but tab, newline, carriage return), raw or as a reference
_CONTROL = re.compile(
    rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|&#(?:x0*[0-8bBcCeEfF]|x0*1[0-9a-fA-F]|0*(?:[0-8]|1[124-9]|2[0-9]|3[01]));"
)
PROLOG_LIMIT = 1 << 20


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
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif head.startswith(b"<\x00"):
        encoding = "utf-16-le"
    elif head.startswith(b"\x00<"):
        encoding = "utf-16-be"
    elif head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise InputError(
            source.name,
            "encodage UTF-32 non pris en charge",
            offset=0,
            records_read=0,
            hint="Enregistrez le fichier en UTF-8",
        )
    else:
        encoding = "utf-8"
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


def _reading_encoding(source: Source) -> str | None:
    """The encoding to read the file with when its declaration contradicts its bytes (noted), else None."""
    scan = source.scan
    if scan.encoding != "utf-8":
        return None  # UTF-16: libxml2 reads it from its byte order mark
    declared = scan.declared or "UTF-8"
    if _SINGLE_BYTE.match(declared) and scan.valid_utf8 and scan.multibyte:
        source.note(
            "encoding-mismatch",
            f"Le fichier déclare l'encodage {declared} mais il est écrit en UTF-8 : lu en UTF-8. "
            'Corrigez la déclaration : <?xml version="1.0" encoding="UTF-8"?>.',
        )
        return "utf-8"
    if declared.lower().replace("_", "-") in ("utf-8", "utf8") and not scan.valid_utf8:
        source.note(
            "encoding-mismatch",
            f"Le fichier {'déclare' if scan.declared else 'est lu par défaut en'} UTF-8 mais ses octets n'en sont "
            "pas (Windows-1252 sans doute) : lu en Windows-1252. Enregistrez-le en UTF-8.",
        )
        return "windows-1252"
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


def element_to_value(el, lines: dict[str, int] | None = None, rel: str = "", notes: list | None = None):
    """An element as JSON-like data: text for a leaf, a dict for children (repeated tags -> list).

    ``lines`` receives the line of every descendant, keyed by its path relative to ``el``: the
    first of same-named siblings as ``a.b``, the next ones as ``a.b[1]``, ``a.b[2]``. Text mixed
    with elements is noted in ``notes`` (path, message): a field of the format is read as its whole
    text, stray text in an object of the format is left out.
    """
    children = [c for c in el if isinstance(c.tag, str)]
    if not children:
        return el.text or ""  # as published: spaces around a value the format closes are a deviation
    stray = " ".join(t.strip() for t in [el.text, *(c.tail for c in el)] if t and t.strip())
    if stray:
        name = _local(el.tag)
        if name not in CONTAINERS:
            text = "".join(el.itertext())
            if notes is not None:
                tags = ", ".join(sorted({f"<{_local(c.tag)}>" for c in children}))
                notes.append(
                    (
                        rel,
                        f"« {rel or name} » : du texte mêlé à des éléments XML ({tags}) ; lu comme le "
                        f"texte « {text.strip()} ». Publiez du texte seul.",
                    )
                )
            return text
        if notes is not None:
            notes.append((rel, f"« {rel or name} » : du texte hors des éléments (« {stray} ») ; ignoré."))
    out: dict = {}
    seen: dict[str, int] = {}
    for child in children:
        key = _local(child.tag)
        rank = seen.get(key, 0)
        seen[key] = rank + 1
        child_rel = (f"{rel}.{key}" if rel else key) + (f"[{rank}]" if rank else "")
        if lines is not None:
            lines[child_rel] = child.sourceline
        value = element_to_value(child, lines, child_rel, notes)
        if key in out:
            previous = out[key]
            if isinstance(previous, list) and getattr(previous, "_repeated", False):
                previous.append(value)
            else:
                out[key] = _Repeated([previous, value])
        else:
            out[key] = value
    return out


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
)


def _french(message: str) -> str:
    for english, french in _LIBXML:
        if english in message:
            return french
    detail = re.sub(r",? line \d+, column \d+", "", message).strip()
    return f"XML mal formé (libxml2 : {detail})"


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
                at_record_level = (
                    parent is None if root != "marches" else (parent is not None and parent.getparent() is None)
                )
                if not at_record_level:
                    continue
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
                lines: dict[str, int] = {}
                notes: list[tuple[str, str]] = []
                record = RawRecord(
                    kind=RECORD_TAGS[local],
                    data=element_to_value(el, lines, notes=notes),
                    text=etree.tostring(el, encoding="unicode", with_tail=False),
                    source=source,
                    position=position,
                    path=path,
                    origin="xml",
                    line=el.sourceline,
                    lines=lines,
                )
                for rel, message in notes:
                    record.note("wrong-type", message, path=f"{path}.{rel}" if rel else path, line=lines.get(rel))
                source.bytes_read = fh.tell()
                yield record
                position += 1
                el.clear(keep_tail=True)
                if parent is not None:
                    while el.getprevious() is not None:
                        del parent[0]
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
