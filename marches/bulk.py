"""Rows of polars frames written into a SQLite database through ADBC (the Arrow C data interface).

The sqlite3 module binds each cell as a Python object: a frame is first turned into tuples, then each
value is bound one by one. At national scale (1.5 million contracts of 46 columns) that took most of
``marches publish``'s inserting. ADBC's SQLite driver binds the cells straight from the frame's Arrow
memory, in C, and releases the GIL while it does. It brings its own SQLite library: the database must
not be open in another connection (``marches publish`` closes its own while the writer inserts).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import adbc_driver_manager
import adbc_driver_sqlite
import polars as pl

Error = adbc_driver_manager.Error  # any failure of the driver (disk full, SQL error…)


class Writer:
    """One connection to the SQLite database at ``path``, in one transaction until ``commit``.

    ``pragmas`` (``"name = value"``) are set first, outside the transaction (some can only be set there).
    Use it as a context manager: leaving it commits, unless an exception is leaving it.
    """

    def __init__(self, path: Path, pragmas: Iterable[str] = ()):
        self._database = adbc_driver_sqlite.connect(str(path))
        try:
            self._connection = adbc_driver_manager.AdbcConnection(self._database)
        except BaseException:
            self._database.close()
            raise
        try:
            for pragma in pragmas:
                self.scalar(f"PRAGMA {pragma}")
            self._connection.set_autocommit(False)
        except BaseException:
            self.close()
            raise

    def execute(self, sql: str, frame: pl.DataFrame | None = None) -> int:
        """Run ``sql`` once, or once per row of ``frame`` (its columns bound to the ``?`` in order); returns
        the count of rows changed (-1 when unknown)."""
        statement = adbc_driver_manager.AdbcStatement(self._connection)
        try:
            statement.set_sql_query(sql)
            if frame is not None:
                statement.bind_stream(frame.__arrow_c_stream__())
            return statement.execute_update()
        finally:
            statement.close()

    def scalar(self, sql: str):
        """The first value of the first row of ``sql``'s result (None without a row)."""
        statement = adbc_driver_manager.AdbcStatement(self._connection)
        try:
            statement.set_sql_query(sql)
            stream, _ = statement.execute_query()
            result = pl.DataFrame(stream)
        finally:
            statement.close()
        return result.item(0, 0) if result.height else None

    def commit(self) -> None:
        self._connection.commit()

    def close(self) -> None:
        """Close the connection (what is not committed is rolled back)."""
        try:
            self._connection.close()
        finally:
            self._database.close()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        try:
            if kind is None:
                self.commit()
        finally:
            self.close()


__all__ = ["Error", "Writer"]
