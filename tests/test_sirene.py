"""The SIRENE register: installing INSEE's stock files, privacy, lookups, and the rules that use it.

Every file here is generated in INSEE's official layout (``marches sirene generate``); no SIRENE
data is shipped.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections import defaultdict
from datetime import date

import polars as pl
import pytest
from click.testing import CliRunner

from marches import parallel
from marches.cli import cli
from marches.errors import InputError
from marches.generate import generate
from marches.generate.sirene import ETABLISSEMENT_HEADER, UNITE_LEGALE_HEADER, generate_sirene
from marches.report import Report
from marches.rules import Config
from marches.sirene import NOTICE, Sirene, install
from marches.sirene.install import ETABLISSEMENT_COLUMNS, UNITE_LEGALE_COLUMNS
from marches.validate import validate

SEED, CONTRACTS = 3, 1500


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Stock files with the buyers and titulaires of a generated DECP file, names of « P » units left in."""
    out = tmp_path_factory.mktemp("stock")
    paths, truth = generate_sirene(out, "zip", 6000, SEED, CONTRACTS, mask_private=False)
    return paths, truth


@pytest.fixture(scope="module")
def store(files, tmp_path_factory):
    paths, _ = files
    target = tmp_path_factory.mktemp("store") / "sirene.sqlite"
    install.install(list(paths.values()), target)
    return Sirene(target)


def test_generated_files_have_the_official_layout(files):
    paths, _ = files
    for kind, header in (("etablissements", ETABLISSEMENT_HEADER), ("unites_legales", UNITE_LEGALE_HEADER)):
        assert install.header(paths[kind]) == header
        assert set(ETABLISSEMENT_COLUMNS if kind == "etablissements" else UNITE_LEGALE_COLUMNS) <= set(header)
    frame = next(install.batches(paths["etablissements"], ("siret", "dateDebut", "etablissementSiege")))
    assert frame.get_column("siret").str.contains(r"^\d{14}$").all()
    assert frame.get_column("dateDebut").str.contains(r"^\d{4}-\d{2}-\d{2}$").all()
    assert set(frame.get_column("etablissementSiege")) <= {"true", "false"}


@pytest.mark.parametrize("fmt", ["zip", "csv", "parquet"])
def test_every_published_format_installs_the_same_store(tmp_path, fmt):
    paths, truth = generate_sirene(tmp_path / fmt, fmt, 3000, SEED, CONTRACTS)
    summary = install.install(list(paths.values()), tmp_path / f"{fmt}.sqlite")
    assert summary.rows["etablissements"] == 3000
    assert summary.date_stock == "2026-11-02"
    store = Sirene(tmp_path / f"{fmt}.sqlite")
    closed = next(iter(truth.closed))
    row = store.lookup([closed]).row(0, named=True)
    assert row["sirene_connu"] and row["etat"] == "F" and row["date_debut"] == truth.closed[closed]
    assert store.info().etablissements == 3000 and store.info().date_stock == "2026-11-02"


def test_lookup_tells_known_unknown_and_known_siren(store, files):
    _, truth = files
    known = next(s for s in truth.names if s not in truth.private and s not in truth.unknown)
    unknown = next(iter(truth.unknown))
    other_establishment = known[:9] + "99999"  # the SIREN exists, not this establishment (key not checked here)
    found = {r["siret"]: r for r in store.lookup([known, unknown, other_establishment, "123", None]).to_dicts()}
    assert set(found) == {known, unknown, other_establishment}, "only well-formed SIRETs are looked up"
    assert found[known]["sirene_connu"] and found[known]["nom"] and found[known]["departement"]
    assert not found[unknown]["sirene_connu"] and not found[unknown]["siren_connu"]
    assert not found[other_establishment]["sirene_connu"] and found[other_establishment]["siren_connu"]


def test_partial_diffusion_keeps_no_name_and_no_place(store, files):
    """« P » units: neither the name nor the place is in the store, even when the file carries them."""
    _, truth = files
    assert truth.private
    content = store.path.read_bytes()
    for siret in truth.private:
        first, _ = truth.names[siret].split(" ", 1)  # first names are only ever those of « P » entrepreneurs
        assert first.encode() not in content and first.upper().encode() not in content, siret
        row = store.lookup([siret]).row(0, named=True)
        assert row["sirene_connu"] and row["diffusion"] == "P"
        assert row["nom"] is None and row["commune"] is None and row["departement"] is None
        stored = store.conn.execute(
            "SELECT enseigne, code_postal, code_commune FROM etablissements WHERE siret = ?", [int(siret)]
        ).fetchone()
        assert stored == (None, None, None)
        assert store.conn.execute(
            "SELECT nom, sigle FROM unites_legales WHERE siren = ?", [int(siret[:9])]
        ).fetchone() == (
            None,
            None,
        )


