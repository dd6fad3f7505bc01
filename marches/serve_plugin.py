"""What ``marches serve`` adds to Datasette to run it as a public service (runs in the Datasette process).

* Errors are answered cheaply: Datasette's default handler prints a rich traceback with local
  variables for every error (0.2-0.4 s of the single event loop and tens of kilobytes of log
  per request); this one renders the same error page and logs one line, a traceback only for
  real failures (status 500). Datasette's own errors about a request (a sort on an unknown
  column…) come with status 500: they are the visitor's, answered 400.
* Read-only: any method other than GET and HEAD is answered 405, never 500 — but the files sent to the
  validation page (POST /-/valider), which its own plugin checks (CSRF, size, time) and never stores.
* No local path is shown: the paths of the served folder and of the database's folder are
  removed from every response (``/-/databases.json``, ``pragma_database_list``, messages).
* SQLite limits: no value longer than ``MAX_VALUE_BYTES`` can be built (``randomblob(900000000)``
  fails at once instead of growing the server by 900 MB), and a result stops at
  ``MAX_RESULT_BYTES``.
* Arbitrary SQL (``?sql=``, ``_where=``; the dashboards' own queries excepted) runs in its own
  ``MARCHES_SQL_SLOTS`` threads, at most that many at a time: slow queries never hold the
  threads of table pages, facets, search and canned queries. Beyond ``SQL_QUEUE_SECONDS`` of
  waiting, 503 with Retry-After. (These threads keep the normal CPU priority: a lower one would
  make the event loop wait for the GIL whenever they hold it and the processor is busy.)
* Pages are kept in memory once computed (``CACHE_BYTES`` in all, least recently used first
  out): the database is an immutable snapshot, so a page never changes while the server runs.
  Only complete 200 answers to GET requests without cookies or credentials, that set no cookie, and no
  arbitrary SQL.

``python -m marches.serve_plugin serve …`` runs ``datasette serve …`` with this plugin in place of
Datasette's default error handler; ``marches serve`` starts it so. Settings come from the
environment (``MARCHES_*``), not from the metadata, which Datasette publishes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import ctypes
import ctypes.util
import itertools
import json
import logging
import os
import signal
import sqlite3
import sys
import traceback
import urllib.parse
import weakref
from collections import OrderedDict

from datasette import Response, hookimpl
from datasette.utils.asgi import Base400
from datasette.views.base import DatasetteError
from markupsafe import Markup

MAX_VALUE_BYTES = 10_000_000  # the longest string or blob SQLite may build (a published record is far smaller)
MAX_RESULT_BYTES = 50_000_000  # what one query may return, all rows together
SQL_QUEUE_SECONDS = 10.0
CACHE_BYTES = 128_000_000  # pages kept in memory, all together
CACHE_PAGE_BYTES = 2_000_000  # the largest page kept
READ_METHODS = ("GET", "HEAD")
MMAP_BYTES = 1 << 34  # asked of SQLite, which caps it to its own limit
HIDDEN_PATHS = "MARCHES_HIDDEN_PATHS"  # os.pathsep-separated folders to remove from responses
SQL_SLOTS = "MARCHES_SQL_SLOTS"


class ResultTooLarge(sqlite3.DatabaseError):
    """A query result beyond MAX_RESULT_BYTES."""


ARBITRARY = contextvars.ContextVar("marches_arbitrary_sql", default=False)  # set while serving arbitrary SQL
VISITOR_ERROR = contextvars.ContextVar("marches_visitor_error")  # {"yes": True} once handle_exception said so


# -- SQLite limits ---------------------------------------------------------------------------------------


@hookimpl
def prepare_connection(conn, database, datasette):
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    # the snapshot is immutable: pages read through the memory map are shared by every connection and
    # not copied into each one's cache (SQLite caps the map, 2 GB in Python's build)
    conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    make_row = conn.row_factory or (lambda cursor, row: row)
    spent: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def counted(cursor, row):
        total = spent.get(cursor, 0) + sum(len(v) if isinstance(v, str | bytes) else 8 for v in row)
        if total > MAX_RESULT_BYTES:
            raise ResultTooLarge(
                f"Résultat trop volumineux (plus de {MAX_RESULT_BYTES // 1_000_000} Mo) : "
                "ajoutez une clause LIMIT ou choisissez moins de colonnes."
            )
        spent[cursor] = total
        return make_row(cursor, row)

    conn.row_factory = counted


# -- errors ----------------------------------------------------------------------------------------------


@hookimpl
def handle_exception(datasette, request, exception):
    """Datasette's default error page, without its rich traceback (one log line instead)."""

    async def inner():
        title, info = None, {}
        if isinstance(exception, Base400):
            status, message = exception.status, exception.args[0]
        elif isinstance(exception, DatasetteError):
            status, info, message, title = exception.status, exception.error_dict, exception.message, exception.title
            if exception.message_is_html:
                message = Markup(message)
            if status == 500:  # raised on purpose for a bad parameter (« Cannot sort table by … »): the visitor's error
                status = 400
                VISITOR_ERROR.get({})["yes"] = True  # whichever error handler answers, the status is 400
        else:
            status, message = 500, str(exception)
        if status >= 500:
            traceback.print_exception(exception, limit=-3, file=sys.stderr)
        else:
            text = " ".join(str(message).replace("<", " <").split())[:300]  # one line, even for HTML messages
            print(f"{status} {request.path} : {type(exception).__name__} : {text}", file=sys.stderr)
        info.update({"ok": False, "error": message, "status": status, "title": title})
        if request.path.split("?")[0].endswith(".json"):
            return Response.json(info, status=status)
        template = datasette.jinja_env.select_template([f"{status}.html", "error.html"])
        context = dict(info, urls=datasette.urls, app_css_hash=datasette.app_css_hash(), menu_links=lambda: [])
        return Response.html(await template.render_async(context), status=status)

    return inner


