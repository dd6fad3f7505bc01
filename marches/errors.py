"""The one hierarchy of fatal errors. Data problems are never exceptions: they are Findings."""

from __future__ import annotations

import errno
import os
from pathlib import Path

# What the system says, in French: the messages users read (strerror is English)
_OS_PROBLEMS = {
    errno.ENOENT: "fichier ou dossier introuvable",
    errno.EACCES: "accès refusé (droits insuffisants)",
    errno.EPERM: "opération non permise",
    errno.EEXIST: "existe déjà",
    errno.ENOTDIR: "un élément du chemin n'est pas un dossier",
    errno.EISDIR: "c'est un dossier",
    errno.ENAMETOOLONG: "nom de fichier trop long",
    errno.ENOSPC: "plus de place sur le disque",
    errno.EDQUOT: "quota de disque dépassé",
    errno.EROFS: "système de fichiers en lecture seule",
    errno.EILSEQ: "nom de fichier invalide pour ce système de fichiers",
    errno.ELOOP: "trop de liens symboliques",
    errno.EMFILE: "trop de fichiers ouverts",
    errno.ENOTEMPTY: "dossier non vide",
    errno.EBUSY: "ressource occupée",
    errno.EXDEV: "déplacement impossible entre deux systèmes de fichiers",
    errno.EIO: "erreur d'entrée-sortie du disque",
    errno.EINVAL: "argument invalide",
}


def display_path(path: Path | str | bytes) -> str:
    """A path as people can read it, never a crash: each byte of the name that is not UTF-8 (kept by
    Python as a surrogate U+DC80-U+DCFF) is shown as the replacement character « \ufffd »."""
    if isinstance(path, bytes):
        return path.decode("utf-8", "replace")
    text = str(path)
    if not any("\ud800" <= c <= "\udfff" for c in text):
        return text
    try:
        return os.fsencode(text).decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that is no byte of a name
        return printable(text)


def printable(text: str) -> str:
    """Text that can always be written in UTF-8: lone surrogates become escapes.

    Python keeps the undecodable bytes of file names as surrogates U+DC80-U+DCFF: shown as the
    byte (\\xff); any other lone surrogate as \\udNNN.
    """
    if not any("\ud800" <= c <= "\udfff" for c in text):
        return text
    return "".join(
        (f"\\x{ord(c) - 0xDC00:02x}" if "\udc80" <= c <= "\udcff" else f"\\u{ord(c):04x}")
        if "\ud800" <= c <= "\udfff"
        else c
        for c in text
    )


def os_problem(exc: OSError, with_file: bool = True) -> str:
    """The French description of a system error, with its file name when there is one."""
    problem = _OS_PROBLEMS.get(exc.errno or 0) or printable(exc.strerror or str(exc))
    if with_file and exc.filename is not None:
        return f"{display_path(exc.filename)} : {problem}"
    return problem


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

    def describe_problem(self) -> str:
        """The message without the file name (for lists that already name the file)."""
        return self.describe().removeprefix(f"{self.file} : ")

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
