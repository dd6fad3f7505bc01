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


def test_published_numbers_keep_their_digits_and_long_ones_are_shortened():
    from decimal import Decimal

    nbsp = "\u202f"
    assert french.published_number("1.5") == "1,5"
    assert french.published_number("0.05") == "0,05"
    assert french.published_number("99999999999999999999") == nbsp.join(["99"] + ["999"] * 6)
    assert french.published_number("1e400") is None and french.published_number("douze") is None
    assert french.number(Decimal("-12.50")) == "-12,50"
    assert french.number(int("7" * 1000)) == f"777{nbsp}777{nbsp}777{nbsp}777… (1{nbsp}000 chiffres)"
    assert french.number(int("1" * 30)).count("1") == 30  # written out in full up to 30 digits


def test_bounds_in_structure_messages_are_french_numbers():
    from marches.validation.structure import message

    text = message("maximum", "tauxAvance", "1.5", 1, type_="number", generation="2022")
    assert "1,5 est supérieur au maximum de 1 au format 2022" in text
