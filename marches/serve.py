"""``marches serve``: Datasette as a well-behaved service.

* **A whole database, always.** The server serves a snapshot: a hard link to the database made
  at start, in a private folder beside it (``.<name>.serve-<pid>/``). ``marches publish``
  replaces the database by a rename; the running server keeps answering from the snapshot,
  whole and consistent, until it is restarted (restart it to serve the new database).
* **Counts inside the database.** Datasette's inspect file (row counts for immutable mode) is
  written into the private folder from the table ``publish`` stores in the database.
* **Stops with its children.** SIGTERM, SIGINT (Ctrl-C) and SIGHUP stop Datasette and remove the
  private folder; if ``marches serve`` is killed outright, the kernel stops Datasette (Linux) and
  the next start removes the folder left behind.
* **Safe settings** (immutable, read-only, time limits, no download) and the plugin of
  ``marches.serve_plugin`` (cheap errors, 405, no local paths, SQLite size limits, arbitrary SQL
  a few at a time).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marches.atomic import glob_escape, sibling
from marches.errors import OutputError, os_problem
from marches.publish import stored_inspection
from marches.site import ASSETS, VALIDATION_DEFAULTS, build_metadata, package_directory

SQL_THREADS = 8  # Datasette's default is 3: three slow queries would hold every page
SQL_SLOTS = 3  # arbitrary SQL queries running at once (marches.serve_plugin), the other threads stay free
STOP_SECONDS = 10
SIRENE_ENV = "MARCHES_SIRENE"  # the register given to marches serve --sirene, for the validation page's jobs
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@dataclass
class Service:
    """The private folder of one ``marches serve``: snapshot, inspect file, metadata."""

    database: Path  # as given
    folder: Path
    served: Path  # the snapshot (or the database itself when no snapshot could be made)
    snapshot: bool
    lock_fd: int
    package: Path | None = None  # the data package the database was built from, served under /paquet/
    sirene: Path | None = None  # the SIRENE register the validation page checks SIRETs with (None: the installed one)

    @classmethod
    def prepare(
        cls,
        database: Path,
        allow_robots: bool,
        package_url: str | None = None,
        validation: dict[str, Any] | None = VALIDATION_DEFAULTS,
        sirene: Path | None = None,
    ) -> Service:
        """The private folder; the package is linked from the site: ``package_url``, or else the
        package the database was built from (when it is one package still on this machine)."""
        database = Path(os.path.abspath(database))
        remove_abandoned(database)
        folder = sibling(database, f"serve-{os.getpid()}")
        snapshot = True
        try:
            folder.mkdir()
        except OSError:  # the database's folder is read-only: no snapshot possible
            folder, snapshot = Path(tempfile.mkdtemp(prefix="marches-serve-")), False
        lock_fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)  # held while serving: the folder is in use
        served = folder / database.name
        if snapshot:
            try:
                os.link(database, served)
            except OSError:
                snapshot, served = False, database
        else:
            served = database
        package = None if package_url else package_directory(served)
        sirene = Path(os.path.abspath(sirene)) if sirene else None
        service = cls(database, folder, served, snapshot, lock_fd, package, sirene)
        try:
            service._write_settings(allow_robots, package_url, validation)
        except BaseException:
            service.close()
            raise
        return service

    def _write_settings(self, allow_robots: bool, package_url: str | None, validation: dict[str, Any] | None) -> None:
        name = self.served.stem
        if package_url is None and self.package is not None:
            package_url = "/paquet/datapackage.json"
        metadata = build_metadata(name, allow_robots, package_url, validation)
        (self.folder / "metadata.json").write_text(json.dumps(metadata, ensure_ascii=False), encoding="utf-8")
        inspection = stored_inspection(self.served)
        if inspection is not None:
            inspection.update(file=self.served.name, size=self.served.stat().st_size)
            (self.folder / "inspect.json").write_text(json.dumps({name: inspection}), encoding="utf-8")

    def command(self, host: str, port: int, sql_time_limit_ms: int) -> list[str]:
        """The Datasette command line: immutable, read-only, time-limited, with marches' service plugin."""
        command = [
            sys.executable,
            "-m",
            "marches.serve_plugin",
            "serve",
            "--immutable",
            self.served.name if self.snapshot else str(self.served),
            "--metadata",
            "metadata.json",
            "--template-dir",
            str(ASSETS / "templates"),
            "--plugins-dir",
            str(ASSETS / "plugins"),
            "--static",
            f"marches-static:{ASSETS / 'static'}",
            "--host",
            host,
            "--port",
            str(port),
        ]
        settings = {
            "sql_time_limit_ms": sql_time_limit_ms,
            "facet_time_limit_ms": 3000,
            "facet_suggest_time_limit_ms": 200,
            "suggest_facets": "off",
            "default_facet_size": 15,
            "max_returned_rows": 2000,
            "allow_download": "off",
            "num_sql_threads": SQL_THREADS,
        }
        for key, value in settings.items():
            command += ["--setting", key, str(value)]
        if self.package is not None:
            command += ["--static", f"paquet:{self.package}"]
        if (self.folder / "inspect.json").is_file():
            command += ["--inspect-file", "inspect.json"]
        return command

    def environment(self) -> dict[str, str]:
        folders = {self.folder, self.database.parent, self.served.parent, *([self.package] if self.package else [])}
        hidden = os.pathsep.join(str(p) for p in folders)
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "MARCHES_SERVE_PARENT": str(os.getpid()),
            "MARCHES_HIDDEN_PATHS": hidden,
            "MARCHES_SQL_SLOTS": str(SQL_SLOTS),
            **({SIRENE_ENV: str(self.sirene)} if self.sirene else {}),
        }

    def run(self, host: str, port: int, sql_time_limit_ms: int, on_signal: Callable[[int], None] | None = None) -> int:
        """Run Datasette until it stops or a stop signal comes; returns its exit code (0 when asked to stop)."""
        child = subprocess.Popen(
            self.command(host, port, sql_time_limit_ms),
            cwd=self.folder,
            env=self.environment(),
            start_new_session=True,  # Ctrl-C reaches marches serve only, which stops Datasette once
        )
        asked: list[int] = []

        def stop(signum, _frame):
            if not asked and on_signal:
                on_signal(signum)
            asked.append(signum)
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

        previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
        try:
            while True:
                try:
                    code = child.wait(timeout=STOP_SECONDS if asked else None)
                    break
                except subprocess.TimeoutExpired:  # asked to stop and still there
                    child.kill()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            for s, handler in previous.items():
                signal.signal(s, handler)
        return 0 if asked else code

    def close(self) -> None:
        os.close(self.lock_fd)
        shutil.rmtree(self.folder, ignore_errors=True)