def test_a_legal_unit_under_partial_diffusion_hides_its_establishments(tmp_path):
    etab = dict.fromkeys(ETABLISSEMENT_HEADER, "")
    etab.update(
        siren="443061841",
        nic="00013",
        siret="44306184100013",
        statutDiffusionEtablissement="O",
        etatAdministratifEtablissement="A",
        dateDebut="2020-01-01",
        enseigne1Etablissement="CHEZ CAMILLE DURAND",
        codePostalEtablissement="69003",
        codeCommuneEtablissement="69123",
        libelleCommuneEtablissement="LYON",
        etablissementSiege="true",
    )
    unit = dict.fromkeys(UNITE_LEGALE_HEADER, "")
    unit.update(
        siren="443061841", statutDiffusionUniteLegale="P", nomUniteLegale="DURAND", prenom1UniteLegale="Camille"
    )
    pl.DataFrame([etab]).write_csv(tmp_path / "StockEtablissement_utf8.csv")
    pl.DataFrame([unit]).write_csv(tmp_path / "StockUniteLegale_utf8.csv")
    install.install([tmp_path / "StockEtablissement_utf8.csv", tmp_path / "StockUniteLegale_utf8.csv"], tmp_path / "s")
    assert b"DURAND" not in (tmp_path / "s").read_bytes() and b"LYON" not in (tmp_path / "s").read_bytes()
    row = Sirene(tmp_path / "s").lookup(["44306184100013"]).row(0, named=True)
    assert row["nom"] is None and row["commune"] is None and row["diffusion"] == "P"