# -- the service: read-only, no local paths, arbitrary SQL a few at a time ------------------------------


@hookimpl
def startup(datasette):
    """Arbitrary SQL gets its own threads; the other queries keep Datasette's pool."""
    if datasette.executor is not None and not isinstance(datasette.executor, _Dispatcher):
        slots = int(os.environ.get(SQL_SLOTS, "2"))
        datasette.executor = _Dispatcher(datasette.executor, slots)


class _Dispatcher(concurrent.futures.Executor):
    """Datasette's SQL executor, sending the work of arbitrary SQL requests to threads of their own."""

    def __init__(self, pages: concurrent.futures.Executor, slots: int):
        self.pages = pages
        self.arbitrary = concurrent.futures.ThreadPoolExecutor(
            max_workers=slots, thread_name_prefix="marches-sql-libre"
        )

    def submit(self, fn, /, *args, **kwargs):
        pool = self.arbitrary if ARBITRARY.get() else self.pages
        return pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait=True, *, cancel_futures=False):
        self.pages.shutdown(wait, cancel_futures=cancel_futures)
        self.arbitrary.shutdown(wait, cancel_futures=cancel_futures)


@hookimpl
def asgi_wrapper(datasette):
    hidden = [p.encode() for p in os.environ.get(HIDDEN_PATHS, "").split(os.pathsep) if p]
    hidden = sorted({p.rstrip(b"/") + b"/" for p in hidden}, key=len, reverse=True)
    slots = int(os.environ.get(SQL_SLOTS, "2"))

    def wrap(app):
        gate: asyncio.Semaphore | None = None
        trusted: set[str] | None = None
        cache = _Cache(CACHE_BYTES)

        async def service(scope, receive, send):
            nonlocal gate, trusted
            if scope["type"] != "http":
                return await app(scope, receive, send)
            if scope["method"] not in READ_METHODS and not _upload(scope):
                return await _refuse(send, scope, 405, "Méthode non autorisée : ce site est en lecture seule.")
            if trusted is None:
                trusted = _dashboard_queries(datasette)
                gate = asyncio.Semaphore(slots)
            state: dict = {}
            VISITOR_ERROR.set(state)
            send = _visitor_errors(_scrubbing(send, hidden) if hidden else send, state)
            params = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
            sql = params.get("sql")
            if (sql and sql[0] not in trusted) or "_where" in params:
                return await _arbitrary(app, scope, receive, send, gate)
            return await cache.serve(app, scope, receive, send)

        return service

    return wrap


