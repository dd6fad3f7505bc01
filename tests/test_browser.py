"""Visits of the site in a real browser (Debian chromium driven by Playwright): a journalist looking
for a place or a company, a reuser exporting, an officer reading the dashboard, on a phone too.

Each test saves screenshots of the pages it went through in ``$MARCHES_CAPTURES`` (by default
``captures/`` under pytest's temporary directory, printed at the end of the run): they are the
artefacts to look at when a page changes.
"""

from __future__ import annotations

import json
import re
import sqlite3
import urllib.request
from datetime import date
from pathlib import Path
from urllib.parse import unquote

import pytest

from marches.generate import generate
from marches.generate.sirene import generate_sirene
from marches.package import package
from marches.publish import publish
from marches.rules import Config
from marches.sirene import Sirene
from marches.sirene.install import install
from tests.conftest import CHROMIUM, served

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium absent (.ci/run installs it)")
# Datasette's own English, which no page may show (whole words, case-sensitive)
ENGLISH = [
    "Search",
    "Apply",
    "rows",
    "View and edit SQL",
    "Next page",
    "Custom SQL query",
    "Dashboards",
    "home",
    "Error",
    "(view)",
    "This data as",
    "Advanced export",
    "Suggested facets",
    "Query parameters",
    "Run SQL",
    "0 results",
    "0 records",
    "Powered by",
    "Fullscreen",
    "Links from other tables",
    "Sort ascending",
    "Facet by this",
    "Download SQLite DB",
    "Table not found",
]
# Datasette's notions that mean nothing to a visitor, even in French
JARGON = ["rowid", "Rowid", "Liens depuis les autres tables", "(colonne", "0 ligne", "0 lignes"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("browser")
    source = directory / "decp.json"
    generate(source, "json-2022", contracts=500, seed=61, concession_share=0.05, defect_rate=0.05)
    package([source], directory / "pkg", config=Config(as_of=date(2026, 11, 22)))
    paths, _ = generate_sirene(directory / "stock", "zip", 0, seed=61, contracts=500)
    store = Sirene(install(list(paths.values()), directory / "sirene.sqlite").path)
    database = directory / "decp.db"
    publish([directory / "pkg"], database, sirene=store)
    return database


@pytest.fixture(scope="module")
def site(built):
    with served(built) as url:
        yield url


def _shot(page, captures: Path, name: str) -> None:
    page.screenshot(path=str(captures / f"{name}.png"), full_page=True)


def _english(page) -> list[str]:
    text = page.inner_text("body")
    return [w for w in ENGLISH + JARGON if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)]


def test_a_search_in_the_contracts_table_shows_its_facets_when_asked(site, browser, captures):
    page = browser.new_page()
    page.goto(site + "/decp/marches?_search=entretien")
    page.wait_for_load_state()
    assert page.locator(".facet-info").count() == 0, "a search page answers without its facets"
    assert page.locator("table.rows-and-columns tbody tr").count() > 0
    link = page.locator(".facettes-sur-demande a")
    assert link.inner_text() == "répartir ces résultats par année, procédure et division CPV"
    link.click()
    page.wait_for_load_state()
    _shot(page, captures, "recherche-table-repartition")
    assert "_repartition=1" in page.url and "_search=entretien" in page.url
    assert {"annee_fiable", "procedure", "division_cpv"} <= {
        page.locator(".facet-info").nth(i).get_attribute("data-column")
        for i in range(page.locator(".facet-info").count())
    }
    api = json.loads(urllib.request.urlopen(site + "/decp/marches.json?_search=entretien&_size=1").read())
    assert "annee_fiable" in api["facet_results"], "the JSON API is served as Datasette serves it"
    page.goto(site + "/decp/marches")
    assert page.locator(".facet-info").count() == 3, "without a search, the default facets are there"


def test_search_a_place_and_open_a_contract(site, built, browser, captures):
    place = sqlite3.connect(built).execute(
        "SELECT d.nom FROM marches m JOIN departements d ON d.code = m.departement GROUP BY d.nom "
        "ORDER BY count(*) DESC LIMIT 1"
    )
    name = place.fetchone()[0]
    page = browser.new_page()
    page.goto(site)
    assert page.locator("html").get_attribute("lang") == "fr"
    page.fill("input#q", name)
    page.click(".recherche-principale button")
    page.wait_for_load_state()
    _shot(page, captures, "recherche-lieu")
    page.click(f"text=Marchés exécutés en {name}")
    page.wait_for_load_state()
    assert "departement=" in page.url
    objet = page.locator("table.rows-and-columns tbody tr td.col-objet a").first
    title = objet.inner_text()
    objet.click()
    page.wait_for_load_state()
    _shot(page, captures, "contrat")
    assert page.locator("h1").inner_text() == title
    assert page.title() == title
    assert "Contrôle de la donnée" in page.content() and "Acheteur" in page.inner_text("dl.fiche")


