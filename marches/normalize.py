"""Turn published values into the typed values of the tabular model, noting every deviation.

Pure functions over one record at a time, aware of the record's format (generation, JSON or
XML). A value the format allows is converted silently (the spelling as published is kept in
``original_values`` when it differs). A value the format refuses but whose meaning is clear (a
number published as text, an enum value in capitals) is converted too, with an error saying how
it was read. A value that cannot be read is kept as published, so that structural validation
reports it and nothing is lost.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from typing import Any

from marches import french
from marches.findings import FINDINGS, Finding
from marches.regulation import foreign_key

LITERAL = "\x00"  # the JSON reader turns NaN, Infinity, 1e400… into "\x00" + the token as published
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
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:$|(T[0-9:.]+)?(Z|[+-]\d{2}:?\d{2}Z?)?$)")  # 1.5.0 admits "+02:00Z"
_DIGITS = re.compile(r"^\s*-?\d+\s*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# the date each format accepts: 1.5.0 (anchored, optional offset), 2.0.3 (unanchored), xs:date
_DATE_2019 = re.compile(r"^\d{4}-[01]\d-[0-3]\d([+-][0-2]\d:[0-5]\dZ?)?$")
_DATE_2022 = re.compile(r"\d{4}-\d{2}-\d{2}")
_XS_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(Z|[+-]\d{2}:\d{2})?$")  # libxml2 refuses spaces around a date
_XS_DECIMAL = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$")
_XS_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
_SPACES = re.compile(r"[\s\u00a0\u202f]+")
_XML_BOOL = {"true": True, "false": False, "1": True, "0": False, "oui": True, "non": False}
_TEXT_BOOL = {**_XML_BOOL, "vrai": True, "faux": False, "yes": True, "no": False}
_MOJIBAKE_HINTS = ("Ã", "â€", "Â")
XML_EMPTY_ALLOWED = frozenset({"origineUE", "origineFrance"})  # XSD 2.0.2: decimal, or empty


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


_ON_THE_KEY = frozenset({"unknown-field", "flat-key"})  # findings about the foreign key itself


class RecordContext:
    """Collects what reading one record found: findings, original values, unknown fields.

    ``origin`` ("json", "xml" or "csv") and ``generation`` ("2019", "2022") say which format the
    record is read against; ``lines`` maps XML element paths to their line.
    """

    __slots__ = (
        "extra",
        "file",
        "findings",
        "generation",
        "kind",
        "line",
        "lines",
        "origin",
        "original",
        "path",
        "position",
        "xml",
    )

    def __init__(
        self,
        origin: str,
        file: str | None,
        position: int | None,
        path: str,
        line: int | None,
        lines: dict[str, int] | None = None,
    ):
        self.origin = origin
        self.xml = origin == "xml"  # read against the XSD
        self.file = file
        self.position = position
        self.path = path
        self.line = line
        self.lines = lines
        self.findings: list[Finding] = []
        self.original: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}
        self.generation: str | None = None
        self.kind: str | None = None  # "marche" or "concession", once known

    def where(self, rel: str) -> str:
        """The published path of ``rel`` (relative to the record)."""
        if not rel:
            return self.path
        return f"{self.path}{rel}" if rel.startswith("[") else f"{self.path}.{rel}"

    def note(
        self, code: str, rel: str, value: Any, message: str, table: str | None = None, field: str | None = None
    ) -> None:
        """Record a finding at ``rel``.

        A format finding inside a field the record's generation does not have is not recorded: the
        official schema does not check such a field (the key itself gets ``unknown-field`` where the
        schema forbids extra keys).
        """
        if (
            self.kind is not None
            and (known := FINDINGS.get(code)) is not None
            and known.kind == "format"
            and code not in _ON_THE_KEY
            and foreign_key(self.kind, self.generation or "2022", rel)
        ):
            return
        self.findings.append(
            Finding.of(
                code,
                message,
                None if value is None else _show(value),
                file=self.file,
                position=self.position,
                path=self.where(rel),
                line=line_of(self.lines, rel, self.line),
                table=table,
                field=field,
            )
        )

    def changed(self, rel: str, value: Any) -> None:
        self.original[rel] = _jsonable(value)


def line_of(lines: dict[str, int] | None, rel: str, default: int | None) -> int | None:
    """The line of the XML element at ``rel``, or of its nearest ancestor."""
    if not lines:
        return default
    rel = rel.replace("[0]", "")  # the first of same-named elements has no index (see xml_reader)
    while rel:
        if rel in lines:
            return lines[rel]
        cut = max(rel.rfind("."), rel.rfind("["))
        rel = rel[:cut] if cut > 0 else ""
    return default


def literal(value: Any) -> str | None:
    """The token as published when ``value`` stands for a number JSON cannot hold (NaN, Infinity, 1e400)."""
    if type(value) is str and value.startswith(LITERAL):
        return value[1:]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return None


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value[1:] if value.startswith(LITERAL) else value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict | list):
        import orjson

        try:
            return orjson.dumps(value).decode()
        except TypeError:  # integers beyond 64 bits
            import json

            return json.dumps(value, ensure_ascii=False)
    return french.json_value(value)


def _jsonable(value: Any) -> Any:
    token = literal(value)
    return value if token is None else token


def _placeholder(ctx: RecordContext, value: Any, rel: str, table: str, field: str) -> bool:
    """True (and noted) when ``value`` is a placeholder meaning 'no data'."""
    token = literal(value)
    if token is not None:
        ctx.note(
            "nan-literal",
            rel,
            token,
            f"« {rel} » : « {token} » n'est pas un nombre que JSON sait écrire (NaN, Infinity ou hors des limites) ; "
            "lu comme absent. Publiez le nombre réel, ou omettez le champ.",
            table,
            field,
        )
        ctx.changed(rel, value)
        return True
    if isinstance(value, str) and value.strip().lower() in PLACEHOLDERS:
        if ctx.xml and value == "" and rel.rsplit(".", 1)[-1] in XML_EMPTY_ALLOWED:
            return True  # the XSD allows these elements empty
        shown = f"« {value} »" if value.strip() else "vide"
        ctx.note(
            "placeholder",
            rel,
            value,
            f"« {rel} » : valeur de remplissage {shown}, lue comme absente. "
            "Publiez la donnée, ou omettez le champ s'il est facultatif.",
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
        f"« {rel} » : attendu {expected}, reçu « {_show(value)} » ; valeur conservée telle quelle.",
        table,
        field,
    )
    if isinstance(value, dict | list):
        return _show(value)
    return str(value)


def damaged(ctx: RecordContext, value: str, rel: str, table: str, field: str) -> None:
    """Note text destroyed (U+FFFD) or garbled (« Ã© » for « é ») by an encoding conversion upstream."""
    if "\ufffd" in value:
        ctx.note(
            "damaged-text",
            rel,
            value,
            f"« {rel} » : des caractères ont été remplacés par « \ufffd » (détruits par une conversion "
            "d'encodage avant publication) ; la recherche ne trouve plus ces mots. Republiez le texte depuis "
            "la source, en UTF-8.",
            table,
            field,
        )
    elif any(hint in value for hint in _MOJIBAKE_HINTS):
        import ftfy

        fixed = ftfy.fix_text(value)
        if fixed != value:
            ctx.note(
                "damaged-text",
                rel,
                value,
                f"« {rel} » : texte mal converti d'encodage (UTF-8 lu comme Latin-1) ; il se lit sans doute "
                f"« {fixed} ». Republiez-le en UTF-8.",
                table,
                field,
            )


def text(ctx: RecordContext, value: Any, rel: str, table: str, field: str, check_damage: bool = True) -> str | None:
    if value is None:
        return None
    if type(value) is str:
        if len(value) < 64 and (value.startswith(LITERAL) or value.strip().lower() in PLACEHOLDERS):
            _placeholder(ctx, value, rel, table, field)
            return None
        if (
            check_damage
            and not value.isascii()
            and ("\ufffd" in value or "Ã" in value or "â€" in value or "Â" in value)
        ):
            damaged(ctx, value, rel, table, field)
        return value
    if _placeholder(ctx, value, rel, table, field):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _wrong(ctx, value, rel, table, field, "du texte")
    converted = str(int(value)) if isinstance(value, int) or value.is_integer() else repr(value)
    ctx.note(
        "id-as-number",
        rel,
        value,
        f"« {rel} » publié en nombre ({_show(value)}) ; lu comme le texte « {converted} ». "
        "Publiez-le entre guillemets : un nombre perd les zéros initiaux.",
        table,
        field,
    )
    ctx.changed(rel, value)
    return converted


def _parse_number(raw: str) -> float | int | None:
    compact = _SPACES.sub("", raw)
    if not _NUMBER.match(compact):
        return None
    return float(compact.replace(",", "."))


def number(ctx: RecordContext, value: Any, rel: str, table: str, field: str, integer: bool = False):
    if value is None:
        return None
    kind = type(value)
    expected = "un nombre entier" if integer else "un nombre"
    if kind is int:
        return value
    if kind is float:
        if not math.isfinite(value):
            _placeholder(ctx, value, rel, table, field)
            return None
        if integer and value.is_integer():
            if ctx.generation == "2019":  # JSON Schema draft 4: 12.0 is not an integer
                ctx.note(
                    "number-format",
                    rel,
                    value,
                    f"« {rel} » : {value!r} publié avec une décimale ; le format 2019 attend un entier "
                    f"({int(value)}), lu comme tel.",
                    table,
                    field,
                )
                ctx.changed(rel, value)
            return int(value)
        return value
    if kind is not str:
        return _wrong(ctx, value, rel, table, field, expected)
    if _placeholder(ctx, value, rel, table, field):
        return None
    if ctx.xml and (_XS_INTEGER if integer else _XS_DECIMAL).match(value):
        return int(value) if integer else _decimal(value)
    parsed = _parse_number(value)
    if parsed is not None and not math.isfinite(parsed):  # « 1e400 »: beyond any double, read as absent
        ctx.note(
            "nan-literal",
            rel,
            value,
            f"« {rel} » : « {value} » dépasse tout nombre que les outils savent lire ; lu comme absent. "
            "Publiez le nombre réel.",
            table,
            field,
        )
        ctx.changed(rel, value)
        return None
    if parsed is None or (integer and not parsed.is_integer()):
        return _wrong(ctx, value, rel, table, field, expected)
    if _DIGITS.match(value):
        result = int(value.strip())  # exact, whatever its size (a float would round 20 nines up)
    else:
        result = (
            int(parsed)
            if integer or (parsed.is_integer() and "." not in value and "e" not in value.lower())
            else parsed
        )
    if ctx.xml:
        ctx.note(
            "number-format",
            rel,
            value,
            f"« {rel} » : « {value} » n'est pas un nombre entier XML (chiffres seuls, sans point ni exposant) ; "
            f"lu comme {french.number(result)}."
            if integer and _XS_DECIMAL.match(value)
            else f"« {rel} » : « {value} » n'est pas un nombre décimal XML (chiffres et point, sans exposant ni "
            f"espace) ; lu comme {french.number(result)}.",
            table,
            field,
        )
    elif ctx.origin == "json":
        ctx.note(
            "number-as-string",
            rel,
            value,
            f"« {rel} » publié en texte « {value} » ; lu comme le nombre {french.number(result)}. "
            "Publiez un nombre JSON, sans guillemets.",
            table,
            field,
        )
    ctx.changed(rel, value)
    return result


def _decimal(value: str) -> int | float:
    stripped = value.strip()
    return int(stripped) if _XS_INTEGER.match(stripped) else float(stripped)


def integer(ctx: RecordContext, value: Any, rel: str, table: str, field: str):
    return number(ctx, value, rel, table, field, integer=True)


def boolean(ctx: RecordContext, value: Any, rel: str, table: str, field: str):
    if value is None or type(value) is bool:
        return value
    if isinstance(value, str):
        if _placeholder(ctx, value, rel, table, field):
            return None
        if ctx.xml and value in _XML_BOOL:
            return _XML_BOOL[value]
        key = value.strip().lower()
        if key in _TEXT_BOOL:
            expected = "oui, non, true, false, 1 ou 0" if ctx.xml else "true ou false, sans guillemets"
            ctx.note(
                "boolean-as-string",
                rel,
                value,
                f"« {rel} » publié « {value} » ; lu comme {'vrai' if _TEXT_BOOL[key] else 'faux'}. "
                f"Le format attend {expected}.",
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
            f"« {rel} » publié en nombre ({value}) ; lu comme {'vrai' if value else 'faux'}. Publiez true ou false.",
            table,
            field,
        )
        ctx.changed(rel, value)
        return bool(value)
    return _wrong(ctx, value, rel, table, field, "un booléen (true ou false)")


def _real_date(ctx: RecordContext, day: str, value: Any, rel: str, table: str, field: str) -> str | None:
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        ctx.note(
            "date-invalid",
            rel,
            value,
            f"« {rel} » : la date « {value} » n'existe pas au calendrier ; lue comme absente.",
            table,
            field,
        )
        ctx.changed(rel, value)
        return None
    return day


def _date_allowed(ctx: RecordContext, value: str) -> bool:
    """Whether the record's format accepts this spelling of a date (with an offset or a time)."""
    if ctx.xml:
        return bool(_XS_DATE.match(value))
    if ctx.generation == "2019":
        return bool(_DATE_2019.match(value))
    return bool(_DATE_2022.search(value))  # the 2.0.3 pattern is not anchored