def remove_abandoned(database: Path) -> None:
    """Private folders of servers that are gone (killed): nobody holds their lock any more."""
    prefix = sibling(database, "serve-").name
    for folder in database.parent.glob(f"{glob_escape(prefix)}*"):
        lock = folder / ".lock"
        try:
            fd = os.open(lock, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # in use
        finally:
            os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)


def _bind_error(host: str, port: int) -> OSError | None:
    """Why this machine cannot listen on ``host:port`` (None: it can); bound as the server will bind."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc
    return None


def next_free_port(host: str, port: int, tries: int = 50) -> int:
    """The first port after ``port`` this machine can listen on (``port + 1`` when none of ``tries`` is)."""
    for candidate in range(port + 1, min(port + 1 + tries, 65536)):
        if _bind_error(host, candidate) is None:
            return candidate
    return port + 1


def check_port(host: str, port: int) -> None:
    """Refuse, in French and before anything starts, an address this machine cannot listen on.

    Raises ``OutputError`` when the port is taken by another program (Datasette's server would
    only say so in English once started) or when the host is not an address of this machine."""
    try:
        problem = _bind_error(host, port)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutputError(f"Adresse « {host} » inconnue : donnez une adresse de cette machine avec --host.") from exc
    if problem is None:
        return
    if problem.errno == errno.EADDRINUSE:
        raise OutputError(
            f"Le port {port} est déjà utilisé sur {host} (une autre plateforme tourne-t-elle ?) : arrêtez-la ou "
            f"choisissez un autre port avec --port, par exemple --port {next_free_port(host, port)}."
        )
    raise OutputError(f"Impossible d'écouter sur {host}:{port} : {os_problem(problem, with_file=False)}.")


def serve(
    database: Path,
    host: str,
    port: int,
    *,
    allow_robots: bool = False,
    sql_time_limit_ms: int = 3000,
    package_url: str | None = None,
    validation: dict[str, Any] | None = VALIDATION_DEFAULTS,
    on_start: Callable[[Service], None] | None = None,
    on_signal: Callable[[int], None] | None = None,
    sirene: Path | None = None,
) -> int:
    """Serve ``database`` until stopped; everything ``marches serve`` created is removed on the way out.

    Raises ``OutputError`` when ``host:port`` cannot be listened on (see ``check_port``)."""
    check_port(host, port)
    service = Service.prepare(database, allow_robots, package_url, validation, sirene)
    try:
        if on_start:
            on_start(service)
        return service.run(host, port, sql_time_limit_ms, on_signal)
    finally:
        service.close()


__all__ = ["SQL_SLOTS", "SQL_THREADS", "Service", "check_port", "next_free_port", "remove_abandoned", "serve"]
