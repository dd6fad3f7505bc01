"""The validation page of the served site (/-/valider), over HTTP and in a real browser (Debian chromium
driven by Playwright): an officer drops a defective file and reads « NON CONFORME » with the rules it breaks,
downloads the reports; a clean file is « CONFORME »; a file over the limit is refused in French; and the
page is safe to serve: CSRF token required, no trace, no server path.

Screenshots of each step (desktop and 375 px) go to ``$MARCHES_CAPTURES``, like tests/test_browser.py.
"""

from __future__ import annotations

import csv
import html
import json
import re
import tempfile
from datetime import date
from pathlib import Path

import httpx
import jsonschema
import pytest

from marches.generate import generate
from marches.package import package
from marches.publish import publish
from marches.rules import Config, all_rules
from tests.conftest import CHROMIUM, FIXTURES, ROOT, served
from tests.test_browser import _english, _shot

LIMIT_MB = 0.25  # small, so that an oversized file stays small
AS_OF = "2026-11-22"
SCHEMA = json.loads((ROOT / "marches" / "report.schema.json").read_text(encoding="utf-8"))
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium absent (.ci/run installs it)")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("validation")
    made = {
        "defectueux": directory / "export-defectueux.json",
        "propre": directory / "export-propre.json",
        "trop-gros": directory / "export-national.json",
    }
    generate(made["defectueux"], contracts=120, seed=71, defect_rate=0.3, truth=directory / "defauts.csv")
    generate(made["propre"], contracts=40, seed=72)
    generate(made["trop-gros"], contracts=400, seed=73)
    assert made["trop-gros"].stat().st_size > LIMIT_MB * (1 << 20) > made["defectueux"].stat().st_size
    made["verite"] = directory / "defauts.csv"
    source = directory / "site.json"
    generate(source, contracts=100, seed=74, defect_rate=0.05)
    package([source], directory / "pkg", config=Config(as_of=date(2026, 11, 22)))
    publish([directory / "pkg"], directory / "decp.db")
    made["base"] = directory / "decp.db"
    return made


@pytest.fixture(scope="module")
def site(files):
    with served(files["base"], "--validation-max-mb", str(LIMIT_MB)) as url:
        yield url


def _form(client: httpx.Client, site: str) -> str:
    page = client.get(f"{site}/-/valider")
    assert page.status_code == 200 and "ds_csrftoken" in client.cookies
    return re.search(r'name="csrftoken" value="([^"]+)"', page.text)[1]


def _post(client: httpx.Client, site: str, token: str | None, *paths: Path, date_: str = AS_OF) -> httpx.Response:
    data = {"csrftoken": token} if token is not None else {}
    data["date"] = date_
    uploads = [("fichiers", (p.name, p.read_bytes(), "application/json")) for p in paths]
    return client.post(f"{site}/-/valider", data=data, files=uploads)


def _alert(response: httpx.Response) -> str:
    return re.search(r'role="alert">(.*?)</div>', response.text, re.S)[1].strip()


# -- over HTTP -------------------------------------------------------------------------------------------


def test_the_form_carries_datasette_csrf_token_first_and_the_page_is_linked(site):
    with httpx.Client() as client:
        page = client.get(f"{site}/-/valider")
        assert page.headers["referrer-policy"] == "no-referrer" and "noindex" in page.headers["x-robots-tag"]
        form = page.text[page.text.index('<form class="validation"') :]
        assert re.match(r"<form[^>]*>\s*<input type=\"hidden\" name=\"csrftoken\"", form), "the token comes first"
        home = client.get(site).text
    assert 'href="/-/valider"' in home
    assert home.count('href="/-/valider"') >= 3, "home page, navigation menu and footer"


