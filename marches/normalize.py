"""Turn published values into the typed values of the tabular model, noting every oddity.

Pure functions over one record at a time. A value that can be read unambiguously (a number
published as text, an enum value in capitals, an XML ``oui``) is converted, and the value as
published is kept in ``original_values`` with a finding; a value that cannot be read is kept
as published, so that structural validation reports it and nothing is lost.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

from marches.findings import Finding

NAN_SENTINEL = "\x00NaN"  # what the JSON reader substitutes for bare NaN/Infinity tokens
PLACEHOLDERS = frozenset(
    {
        "",
        "nc",
        "n/c",
        "n.c.",
        "nan",
        "null",
        "none",
        "n/a",
        "na",
        "non communiqué",
        "non communique",
        "non renseigné",
        "non renseigne",
        "inconnu",
        "-",
    }
)
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:$|(T[0-9:.]+)?(Z|[+-]\d{2}:?\d{2})?$)")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
_SPACES = re.compile(r"[\s\u00a0\u202f]+")
_XML_BOOL = {"true": True, "false": False, "1": True, "0": False, "oui": True, "non": False}
_TEXT_BOOL = {**_XML_BOOL, "vrai": True, "faux": False, "yes": True, "no": False}


def fold(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form used to recognise enum variants."""
    text = text.replace("œ", "oe").replace("Œ", "oe").replace("’", "'").replace("`", "'")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"[_\-/]+", " ", text)
    return _SPACES.sub(" ", text).strip()


class Enum:
    """An enumeration with its folded variants and the legacy labels it absorbs."""

    __slots__ = ("allowed", "folded", "legacy")

    def __init__(self, allowed: tuple[str, ...], legacy: dict[str, str | tuple[str, ...]] | None = None):
        self.allowed = frozenset(allowed)
        self.folded = {fold(v): v for v in allowed}
        self.legacy = {fold(k): v for k, v in (legacy or {}).items()}


class RecordContext:
    """Collects what normalising one record found: findings, original values, unknown fields."""

    __slots__ = (
        "extra",
        "file",
        "findings",
        "generation",
        "id",
        "line",
        "origin",
        "original",
        "path",
        "position",
        "uid",
    )

    def __init__(self, origin: str, file: str | None, position: int | None, path: str, line: int | None):
        self.origin = origin  # "json", "xml" or "csv"
        self.file = file
        self.position = position
        self.path = path
        self.line = line
        self.findings: list[Finding] = []
        self.original: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}
        self.uid: str | None = None
        self.id: str | None = None
        self.generation: str | None = None

    def note(
        self, code: str, rel: str, value: Any, message: str, table: str | None = None, field: str | None = None
    ) -> None:
        self.findings.append(
            Finding.of(
                code,
                message,
                None if value is None else _show(value),
                file=self.file,
                position=self.position,
                path=f"{self.path}.{rel}" if rel else self.path,
                line=self.line,
                table=table,
                field=field,
            )
        )

    def changed(self, rel: str, value: Any) -> None:
        self.original[rel] = _jsonable(value)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return "NaN" if value == NAN_SENTINEL else value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return repr(value) if isinstance(value, dict | list) else str(value)


def _jsonable(value: Any) -> Any:
    if value == NAN_SENTINEL or (isinstance(value, float) and not math.isfinite(value)):
        return "NaN"
    return value


def _placeholder(ctx: RecordContext, value: Any, rel: str, table: str, field: str) -> bool:
    """True (and noted) when ``value`` is a placeholder meaning 'no data'."""
    if value == NAN_SENTINEL or (isinstance(value, float) and math.isnan(value)):
        ctx.note("nan-literal", rel, value, f"Valeur NaN pour « {field} » ; traitée comme absente.", table, field)
        ctx.changed(rel, value)
        return True
    if isinstance(value, str) and value.strip().lower() in PLACEHOLDERS:
        shown = f"« {value} »" if value.strip() else "vide"
        ctx.note(
            "placeholder",
            rel,
            value,
            f"Valeur de remplissage {shown} pour « {field} » ; traitée comme absente. "
            "Publiez la donnée ou omettez le champ s'il est facultatif.",
            table,
            field,
        )
        ctx.changed(rel, value)
        return True
    return False


def _wrong(ctx: RecordContext, value: Any, rel: str, table: str, field: str, expected: str) -> str:
    ctx.note(
        "wrong-type",
        rel,
        value,
        f"« {field} » : attendu {expected}, reçu « {_show(value)} » ; valeur conservée telle quelle.",
        table,
        field,
    )
    if isinstance(value, dict | list):
        import orjson

        return orjson.dumps(value).decode()
    return str(value)


def text(ctx: RecordContext, value: Any, rel: str, table: str, field: str) -> str | None:
    if value is None:
        return None
    if type(value) is str:
        if value.strip().lower() in PLACEHOLDERS:
            _placeholder(ctx, value, rel, table, field)
            return None
        return value
    if value == NAN_SENTINEL or _placeholder(ctx, value, rel, table, field):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _wrong(ctx, value, rel, table, field, "du texte")
    converted = str(int(value)) if isinstance(value, int) or value.is_integer() else repr(value)
    ctx.note(
        "id-as-number",
        rel,
        value,
        f"« {field} » publié en nombre ({_show(value)}) ; converti en texte « {converted} ». "
        "Publiez-le entre guillemets : un nombre perd les zéros initiaux.",
        table,
        field,
    )
    ctx.changed(rel, value)
    return converted


