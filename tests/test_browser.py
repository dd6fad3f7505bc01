"""A person's visit, in a real browser (Debian chromium driven by Playwright): search, facet, query, export."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

import pytest

from marches.generate import generate
from marches.package import package
from marches.publish import publish
from marches.rules import Config

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium absent (.ci/run installs it)")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    directory = tmp_path_factory.mktemp("browser")
    source = directory / "decp.json"
    generate(source, "json-2022", contracts=500, seed=61, concession_share=0.05, defect_rate=0.05)
    package([source], directory / "pkg", config=Config(as_of=date(2026, 11, 22)))
    database = directory / "decp.db"
    publish([directory / "pkg"], database)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "marches.cli", "serve", str(database), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    else:
        server.kill()
        pytest.fail("the server did not start")
    try:
        yield url
    finally:  # marches serve stops Datasette and removes its folder on SIGTERM
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def test_home_search_facet_query_and_csv_export(site, browser, tmp_path):
    page = browser.new_page(accept_downloads=True)
    page.goto(site)
    assert "Données essentielles de la commande publique" in page.title() + page.content()
    page.screenshot(path=str(tmp_path / "accueil.png"))

    page.goto(f"{site}/decp/marches")
    assert "Licence :" in page.content() and page.locator(".crumbs a").first.inner_text() == "accueil"
    page.fill("input#_search", "entretien espaces verts")
    page.click("input[type=submit]")
    page.wait_for_load_state()
    assert "_search=entretien" in page.url
    results = page.locator("table.rows-and-columns tbody tr").count()
    assert results > 0

    facet = page.locator(".facet-info a[href*='procedure=']").first
    facet_value = facet.inner_text()
    facet.click()
    page.wait_for_load_state()
    assert "procedure=" in page.url and page.locator("table.rows-and-columns tbody tr").count() > 0
    assert facet_value.split("\n")[0].strip()[:10] in page.content()

    page.goto(f"{site}/decp/offre_unique")
    assert "Part des marchés à offre unique" in page.content()
    assert page.locator("table.rows-and-columns tbody tr").count() > 0

    page.goto(f"{site}/decp/marches?_search=entretien")
    page.check("input[name=_dl]")  # Datasette's "download file" export option
    with page.expect_download() as download:
        page.click(".advanced-export input[type=submit]")
    path = tmp_path / "export.csv"
    download.value.save_as(path)
    header = path.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("record_key,") and "acheteur_id" in header
    page.screenshot(path=str(tmp_path / "recherche.png"))


def test_dashboard_page_opens(site, browser):
    page = browser.new_page()
    page.goto(f"{site}/-/dashboards/indicateurs")
    assert "Indicateurs de la commande publique" in page.content()


def test_robots_are_blocked(site):
    assert urllib.request.urlopen(f"{site}/robots.txt").read().decode() == "User-agent: *\nDisallow: /"
