"""The engine of the site's validation page: uploads received safely, validated in a process of their own,
reports kept for a while under an unguessable address.

- **Uploads** are parsed as they arrive (python-multipart) and written straight into a private temporary
  folder, never held whole in memory; past the size limit the upload stops (413). The files are deleted
  as soon as the validation process ends, whatever happened; nothing about them is logged.
- **CSRF**: the form carries Datasette's token (``csrftoken()`` in the template, cookie ``ds_csrftoken``)
  as its first field. asgi-csrf 0.11, which Datasette uses, cannot read multipart bodies with
  python-multipart 0.0.26 and later (simonw/asgi-csrf#38; the earlier versions have known CVEs), so the
  route is exempted from it (``skip_csrf``) and the same check is made here while the body streams: the
  cookie must carry Datasette's signature and the first field must equal it, before any file is written.
  A request without the cookie is refused too (asgi-csrf lets cookie-less requests through).
- **Validation** is CPU-bound: each one runs in its own process (``python -m marches.site_validation``,
  the server's event loop only waits for it), killed at the time limit or when the visitor leaves. A
  bounded number run at once, a few more wait for their turn, the others are asked to retry.
- **Reports** (the JSON of ``report.schema.json``, CSV for French Excel, the self-contained HTML file and
  the page's view) are kept ``keep_seconds`` under a random token, ``keep_reports`` at most, then deleted.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marches.french import number

MIB = 1 << 20
IDLE_TIMEOUT = 60  # seconds without a byte from the browser: the upload is abandoned
DRAIN_EXTRA = 16 * MIB  # read (and drop) this much more of a refused body, so the browser gets the answer
FIELD_MAX = 256  # bytes of a form field (the token, the date)
FIELDS_MAX = 16
FILES_MAX = 50
TOKEN_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
CSRF_REFUSED = (
    "Le formulaire a expiré ou ne vient pas de cette page : rechargez la page de validation, puis envoyez à "
    "nouveau vos fichiers."
)
BUSY = "Le serveur valide déjà d'autres fichiers : réessayez dans quelques minutes."
FAILED = (
    "La validation a échoué de façon inattendue. Réessayez ; si cela se reproduit, validez le fichier avec la "
    "commande « marches validate », qui donne le même rapport."
)
WEB_CPV_NOTICE = (
    "La nomenclature CPV n'est pas installée sur ce serveur : seul le format des codes CPV est vérifié, pas leur "
    "existence."
)
WEB_SIRENE_NOTICE = (
    "Le répertoire SIRENE n'est pas installé sur ce serveur : l'existence des SIRET et la date de fermeture des "
    "établissements ne sont pas vérifiées."
)
ROOT_PREFIX = "marches-validation-"
REPORT_FILES = {"json": "rapport.json", "csv": "rapport.csv", "html": "rapport.html"}


@dataclass(frozen=True)
class Settings:
    """The limits of the validation page (``marches serve`` options, carried by the site's metadata)."""

    max_bytes: int = 100 * MIB  # all the files of one upload together
    time_limit: float = 300  # seconds of validation (a 100 Mo JSON file takes about 40 s on 2 cores)
    workers: int = 2  # validations at once; each uses up to one process
    waiting: int = 4  # more uploads allowed to wait for a worker
    keep_seconds: int = 3600  # how long a report stays downloadable
    keep_reports: int = 20  # reports kept at most (the oldest go first)
    max_findings: int = 100_000  # findings written to the JSON and CSV reports of one upload

    def to_config(self) -> dict[str, Any]:
        return {"taille_max": self.max_bytes, "duree_max": self.time_limit, "simultanees": self.workers}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Settings:
        return cls(
            max_bytes=int(config.get("taille_max", cls.max_bytes)),
            time_limit=float(config.get("duree_max", cls.time_limit)),
            workers=int(config.get("simultanees", cls.workers)),
            waiting=2 * int(config.get("simultanees", cls.workers)),
        )

    @property
    def size_text(self) -> str:
        return size_text(self.max_bytes)

    @property
    def time_text(self) -> str:
        return duration_text(self.time_limit)


def size_text(size: float) -> str:
    """« 100 Mo », « 48,8 Ko » (units of 1 024, as the file explorer counts them)."""
    if size >= MIB:
        return f"{number(round(size / MIB, 1))}\u00a0Mo"
    return f"{number(round(size / 1024, 1))}\u00a0Ko"


def duration_text(seconds: float) -> str:
    """« 1 h », « 5 min », « 90 s »."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{number(seconds // 3600)}\u00a0h"
    if seconds >= 120:
        return f"{number(round(seconds / 60, 1))}\u00a0min"
    return f"{number(round(seconds))}\u00a0s"


class Refused(Exception):
    """A request answered with a French message and an HTTP status, never a trace."""

    def __init__(self, status: int, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


class Unreadable(Exception):
    """An uploaded file marches cannot read (invalid JSON or XML…): its French explanation."""


class Disconnected(Exception):
    """The visitor went away before the answer."""


# -- receiving an upload -----------------------------------------------------------------------------------


@dataclass
class Upload:
    """What the form sent: the files (written in ``directory``), the optional reference date."""

    directory: Path
    max_bytes: int
    expected_token: str | None
    names: list[str] = field(default_factory=list)
    as_of: dt.date | None = None
    size: int = 0
    body_read: bool = False  # the last message of the body has arrived
    token_checked: bool = False


def safe_name(raw: str, taken: set[str]) -> str:
    """A file name fit to show and to store: no folder, no control character, not hidden, unique."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join("_" if (ord(c) < 32 or c in '<>:"|?*\x7f') else c for c in name).strip().lstrip(".-") or "fichier"
    stem, dot, suffix = name.rpartition(".")
    if dot and len(suffix) <= 10:
        stem, suffix = stem[:100], "." + suffix
    else:
        stem, suffix = name[:100], ""
    candidate, n = stem + suffix, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem} ({n}){suffix}"
    taken.add(candidate.lower())
    return candidate


