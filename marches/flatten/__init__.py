"""Nested DECP records -> rows of the tabular model. Pure functions, no I/O.

Both generations land in the same tables. Where a 2019 value means the same thing as a 2022
one it is mapped (documented in the README, "Modèle de données"); where the meaning differs the
published value keeps its own column (``nature_2019``, ``formePrix_2019``, names of 2019).
Every representation oddity met on the way is a finding of the record's context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marches import normalize as n
from marches.findings import Finding
from marches.flatten.contracts import _concession, _marche
from marches.flatten.structure import _expand_flat_keys, detect_generation, detect_kind
from marches.flatten.vocabulary import CONCESSION_MARKERS, V2_MARKERS
from marches.model import CONCESSION_TABLES, MARCHE_TABLES
from marches.normalize import RecordContext
from marches.readers.base import RawRecord

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


# -- entry point -------------------------------------------------------------------------------------


def flatten(raw: RawRecord) -> FlatRecord:
    """Flatten one raw record into rows of every table of its kind."""
    if raw.origin == "csv":
        return _from_tables(raw)
    ctx = RecordContext(raw.origin, raw.source.name, raw.position, raw.path, raw.line)
    data = raw.data
    if not isinstance(data, dict):
        ctx.note(
            "not-an-object",
            "",
            data,
            f"L'enregistrement n'est pas un objet mais « {n._show(data)} » ; conservé dans extra_fields.",
        )
        ctx.extra[""] = data
        data = {}
    data = _expand_flat_keys(ctx, data, "")
    kind = raw.kind or detect_kind(data)
    if kind is None:
        ctx.note(
            "unknown-record-type",
            "",
            None,
            "Impossible de savoir s'il s'agit d'un marché ou d'un contrat de concession ; lu comme un marché.",
        )
        kind = "marche"
    generation = raw.generation or detect_generation(data)
    ctx.generation = generation
    rows = _marche(ctx, data, generation) if kind == "marche" else _concession(ctx, data, generation)

    root = rows["marches" if kind == "marche" else "concessions"][0]
    buyer = root.get("acheteur_id") if kind == "marche" else root.get("autoriteConcedante_id")
    uid = f"{buyer}{root['id']}" if buyer and root["id"] else None
    published_uid = data.get("uid")
    if published_uid is not None and str(published_uid) != uid and "uid" not in ctx.original:
        ctx.note(
            "uid-mismatch",
            "uid",
            published_uid,
            f"uid publié « {published_uid} » différent de SIRET + id « {uid} » ; la valeur publiée est conservée.",
        )
        ctx.changed("uid", published_uid)
    key = raw.record_key
    root.update(
        record_key=key,
        uid=uid,
        generation=generation,
        source_file=raw.source.path.name,
        source_position=raw.position,
        source_path=raw.path,
        source_line=raw.line,
        extra_fields=ctx.extra or None,
        original_values=ctx.original or None,
    )
    for table_rows in rows.values():
        for row in table_rows:
            row["record_key"] = key
    findings = raw.findings + ctx.findings
    for f in findings:
        f.record_key, f.uid, f.id = key, uid, root["id"]
    return FlatRecord(kind, generation, key, uid, root["id"], rows, findings)


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
