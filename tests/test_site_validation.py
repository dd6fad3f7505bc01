"""The validation page's engine: uploads parsed safely (CSRF token first, size limit, names), validations run
in a process of their own within limits (time, number at once, visitor gone), reports kept then deleted."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from marches.generate import generate
from marches.generate.sirene import generate_sirene
from marches.sirene.install import install
from marches.site_validation import (
    BUSY,
    CSRF_REFUSED,
    FAILED,
    WEB_SIRENE_NOTICE,
    Disconnected,
    Refused,
    Settings,
    Unreadable,
    Upload,
    Validations,
    drain,
    read_upload,
    safe_name,
    validate_upload,
)
from tests.conftest import FIXTURES, ROOT

TOKEN = "jeton-de-test"
BOUNDARY = "----limite1234"
SCHEMA = json.loads((ROOT / "marches" / "report.schema.json").read_text(encoding="utf-8"))


def multipart(*parts: tuple[str, str | None, bytes]) -> bytes:
    """A multipart/form-data body: (field name, file name or None, content) in order."""
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            body += b"Content-Type: application/json\r\n"
        body += b"\r\n" + content + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


class Browser:
    """An ASGI ``receive`` sending a body in chunks, then (after the body) waiting, as a server does."""

    def __init__(self, body: bytes, chunk: int = 1000):
        self.chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
        self.sent = 0

    async def __call__(self) -> dict:
        if self.sent < len(self.chunks):
            self.sent += 1
            return {
                "type": "http.request",
                "body": self.chunks[self.sent - 1],
                "more_body": self.sent < len(self.chunks),
            }
        await asyncio.sleep(3600)
        raise AssertionError("nothing more to receive")


def upload(body: bytes, directory: Path, max_bytes: int = 1 << 20, token: str | None = TOKEN, chunk: int = 1000):
    browser = Browser(body, chunk)
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    coroutine = read_upload(browser, content_type, str(len(body)), token, directory, max_bytes)
    return asyncio.run(coroutine), browser


def test_an_upload_is_written_to_disk_under_safe_unique_names(tmp_path):
    body = multipart(
        ("csrftoken", None, TOKEN.encode()),
        ("fichiers", "export.json", b'{"marches": []}'),
        ("fichiers", "EXPORT.json", b"<marches/>"),
        ("fichiers", "", b""),  # an empty file input
        ("date", None, b"2026-11-22"),
    )
    received, _ = upload(body, tmp_path / "f", chunk=7)
    assert received.names == ["export.json", "EXPORT (2).json"]
    assert (tmp_path / "f" / "export.json").read_bytes() == b'{"marches": []}'
    assert (tmp_path / "f" / "EXPORT (2).json").read_bytes() == b"<marches/>"
    assert received.as_of == date(2026, 11, 22) and received.size == 25


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\agent\\décembre.json", "décembre.json"),
        (".cache.json", "cache.json"),
        ("--help.xml", "help.xml"),
        ("a\x00b\nc.json", "a_b_c.json"),
        ("x" * 300 + ".json", "x" * 100 + ".json"),
        ("..", "fichier"),
    ],
)
def test_safe_names(raw, expected):
    assert safe_name(raw, set()) == expected


@pytest.mark.parametrize(
    ("parts", "token"),
    [
        ((("fichiers", "a.json", b"{}"), ("csrftoken", None, TOKEN.encode())), TOKEN),  # file before the token
        ((("csrftoken", None, b"autre-jeton"), ("fichiers", "a.json", b"{}")), TOKEN),  # another token
        ((("csrftoken", None, TOKEN.encode()), ("fichiers", "a.json", b"{}")), None),  # no (valid) cookie
        ((("fichiers", "a.json", b"{}"),), TOKEN),  # no token at all
    ],
    ids=["file-first", "wrong-token", "no-cookie", "no-token"],
)
def test_csrf_refusals_write_nothing(tmp_path, parts, token):
    with pytest.raises(Refused) as refused:
        upload(multipart(*parts), tmp_path / "f", token=token)
    assert refused.value.status == 403 and refused.value.message == CSRF_REFUSED
    assert not any((tmp_path / "f").iterdir())


def test_an_upload_over_the_limit_stops_and_the_rest_is_drained(tmp_path):
    body = multipart(("csrftoken", None, TOKEN.encode()), ("fichiers", "gros.json", b"x" * 50_000))
    browser = Browser(body, 1000)
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    with pytest.raises(Refused) as refused:  # no Content-Length: the limit is found while reading
        asyncio.run(read_upload(browser, content_type, None, TOKEN, tmp_path / "f", 10_240))
    assert refused.value.status == 413 and "10\u00a0Ko par envoi" in refused.value.message
    assert (tmp_path / "f" / "gros.json").stat().st_size <= 10_240
    assert browser.sent == len(browser.chunks), "the whole body was read, so that the browser gets the answer"
    huge = multipart(("csrftoken", None, TOKEN.encode()), ("fichiers", "gros.json", b"x" * (1 << 21)))
    with pytest.raises(Refused) as announced:  # a Content-Length far beyond the limit: refused before parsing
        upload(huge, tmp_path / "g", max_bytes=10_240, chunk=1 << 16)
    assert announced.value.status == 413 and not (tmp_path / "g").exists()


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ((("fichiers", "tables.csv", b"a,b"),), "seuls les fichiers JSON et XML"),
        ((("fichiers", "datapackage.json", b"{}"),), "seuls les fichiers JSON et XML"),
        ((("fichiers", "", b""),), "Choisissez au moins un fichier"),
        ((("fichiers", "a.json", b"{}"), ("date", None, b"22 novembre")), "Date de référence « 22 novembre »"),
    ],
    ids=["csv", "datapackage", "no-file", "bad-date"],
)
def test_form_refusals_are_french(tmp_path, parts, message):
    with pytest.raises(Refused) as refused:
        upload(multipart(("csrftoken", None, TOKEN.encode()), *parts), tmp_path / "f")
    assert refused.value.status == 400 and message in refused.value.message


def test_a_date_typed_the_french_way_is_understood(tmp_path):
    body = multipart(("csrftoken", None, TOKEN.encode()), ("fichiers", "a.json", b"{}"), ("date", None, b"01/02/2026"))
    assert upload(body, tmp_path / "f")[0].as_of == date(2026, 2, 1)


def test_a_malformed_body_is_refused_in_french(tmp_path):
    token = multipart(("csrftoken", None, TOKEN.encode()))[: -len(BOUNDARY) - 6]  # the token, then no end
    with pytest.raises(Refused) as refused:
        upload(token + f"--{BOUNDARY}\r\nun en-tête sans deux-points\r\n\r\n".encode(), tmp_path / "f")
    assert refused.value.status == 400 and refused.value.message.startswith("Envoi mal formé")


def _job(service: Validations, files: dict[str, bytes], as_of: date | None = date(2026, 11, 22)):
    token, job = service.new_job()
    directory = job / "fichiers"
    directory.mkdir()
    for name, content in files.items():
        (directory / name).write_bytes(content)
    return token, job, Upload(directory, 1 << 30, TOKEN, names=list(files), as_of=as_of)


def test_a_validation_writes_its_reports_and_deletes_the_files(tmp_path):
    source, xml = tmp_path / "defauts.json", tmp_path / "propre.xml"
    generate(source, "json-2022", contracts=60, seed=4, defect_rate=0.3)
    generate(xml, "xml-2022", contracts=20, seed=5)
    service = Validations(Settings())
    try:
        token, job, sent = _job(service, {"défauts.json": source.read_bytes(), "propre.xml": xml.read_bytes()})
        asyncio.run(service.run(job, sent, asyncio.Event()))
        assert not sent.directory.exists(), "the uploaded files are gone as soon as the report is made"
        folder = service.report(token)
        document = json.loads((folder / "rapport.json").read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(document)
        assert document["summary"]["valid"] is False and document["as_of"] == "2026-11-22"
        assert {f["file"] for f in document["findings"]} <= {"défauts.json", "propre.xml"}, "named as sent"
        assert [(s["file"], s["shape"]) for s in document["sources"]] == [
            ("défauts.json", "json-2022"),
            ("propre.xml", "xml"),
        ]
        assert (folder / "rapport.csv").read_bytes().startswith(b"\xef\xbb\xbfcode;")
        view = json.loads((folder / "vue.json").read_text(encoding="utf-8"))
        assert view["verdict"] == "NON CONFORME" and view["fichiers"][0]["nom"] == "défauts.json"
        html = (folder / "rapport.html").read_text(encoding="utf-8")
        assert "NON CONFORME" in html and str(tmp_path) not in html and str(service.root) not in html
    finally:
        service.close()
    assert not folder.exists()


def test_an_unreadable_file_is_explained_by_its_name_only():
    service = Validations(Settings())
    try:
        _, job, sent = _job(service, {"tronque.json": (FIXTURES / "malformed" / "truncated.json").read_bytes()})
        with pytest.raises(Unreadable) as unreadable:
            asyncio.run(service.run(job, sent, asyncio.Event()))
        assert str(unreadable.value).startswith("tronque.json : JSON invalide")
        assert str(service.root) not in str(unreadable.value) and not sent.directory.exists()
    finally:
        service.close()


def _sleeper(service: Validations) -> Validations:
    service.command = [sys.executable, "-c", "import time; time.sleep(60)"]
    return service


def test_a_validation_past_its_time_limit_is_stopped(tmp_path):
    service = _sleeper(Validations(Settings(time_limit=1)))
    try:
        _, job, sent = _job(service, {"a.json": b"{}"})
        started = time.monotonic()
        with pytest.raises(Refused) as refused:
            asyncio.run(service.run(job, sent, asyncio.Event()))
        assert refused.value.status == 503 and "durée maximale (1\u00a0s)" in refused.value.message
        assert time.monotonic() - started < 10 and not sent.directory.exists()
    finally:
        service.close()


def test_a_visitor_who_leaves_stops_the_validation():
    service = _sleeper(Validations(Settings()))

    async def scenario(sent, job):
        gone = asyncio.Event()
        asyncio.get_running_loop().call_later(0.3, gone.set)
        await service.run(job, sent, gone)

    try:
        _, job, sent = _job(service, {"a.json": b"{}"})
        started = time.monotonic()
        with pytest.raises(Disconnected):
            asyncio.run(scenario(sent, job))
        assert time.monotonic() - started < 10 and not sent.directory.exists()
    finally:
        service.close()


async def _nothing() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


QUICK = """
import json, sys, time
log, job = sys.argv[1], json.load(open(sys.argv[2]))
open(log, "a").write(f"début {time.monotonic()}\\n")
time.sleep(0.3)
open(job["resultat"], "w").write('{"etat": "rapport"}')
open(log, "a").write(f"fin {time.monotonic()}\\n")
"""


def test_validations_at_once_are_bounded_the_next_wait_and_the_others_are_asked_to_retry(tmp_path):
    service = Validations(Settings(workers=1, waiting=1))
    log = tmp_path / "journal.txt"
    service.command = [sys.executable, "-c", QUICK, str(log)]

    async def one(sent, job):
        async with service.admission(_nothing):
            await service.run(job, sent, asyncio.Event())

    async def scenario():
        jobs = [_job(service, {"a.json": b"{}"}) for _ in range(3)]
        first = asyncio.ensure_future(one(jobs[0][2], jobs[0][1]))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(one(jobs[1][2], jobs[1][1]))  # waits for the worker
        await asyncio.sleep(0.05)
        with pytest.raises(Refused) as third:  # no room left, not even to wait
            await one(jobs[2][2], jobs[2][1])
        await asyncio.gather(first, second)
        return third.value

    try:
        third = asyncio.run(scenario())
        assert third.status == 503 and third.message == BUSY and third.retry_after == 60
        events = [line.split() for line in log.read_text().splitlines()]
        assert [e[0] for e in events] == ["début", "fin", "début", "fin"], "one at a time, the second after"
        assert len(service.finished) == 2 and service.admitted == 0
    finally:
        service.close()


def test_an_upload_waiting_longer_than_a_validation_may_last_is_asked_to_retry():
    service = Validations(Settings(workers=1, time_limit=0.3))

    async def scenario(sent, job):
        await service.slots.acquire()  # the only worker is busy
        await service.run(job, sent, asyncio.Event())

    try:
        _, job, sent = _job(service, {"a.json": b"{}"})
        with pytest.raises(Refused) as refused:
            asyncio.run(scenario(sent, job))
        assert refused.value.message == BUSY and not sent.directory.exists()
    finally:
        service.close()


def test_a_crashed_validation_says_so_without_details(capsys):
    service = Validations(Settings())
    service.command = [sys.executable, "-c", "raise SystemExit(3)"]
    try:
        _, job, sent = _job(service, {"a.json": b"{}"})
        with pytest.raises(Refused) as refused:
            asyncio.run(service.run(job, sent, asyncio.Event()))
        assert refused.value.status == 500 and refused.value.message == FAILED
        assert "a échoué" in capsys.readouterr().err
    finally:
        service.close()


def test_reports_expire_and_only_the_latest_are_kept():
    service = Validations(Settings(keep_reports=2))
    try:
        tokens = []
        for _ in range(3):
            token, _ = service.new_job()
            service.finished[token] = time.time()
            tokens.append(token)
        service.sweep()
        assert service.report(tokens[0]) is None and service.report(tokens[2]) is not None
        assert not (service.root / tokens[0]).exists()
        service.finished[tokens[2]] -= service.settings.keep_seconds + 1
        assert service.report(tokens[2]) is None and service.report(tokens[1]) is not None
        assert service.report("../../etc") is None and service.report("x" * 200) is None
    finally:
        root = service.root
        service.close()
    assert not root.exists(), "nothing is left when the server stops"


def test_the_downloaded_reports_stop_at_the_findings_cap(tmp_path, monkeypatch):
    source = tmp_path / "defauts.json"
    generate(source, "json-2022", contracts=60, seed=4, defect_rate=0.3)
    out = tmp_path / "rapport"
    out.mkdir()
    monkeypatch.chdir(tmp_path)
    validate_upload(["defauts.json"], date(2026, 11, 22), out, max_findings=3)
    document = json.loads((out / "rapport.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    total = sum(document["summary"]["findings"].values())
    assert len(document["findings"]) == 3 < total
    assert any(f"Rapport limité aux 3 premiers constats sur {total} constats" in n for n in document["notices"])
    assert len((out / "rapport.csv").read_text(encoding="utf-8-sig").splitlines()) == 4


def test_the_web_report_checks_sirets_with_the_register_installed_on_the_server(tmp_path, monkeypatch):
    monkeypatch.setenv("MARCHES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    generate(tmp_path / "export.json", "json-2022", contracts=300, seed=8, defect_rate=0.1)
    documents = []
    for name in ("sans", "avec"):
        out = tmp_path / name
        out.mkdir()
        validate_upload(["export.json"], date(2026, 11, 22), out, max_findings=10_000)
        documents.append(json.loads((out / "rapport.json").read_text(encoding="utf-8")))
        paths, _ = generate_sirene(tmp_path / "stock", "zip", 0, 8, 300)
        install(list(paths.values()))  # into the server's cache, as « marches sirene install » does
    without, with_register = documents
    assert WEB_SIRENE_NOTICE in without["notices"]
    assert not any("--sirene" in n or "marches sirene" in n for n in without["notices"]), "no command on the web"
    assert not {f["code"] for f in without["findings"]} & {"siret-unknown", "siret-closed"}
    assert WEB_SIRENE_NOTICE not in with_register["notices"]
    assert {"siret-unknown", "siret-closed"} <= {f["code"] for f in with_register["findings"]}


def test_drain_stops_at_the_end_of_the_body():
    browser = Browser(b"x" * 5000, 1000)
    asyncio.run(drain(browser, 1 << 20))
    assert browser.sent == 5


def test_the_web_report_checks_sirets_with_the_register_given_to_marches_serve(tmp_path, monkeypatch):
    monkeypatch.setenv("MARCHES_CACHE_DIR", str(tmp_path / "cache"))  # nothing installed
    monkeypatch.chdir(tmp_path)
    generate(tmp_path / "export.json", "json-2022", contracts=300, seed=8, defect_rate=0.1)
    paths, _ = generate_sirene(tmp_path / "stock", "zip", 0, 8, 300)
    register = install(list(paths.values()), tmp_path / "sirene.sqlite").path
    monkeypatch.setenv("MARCHES_SIRENE", str(register))  # as « marches serve --sirene » sets it for its jobs
    out = tmp_path / "rapport"
    out.mkdir()
    validate_upload(["export.json"], date(2026, 11, 22), out, max_findings=10_000)
    document = json.loads((out / "rapport.json").read_text(encoding="utf-8"))
    assert WEB_SIRENE_NOTICE not in document["notices"]
    assert {"siret-unknown", "siret-closed"} <= {f["code"] for f in document["findings"]}