def test_a_post_without_the_token_or_the_cookie_is_refused_in_french(site, files):
    with httpx.Client() as client:
        token = _form(client, site)
        wrong = _post(client, site, token[::-1], files["propre"])
        missing = _post(client, site, None, files["propre"])
    with httpx.Client() as stranger:  # no cookie: what a forged cross-site form sends
        forged = _post(stranger, site, token, files["propre"])
    for response in (wrong, missing, forged):
        assert response.status_code == 403
        assert _alert(response).startswith("Le formulaire a expiré ou ne vient pas de cette page")


def test_an_unreadable_file_gets_a_french_explanation_without_any_server_path(site):
    with httpx.Client() as client:
        token = _form(client, site)
        response = _post(client, site, token, FIXTURES / "malformed" / "truncated.json")
    assert response.status_code == 422
    explanation = re.search(r'class="verdict-sens">(.*?)</p>', response.text)[1]
    assert explanation.startswith("truncated.json : JSON invalide")
    assert "/tmp" not in response.text and "marches-validation" not in response.text
    assert "Traceback" not in response.text and "NON CONFORME" in response.text


def test_a_report_downloads_as_json_csv_and_html_then_an_unknown_one_is_gone(site, files):
    with httpx.Client() as client:
        token = _form(client, site)
        posted = _post(client, site, token, files["defectueux"], files["propre"])
        assert posted.status_code == 303
        report = posted.headers["location"]
        assert re.fullmatch(r"/-/valider/[A-Za-z0-9_-]{32}", report)
        as_json = client.get(f"{site}{report}/rapport-validation.json")
        as_csv = client.get(f"{site}{report}/rapport-validation.csv")
        as_html = client.get(f"{site}{report}/rapport-validation.html")
        gone = client.get(f"{site}/-/valider/{'x' * 32}")
    assert as_json.headers["content-disposition"].startswith('attachment; filename="rapport-validation-')
    document = as_json.json()
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(document)
    assert [s["file"] for s in document["sources"]] == [files["defectueux"].name, files["propre"].name]
    assert as_csv.content.startswith(b"\xef\xbb\xbfcode;severity;message;")
    rows = list(csv.DictReader(as_csv.content.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert [r["message"] for r in rows] == [f["message"] for f in document["findings"]]
    assert as_html.text.startswith("<!DOCTYPE html>") and "<script" not in as_html.text
    assert gone.status_code == 404 and "Ce rapport n'est plus disponible" in html.unescape(gone.text)

    token = report.rsplit("/", 1)[1]  # a report damaged on the server's disk: a French page, no trace, no path
    (view,) = Path(tempfile.gettempdir()).glob(f"marches-validation-*/{token}/rapport/vue.json")
    view.write_text("{", encoding="utf-8")
    broken = httpx.get(f"{site}{report}")
    assert broken.status_code == 500 and "La validation a échoué de façon inattendue" in html.unescape(broken.text)
    assert "Traceback" not in broken.text and "marches-validation" not in broken.text and "Expecting" not in broken.text


def test_the_page_can_be_turned_off(files):
    with served(files["base"], "--no-validation") as url, httpx.Client() as client:
        assert client.get(f"{url}/-/valider").status_code == 404
        assert "/-/valider" not in client.get(url).text


# -- in a browser ----------------------------------------------------------------------------------------


def _words(page, selector: str) -> list[str]:
    return page.locator(selector).evaluate_all("nodes => nodes.map(n => n.textContent.split(/\\s+/).join(' '))")


def _validate_in_browser(page, site: str, *paths: Path) -> None:
    page.goto(f"{site}/-/valider")
    page.set_input_files("input#fichiers", [str(p) for p in paths])
    page.fill("input#date", AS_OF)
    with page.expect_navigation():
        page.click("form.validation button[type=submit]")


@needs_chromium
def test_an_officer_uploads_a_defective_file_and_downloads_the_reports(site, files, browser, captures, tmp_path):
    needs_cpv = {r.code for r in all_rules() if r.needs_cpv}  # the server may have no CPV nomenclature
    expected = {row["code"] for row in csv.DictReader(files["verite"].open(encoding="utf-8"))} - needs_cpv
    assert len(expected) > 10
    page = browser.new_page(accept_downloads=True)
    page.goto(f"{site}/-/valider")
    _shot(page, captures, "validation-formulaire")
    _validate_in_browser(page, site, files["defectueux"])
    _shot(page, captures, "validation-non-conforme")
    assert page.locator(".verdict-mot").inner_text() == "NON CONFORME"
    assert page.title() == "Rapport de validation : NON CONFORME"
    shown = set(page.locator("details.rapport-regle").evaluate_all("nodes => nodes.map(n => n.id.slice(6))"))
    assert expected <= shown, expected - shown
    first = page.locator("details.rapport-regle").first
    assert first.locator(".rapport-raison").inner_text().startswith("Pourquoi, et comment corriger")
    assert "Contrat " in first.locator(".constat-lieu").first.inner_text()
    assert _english(page) == []

    with page.expect_download() as download:
        page.click("a:has-text('JSON')")
    document = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(document)
    assert document["version"] == "2.0" and document["summary"]["valid"] is False
    assert expected <= {f["code"] for f in document["findings"]}
    assert document["as_of"] == AS_OF

    with page.expect_download() as download:
        page.click("a:has-text('HTML, à partager')")
    shared = tmp_path / "rapport.html"
    download.value.save_as(shared)
    requests: list[str] = []
    offline = browser.new_context()
    offline.route(
        "**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else route.continue_()
    )
    copy = offline.new_page()
    copy.on("request", lambda request: requests.append(request.url))
    copy.goto(shared.as_uri())
    _shot(copy, captures, "validation-rapport-partage")
    assert requests == [shared.as_uri()], "the shared report opens without the network"
    for part in (".rapport-verdict", ".rapport-fichiers", ".rapport-groupe"):  # the same report, word for word
        assert _words(copy, part) == _words(page, part), part
    offline.close()


@needs_chromium
def test_a_clean_file_is_conforme_on_a_phone_too(site, files, browser, captures):
    phone = browser.new_page(viewport={"width": 375, "height": 740})
    phone.goto(f"{site}/-/valider")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    assert phone.locator("label.bouton-fichiers").inner_text() == "Choisir des fichiers"
    _shot(phone, captures, "telephone-validation-formulaire")
    _validate_in_browser(phone, site, files["propre"])
    _shot(phone, captures, "telephone-validation-conforme")
    assert phone.locator(".verdict-mot").inner_text() == "CONFORME"
    assert phone.locator(".verdict-bilan").inner_text().startswith("0 erreur,")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    assert _english(phone) == []
    _validate_in_browser(phone, site, files["defectueux"])
    assert phone.locator(".verdict-mot").inner_text() == "NON CONFORME"
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    _shot(phone, captures, "telephone-validation-non-conforme")


@needs_chromium
def test_an_oversized_file_is_refused_in_french(site, files, browser, captures):
    without_script = browser.new_context(java_script_enabled=False)  # the server's own refusal
    page = without_script.new_page()
    page.goto(f"{site}/-/valider")
    page.set_input_files("input#fichiers", str(files["trop-gros"]))
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("form.validation button[type=submit]")
    page.wait_for_load_state()
    _shot(page, captures, "validation-trop-gros")
    assert posted.value.status == 413
    assert (
        page.locator("[role=alert]")
        .inner_text()
        .startswith("Fichiers trop volumineux : la limite est de 256\u00a0Ko par envoi.")
    )
    without_script.close()

    page = browser.new_page(viewport={"width": 375, "height": 740})  # with the script: refused before sending
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.goto(f"{site}/-/valider")
    page.set_input_files("input#fichiers", str(files["trop-gros"]))
    page.click("form.validation button[type=submit]")
    page.wait_for_timeout(300)
    _shot(page, captures, "telephone-validation-trop-gros")
    assert posts == [] and "la limite est de 256\u00a0Ko par envoi" in page.locator(".depot-choix").inner_text()
