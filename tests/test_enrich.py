"""The derived columns computed by polars as the rows are inserted equal their SQL definitions."""

from __future__ import annotations

import itertools

import polars as pl
import pytest
import sqlite_utils

from marches import enrich

AS_OF = "2025-06-30"
DATES = [None, "1999-12-31", "2000-01-01", AS_OF, "2025-07-01", "5021-03-04", "0000-01-01"]
CPV = [None, "", "4", "45", "45000000-7", "4500000", "99000000", "4a000000", "٤٥000000", "48000000-8 "]
AMOUNTS = [None, 0.0, 1.0, 12_345.67, 3.5e9, -2.0]
CONSTATS = [
    None,
    "[]",
    '["amount-placeholder"]',
    '["siret-checksum", "AMOUNT-IMPLAUSIBLE"]',
    '["amount-implausib"]',
    '["Amount-Placeholder-x"]',
]
OFFERS = [None, 0, 1, 2, -1]
CONSIDERATIONS = [
    None,
    "",
    "[]",
    '["Pas de considération sociale"]',
    '["PAS DE clause"]',
    '["Clause sociale"]',
    "pas d",
]
PLACES = [
    (None, None, None),
    ("Code département", "2a", None),
    ("Code département", "974", "Saint-Denis"),
    ("Code département", "ıı", None),  # a dotless i: upper-cased to "I" by polars, left by SQLite
    ("Code commune", "97411", None),
    ("Code commune", "2A004", "Ajaccio"),
    ("Code commune", "2a004", None),
    ("Code commune", "01053", ", "),
    ("Code commune", None, "Lyon"),
    ("Code postal", "20000", None),
    ("Code postal", "20199", None),
    ("Code postal", "20200", None),
    ("Code postal", "2029", None),
    ("Code postal", "98800", None),
    ("Code postal", "75001", " Paris ,"),
    ("Code postal", "٧٥001", None),
    ("Code région", "84", None),
    ("Code pays", "FR", None),
    ("Autre", " ", ","),
    (None, "75056", None),
]


def _rows(date: str, amount: str, n: int = 400) -> dict[str, list]:
    """``n`` rows crossing every kind of value (cycles of coprime lengths)."""
    places = list(itertools.islice(itertools.cycle(PLACES), n))
    columns = {
        "record_key": [f"k{i}" for i in range(n)],
        date: list(itertools.islice(itertools.cycle(DATES), n)),
        "codeCPV": list(itertools.islice(itertools.cycle(CPV), n)),
        amount: list(itertools.islice(itertools.cycle(AMOUNTS), n)),
        "constats": list(itertools.islice(itertools.cycle(CONSTATS), n)),
        "offresRecues": list(itertools.islice(itertools.cycle(OFFERS), n)),
        "considerationsSociales": list(itertools.islice(itertools.cycle(CONSIDERATIONS), n)),
        "considerationsEnvironnementales": list(itertools.islice(itertools.cycle(CONSIDERATIONS[::-1]), n)),
        "lieuExecution_typeCode": [p[0] for p in places],
        "lieuExecution_code": [p[1] for p in places],
        "lieuExecution_nom": [p[2] for p in places],
    }
    return columns


TYPES = {"offresRecues": pl.Int64, "montant": pl.Float64, "valeurGlobale": pl.Float64}


@pytest.mark.parametrize(
    ("table", "date", "amount"),
    [("marches", "dateNotification", "montant"), ("concessions", "dateSignature", "valeurGlobale")],
)
def test_columns_computed_at_insertion_equal_their_sql(tmp_path, table, date, amount):
    columns = _rows(date, amount)
    frame = pl.DataFrame(columns, schema={name: TYPES.get(name, pl.String) for name in columns})
    # flagged: a date of the field, and a date of another field (which changes nothing)
    flagged = pl.DataFrame({"field": [date, date, "dateDebutExecution"], "record_key": ["k2", "k9", "k3"]})
    insertion = enrich.Insertion(AS_OF, flagged)
    computed = insertion.frame(table, frame)
    names = insertion.names(table)
    assert {"date_fiable", "annee_fiable", "departement", "lieu"} <= set(names)
    assert computed.columns == [*columns, *names]

    db = sqlite_utils.Database(tmp_path / "derived.db")
    enrich.create_reference_tables(db)
    db["constats"].insert_all(flagged.with_columns(code=pl.lit("date-floor")).to_dicts())
    db["constats"].insert({"field": date, "record_key": "k4", "code": "siret-checksum"})  # not a date flag
    kinds = {pl.Int64: int, pl.Float64: float}
    types = {d.name: d.type for d in enrich.DERIVED if d.table == table}
    db[table].create(
        {name: kinds.get(frame.schema[name], str) for name in columns} | {n: types[n] for n in names}, strict=True
    )
    db[table].insert_all(frame.to_dicts())
    for stage in (1, 2):
        derived = [d for d in enrich.DERIVED if d.table == table and d.name in names and d.stage == stage]
        db.execute(f'UPDATE "{table}" SET ' + ", ".join(f'"{d.name}" = {d.sql.format(as_of=AS_OF)}' for d in derived))
    expected = db.execute(f'SELECT {", ".join(names)} FROM "{table}" ORDER BY rowid').fetchall()
    assert computed.select(names).rows() == expected
    # the cases are there: some values kept, some left out, for each column
    for name in names:
        values = computed.get_column(name)
        assert values.null_count() > 0 and values.drop_nulls().len() > 0, name