def _upload(scope) -> bool:
    """The one request that writes: files sent to the validation page (checked and bounded by its own plugin)."""
    return scope["method"] == "POST" and scope.get("path", "").endswith("/-/valider")


async def _arbitrary(app, scope, receive, send, gate: asyncio.Semaphore) -> None:
    try:
        await asyncio.wait_for(gate.acquire(), SQL_QUEUE_SECONDS)
    except TimeoutError:
        return await _refuse(
            send, scope, 503, "Trop de requêtes SQL en cours : réessayez dans quelques secondes.", retry=True
        )
    token = ARBITRARY.set(True)
    try:
        return await app(scope, receive, send)
    finally:
        ARBITRARY.reset(token)
        gate.release()


class _Cache:
    """Complete answers to GET requests, by host, path and query, least recently used out first."""

    def __init__(self, capacity: int):
        self.capacity, self.size = capacity, 0
        self.pages: OrderedDict[tuple, tuple[dict, bytes]] = OrderedDict()
        self.computing: dict[tuple, asyncio.Event] = {}

    async def serve(self, app, scope, receive, send) -> None:
        headers = dict(scope.get("headers", []))
        if (
            scope["method"] != "GET"
            or b"cookie" in headers
            or b"authorization" in headers
            or "_stream" in str(scope.get("query_string", b""))
        ):
            return await app(scope, receive, send)
        key = (headers.get(b"host", b""), scope.get("raw_path") or scope["path"].encode(), scope.get("query_string"))
        while key in self.computing:  # the same page is being computed: wait for it rather than compute it again
            await self.computing[key].wait()
        if key in self.pages:
            self.pages.move_to_end(key)
            start, body = self.pages[key]
            await send({**start, "headers": [*start["headers"], (b"x-marches-cache", b"hit")]})
            await send({"type": "http.response.body", "body": body})
            return
        self.computing[key] = asyncio.Event()
        start: dict = {}
        chunks: list[bytes] = []
        complete = False

        async def recording(message):
            nonlocal start, complete
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                if sum(map(len, chunks)) <= CACHE_PAGE_BYTES:
                    chunks.append(message.get("body", b""))
                complete = not message.get("more_body", False)
            await send(message)

        try:
            await app(scope, receive, recording)
            body = b"".join(chunks)
            personal = any(k.lower() == b"set-cookie" for k, _ in start.get("headers", []))
            # a page that sets a cookie is someone's (a form's CSRF token is in its HTML): never shared
            if complete and start.get("status") == 200 and not personal and len(body) <= CACHE_PAGE_BYTES:
                kept = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"date"]
                self._keep(key, {**start, "headers": kept}, body)
        finally:
            self.computing.pop(key).set()

    def _keep(self, key: tuple, start: dict, body: bytes) -> None:
        self.pages[key] = (start, body)
        self.size += len(body)
        while self.size > self.capacity and self.pages:
            _, (_, old) = self.pages.popitem(last=False)
            self.size -= len(old)


def _dashboard_queries(datasette) -> set[str]:
    """The SQL of the dashboards' charts: light queries on pre-computed tables, never made to wait.

    datasette-dashboards keeps or drops each optional ``[[ … :filter … ]]`` part of a chart's query
    depending on the filters chosen, then the browser sends the result: every combination counts.
    """
    from datasette_dashboards import replace_opts_in_query, sql_var_pattern

    config = datasette.plugin_config("datasette-dashboards") or {}
    queries = set()
    for board in config.values():
        for chart in board.get("charts", {}).values():
            query = chart.get("query")
            if not query:
                continue
            filters = sorted(set(sql_var_pattern.findall(query)))
            for chosen in itertools.product((False, True), repeat=len(filters)):
                options = {name: "x" for name, keep in zip(filters, chosen, strict=True) if keep}
                queries.add(replace_opts_in_query(query, options))
    return queries