def test_zipped_csv_is_cut_at_record_boundaries(tmp_path, monkeypatch):
    """Blocks end on a newline outside quotes: a quoted newline or comma stays inside its field."""
    rows = []
    for i in range(300):
        row = dict.fromkeys(ETABLISSEMENT_HEADER, "")
        row.update(
            siret=f"{44306184100013 + i * 100000:014d}", etatAdministratifEtablissement="A", dateDebut="2020-01-01"
        )
        row["enseigne1Etablissement"] = f'ENSEIGNE "{i}",\nSUR DEUX LIGNES' if i % 7 == 0 else f"ENSEIGNE {i}"
        row["statutDiffusionEtablissement"] = "O"
        rows.append(row)
    buffer = io.BytesIO()
    pl.DataFrame(rows).write_csv(buffer)
    with zipfile.ZipFile(tmp_path / "StockEtablissement_utf8.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("StockEtablissement_utf8.csv", buffer.getvalue())
    monkeypatch.setattr(install, "BLOCK_BYTES", 97)
    read = pl.concat(
        list(install.batches(tmp_path / "StockEtablissement_utf8.zip", ("siret", "enseigne1Etablissement")))
    )
    assert read.height == 300
    assert read.get_column("enseigne1Etablissement").to_list() == [r["enseigne1Etablissement"] for r in rows]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"marches": []}', "ni StockEtablissement ni StockUniteLegale"),
        (
            "siret,etatAdministratifEtablissement\n44306184100013,A\n",
            "incomplet : colonne(s) statutDiffusionEtablissement",
        ),
    ],
    ids=["decp-json", "missing-columns"],
)
def test_wrong_files_are_refused_in_french(tmp_path, files, content, problem):
    bad = tmp_path / "fichier.csv"
    bad.write_text(content, encoding="utf-8")
    paths, _ = files
    with pytest.raises(InputError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        install.install([bad, paths["unites_legales"]], tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_both_stock_files_are_needed(tmp_path, files):
    paths, _ = files
    with pytest.raises(InputError, match="il manque le fichier StockUniteLegale"):
        install.install([paths["etablissements"]], tmp_path / "s")


def test_a_store_of_another_kind_is_refused(tmp_path):
    (tmp_path / "x.sqlite").write_bytes(b"not a database")
    with pytest.raises(InputError, match="n'est pas un répertoire SIRENE"):
        Sirene(tmp_path / "x.sqlite")


def test_cli_install_and_info(tmp_path, files, monkeypatch):
    monkeypatch.setenv("MARCHES_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    result = runner.invoke(cli, ["sirene", "info"])
    assert result.exit_code == 0 and "non installé" in result.output
    paths, _ = files
    result = runner.invoke(cli, ["sirene", "install", *map(str, paths.values())])
    assert result.exit_code == 0, result.output
    assert "Répertoire SIRENE installé" in result.output and "stock du 02/11/2026" in result.output
    assert (tmp_path / "cache" / "sirene.sqlite").is_file()
    result = runner.invoke(cli, ["sirene", "info"])
    assert "Stock du 02/11/2026" in result.output and "6\u202f000 établissements" in result.output
    result = runner.invoke(cli, ["sirene", "install", str(paths["etablissements"])])
    assert result.exit_code == 3 and "il manque le fichier StockUniteLegale" in result.output


# -- validation with the register ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def decp(tmp_path_factory):
    path = tmp_path_factory.mktemp("decp") / "decp.json"
    generate(path, "json-2022", CONTRACTS, SEED, defect_rate=0.08)
    return path


def _findings(decp, store) -> list:
    collected = []
    report = Report(examples_per_rule=0, sink=collected.append, as_of=date(2026, 11, 22))
    validate([decp], Config(as_of=date(2026, 11, 22)), None, report, sirene=store)
    return collected, report


def test_rules_find_what_the_register_says(decp, store, files):
    _, truth = files
    findings, report = _findings(decp, store)
    by_code = defaultdict(set)
    for f in findings:
        by_code[f.code].add(f.value)
    assert by_code["siret-unknown"] and by_code["siret-unknown"] <= truth.unknown
    assert by_code["siret-closed"] and by_code["siret-closed"] <= set(truth.closed)
    assert by_code["buyer-not-public"] and by_code["buyer-not-public"] <= truth.not_public_buyers
    assert NOTICE not in report.notices
    for f in findings:  # a partially diffusible unit is never named in a message
        if f.value in truth.private:
            assert truth.names[f.value].split(" ", 1)[1] not in f.message


def test_one_defect_one_finding_with_the_register(decp, store):
    """A SIRET failing its key (or its format) is never also « unknown »."""
    findings, _ = _findings(decp, store)
    cells = defaultdict(set)
    for f in findings:
        cells[(f.record_key, f.path)].add(f.code)
    assert any("siret-checksum" in codes for codes in cells.values())
    for codes in cells.values():
        assert not ({"siret-checksum", "identifier-format", "pattern"} & codes and "siret-unknown" in codes)
        assert len(codes & {"siret-unknown", "siret-closed", "siret-checksum"}) <= 1


def test_without_the_register_a_notice_and_no_sirene_rule(decp):
    findings, report = _findings(decp, None)
    assert NOTICE in report.notices
    assert not {f.code for f in findings} & {"siret-unknown", "siret-closed", "buyer-not-public"}


def test_worker_processes_open_the_register_themselves(decp, store, monkeypatch):
    """With worker processes, each opens the store: the same findings, in the same order, as in one process."""
    import marches.validate as validation

    monkeypatch.setattr(validation, "BATCH_RECORDS", 400)
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 0)
    runs = []
    for workers in (0, 2):
        collected = []
        report = Report(examples_per_rule=0, sink=collected.append, as_of=date(2026, 11, 22))
        validation.validate([decp], Config(as_of=date(2026, 11, 22)), None, report, workers=workers, sirene=store)
        runs.append([(f.code, f.record_key, f.path, f.message) for f in collected])
    assert runs[0] == runs[1]
    assert {"siret-unknown", "siret-closed"} <= {code for code, *_ in runs[0]}


def test_generated_buyers_are_in_the_town_they_are_named_after(store, files):
    from marches.generate.sirene import BUYER_TOWNS
    from marches.generate.vocabulary import TOWNS

    assert set(TOWNS) <= set(BUYER_TOWNS)
    _, truth = files
    buyers = [s for s, n in truth.names.items() if s[0] == "2" and " de " in n and s not in truth.unknown]
    rows = {r["siret"]: r for r in store.lookup(buyers).to_dicts()}
    checked = 0
    for siret in buyers:
        town = truth.names[siret].rsplit(" ", 1)[-1]
        if town in BUYER_TOWNS and rows[siret]["commune"] is not None:
            assert rows[siret]["commune"] == BUYER_TOWNS[town][1], truth.names[siret]
            checked += 1
    assert checked > 10


REGISTER_CODES = {"siret-unknown", "siret-closed", "buyer-not-public"}


def test_the_package_carries_the_register_s_findings(decp, store, tmp_path):
    """What validation says with SIRENE, the package (and so the platform) says too."""
    from marches.package import package

    config = Config(as_of=date(2026, 11, 22))
    expected = {(f.record_key, f.code) for f in _findings(decp, store)[0] if f.code in REGISTER_CODES}
    package([decp], tmp_path / "p", sirene=store, config=config)
    with (tmp_path / "p" / "constats.csv").open(encoding="utf-8") as fh:
        packaged = {(row["record_key"], row["code"]) for row in csv.DictReader(fh) if row["code"] in REGISTER_CODES}
    assert expected and packaged == expected
    package([decp], tmp_path / "sans", config=config)
    with (tmp_path / "sans" / "constats.csv").open(encoding="utf-8") as fh:
        assert not any(row["code"] in REGISTER_CODES for row in csv.DictReader(fh))