def test_search_a_company_then_reach_the_buyer_and_titulaire_contracts_in_one_click(site, built, browser, captures):
    db = sqlite3.connect(built)
    holder = db.execute("SELECT titulaire_id FROM titulaires ORDER BY nombre_marches DESC LIMIT 1").fetchone()[0]
    page = browser.new_page()
    page.goto(site)
    page.fill("input#q-entete", holder)
    page.click(".recherche-entete button")
    page.wait_for_load_state()
    page.click(f".bullets li:has-text('{holder}') a")
    page.wait_for_load_state()
    _shot(page, captures, "titulaire")
    name = db.execute("SELECT denominationSociale FROM titulaires WHERE titulaire_id = ?", (holder,)).fetchone()[0]
    assert page.locator("h1").inner_text() == (name or f"Titulaire {holder}")
    page.locator("h2:has-text('Marchés les plus récents') + ul a").first.click()
    page.wait_for_load_state()
    key = page.url.rsplit("/", 1)[1]
    buyer = db.execute("SELECT acheteur_id FROM marches WHERE record_key = ?", (key,)).fetchone()[0]

    page.click("text=tous les marchés de cet acheteur")
    page.wait_for_load_state()
    _shot(page, captures, "marches-acheteur")
    expected = db.execute("SELECT count(*) FROM marches WHERE acheteur_id = ?", (buyer,)).fetchone()[0]
    assert page.locator("h3.compte").inner_text().startswith(f"{expected:,}".replace(",", "\u202f"))

    page.go_back()
    page.wait_for_load_state()
    page.locator("ul.titulaires a:has-text('marché')").first.click()
    page.wait_for_load_state()
    shown = int(re.sub(r"\D", "", page.locator("h3.compte").inner_text().split("ligne")[0]))
    first = db.execute("SELECT id FROM marches_titulaires WHERE record_key = ? ORDER BY position", (key,)).fetchone()
    assert shown == db.execute("SELECT nombre_marches FROM titulaires WHERE titulaire_id = ?", first).fetchone()[0]


def test_find_a_company_by_name_read_its_sirene_fiche_and_filter_companies(site, built, browser, captures):
    db = sqlite3.connect(built)
    holder, name, departement = db.execute(
        "SELECT titulaire_id, denominationSociale, departement FROM titulaires WHERE sirene = 1 AND diffusion = 'O' "
        "ORDER BY nombre_marches DESC LIMIT 1"
    ).fetchone()
    page = browser.new_page()
    page.goto(site)
    page.fill("input#q", name.split()[0])
    page.click(".recherche-principale button")
    page.wait_for_load_state()
    page.click(f".bullets a:has-text('{name}')")
    page.wait_for_load_state()
    _shot(page, captures, "titulaire-sirene")
    fiche = page.inner_text("body")
    assert "Répertoire SIRENE" in fiche and "Catégorie d'entreprise" in fiche and "Activité (NAF)" in fiche
    link = page.locator("a.annuaire").first.get_attribute("href")
    assert link == f"https://annuaire-entreprises.data.gouv.fr/etablissement/{holder}"
    page.goto(f"{site}/decp/titulaires")
    page.click(f"#facet-departement a[href*='departement={departement}']")
    page.wait_for_load_state()
    _shot(page, captures, "titulaires-departement")
    expected = db.execute("SELECT count(*) FROM titulaires WHERE departement = ?", (departement,)).fetchone()[0]
    assert page.locator("h3.compte").inner_text().startswith(f"{expected:,}".replace(",", "\u202f"))
    page.click("#facet-categorie_entreprise a:has-text('Petite ou moyenne entreprise')")
    page.wait_for_load_state()
    assert "categorie_entreprise=PME" in page.url
    contracts = browser.new_page()
    contracts.goto(f"{site}/decp/marches")
    assert name in contracts.inner_text("table.rows-and-columns"), "titulaires are shown by their name"


