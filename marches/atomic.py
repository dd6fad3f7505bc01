"""Replacing a directory atomically: readers see the old one or the new one, never a mix.

On Linux the new directory and the old one are exchanged with ``renameat2(RENAME_EXCHANGE)``
in one system call. Elsewhere the old directory is first renamed aside; if the process dies
between the two renames, ``recover`` puts it back on the next run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
from pathlib import Path

RENAME_EXCHANGE = 2
AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False when the system cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError, TypeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    result = renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    return result == 0


def backup_of(target: Path) -> Path:
    return target.with_name(f".{target.name}.previous")


def recover(target: Path) -> None:
    """Undo a replacement interrupted between its two renames (systems without renameat2)."""
    backup = backup_of(target)
    if backup.is_dir() and not target.exists():
        os.rename(backup, target)
    elif backup.is_dir():
        shutil.rmtree(backup, ignore_errors=True)


def replace_directory(staging: Path, target: Path, before_cleanup=None) -> None:
    """Put ``staging`` in the place of ``target`` atomically; the old content is then removed."""
    recover(target)
    if not target.exists():
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        if before_cleanup:
            before_cleanup()
        shutil.rmtree(staging, ignore_errors=True)  # staging now holds the previous version
        return
    backup = backup_of(target)
    os.rename(target, backup)
    os.rename(staging, target)
    shutil.rmtree(backup, ignore_errors=True)
