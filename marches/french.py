"""Values written the way a French reader expects them in a message (babel's fr_FR rules).

« 3 000 000 000 € », « 20 % », « 12,5 », dates JJ/MM/AAAA, and JSON's own words for JSON values
(``null``, ``true``), never Python's (``None``, ``True``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal, format_percent

LOCALE = "fr_FR"


_LONGEST_NUMBER = 30  # digits written out in full; beyond, the first ones and the count


def number(value: float | int | Decimal) -> str:
    """« 3 000 000 000 », « 12,5 », « 1,2 × 10^21 » for a float no one reads digit by digit.

    Integers and decimals are written exactly, whatever their size (a published
    « 99999999999999999999 » stays « 99 999 999 999 999 999 999 »), shortened beyond 30 digits
    (« 123 456 789 012… (1 000 chiffres) »). The grouping (narrow no-break space) and the decimal
    comma are babel's ``fr_FR`` rules, written out for speed (messages are formatted by the hundred
    thousand); a test checks they agree."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            return "NaN" if value.is_nan() else ("Infinity" if value > 0 else "-Infinity")
        if value == value.to_integral_value():
            value = int(value)
        else:
            sign, digits, exponent = value.as_tuple()
            text = "".join(map(str, digits)).rjust(-exponent + 1, "0")
            whole, decimals = text[:exponent], text[exponent:]
            return ("-" if sign else "") + _group(whole) + "," + decimals
    if isinstance(value, int):
        return _group(str(value))
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if abs(value) >= 1e21:
        return f"{value:.3g}".replace(".", ",").replace("e+", " × 10^").replace("e-", " × 10^-")
    if value.is_integer():
        return _group(str(int(value)))
    whole, _, decimals = repr(value).partition(".")
    if "e" not in decimals and "e" not in whole:
        return f"{_group(whole)},{decimals}"
    return format_decimal(value, locale=LOCALE, decimal_quantization=False)


def _group(digits: str) -> str:
    """« -1234567 » -> « -1 234 567 » (narrow no-break spaces), long numbers shortened."""
    sign = "-" if digits.startswith("-") else ""
    digits = digits.lstrip("-")
    if len(digits) > _LONGEST_NUMBER:
        return f"{sign}{_group(digits[:12])}… ({len(digits):,} chiffres)".replace(",", "\u202f")
    head = len(digits) % 3 or 3
    groups = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return sign + "\u202f".join(groups)


_PUBLISHED_NUMBER = re.compile(r"^\s*-?(\d+(\.\d*)?|\.\d+)\s*$")


def published_number(text: str) -> str | None:
    """A number published as text (« 1.5 », « 99999999999999999999 ») written the French way with the
    published digits (« 1,5 », « 99 999 999 999 999 999 999 »); None when the text is not a plain
    decimal number."""
    if not isinstance(text, str) or len(text) > 10_000 or not _PUBLISHED_NUMBER.match(text):
        return None
    return number(Decimal(text.strip()))


def amount(value: float | int) -> str:
    """« 3 000 000 000 € »: euros, with cents only when there are some."""
    return f"{number(round(value, 2))}\u00a0€"


def percent(share: float) -> str:
    """« 20 % » for 0.2."""
    return format_percent(share, locale=LOCALE, decimal_quantization=False)


def date(value: dt.date | str) -> str:
    """« 21/12/2018 » (JJ/MM/AAAA)."""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"


def json_value(value: Any) -> str:
    """A published value as JSON writes it: ``null``, ``true``, ``12``, text unchanged."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """« 1 contrat », « 2 contrats »: the count written the French way with its noun."""
    word = singular if abs(count) < 2 else plural_form or singular + "s"
    return f"{number(count)} {word}"


QUOTE_LIMIT = 200  # characters of a published value or key shown in a message; a longer one is cut in the middle
MESSAGE_LIMIT = 2000  # a longer message has its quoted values shortened (a message explains, it does not copy)
_QUOTED = re.compile(r"« (.*?) »", re.S)
_PATH_PART = re.compile(r"[^.\[\]]{" + str(QUOTE_LIMIT + 1) + ",}")


def shortened(text: str, limit: int = QUOTE_LIMIT) -> str:
    """« début […] fin (10 000 000 caractères) »: a text too long to be read whole, its length said."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} […] {text[-half:]} ({number(len(text))} caractères)"


def short_message(message: str) -> str:
    """A message whose quoted values (« … ») are shortened; anything still too long, cut in the middle."""
    if len(message) <= MESSAGE_LIMIT:
        return message
    message = _QUOTED.sub(lambda m: f"« {shortened(m.group(1))} »", message)
    return shortened(message, MESSAGE_LIMIT)


def short_path(path: str) -> str:
    """A JSON path whose keys or indices too long to read are shortened (a 10 MB key)."""
    if len(path) <= MESSAGE_LIMIT:
        return path
    return _PATH_PART.sub(lambda m: shortened(m.group()), path)
