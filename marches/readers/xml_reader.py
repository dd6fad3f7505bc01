"""Streaming, safe reader of DECP XML files (2019 and 2022 generations).

Safety: a DTD is refused outright (DECP XML has none), entities are never resolved, the network
is never used, and libxml2's huge-tree mode stays off. Records are converted to the same nested
dictionaries as JSON records, then released, so memory does not grow with the file.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from marches.errors import InputError
from marches.readers.base import RawRecord, Source, hash_file

RECORD_TAGS = {"marche": "marche", "contrat-concession": "concession"}
ROOT_TAGS = {"marches", *RECORD_TAGS}
_FIRST_TAG = re.compile(rb"<([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")


def prepare(path: Path, name: str) -> Source:
    sha, found = hash_file(path, (b"<!DOCTYPE", b"<!ENTITY"))
    source = Source(path=path, name=name, sha256=sha, size=path.stat().st_size, shape="xml")
    if found[b"<!DOCTYPE"] or found[b"<!ENTITY"]:
        raise InputError(
            name,
            "déclaration DOCTYPE ou ENTITY refusée : un fichier DECP n'en contient pas, "
            "et elles permettent des attaques (entités externes, « billion laughs »)",
            records_read=0,
        )
    return source


_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_SINGLE_BYTE = re.compile(r"^(iso-?8859-\d+|latin-?\d|l\d|windows-125\d|cp125\d|us-ascii|ascii)$", re.I)


def _root_tag(source: Source) -> str:
    with source.path.open("rb") as fh:
        head = fh.read(1 << 16)
    body = re.sub(rb"<\?.*?\?>|<!--.*?-->", b"", head, flags=re.S)
    m = _FIRST_TAG.search(body)
    if not m:
        raise InputError(source.name, "aucun élément XML trouvé", line=1, records_read=0)
    return m.group(2).decode("ascii", "replace")


def _utf8(path: Path) -> tuple[bool, bool]:
    """(the bytes are valid UTF-8, they hold multibyte characters), in one streaming pass."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    multibyte = False
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return False, multibyte
            multibyte = multibyte or not chunk.isascii()
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False, multibyte
    return True, multibyte


def _encoding(source: Source) -> str | None:
    """The encoding to read the file with when its declaration contradicts its bytes (noted), else None."""
    with source.path.open("rb") as fh:
        head = fh.read(512)
    m = _DECLARED.match(head)
    declared = m.group(1).decode("ascii") if m else "UTF-8"
    valid, multibyte = _utf8(source.path)
    if _SINGLE_BYTE.match(declared) and valid and multibyte:
        source.note(
            "encoding-mismatch",
            f"Le fichier déclare l'encodage {declared} mais il est écrit en UTF-8 : lu en UTF-8. "
            'Corrigez la déclaration : <?xml version="1.0" encoding="UTF-8"?>.',
        )
        return "utf-8"
    if declared.lower().replace("_", "-") in ("utf-8", "utf8") and not valid:
        source.note(
            "encoding-mismatch",
            f"Le fichier {'déclare' if m else 'est lu par défaut en'} UTF-8 mais ses octets n'en sont pas "
            "(Windows-1252 sans doute) : lu en Windows-1252. Enregistrez-le en UTF-8.",
        )
        return "windows-1252"
    return None


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def element_to_value(el, lines: dict[str, int] | None = None, rel: str = ""):
    """An element as JSON-like data: text for a leaf, a dict for children (repeated tags -> list).

    ``lines`` receives the line of every descendant, keyed by its path relative to ``el``: the
    first of same-named siblings as ``a.b``, the next ones as ``a.b[1]``, ``a.b[2]``.
    """
    children = [c for c in el if isinstance(c.tag, str)]
    if not children:
        return el.text or ""  # as published: spaces around a value the format closes are a deviation
    out: dict = {}
    seen: dict[str, int] = {}
    for child in children:
        key = _local(child.tag)
        rank = seen.get(key, 0)
        seen[key] = rank + 1
        child_rel = (f"{rel}.{key}" if rel else key) + (f"[{rank}]" if rank else "")
        if lines is not None:
            lines[child_rel] = child.sourceline
        value = element_to_value(child, lines, child_rel)
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


def read_xml(source: Source) -> Iterator[RawRecord]:
    root = _root_tag(source)
    if root not in ROOT_TAGS:
        raise InputError(
            source.name,
            f"élément racine <{root}> inattendu : attendu <marches>, <marche> ou <contrat-concession>",
            line=1,
            records_read=0,
        )
    encoding = _encoding(source)
    source.work = source.size
    counters = dict.fromkeys(RECORD_TAGS, 0)
    position = 0
    with source.path.open("rb") as fh:
        parser = etree.iterparse(
            fh,
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
                record = RawRecord(
                    kind=RECORD_TAGS[local],
                    data=element_to_value(el, lines),
                    text=etree.tostring(el, encoding="unicode", with_tail=False),
                    source=source,
                    position=position,
                    path=path,
                    origin="xml",
                    line=el.sourceline,
                    lines=lines,
                )
                source.bytes_read = fh.tell()
                yield record
                position += 1
                el.clear(keep_tail=True)
                if parent is not None:
                    while el.getprevious() is not None:
                        del parent[0]
        except etree.XMLSyntaxError as exc:
            line, column = exc.position if exc.position else (getattr(exc, "lineno", None), None)
            message = exc.msg or str(exc)
            problem = (
                "encodage invalide : le fichier n'est pas en UTF-8"
                if "UTF-8" in message or "encoding" in message
                else f"XML invalide : {message}"
            )
            raise InputError(source.name, problem, line=line, column=column, records_read=position) from exc
    source.bytes_read = source.size
    source.records = position
    if position == 0:
        source.note(
            "no-record",
            "Aucun contrat lu dans ce fichier : <marches> ne contient ni <marche> ni <contrat-concession>.",
        )