def _parse_number(raw: str) -> float | None:
    compact = _SPACES.sub("", raw)
    if not _NUMBER.match(compact):
        return None
    return float(compact.replace(",", "."))


def number(ctx: RecordContext, value: Any, rel: str, table: str, field: str, integer: bool = False):
    if value is None:
        return None
    kind = type(value)
    if kind is int:
        return value
    if kind is float:
        if math.isfinite(value):
            return int(value) if integer and value.is_integer() else value
        _placeholder(ctx, value, rel, table, field)
        return None
    if kind is str:
        if _placeholder(ctx, value, rel, table, field):
            return None
        parsed = _parse_number(value)
        if parsed is not None and (not integer or parsed.is_integer()):
            result = int(parsed) if integer or (parsed.is_integer() and "." not in value) else parsed
            if ctx.origin == "json":
                ctx.note(
                    "number-as-string",
                    rel,
                    value,
                    f"« {field} » publié en texte « {value} » ; converti en nombre {result}. "
                    "Publiez un nombre JSON, sans guillemets.",
                    table,
                    field,
                )
                ctx.changed(rel, value)
            elif _SPACES.sub("", value).replace(",", ".") != value.strip():
                ctx.changed(rel, value)  # "1 234,5" in XML or CSV: keep the published spelling
            return result
        return _wrong(ctx, value, rel, table, field, "un nombre entier" if integer else "un nombre")
    return _wrong(ctx, value, rel, table, field, "un nombre entier" if integer else "un nombre")


def integer(ctx: RecordContext, value: Any, rel: str, table: str, field: str):
    return number(ctx, value, rel, table, field, integer=True)


def boolean(ctx: RecordContext, value: Any, rel: str, table: str, field: str):
    if value is None or type(value) is bool:
        return value
    if isinstance(value, str):
        if _placeholder(ctx, value, rel, table, field):
            return None
        key = value.strip().lower()
        if ctx.origin != "json" and key in _XML_BOOL:
            return _XML_BOOL[key]
        if key in _TEXT_BOOL:
            ctx.note(
                "boolean-as-string",
                rel,
                value,
                f"« {field} » publié en texte « {value} » ; lu comme {'vrai' if _TEXT_BOOL[key] else 'faux'}. "
                "Publiez true ou false.",
                table,
                field,
            )
            ctx.changed(rel, value)
            return _TEXT_BOOL[key]
    elif isinstance(value, int | float) and value in (0, 1):
        ctx.note(
            "boolean-as-string",
            rel,
            value,
            f"« {field} » publié en nombre ({value}) ; lu comme {'vrai' if value else 'faux'}. Publiez true ou false.",
            table,
            field,
        )
        ctx.changed(rel, value)
        return bool(value)
    return _wrong(ctx, value, rel, table, field, "un booléen (true ou false)")


def date(ctx: RecordContext, value: Any, rel: str, table: str, field: str):
    if value is None:
        return None
    if isinstance(value, str):
        if _ISO_DATE.match(value):
            return value
        if _placeholder(ctx, value, rel, table, field):
            return None
        m = _DATE.match(value.strip())
        if m:
            ctx.note(
                "date-timezone",
                rel,
                value,
                f"« {field} » : date publiée avec heure ou fuseau horaire « {value} » ; "
                f"seule la date {m.group(1)} est gardée.",
                table,
                field,
            )
            ctx.changed(rel, value)
            return m.group(1)
        return value  # kept as published: structural validation explains what is wrong
    if _placeholder(ctx, value, rel, table, field):
        return None
    return _wrong(ctx, value, rel, table, field, "une date AAAA-MM-JJ")


def enum(ctx: RecordContext, value: Any, rel: str, table: str, field: str, spec: Enum):
    """One value of a closed list; returns a string, or a tuple when a legacy label means several values."""
    if value is None:
        return None
    if type(value) is str and value in spec.allowed:
        return value
    value_text = text(ctx, value, rel, table, field)
    if value_text is None or value_text in spec.allowed:
        return value_text
    key = fold(value_text)
    if key in spec.folded:
        canonical = spec.folded[key]
        ctx.note(
            "enum-normalized",
            rel,
            value,
            f"« {field} » : « {value_text} » corrigé en « {canonical} » (valeur officielle).",
            table,
            field,
        )
        ctx.changed(rel, value)
        return canonical
    if key in spec.legacy:
        canonical = spec.legacy[key]
        shown = canonical if isinstance(canonical, str) else " + ".join(canonical)
        ctx.note(
            "enum-legacy",
            rel,
            value,
            f"« {field} » : intitulé ancien « {value_text} » converti en « {shown} ».",
            table,
            field,
        )
        ctx.changed(rel, value)
        return canonical
    return value_text


def enum_list(ctx: RecordContext, values: list, rel: str, table: str, field: str, spec: Enum) -> list | None:
    if not values:
        return None
    out: list[str] = []
    repeated = False
    for i, item in enumerate(values):
        got = enum(ctx, item, f"{rel}[{i}]", table, field, spec)
        if got is None:
            continue
        for v in (got,) if isinstance(got, str) else got:
            if v in out:
                repeated = True
            else:
                out.append(v)
    if repeated and rel not in ctx.original:
        ctx.changed(rel, values)  # a repeated value is dropped from the list, the list as published is kept
    return out or None
