"""What ``marches serve`` adds to Datasette to run it as a public service (runs in the Datasette process).

* Errors are answered cheaply: Datasette's default handler prints a rich traceback with local
  variables for every error (0.2-0.4 s of the single event loop and tens of kilobytes of log
  per request); this one renders the same error page and logs one line, a traceback only for
  real failures (status 500). Datasette's own errors about a request (a sort on an unknown
  column…) come with status 500: they are the visitor's, answered 400.
* Read-only: any method other than GET and HEAD is answered 405, never 500.
* No local path is shown: the paths of the served folder and of the database's folder are
  removed from every response (``/-/databases.json``, ``pragma_database_list``, messages).
* SQLite limits: no value longer than ``MAX_VALUE_BYTES`` can be built (``randomblob(900000000)``
  fails at once instead of growing the server by 900 MB), and a result stops at
  ``MAX_RESULT_BYTES``.
* Arbitrary SQL (``?sql=``) runs at most ``MARCHES_SQL_SLOTS`` at a time (the dashboards' own
  queries excepted): slow queries cannot take every SQL thread, so table pages, facets, search
  and canned queries stay fast. Beyond ``SQL_QUEUE_SECONDS`` of waiting, 503 with Retry-After.

``python -m marches.serve_plugin serve …`` runs ``datasette serve …`` with this plugin in place of
Datasette's default error handler; ``marches serve`` starts it so. Settings come from the
environment (``MARCHES_*``), not from the metadata, which Datasette publishes.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import json
import os
import signal
import sqlite3
import sys
import traceback
import urllib.parse
import weakref

from datasette import Response, hookimpl
from datasette.utils.asgi import Base400
from datasette.views.base import DatasetteError
from markupsafe import Markup

MAX_VALUE_BYTES = 10_000_000  # the longest string or blob SQLite may build (a published record is far smaller)
MAX_RESULT_BYTES = 50_000_000  # what one query may return, all rows together
SQL_QUEUE_SECONDS = 10.0
READ_METHODS = ("GET", "HEAD")
HIDDEN_PATHS = "MARCHES_HIDDEN_PATHS"  # os.pathsep-separated folders to remove from responses
SQL_SLOTS = "MARCHES_SQL_SLOTS"


class ResultTooLarge(sqlite3.DatabaseError):
    """A query result beyond MAX_RESULT_BYTES."""


# -- SQLite limits ---------------------------------------------------------------------------------------


@hookimpl
def prepare_connection(conn, database, datasette):
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
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
        else:
            status, message = 500, str(exception)
        if status >= 500:
            traceback.print_exception(exception, limit=-3, file=sys.stderr)
        else:
            print(f"{status} {request.path} : {type(exception).__name__} : {message}", file=sys.stderr)
        info.update({"ok": False, "error": message, "status": status, "title": title})
        if request.path.split("?")[0].endswith(".json"):
            return Response.json(info, status=status)
        template = datasette.jinja_env.select_template([f"{status}.html", "error.html"])
        context = dict(info, urls=datasette.urls, app_css_hash=datasette.app_css_hash(), menu_links=lambda: [])
        return Response.html(await template.render_async(context), status=status)

    return inner


# -- the service: read-only, no local paths, arbitrary SQL a few at a time ------------------------------


@hookimpl
def asgi_wrapper(datasette):
    hidden = [p.encode() for p in os.environ.get(HIDDEN_PATHS, "").split(os.pathsep) if p]
    hidden = sorted({p.rstrip(b"/") + b"/" for p in hidden}, key=len, reverse=True)
    slots = int(os.environ.get(SQL_SLOTS, "2"))

    def wrap(app):
        gate: asyncio.Semaphore | None = None
        trusted: set[str] | None = None

        async def service(scope, receive, send):
            nonlocal gate, trusted
            if scope["type"] != "http":
                return await app(scope, receive, send)
            if scope["method"] not in READ_METHODS:
                return await _refuse(send, scope, 405, "Méthode non autorisée : ce site est en lecture seule.")
            if trusted is None:
                trusted = _dashboard_queries(datasette)
                gate = asyncio.Semaphore(slots)
            send = _scrubbing(send, hidden) if hidden else send
            sql = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1")).get("sql")
            if not sql or sql[0] in trusted:
                return await app(scope, receive, send)
            try:
                await asyncio.wait_for(gate.acquire(), SQL_QUEUE_SECONDS)
            except TimeoutError:
                return await _refuse(
                    send, scope, 503, "Trop de requêtes SQL en cours : réessayez dans quelques secondes.", retry=True
                )
            try:
                return await app(scope, receive, send)
            finally:
                gate.release()

        return service

    return wrap


def _dashboard_queries(datasette) -> set[str]:
    """The SQL of the dashboards' charts: light queries on pre-computed tables, never made to wait."""
    config = datasette.plugin_config("datasette-dashboards") or {}
    return {
        chart["query"] for board in config.values() for chart in board.get("charts", {}).values() if "query" in chart
    }


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


def main() -> None:
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
