"""marches.bulk: frames written into SQLite through ADBC, cell for cell as the sqlite3 module writes them."""

from __future__ import annotations

import sqlite3

import polars as pl
import pytest

from marches import bulk

ROWS = [("a", 1, 1.5), ("b", None, 0.1), ("a", 3, None), ("é\x00z", 2**62, 1e300), ("c", -7, -0.0)]


def _table(path):
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE t (k TEXT PRIMARY KEY NOT NULL, n INTEGER, x REAL) STRICT")
    connection.commit()
    connection.close()


def _content(path):
    connection = sqlite3.connect(path)
    try:
        return connection.execute("SELECT rowid, k, typeof(k), n, typeof(n), x, typeof(x) FROM t").fetchall()
    finally:
        connection.close()


def test_a_frame_is_stored_as_the_sqlite3_module_stores_its_rows(tmp_path):
    expected, got = tmp_path / "expected.db", tmp_path / "got.db"
    for path in (expected, got):
        _table(path)
    connection = sqlite3.connect(expected)
    connection.executemany("INSERT OR IGNORE INTO t VALUES (?, ?, ?)", ROWS)
    connection.commit()
    connection.close()
    frame = pl.DataFrame(ROWS, schema={"k": pl.String, "n": pl.Int64, "x": pl.Float64}, orient="row")
    with bulk.Writer(got, ["journal_mode = OFF", "synchronous = OFF"]) as writer:
        assert writer.execute("INSERT OR IGNORE INTO t VALUES (?, ?, ?)", frame) == 4  # the second "a" ignored
        assert writer.scalar("SELECT count(*) FROM t") == 4
    assert _content(got) == _content(expected)


def test_a_failure_is_a_bulk_error_and_nothing_is_committed(tmp_path):
    path = tmp_path / "t.db"
    _table(path)
    frame = pl.DataFrame({"k": ["a"], "n": [1], "x": [1.0]})
    with pytest.raises(bulk.Error, match="nothing"), bulk.Writer(path) as writer:
        writer.execute("INSERT INTO t VALUES (?, ?, ?)", frame)
        writer.execute("INSERT INTO nothing VALUES (?)", frame)
    assert _content(path) == []