def date(ctx: RecordContext, value: Any, rel: str, table: str, field: str):
    if value is None:
        return None
    if not isinstance(value, str):
        if _placeholder(ctx, value, rel, table, field):
            return None
        return _wrong(ctx, value, rel, table, field, "une date AAAA-MM-JJ")
    if _ISO_DATE.match(value):
        return _real_date(ctx, value, value, rel, table, field)
    if _placeholder(ctx, value, rel, table, field):
        return None
    m = _DATE.match(value.strip())
    if m:
        ctx.changed(rel, value)
        if not _date_allowed(ctx, value):
            ctx.note(
                "date-format",
                rel,
                value,
                f"« {rel} » : « {value} » n'est pas une date AAAA-MM-JJ du format ; lue comme le "
                f"{french.date(m.group(1)) if _is_date(m.group(1)) else m.group(1)}.",
                table,
                field,
            )
        return _real_date(ctx, m.group(1), value, rel, table, field)
    if not ctx.xml and ctx.generation == "2022" and _DATE_2022.search(value):
        ctx.note(
            "date-invalid",
            rel,
            value,
            f"« {rel} » : « {value} » n'est pas une date AAAA-MM-JJ ; lue comme absente.",
            table,
            field,
        )
        ctx.changed(rel, value)
        return None
    return value  # kept as published: structural validation explains what is wrong