def test_filter_the_dashboard_by_year_and_follow_a_chart(site, browser, captures):
    page = browser.new_page()
    page.goto(f"{site}/-/dashboards/indicateurs")
    labels = page.locator("select#division option").all_inner_texts()
    assert "45 — Travaux de construction" in labels
    page.select_option("select#annee", "2025")
    charts = []
    page.on("response", lambda r: charts.append(r) if "/decp.json?sql=" in r.url else None)
    page.click(".dashboard-filters input[type=submit]")
    page.wait_for_load_state()
    page.wait_for_selector("#chart-depense-annee canvas, #chart-depense-annee svg")
    page.wait_for_timeout(500)
    _shot(page, captures, "tableau-de-bord-2025")
    assert "annee=2025" in page.url and page.locator("select#annee").input_value() == "2025"
    by_year = [r.json()["rows"] for r in charts if "annee=2025" in r.url and "GROUP BY annee" in unquote(r.url)]
    assert by_year and all(row["annee"] == 2025 for rows in by_year for row in rows)
    link = by_year[0][0]["lien"]
    assert "annee_fiable=2025" in link
    page.goto(site + link)
    assert page.locator("table.rows-and-columns tbody tr").count() > 0


def test_export_a_table_to_excel_and_csv_for_excel(site, browser, tmp_path, captures):
    from openpyxl import load_workbook

    page = browser.new_page(accept_downloads=True)
    page.goto(f"{site}/decp/marches?_search=entretien")
    _shot(page, captures, "recherche-table")
    count = int(re.sub(r"\D", "", page.locator("h3.compte").inner_text().split("ligne")[0]))
    with page.expect_download() as download:
        page.click("a:has-text('Excel (XLSX)')")
    path = tmp_path / "marches.xlsx"
    download.value.save_as(path)
    sheet = load_workbook(path, read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert "objet" in rows[0] and len(rows) - 1 == count
    assert all(isinstance(r[rows[0].index("acheteur_id")], str) for r in rows[1:]), "SIRETs stay text"

    with page.expect_download() as download:
        page.click("a:has-text('CSV pour Excel')")
    csv = tmp_path / "marches.csv"
    download.value.save_as(csv)
    assert csv.read_bytes().startswith(b"\xef\xbb\xbfrecord_key,")


def test_no_english_on_any_page_and_usable_on_a_phone(site, built, browser, captures):
    db = sqlite3.connect(built)
    key = db.execute("SELECT record_key FROM marches WHERE nombreModifications > 0 LIMIT 1").fetchone()[0]
    buyer = db.execute("SELECT acheteur_id FROM acheteurs ORDER BY nombre_marches DESC LIMIT 1").fetchone()[0]
    private = db.execute("SELECT titulaire_id FROM titulaires WHERE diffusion = 'P' LIMIT 1").fetchone()[0]
    pages = {
        "accueil": "/",
        "donnees": "/decp",
        "marches": "/decp/marches",
        "contrat": f"/decp/marches/{key}",
        "acheteur": f"/decp/acheteurs/{buyer}",
        "titulaires": "/decp/titulaires",
        "titulaire-prive": f"/decp/titulaires/{private}",
        "categories": "/decp/marches_par_categorie",
        "constats": "/decp/constats",
        "enregistrements": "/decp/enregistrements",
        "requete-vide": "/decp/depenses_par_procedure",
        "requete": "/decp/depenses_par_procedure?annee=2025",
        "recherche": "/-/recherche?q=entretien",
        "a-propos": "/-/a-propos",
        "tableau-de-bord": "/-/dashboards/indicateurs",
        "introuvable": "/decp/pas_une_table",
        "telechargement": "/decp.db",
    }
    phone = browser.new_page(viewport={"width": 375, "height": 740})
    for name, path in pages.items():
        phone.goto(site + path)
        phone.wait_for_load_state()
        assert _english(phone) == [], (path, _english(phone))
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, (path, width)
        unlabelled = phone.evaluate(  # a table becomes one card per row on a phone: each value says what it is
            "[...document.querySelectorAll('table.rows-and-columns td')]"
            ".filter(td => ['none', 'normal', '\"\"'].includes(getComputedStyle(td, '::before').content)).length"
        )
        assert unlabelled == 0, (path, unlabelled)
        _shot(phone, captures, f"telephone-{name}")
    phone.goto(site + "/decp/marches")
    assert phone.evaluate("document.documentElement.scrollHeight") < 20000
    phone.goto(site + "/decp.db")
    assert "paquet de données" in phone.inner_text("body")
    phone.goto(site + "/decp/depenses_par_procedure")
    assert "Choisissez" in phone.inner_text("body") and "Aucun résultat" not in phone.inner_text("body")
    assert phone.locator("select[name=annee] option").count() > 1


def test_robots_are_blocked(site):
    assert urllib.request.urlopen(f"{site}/robots.txt").read().decode() == "User-agent: *\nDisallow: /"


def test_captures_are_kept(captures):
    print(f"\ncaptures d'écran : {captures}")
    assert any(captures.glob("*.png"))