def _visitor_errors(send, state: dict):
    """A 500 answered for an error of the request itself (see handle_exception) goes out as 400."""

    async def corrected(message):
        if message["type"] == "http.response.start" and message.get("status") == 500 and state.get("yes"):
            message = {**message, "status": 400}
        await send(message)

    return corrected


def _scrubbing(send, hidden: list[bytes]):
    async def scrubbed(message):
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
            message = {**message, "headers": headers}
        elif message["type"] == "http.response.body" and message.get("body"):
            body = message["body"]
            for path in hidden:
                body = body.replace(path, b"")
            message = {**message, "body": body}
        await send(message)

    return scrubbed


async def _refuse(send, scope, status: int, message: str, retry: bool = False) -> None:
    path = scope.get("path", "")
    if path.split("?")[0].endswith(".json"):
        body, kind = json.dumps({"ok": False, "error": message, "status": status}), b"application/json"
    else:
        body, kind = f"<!DOCTYPE html><html lang=fr><title>{status}</title><p>{message}</p></html>", b"text/html"
    headers = [(b"content-type", kind + b"; charset=utf-8"), (b"allow", b"GET, HEAD")]
    if retry:
        headers.append((b"retry-after", b"5"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body.encode()})


# -- the Datasette process -------------------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel sends SIGTERM when ``marches serve`` dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError, TypeError):
        return
    if os.getppid() != parent:  # the parent died before prctl
        sys.exit(0)


class _QuietLifecycle(logging.Filter):
    """Drops the server's English start and stop lines (« Uvicorn running on… », « Application startup
    complete. »): ``marches serve`` says when the platform starts and stops, in French. Warnings and
    errors stay; uvicorn's own logging setup keeps a logger's filters."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO


_LEVELS = {"WARNING": "Attention", "ERROR": "Erreur", "CRITICAL": "Erreur"}


class _Levels(logging.Formatter):
    """Warnings and errors of the server prefixed in French (« Attention : », « Erreur : »)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        prefix = _LEVELS.get(record.levelname, record.levelname.capitalize())
        return f"{prefix} : {super().formatMessage(record)}"


def _access_formatter(**kwargs) -> logging.Formatter:
    """One line per request, without English level and status words: « 01/12/2026 10:55:12 127.0.0.1:47250
    "GET /decp HTTP/1.1" 200 »."""
    from uvicorn.logging import AccessFormatter

    class Access(AccessFormatter):
        def get_status_code(self, status_code: int) -> str:
            return str(status_code)

    return Access(use_colors=False, **kwargs)


def _french_logs() -> None:
    """The server's log as ``marches serve`` shows it: no English start/stop lines, French prefixes.

    uvicorn configures its loggers from ``uvicorn.config.LOGGING_CONFIG`` when Datasette starts it;
    the formatters are replaced there (the same dict object) before it does."""
    from uvicorn.config import LOGGING_CONFIG

    when = {"datefmt": "%d/%m/%Y %H:%M:%S"}
    LOGGING_CONFIG["formatters"]["default"] = {"()": _Levels, "fmt": "%(message)s"}
    LOGGING_CONFIG["formatters"]["access"] = {
        "()": _access_formatter,
        "fmt": '%(asctime)s %(client_addr)s "%(request_line)s" %(status_code)s',
        **when,
    }
    logging.getLogger("uvicorn.error").addFilter(_QuietLifecycle())


def main() -> None:
    _french_logs()
    parent = int(os.environ.get("MARCHES_SERVE_PARENT", "0"))
    if parent:
        _die_with_parent(parent)
    from datasette.cli import cli
    from datasette.plugins import pm

    from marches import serve_plugin  # this module under its own name (not __main__) in /-/plugins

    pm.unregister(name="datasette.handle_exception")
    pm.register(serve_plugin, name="marches.serve_plugin")
    cli(sys.argv[1:], prog_name="datasette")


if __name__ == "__main__":
    main()
