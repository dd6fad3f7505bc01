"""The one hierarchy of fatal errors. Data problems are never exceptions: they are Findings."""

from __future__ import annotations


class MarchesError(Exception):
    """Base class of every fatal error raised by marches."""

    exit_code = 1


class InputError(MarchesError):
    """An input file cannot be read: missing, malformed, wrong encoding or unsafe."""

    exit_code = 3

    def __init__(
        self,
        file: str,
        problem: str,
        *,
        line: int | None = None,
        column: int | None = None,
        offset: int | None = None,
        approximate: bool = False,
        records_read: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.problem = problem
        self.line = line
        self.column = column
        self.offset = offset
        self.approximate = approximate
        self.records_read = records_read
        self.hint = hint
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        about = "vers " if self.approximate else ""
        if self.line is not None:
            where.append(f"{about}ligne {self.line}" + (f", colonne {self.column}" if self.column else ""))
        if self.offset is not None:
            where.append(f"{about}octet {self.offset}")
        text = f"{self.file} : {self.problem}"
        if where:
            text += f" ({', '.join(where)})"
        if self.records_read is not None:
            plural = "s" if self.records_read > 1 else ""
            text += f". {self.records_read} enregistrement{plural} lu{plural} avant l'erreur"
        if self.hint:
            text += f". {self.hint}"
        return text


class SchemaError(MarchesError):
    """A Table Schema of the project is missing or inconsistent."""

    exit_code = 2


class OutputError(MarchesError):
    """An output cannot be written (permissions, disk full, existing file)."""

    exit_code = 3
