"""Writing outputs safely: one writer at a time, and readers see the old output or the new one, never a mix.

Every command that writes (``package``, ``package --update``, ``publish``, ``convert``) holds an
exclusive lock on its output while it works; ``publish`` holds a shared lock on each package it
reads, so that a package is not replaced under it. The lock is ``flock`` on a hidden file beside
the output (``.<name>.lock``, empty, left in place: removing it would let two processes lock two
different files); the system releases it when the process ends, however it ends, so a killed
run never leaves a stale lock. A second writer waits for the first, then works on its result.

Outputs are built beside their target (``.<name>.tmp-<pid>``) and put in place in one step: a
file by ``rename``, a directory by ``renameat2(RENAME_EXCHANGE)`` on Linux (elsewhere the old
directory is renamed aside first, and ``recover`` puts it back if the process died in between).
Whoever holds the lock removes what killed runs left behind.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

try:
    import fcntl
except ImportError:  # not on Windows: no locking there
    fcntl = None  # type: ignore[assignment]

from marches.errors import OutputError, display_path, os_problem

FAULT_POINT = "MARCHES_FAULT_POINT"  # tests: die at this point, as a crash or a kill would
RENAME_EXCHANGE = 2
AT_FDCWD = -100
NAME_MAX = 255


def fault(point: str) -> None:
    """Tests kill the process at chosen points (``MARCHES_FAULT_POINT``), as a crash or ``kill -9`` would."""
    if os.environ.get(FAULT_POINT) == point:
        os.kill(os.getpid(), 9)


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


def _hidden_prefix(target: Path) -> str:
    """``.<name>``, shortened with a digest when the name leaves no room for a suffix."""
    name = target.name
    if len(os.fsencode(name)) + 1 + 32 <= NAME_MAX:
        return f".{name}"
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:16]
    return f".{os.fsdecode(os.fsencode(name)[:150])}~{digest}"


def sibling(target: Path, tag: str) -> Path:
    """A hidden path beside ``target``: ``.<name>.<tag>``."""
    return target.with_name(f"{_hidden_prefix(target)}.{tag}")


def staging_path(target: Path) -> Path:
    """Where this process builds the new version of ``target``."""
    return sibling(target, f"tmp-{os.getpid()}")


def backup_of(target: Path) -> Path:
    return sibling(target, "previous")


def recover(target: Path) -> None:
    """Undo a replacement interrupted between its two renames (systems without renameat2)."""
    backup = backup_of(target)
    if backup.is_dir() and not target.exists():
        os.rename(backup, target)
    elif backup.is_dir():
        shutil.rmtree(backup, ignore_errors=True)


def remove_leftovers(target: Path) -> list[Path]:
    """Remove what runs killed while writing ``target`` left behind. Call it holding the lock.

    Only the holder of the lock builds a new version, so any other staging file or folder
    belongs to a run that died (killed, power cut).
    """
    recover(target)
    removed = []
    for path in target.parent.glob(f"{glob_escape(_hidden_prefix(target))}.tmp-*"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def glob_escape(text: str) -> str:
    """``text`` matched literally by ``Path.glob``."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def make_folder(folder: Path) -> None:
    """Create ``folder`` and its parents; another process creating them at the same moment is fine."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # a file, not a folder, has one of these names (perhaps just created)
        blocker = Path(exc.filename or folder)
        what = "ce nom" if blocker == folder else f"le nom {display_path(blocker)}"
        raise OutputError(
            f"Impossible de créer le dossier {display_path(folder)} : un fichier porte déjà {what} (ce n'est pas un "
            "dossier) ; choisissez une autre sortie ou déplacez ce fichier"
        ) from exc
    except OSError as exc:
        raise OutputError(f"Impossible de créer le dossier {display_path(folder)} : {os_problem(exc)}") from exc


def replace_directory(staging: Path, target: Path, before_cleanup: Callable[[], None] | None = None) -> None:
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


class Lock:
    """The lock on an output: exclusive for the process that writes it, shared for those that read it.

    ``on_wait(pid)`` is called once when another process holds the lock (``pid`` of the writer
    when known); the lock is then awaited, up to ``timeout`` seconds (None: as long as needed).
    """

    def __init__(
        self,
        target: Path,
        *,
        shared: bool = False,
        on_wait: Callable[[int | None], None] | None = None,
        timeout: float | None = None,
    ) -> None:
        self.target = Path(target)
        self.path = sibling(self.target, "lock")
        self.shared, self.on_wait, self.timeout = shared, on_wait, timeout
        self.fd: int | None = None

    def __enter__(self) -> Lock:
        if fcntl is None:
            return self
        make_folder(self.target.parent)
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(
                f"Impossible d'écrire dans {display_path(self.target.parent)} : {os_problem(exc)}"
            ) from exc
        mode = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        if not self._try(mode):
            if self.on_wait:
                self.on_wait(self._holder())
            deadline = None if self.timeout is None else time.monotonic() + self.timeout
            while not self._try(mode):
                if deadline is not None and time.monotonic() > deadline:
                    os.close(self.fd)
                    self.fd = None
                    raise OutputError(
                        f"{display_path(self.target)} est en cours d'écriture par un autre processus "
                        f"(pid {self._holder() or 'inconnu'}) depuis plus de {self.timeout:.0f} s : réessayez plus tard"
                    )
                time.sleep(0.1)
        if not self.shared:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, str(os.getpid()).encode(), 0)
        return self

    def _try(self, mode: int) -> bool:
        try:
            fcntl.flock(self.fd, mode | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise

    def _holder(self) -> int | None:
        try:
            return int(self.path.read_text(encoding="ascii").strip() or 0) or None
        except (OSError, ValueError):
            return None

    def __exit__(self, *exc_info) -> None:
        if self.fd is not None:
            if not self.shared:
                os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