def _parse_date(text: str) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise Refused(400, f"Date de référence « {text[:20]} » incompréhensible : écrivez-la JJ/MM/AAAA.")


class _Form:
    """python-multipart callbacks: fields kept (small), files written to disk as their bytes arrive."""

    def __init__(self, upload: Upload):
        self.upload = upload
        self.headers: dict[bytes, bytes] = {}
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.part: tuple[str, str | None] | None = None  # (field name, file name or None)
        self.value = bytearray()
        self.handle = None
        self.fields = 0
        self.taken: set[str] = set()

    def callbacks(self) -> dict[str, Callable]:
        return {
            "on_part_begin": self.begin,
            "on_header_field": lambda data, start, end: self.header_name.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self.header_value.extend(data[start:end]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.data,
            "on_part_end": self.end,
        }

    def begin(self) -> None:
        self.headers, self.value, self.part = {}, bytearray(), None

    def header_end(self) -> None:
        self.headers[bytes(self.header_name).strip().lower()] = bytes(self.header_value).strip()
        self.header_name.clear()
        self.header_value.clear()

    def headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        self.fields += 1
        if self.fields > FIELDS_MAX + FILES_MAX:
            raise Refused(400, "Formulaire trop long : envoyez au plus 50 fichiers à la fois.")
        if not self.upload.token_checked and name != "csrftoken":
            raise Refused(403, CSRF_REFUSED)  # the token comes first: nothing is written before it is checked
        if filename is None:
            self.part = (name, None)
            return
        # browsers send the name in UTF-8; python-multipart hands it over as Latin-1
        shown = filename.decode("latin-1").encode("latin-1").decode("utf-8", "replace")
        if name != "fichiers" or not shown:
            self.part = (name, "")  # no file chosen, or a field the page does not have: read and dropped
            return
        stored = safe_name(shown, self.taken)
        lowered = stored.lower()
        if lowered.endswith(".csv") or lowered == "datapackage.json":
            raise Refused(400, f"« {stored} » : seuls les fichiers JSON et XML sont acceptés ici.")
        self.part = (name, stored)
        self.handle = (self.upload.directory / stored).open("xb")
        self.upload.names.append(stored)

    def data(self, data: bytes, start: int, end: int) -> None:
        if self.part is None:
            return
        if self.part[1] is None:
            self.value.extend(data[start:end])
            if len(self.value) > FIELD_MAX:
                raise Refused(400, "Champ du formulaire trop long.")
        elif self.handle is not None:
            self.upload.size += end - start
            if self.upload.size > self.upload.max_bytes:
                raise Refused(
                    413,
                    f"Fichiers trop volumineux : la limite est de {size_text(self.upload.max_bytes)} par envoi. "
                    "Validez les fichiers plus gros avec la commande « marches validate », ou envoyez-les un par un.",
                )
            self.handle.write(data[start:end])

    def end(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        if self.part is None or self.part[1] is not None:
            return
        name, value = self.part[0], bytes(self.value).decode("utf-8", "replace")
        if name == "csrftoken" and not self.upload.token_checked:
            expected = self.upload.expected_token
            if expected is None or not secrets.compare_digest(value.encode(), expected.encode()):
                raise Refused(403, CSRF_REFUSED)
            self.upload.token_checked = True
        elif name == "date":
            self.upload.as_of = _parse_date(value)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


async def _receive(receive: Callable[[], Awaitable[dict]]) -> dict:
    try:
        message = await asyncio.wait_for(receive(), IDLE_TIMEOUT)
    except TimeoutError as exc:
        raise Refused(408, "Envoi interrompu : le fichier n'arrivait plus. Réessayez.") from exc
    if message["type"] == "http.disconnect":
        raise Disconnected
    return message


async def drain(receive: Callable[[], Awaitable[dict]], budget: int) -> None:
    """Read and drop what is left of a refused body (up to ``budget`` bytes): a browser that is still sending
    when the connection closes shows a network error instead of the answer."""
    with contextlib.suppress(Refused, Disconnected):
        while budget > 0:
            message = await _receive(receive)
            budget -= len(message.get("body", b""))
            if not message.get("more_body"):
                return


async def read_upload(
    receive: Callable[[], Awaitable[dict]],
    content_type: str,
    content_length: str | None,
    expected_token: str | None,
    directory: Path,
    max_bytes: int,
) -> Upload:
    """Parse a multipart form body into ``directory``; Refused (with its status) for anything amiss."""
    from python_multipart import MultipartParser
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import parse_options_header

    upload = Upload(directory, max_bytes, expected_token)
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise Refused(400, "Envoyez vos fichiers avec le formulaire de la page de validation.")
    if content_length and content_length.isdigit() and int(content_length) > max_bytes + MIB:
        await drain(receive, min(int(content_length), max_bytes + DRAIN_EXTRA))
        raise Refused(413, f"Fichiers trop volumineux : la limite est de {size_text(max_bytes)} par envoi.")
    directory.mkdir(parents=True, exist_ok=True)
    form = _Form(upload)
    parser = MultipartParser(boundary, form.callbacks())
    try:
        try:
            more = True
            while more:
                message = await _receive(receive)
                more = message.get("more_body", False)
                upload.body_read = not more
                parser.write(message.get("body", b""))
            parser.finalize()
        except FormParserError as exc:
            raise Refused(400, "Envoi mal formé : rechargez la page et envoyez à nouveau vos fichiers.") from exc
    except Refused:
        if not upload.body_read:
            await drain(receive, DRAIN_EXTRA + max(0, max_bytes - upload.size))
        raise
    finally:
        form.close()
    if not upload.token_checked:
        raise Refused(403, CSRF_REFUSED)
    if not upload.names:
        raise Refused(400, "Choisissez au moins un fichier JSON ou XML à valider.")
    return upload


# -- running validations and keeping their reports ------------------------------------------------------


class Validations:
    """The uploads being handled, the worker slots, and the reports kept on disk."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.admitted = 0
        self.slots = asyncio.Semaphore(settings.workers)
        self.finished: dict[str, float] = {}  # token -> time the report was made (oldest first)
        self.command = [sys.executable, "-m", "marches.site_validation"]  # + the job file
        self._root: Path | None = None

    @property
    def root(self) -> Path:
        """The private (0700) folder of this server's jobs and reports, removed when the server stops."""
        if self._root is None:
            _remove_orphans()
            self._root = Path(tempfile.mkdtemp(prefix=f"{ROOT_PREFIX}{os.getpid()}-"))
            atexit.register(self.close)
        return self._root

    def close(self) -> None:
        """Delete every job and report (the server stops)."""
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
        self.finished.clear()

    @contextlib.asynccontextmanager
    async def admission(self, receive: Callable[[], Awaitable[dict]]):
        """A place among the uploads being received, waiting or validated; none left: « réessayez »."""
        if self.admitted >= self.settings.workers + self.settings.waiting:
            await drain(receive, self.settings.max_bytes + DRAIN_EXTRA)
            raise Refused(503, BUSY, retry_after=60)
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

    def new_job(self) -> tuple[str, Path]:
        self.sweep()
        token = secrets.token_urlsafe(24)
        job = self.root / token
        (job / "rapport").mkdir(parents=True)
        return token, job

    def discard(self, job: Path) -> None:
        shutil.rmtree(job, ignore_errors=True)

    async def run(self, job: Path, upload: Upload, disconnected: asyncio.Event) -> None:
        """Validate the upload in a process of its own; its files are deleted when it ends, whatever happens.

        Returns when the report is written; raises Unreadable, Refused (time limit, busy) or Disconnected."""
        files = upload.directory
        try:
            try:
                await asyncio.wait_for(self.slots.acquire(), self.settings.time_limit)
            except TimeoutError as exc:
                raise Refused(503, BUSY, retry_after=60) from exc
            try:
                await self._process(job, upload, disconnected)
            finally:
                self.slots.release()
        finally:
            shutil.rmtree(files, ignore_errors=True)
        result = _read_json(job / "resultat.json") or {"etat": "erreur", "trace": ["aucun résultat"]}
        if result["etat"] == "illisible":
            raise Unreadable(result["message"])
        if result["etat"] != "rapport":
            log_failure(result.get("trace", []))
            raise Refused(500, FAILED)
        self.finished[job.name] = time.time()

    async def _process(self, job: Path, upload: Upload, disconnected: asyncio.Event) -> None:
        spec = {
            "fichiers": upload.names,
            "date": upload.as_of.isoformat() if upload.as_of else None,
            "rapport": str(job / "rapport"),
            "resultat": str(job / "resultat.json"),
            "max_findings": self.settings.max_findings,
        }
        (job / "job.json").write_text(json.dumps(spec), encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            *self.command,
            str(job / "job.json"),
            cwd=upload.directory,  # the files are named as their senders named them, never by a server path
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        ended = asyncio.ensure_future(process.wait())
        gone = asyncio.ensure_future(disconnected.wait())
        try:
            done, _ = await asyncio.wait(
                {ended, gone}, timeout=self.settings.time_limit, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            gone.cancel()
            if process.returncode is None:
                process.kill()
                await process.wait()
        if ended not in done:
            if gone in done:
                raise Disconnected
            raise Refused(
                503,
                f"La validation a dépassé sa durée maximale ({self.settings.time_text}) et a été arrêtée. Validez "
                "ce fichier avec la commande « marches validate », ou réessayez plus tard.",
            )

    def report(self, token: str) -> Path | None:
        """The folder of a report still kept, or None (unknown, expired or malformed token)."""
        self.sweep()
        if not (16 <= len(token) <= 64 and set(token) <= TOKEN_ALPHABET) or token not in self.finished:
            return None
        return self.root / token / "rapport"

    def expires(self, token: str) -> float:
        return self.finished[token] + self.settings.keep_seconds

    def sweep(self) -> None:
        """Delete the reports past their time, and the oldest beyond the number kept."""
        now = time.time()
        for token, made in list(self.finished.items()):
            if now - made > self.settings.keep_seconds or len(self.finished) > self.settings.keep_reports:
                del self.finished[token]
                shutil.rmtree(self.root / token, ignore_errors=True)


def _remove_orphans() -> None:
    """Folders left by servers that were killed before they could clean up (their process is gone)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{ROOT_PREFIX}*-*"):
        pid = folder.name.removeprefix(ROOT_PREFIX).split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:  # alive, another user's
            continue


def where_it_failed(exc: BaseException) -> list[str]:
    """The frames of an exception and its type, never its message (it may quote an uploaded file)."""
    return [*traceback.format_tb(exc.__traceback__), type(exc).__name__ + "\n"]


def log_failure(frames: list[str]) -> None:
    print("marches : la validation d'un envoi a échoué :\n" + "".join(frames), file=sys.stderr)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


async def watch_disconnect(receive: Callable[[], Awaitable[dict]], event: asyncio.Event) -> None:
    """Set ``event`` when the browser goes away (the body has been read: the next message is the disconnect)."""
    with contextlib.suppress(Exception):
        while (await receive())["type"] != "http.disconnect":
            pass
        event.set()


# -- the validation process -------------------------------------------------------------------------------


class _Capped:
    """Hands the first ``limit`` findings to the report writers and counts the others."""

    def __init__(self, sinks: list, limit: int):
        self.sinks, self.limit, self.written, self.dropped = sinks, limit, 0, 0

    def __call__(self, finding) -> None:
        if self.written >= self.limit:
            self.dropped += 1
            return
        self.written += 1
        for sink in self.sinks:
            sink(finding)


def validate_upload(names: list[str], as_of: dt.date | None, out: Path, max_findings: int) -> None:
    """Validate the files (named relative to the working directory) and write the four reports in ``out``."""
    from marches import cpv, sirene
    from marches.french import plural
    from marches.report import SINKS, Report
    from marches.report_html import HTML_FINDINGS_PER_RULE, render_html, report_view
    from marches.rules import Config
    from marches.serve import SIRENE_ENV
    from marches.validate import CPV_NOTICE, SIRENE_NOTICE, validate

    config = Config(as_of=as_of) if as_of else Config()
    with (
        (out / REPORT_FILES["json"]).open("w", encoding="utf-8") as as_json,
        (out / REPORT_FILES["csv"]).open("w", encoding="utf-8", newline="") as as_csv,
    ):
        sinks = [SINKS["json"](as_json), SINKS["csv"](as_csv)]
        capped = _Capped(sinks, max_findings)
        report = Report(examples_per_rule=HTML_FINDINGS_PER_RULE, sink=capped, as_of=config.as_of)
        served = os.environ.get(SIRENE_ENV)  # marches serve --sirene
        register = sirene.resolve(Path(served) if served else None)
        validate([Path(n) for n in names], config, cpv.resolve(None), report, sirene=register)
        web = {CPV_NOTICE: WEB_CPV_NOTICE, SIRENE_NOTICE: WEB_SIRENE_NOTICE}
        report.notices = [web.get(n, n) for n in report.notices]
        if capped.dropped:
            report.notices.append(
                f"Rapport limité aux {plural(max_findings, 'premier')} constats sur "
                f"{plural(capped.written + capped.dropped, 'constat')} : les comptes par règle sont complets ; "
                "la commande « marches validate » donne la liste entière."
            )
        for sink in sinks:
            sink.close(report, False)
    view = report_view(report)
    (out / REPORT_FILES["html"]).write_text(render_html(view), encoding="utf-8")
    (out / "vue.json").write_text(json.dumps(view, ensure_ascii=False), encoding="utf-8")


def main(argv: list[str]) -> int:
    """``python -m marches.site_validation JOB.json``: one validation, its outcome in the job's result file."""
    from marches.errors import InputError

    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    try:
        as_of = dt.date.fromisoformat(spec["date"]) if spec["date"] else None
        validate_upload(spec["fichiers"], as_of, Path(spec["rapport"]), spec["max_findings"])
        result: dict[str, Any] = {"etat": "rapport"}
    except InputError as exc:
        result = {"etat": "illisible", "message": str(exc)}
    except Exception as exc:
        result = {"etat": "erreur", "trace": where_it_failed(exc)}
    Path(spec["resultat"]).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
