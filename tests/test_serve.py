"""marches serve as a service: whole databases, stops with its children, cheap errors, no paths, bounded SQL."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import date
from pathlib import Path

import pytest

from marches import serve_plugin
from marches.generate import generate
from marches.package import package
from marches.publish import INSPECT_TABLE, publish, stored_inspection
from marches.rules import Config
from marches.serve import Service

CONFIG = Config(as_of=date(2026, 11, 22))


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("serve-inputs")
    small, large = directory / "small.json", directory / "large.json"
    generate(small, "json-2022", contracts=120, seed=71, concession_share=0.05)
    generate(large, "json-2022", contracts=300, seed=72, concession_share=0.05)
    package([small], directory / "small", config=CONFIG)
    package([large], directory / "large", config=CONFIG)
    return directory / "small", directory / "large"


@pytest.fixture
def database(tmp_path, packages) -> Path:
    target = tmp_path / "site" / "decp.db"
    publish([packages[0]], target)
    return target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Server:
    """``marches serve`` on a free port, known to be ours by the build identifier of its database.

    Other test runs on this machine start servers too: a port found free can be taken before
    Datasette binds it; then another server answers there. Ours is recognised by the hash it
    shows for the database, and started again on another port when it could not bind.
    """

    def __init__(self, database: Path, log: Path):
        self.log = log
        build = stored_inspection(database)["hash"]
        for _ in range(3):
            self.port = _free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            with log.open("wb") as fh:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "marches.cli", "serve", str(database), "--port", str(self.port)],
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                )
            for _ in range(300):
                if self.process.poll() is not None:
                    break  # the port was taken meanwhile: try another one
                try:
                    (served,) = json.loads(_get(self.url + "/-/databases.json")[1])
                    if served["hash"] == build:
                        return
                except (OSError, ValueError):
                    pass
                time.sleep(0.1)
            self.stop()
        pytest.fail("the server did not start: " + log.read_text(errors="replace"))

    def children(self) -> list[int]:
        found = []
        for pid in os.listdir("/proc"):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except (OSError, ValueError):
                continue
            if pid.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                found.append(int(pid))
        return found

    def count(self, table: str = "marches") -> int:
        sql = urllib.parse.quote(f"select count(*) from {table}")
        return json.loads(_get(f"{self.url}/decp.json?sql={sql}&_shape=array")[1])[0]["count(*)"]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@pytest.fixture(scope="module")
def served(packages, tmp_path_factory) -> tuple[Server, Path]:
    """One server for the tests that only read."""
    directory = tmp_path_factory.mktemp("served")
    database = directory / "site" / "decp.db"
    publish([packages[0]], database)
    running = Server(database, directory / "serve.log")
    yield running, database
    running.stop()


@pytest.fixture
def server(served) -> Server:
    return served[0]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"


def _wait_gone(pid: int) -> bool:
    for _ in range(100):
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_settings_counts_from_the_database_and_a_private_folder(database):
    service = Service.prepare(database, allow_robots=False)
    try:
        command = service.command("127.0.0.1", 8001, 3000)
        assert "--immutable" in command and command[command.index("--inspect-file") + 1] == "inspect.json"
        assert command[command.index("sql_time_limit_ms") + 1] == "3000"
        assert int(command[command.index("num_sql_threads") + 1]) > 3
        assert service.snapshot and service.served.stat().st_ino == database.stat().st_ino
        metadata = json.loads((service.folder / "metadata.json").read_text())
        assert metadata["plugins"]["datasette-block-robots"] == {"disallow": ["/"]}
        assert metadata["databases"]["decp"]["tables"][INSPECT_TABLE]["hidden"] is True
        assert "write" not in json.dumps(metadata["databases"]["decp"]["queries"])
        inspection = json.loads((service.folder / "inspect.json").read_text())["decp"]
        import sqlite3

        db = sqlite3.connect(database)
        assert inspection["tables"]["marches"]["count"] == db.execute("SELECT count(*) FROM marches").fetchone()[0]
        assert inspection["size"] == database.stat().st_size and len(inspection["hash"]) == 64
    finally:
        service.close()
    assert not service.folder.exists()
    allowed = Service.prepare(database, allow_robots=True)
    try:
        metadata = json.loads((allowed.folder / "metadata.json").read_text())
        assert "Allow: /" in metadata["plugins"]["datasette-block-robots"]["literal"]
    finally:
        allowed.close()


def test_writes_are_refused_with_405(server):
    for path in ("/decp", "/decp/marches", "/decp/marches/-/insert", "/decp/depenses_par_annee", "/-/permissions"):
        status, _ = _get(server.url + path, method="POST")
        assert status == 405, path
    status, body = _get(server.url + "/decp.json?sql=" + urllib.parse.quote("DELETE FROM marches"))
    assert status == 400 and json.loads(body)["error"] == "Statement must be a SELECT"


def test_no_local_path_is_shown(served):
    server, database = served
    folders = {str(database.parent), str(database.parent.resolve())}
    for path in (
        "/-/databases.json",
        "/-/databases",
        "/decp.json?sql=" + urllib.parse.quote("select * from pragma_database_list"),
        "/decp?sql=" + urllib.parse.quote("select file from pragma_database_list"),
    ):
        status, body = _get(server.url + path)
        assert status == 200, path
        assert not any(folder in body.decode() for folder in folders), path
    (entry,) = json.loads(_get(server.url + "/-/databases.json")[1])
    assert entry["path"] == "decp.db"


def test_sql_results_are_bounded_and_errors_are_cheap(server):
    status, body = _get(server.url + "/decp.json?sql=" + urllib.parse.quote("select randomblob(900000000)"))
    assert status == 400 and json.loads(body)["error"] == "string or blob too big"
    big = "select randomblob(9000000) from marches limit 20"
    status, body = _get(server.url + "/decp.json?sql=" + urllib.parse.quote(big))
    assert status == 400 and "Résultat trop volumineux" in json.loads(body)["error"]
    assert _get(server.url + "/nulle-part")[0] == 404
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log and "╭" not in log, "no traceback per request"
    assert "400 /decp.json : DatasetteError : Statement must be a SELECT" in log or "string or blob too big" in log


def test_a_running_server_keeps_serving_its_whole_database_until_restarted(database, packages, tmp_path):
    first = Server(database, tmp_path / "first.log")
    try:
        before = first.count()
        publish([packages[1]], database)  # replaced while serving
        assert first.count() == before, "the server answers from its snapshot, whole"
        assert _get(first.url + "/decp/marches.json?_size=1")[0] == 200
    finally:
        first.stop()
    second = Server(database, tmp_path / "second.log")
    try:
        assert second.count() != before, "a restart serves the new database"
    finally:
        second.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_datasette_and_removes_the_private_folder(database, tmp_path, sig):
    running = Server(database, tmp_path / "serve.log")
    (child,) = running.children()
    assert [p for p in database.parent.iterdir() if ".serve-" in p.name]
    assert running.stop(sig) == 0
    assert _wait_gone(child), "Datasette must stop with marches serve"
    assert not [p for p in database.parent.iterdir() if ".serve-" in p.name]


def test_a_killed_server_takes_datasette_along_and_the_next_start_cleans_up(database, tmp_path):
    running = Server(database, tmp_path / "serve.log")
    (child,) = running.children()
    running.stop(signal.SIGKILL)
    assert _wait_gone(child), "the kernel stops Datasette when marches serve dies (PR_SET_PDEATHSIG)"
    (left,) = [p for p in database.parent.iterdir() if ".serve-" in p.name]
    again = Server(database, tmp_path / "again.log")
    try:
        assert not left.exists(), "the folder of the dead server is removed at the next start"
    finally:
        again.stop()


def test_arbitrary_sql_waits_for_a_free_slot_then_gets_503(monkeypatch):
    """Two ?sql= requests with one slot: the second waits, then is refused; other pages never wait."""
    monkeypatch.setenv(serve_plugin.SQL_SLOTS, "1")
    monkeypatch.setattr(serve_plugin, "SQL_QUEUE_SECONDS", 0.2)

    class FakeDatasette:
        def plugin_config(self, name):
            return {"indicateurs": {"charts": {"c": {"query": "select 1"}}}}

    release = asyncio.Event()

    async def app(scope, receive, send):
        if b"slow" in scope["query_string"]:
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    wrapped = serve_plugin.asgi_wrapper(FakeDatasette())(app)

    async def request(query: str) -> int:
        sent = []

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/decp.json", "query_string": query.encode()}
        await wrapped(scope, None, send)
        return sent[0]["status"]

    async def scenario():
        slow = asyncio.create_task(request("sql=select+slow"))
        await asyncio.sleep(0.05)
        statuses = await asyncio.gather(request("sql=select+2"), request(""), request("sql=select+1"))
        release.set()
        return statuses, await slow

    (queued, page, chart), slow = asyncio.run(scenario())
    assert (queued, page, chart, slow) == (503, 200, 200, 200)


def _headers(url: str, cookie: str | None = None) -> tuple[bytes, str | None]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read(), response.headers.get("x-marches-cache")


def test_pages_are_kept_in_memory_but_not_arbitrary_sql_nor_personal_requests(server):
    page = server.url + "/decp/marches?annee=2025"
    first, cached = _headers(page)
    again, hit = _headers(page)
    assert cached is None and hit == "hit" and again == first, "the snapshot never changes: same page"
    assert _headers(page, cookie="session=1")[1] is None
    sql = server.url + "/decp.json?sql=" + urllib.parse.quote("select count(*) from marches")
    _headers(sql)
    assert _headers(sql)[1] is None


def test_arbitrary_sql_runs_in_threads_of_its_own():
    import concurrent.futures
    import threading

    pages = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pages")
    dispatcher = serve_plugin._Dispatcher(pages, slots=1)

    def where() -> str:
        return threading.current_thread().name

    try:
        assert dispatcher.submit(where).result().startswith("pages")
        token = serve_plugin.ARBITRARY.set(True)
        try:
            assert dispatcher.submit(where).result().startswith("marches-sql-libre")
        finally:
            serve_plugin.ARBITRARY.reset(token)
    finally:
        dispatcher.shutdown()


def test_a_bad_parameter_is_the_visitors_error_whoever_renders_the_page(server):
    for path in ("/decp/marches?_sort_desc=nimporte", "/decp/marches.json?_sort_desc=nimporte"):
        assert _get(server.url + path)[0] == 400, path


def test_the_dashboards_queries_are_trusted_with_any_filters_chosen():
    from datasette_dashboards import replace_opts_in_query

    from marches.site import build_metadata

    metadata = build_metadata()

    class FakeDatasette:
        def plugin_config(self, name):
            return metadata["plugins"][name]

    trusted = serve_plugin._dashboard_queries(FakeDatasette())
    for chart in metadata["plugins"]["datasette-dashboards"]["indicateurs"]["charts"].values():
        assert replace_opts_in_query(chart["query"], {}) in trusted
        assert replace_opts_in_query(chart["query"], {"annee": "2025", "procedure": "x"}) in trusted
    assert "select * from marches" not in trusted


def test_a_taken_port_is_refused_in_french_before_anything_starts(database):
    from click.testing import CliRunner

    from marches.cli import cli

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", str(database), "--port", str(port)])
    assert result.exit_code == 3
    assert f"Le port {port} est déjà utilisé sur 127.0.0.1" in result.output
    assert "--port" in result.output and "Traceback" not in result.output
    assert not list(database.parent.glob("*serve-*")), "nothing prepared for a server that cannot start"


def test_the_server_log_has_no_english_start_lines_and_one_french_line_per_request(served):
    running, _ = served
    _get(running.url + "/decp")
    time.sleep(0.5)
    log = running.log.read_text(encoding="utf-8", errors="replace")
    assert "Plateforme : http://127.0.0.1:" in log
    for english in ("Uvicorn running", "Application startup", "Started server process", "INFO:", " OK"):
        assert english not in log
    assert re.search(r'\d\d/\d\d/\d{4} \d\d:\d\d:\d\d 127\.0\.0\.1:\d+ "GET /decp HTTP/1\.1" 200', log)


def test_serve_sirene_is_the_register_of_the_validation_page(database, tmp_path):
    for given, expected in ((None, None), (tmp_path / "sirene.sqlite", str(tmp_path / "sirene.sqlite"))):
        service = Service.prepare(database, allow_robots=False, sirene=given)
        try:
            assert service.environment().get("MARCHES_SIRENE") == expected
        finally:
            service.close()


def test_the_next_free_port_skips_a_taken_one():
    from marches.serve import check_port, next_free_port

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        free = next_free_port("127.0.0.1", port)
        assert free > port
        check_port("127.0.0.1", free)  # does not raise