def _is_date(day: str) -> bool:
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        return False
    return True


def enum(ctx: RecordContext, value: Any, rel: str, table: str, field: str, spec: Enum):
    """One value of a closed list; returns a string, or a tuple when a legacy label means several values."""
    if value is None:
        return None
    if type(value) is str and value in spec.allowed:
        return value
    value_text = text(ctx, value, rel, table, field, check_damage=False)
    if value_text is None or value_text in spec.allowed:
        return value_text
    key = fold(value_text)
    if key in spec.folded:
        canonical = spec.folded[key]
        ctx.note(
            "enum-normalized",
            rel,
            value,
            f"« {rel} » : « {value_text} » n'est pas la valeur officielle ; lu comme « {canonical} ».",
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
            f"« {rel} » : « {value_text} » est un intitulé d'une ancienne version du format ; "
            f"lu comme « {shown} », l'intitulé à publier.",
            table,
            field,
        )
        ctx.changed(rel, value)
        return canonical
    return value_text


def enum_list(ctx: RecordContext, values: list[tuple[str, Any]], rel: str, table: str, field: str, spec: Enum):
    """The values of a closed-list field, each with its published path; a repeated value is noted and dropped."""
    if not values:
        return None
    out: list[str] = []
    for item_rel, item in values:
        got = enum(ctx, item, item_rel, table, field, spec)
        if got is None:
            continue
        for v in (got,) if isinstance(got, str) else got:
            if v in out:
                if isinstance(got, str):
                    ctx.note(
                        "duplicate-item",
                        item_rel,
                        item,
                        f"« {rel} » : la valeur « {v} » figure deux fois ; chaque valeur ne figure qu'une fois.",
                        table,
                        field,
                    )
                    ctx.changed(rel, [published for _, published in values])
            else:
                out.append(v)
    return out or None
