"""Nested DECP records -> rows of the tabular model. Pure functions, no I/O.

Both generations land in the same tables. Where a 2019 value means the same thing as a 2022
one it is mapped (documented in the README, "Modèle de données"); where the meaning differs the
published value keeps its own column (``nature_2019``, ``formePrix_2019``, names of 2019).
Every representation oddity met on the way is a finding of the record's context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from marches import normalize as n
from marches.findings import Finding
from marches.flatten.contracts import _concession, _marche
from marches.flatten.structure import _expand_flat_keys, detect_generation, detect_kind
from marches.flatten.vocabulary import CONCESSION_MARKERS, V2_MARKERS
from marches.model import CONCESSION_TABLES, MARCHE_TABLES, ROOT_TABLES
from marches.normalize import RecordContext
from marches.readers.base import RawRecord
from marches.regulation import TYPE_2019, UID_2019_PATTERN

__all__ = ["CONCESSION_MARKERS", "V2_MARKERS", "FlatRecord", "detect_generation", "detect_kind", "flatten"]


@dataclass(slots=True)
class FlatRecord:
    kind: str
    generation: str
    record_key: str
    uid: str | None
    id: str | None
    rows: dict[str, list[dict[str, Any]]]
    findings: list[Finding]
    lines: dict[str, int] | None = None  # XML: element paths (relative to the record) -> line


# A record written inside its own list item's name, once too often ({"marche": {"marche": {…}}} in XML).
_RECORD_WRAPPERS = frozenset({"marche", "contrat-concession", "concession"})

# -- entry point -------------------------------------------------------------------------------------


def flatten(raw: RawRecord) -> FlatRecord:
    """Flatten one raw record into rows of every table of its kind, judged against its own format."""
    if raw.origin == "csv":
        return _from_tables(raw)
    ctx = RecordContext(raw.origin, raw.source.name, raw.position, raw.path, raw.line, raw.lines)
    data = raw.data
    readable = isinstance(data, dict)
    if not readable:
        shown = "null" if data is None else f"« {n._show(data)} »"
        ctx.note(
            "not-an-object",
            "",
            data,
            f"« {raw.path} » vaut {shown} au lieu d'un contrat (un objet) ; retirez cette entrée. "
            "Elle est conservée dans extra_fields.",
        )
        ctx.extra[""] = data
        data = {}
    elif len(data) == 1 and (wrapper := next(iter(data))) in _RECORD_WRAPPERS and isinstance(data[wrapper], dict):
        ctx.note(
            "list-shape",
            wrapper,
            None,
            f"« {raw.path} » : le contrat est enveloppé une fois de trop dans « {wrapper} » ; "
            "publiez l'objet du contrat lui-même. Lu à l'intérieur.",
        )
        ctx.path = ctx.where(wrapper)  # every finding and row then points inside the wrapper
        data = data[wrapper]
    probe = _expand_flat_keys(None, data, "")
    kind = raw.kind or detect_kind(probe)
    if kind is None:
        if readable:
            ctx.note(
                "unknown-record-type",
                "",
                None,
                "Impossible de savoir s'il s'agit d'un marché ou d'un contrat de concession ; lu comme un marché.",
            )
        kind = "marche"
    generation = raw.generation or detect_generation(probe)
    ctx.generation = generation
    ctx.kind = kind
    if probe is not data:  # flat keys: read again, knowing the kind (which keys are objects of the format)
        data = _expand_flat_keys(ctx, data, "", kind)
    if readable:
        rows = _marche(ctx, data) if kind == "marche" else _concession(ctx, data)
    else:
        rows = {t: [] for t in (MARCHE_TABLES if kind == "marche" else CONCESSION_TABLES)}
        rows[ROOT_TABLES[kind]] = [{"_rel": "", "id": None}]

    root = rows[ROOT_TABLES[kind]][0]
    buyer = root.get("acheteur_id") if kind == "marche" else root.get("autoriteConcedante_id")
    uid = f"{buyer}{root['id']}" if buyer and root["id"] else None
    if generation == "2019" and readable:
        uid = _check_2019_identity(ctx, data, kind, uid)
    key = raw.record_key
    root.update(
        record_key=key,
        uid=uid,
        generation=generation,
        source_file=raw.source.file_name,
        source_position=raw.position,
        source_line=raw.line,
        extra_fields={**(raw.extra or {}), **ctx.extra} or None,
        original_values=ctx.original or None,
    )
    for table_rows in rows.values():
        for row in table_rows:
            row["record_key"] = key
            row["source_path"] = ctx.where(row.pop("_rel"))
    findings = raw.findings + ctx.findings
    for f in findings:
        f.record_key, f.uid, f.id = key, uid, root["id"]
    return FlatRecord(kind, generation, key, uid, root["id"], rows, findings, raw.lines)


def _check_2019_identity(ctx: RecordContext, data: dict, kind: str, uid: str | None) -> str | None:
    """Check ``_type`` and ``uid``, two fields of the 2019 format only (schema 1.5.0); return the uid.

    The uid is the buyer's (autorité concédante's) SIRET followed by the contract's ``id``. When those cannot be read (acheteur
    null or not an object: already one finding), the published uid is kept as it is, unchecked, so that
    the contract keeps its identity (duplicates); otherwise a different published uid is reported and
    the computed one used.
    """
    published_type = data.get("_type")
    expected = TYPE_2019[kind]
    whose = "de l'acheteur" if kind == "marche" else "de l'autorité concédante"
    if published_type is not None and not isinstance(published_type, str):
        ctx.note(
            "wrong-type",
            "_type",
            published_type,
            f"« _type » : « {n._show(published_type)} » au lieu du texte « {expected} » ; conservé dans extra_fields.",
        )
        ctx.extra["_type"] = published_type
    elif isinstance(published_type, str) and published_type != expected:
        ctx.note(
            "enum-normalized" if n.fold(published_type) == n.fold(expected) else "unknown-record-type",
            "_type",
            published_type,
            f"« _type » : « {published_type} » au lieu de « {expected} » (format 2019) ; lu comme "
            f"{'un marché' if kind == 'marche' else 'un contrat de concession'}.",
        )
    published_uid = data.get("uid")
    if published_uid is None:
        return uid
    if not isinstance(published_uid, str) or not re.match(UID_2019_PATTERN, published_uid):
        ctx.note(
            "pattern",
            "uid",
            published_uid,
            f"« uid » : « {n._show(published_uid)} » n'est pas le SIRET {whose} suivi de l'identifiant "
            "du contrat (14 chiffres puis 7 à 16 caractères).",
        )
    elif uid is None:
        return published_uid
    elif published_uid != uid:
        ctx.note(
            "uid-mismatch",
            "uid",
            published_uid,
            f"« uid » publié « {published_uid} » différent du SIRET {whose} suivi de l'id : « {uid} » ; "
            "l'uid est recalculé, la valeur publiée conservée.",
        )
        ctx.changed("uid", published_uid)
    return uid


def _from_tables(raw: RawRecord) -> FlatRecord:
    """Rows read back from the project's own tables are already flat: pass them through."""
    tables = MARCHE_TABLES if raw.kind == "marche" else CONCESSION_TABLES
    rows = {t: raw.data.get(t, []) for t in tables}
    root = rows[tables[0]][0]
    return FlatRecord(
        raw.kind or "marche",
        root.get("generation") or "",
        raw.record_key,
        root.get("uid"),
        root.get("id"),
        rows,
        list(raw.findings),
    )
