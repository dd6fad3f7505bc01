"""Numbers in messages are written with babel's fr_FR rules (the fast path agrees with babel)."""

from __future__ import annotations

import random

from babel.numbers import format_decimal, format_percent

from marches import french


def test_numbers_agree_with_babel():
    rng = random.Random(1)
    values = [0, 1, -5, 12.5, 1024626.35, 3e9, 0.2, 123456.789, -0.5, 99999999999999.99, 1e-7, 5e20]
    values += [round(rng.uniform(-1e9, 1e9), rng.randint(0, 3)) for _ in range(2000)]
    values += [rng.randint(-(10**15), 10**15) for _ in range(1000)]
    for value in values:
        expected = format_decimal(
            int(value) if isinstance(value, float) and value.is_integer() else value,
            locale="fr_FR",
            decimal_quantization=False,
        )
        assert french.number(value) == expected, value


def test_amounts_percentages_dates_and_json_words():
    assert french.amount(3_000_000_000) == "3\u202f000\u202f000\u202f000\u00a0€"
    assert french.amount(1024626.35) == "1\u202f024\u202f626,35\u00a0€"
    assert french.percent(0.2) == format_percent(0.2, locale="fr_FR") == "20\u00a0%"
    assert french.date("0002-11-30") == "30/11/0002" and french.date("2024-03-12") == "12/03/2024"
    assert [french.json_value(v) for v in (None, True, False, 12.0, "x")] == ["null", "true", "false", "12", "x"]
    assert french.number(1.2e22) == "1,2 × 10^22"
