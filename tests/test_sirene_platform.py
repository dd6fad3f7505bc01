"""The platform with the SIRENE register: names, places and categories of buyers and titulaires,
searched and counted; and nothing of a partially diffusible establishment shown, in the database,
on its pages or in its exports."""

from __future__ import annotations

import csv
import io
import sqlite3
import urllib.request
from datetime import date

import pytest

from marches.generate import generate
from marches.generate.sirene import generate_sirene
from marches.package import package
from marches.publish import publish
from marches.rules import Config
from marches.sirene import Sirene
from marches.sirene.install import install
from tests.conftest import served

SEED, CONTRACTS = 11, 1200


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A 2019 file (names published by the buyers) and a register whose « P » files still carry names."""
    directory = tmp_path_factory.mktemp("platform")
    source = directory / "decp.json"
    generate(source, "json-2019", CONTRACTS, SEED, defect_rate=0.05)
    paths, truth = generate_sirene(directory / "stock", "zip", 0, SEED, CONTRACTS, "json-2019", mask_private=False)
    store = Sirene(install(list(paths.values()), directory / "sirene.sqlite").path)
    package([source], directory / "pkg", config=Config(as_of=date(2026, 11, 22)))
    with_register, without = directory / "decp.db", directory / "sans-sirene.db"
    publish([directory / "pkg"], with_register, sirene=store)
    publish([directory / "pkg"], without)
    return with_register, without, truth


def test_buyers_and_titulaires_get_their_sirene_fiche(built):
    database, _, truth = built
    db = sqlite3.connect(database)
    known = next(s for s in truth.names if s not in truth.private and s not in truth.unknown)
    table, key, name = (
        ("acheteurs", "acheteur_id", "nom")
        if known[0] == "2"
        else ("titulaires", "titulaire_id", "denominationSociale")
    )
    row = db.execute(f"SELECT {name}, commune, departement, sirene FROM {table} WHERE {key} = ?", [known]).fetchone()
    if row is not None:
        assert row[0] == truth.names[known] or row[0].upper() == truth.names[known].upper()
        assert row[1] and row[2] and row[3] == 1
    counts = db.execute(
        "SELECT count(*), sum(sirene = 1), sum(sirene = 0), count(departement) FROM titulaires"
    ).fetchone()
    assert counts[1] > counts[0] * 0.9 and counts[2] >= 1 and counts[3] > 0
    unknown = {r[0] for r in db.execute("SELECT titulaire_id FROM titulaires WHERE sirene = 0")}
    assert unknown <= truth.unknown | {r[0] for r in db.execute("SELECT id FROM marches_titulaires")}
    assert db.execute("SELECT count(*) FROM stats_categorie WHERE categorie_entreprise = 'PME'").fetchone()[0] > 0
    assert db.execute("SELECT count(*) FROM marches WHERE categorie_entreprise IS NOT NULL").fetchone()[0] > 0


def test_contracts_are_found_by_the_names_of_their_titulaires(built):
    database, _, _ = built
    db = sqlite3.connect(database)
    holder, name = db.execute(
        "SELECT titulaire_id, denominationSociale FROM titulaires WHERE sirene = 1 AND denominationSociale IS NOT NULL "
        "ORDER BY nombre_marches DESC LIMIT 1"
    ).fetchone()
    word = max(name.split(), key=len)
    found = {
        r[0]
        for r in db.execute(
            "SELECT record_key FROM marches WHERE rowid IN (SELECT rowid FROM marches_fts WHERE marches_fts MATCH ?)",
            [f'"{word}"'],
        )
    }
    theirs = {r[0] for r in db.execute("SELECT record_key FROM marches_titulaires WHERE id = ?", [holder])}
    assert theirs and theirs <= found


def test_without_the_register_the_published_names_stay(built):
    _, without, _ = built
    db = sqlite3.connect(without)
    assert db.execute("SELECT count(*) FROM titulaires WHERE sirene IS NOT NULL").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM titulaires WHERE denominationSociale IS NOT NULL").fetchone()[0] > 0
    assert db.execute("SELECT count(*) FROM marches WHERE noms IS NOT NULL").fetchone()[0] > 0


def _private_in_data(built) -> list[str]:
    database, _, truth = built
    db = sqlite3.connect(database)
    holders = {r[0] for r in db.execute("SELECT titulaire_id FROM titulaires")}
    private = sorted(truth.private & holders)
    assert private, "the generated register has titulaires under partial diffusion"
    return private


def test_partial_diffusion_names_nowhere_in_the_database(built):
    database, without, truth = built
    private = _private_in_data(built)
    db = sqlite3.connect(database)
    dump = "\n".join(db.iterdump())
    published = sqlite3.connect(without)
    for siret in private:
        first_name = truth.names[siret].split(" ", 1)[0]  # only ever an entrepreneur's
        assert first_name not in dump
        assert db.execute(
            "SELECT denominationSociale, commune FROM titulaires WHERE titulaire_id = ?", [siret]
        ).fetchone() == (
            None,
            None,
        )
        assert not db.execute(
            "SELECT count(*) FROM marches_titulaires WHERE id = ? AND denominationSociale IS NOT NULL", [siret]
        ).fetchone()[0]
        names = {
            r[0]
            for r in published.execute(
                "SELECT denominationSociale FROM marches_titulaires WHERE id = ? AND denominationSociale IS NOT NULL",
                [siret],
            )
        }
        for name in names:  # the name the buyer published, in no record kept as published and no finding
            for table, column in (("quarantaine", "publie"), ("doublons", "publie"), ("constats", "message")):
                leaked = db.execute(
                    f"SELECT count(*) FROM {table} WHERE instr({column}, ?) AND instr({column}, ?)", [name, siret]
                ).fetchone()[0]
                assert not leaked, (table, name)


@pytest.fixture(scope="module")
def site(built):
    with served(built[0]) as url:
        yield url


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode("utf-8")


def test_pages_show_the_fiche_and_link_the_company_directory(site, built):
    database, _, _ = built
    db = sqlite3.connect(database)
    holder, name, commune = db.execute(
        "SELECT titulaire_id, denominationSociale, commune FROM titulaires WHERE sirene = 1 AND diffusion = 'O' "
        "ORDER BY nombre_marches DESC LIMIT 1"
    ).fetchone()
    page = _get(f"{site}/decp/titulaires/{holder}")
    assert name in page and commune in page and "Répertoire SIRENE" in page
    assert f"https://annuaire-entreprises.data.gouv.fr/etablissement/{holder}" in page
    listing = _get(f"{site}/decp/titulaires")
    assert "Catégorie d&#39;entreprise" in listing or "Catégorie d'entreprise" in listing
    assert "Petite ou moyenne entreprise" in listing  # the facet, labelled
    record = db.execute("SELECT record_key FROM marches_titulaires WHERE id = ? LIMIT 1", [holder]).fetchone()[0]
    assert name in _get(f"{site}/decp/marches/{record}")
    assert name in _get(f"{site}/decp/marches?_search={urllib.request.quote(name.split()[0])}")


def test_partial_diffusion_shown_nowhere_on_the_site_nor_in_exports(site, built):
    _, _, truth = built
    for siret in _private_in_data(built):
        first_name = truth.names[siret].split(" ", 1)[0]
        page = _get(f"{site}/decp/titulaires/{siret}")
        assert "diffusion partielle" in page and first_name not in page
        for export in (
            f"{site}/decp/titulaires.csv?titulaire_id={siret}",
            f"{site}/decp/marches_titulaires.csv?id={siret}&_size=max",
            f"{site}/decp/marches_par_titulaire.csv?titulaire_id={siret}&_size=max",
        ):
            rows = list(csv.DictReader(io.StringIO(_get(export))))
            assert rows
            for row in rows:
                assert not row.get("denominationSociale") and not row.get("titulaire_denominationSociale")
                assert not row.get("commune")


def test_a_town_finds_the_companies_established_there(site, built):
    database, _, _ = built
    db = sqlite3.connect(database)
    (commune,) = db.execute(
        "SELECT commune FROM titulaires WHERE commune IS NOT NULL GROUP BY commune ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    holder, name = db.execute(
        "SELECT titulaire_id, denominationSociale FROM titulaires WHERE commune = ? ORDER BY nombre_marches DESC",
        [commune],
    ).fetchone()
    typed = commune.title()  # « Saint-Etienne », as a reader types it, finds « SAINT-ETIENNE »
    page = _get(f"{site}/-/recherche?q={urllib.request.quote(typed)}")
    assert f"/decp/titulaires/{holder}" in page and name in page
    assert f"/decp/titulaires?commune={urllib.request.quote(commune)}" in page
    listing = _get(f"{site}/decp/titulaires?commune={urllib.request.quote(commune)}")
    assert name in listing


def test_the_pages_tell_which_sirene_stock_they_come_from(site, built):
    database, without, _ = built
    db = sqlite3.connect(database)
    assert db.execute("SELECT date_stock FROM sirene").fetchall() == [("2026-11-02",)]
    assert sqlite3.connect(without).execute("SELECT count(*) FROM sirene").fetchone() == (0,)
    holder = db.execute("SELECT titulaire_id FROM titulaires WHERE sirene = 1 LIMIT 1").fetchone()[0]
    assert "stock du 02/11/2026" in _get(f"{site}/decp/titulaires/{holder}")
    about = _get(f"{site}/-/a-propos")
    assert "répertoire SIRENE</strong> de l'INSEE, stock du 02/11/2026" in about
    assert "diffusion partielle" in about


def test_a_concession_names_its_concessionnaires_from_sirene(site, built):
    database, _, _ = built
    db = sqlite3.connect(database)
    found = db.execute(
        "SELECT c.record_key, t.denominationSociale FROM concessions_concessionnaires c "
        "JOIN titulaires t ON t.titulaire_id = c.id WHERE t.denominationSociale IS NOT NULL LIMIT 1"
    ).fetchone()
    if found is None:
        pytest.skip("no concession with a named concessionnaire in this generated file")
    assert found[1] in _get(f"{site}/decp/concessions/{found[0]}")
