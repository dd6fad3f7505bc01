"""The report people share: ``marches validate --format html`` writes one self-contained page (the same the
site's validation page shows), verdict first, every rule with its reason and every finding located."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from click.testing import CliRunner

from marches.cli import cli
from marches.findings import Finding
from marches.generate import generate
from marches.report import Report, catalogue
from marches.report_html import report_view
from tests.conftest import FIXTURES

EXAMPLE = str(FIXTURES / "rapport" / "exemple.json")
EXTERNAL_TAGS = {"script", "link", "img", "iframe", "object", "embed", "audio", "video", "source", "base", "form"}


class _Page(HTMLParser):
    """The tags and attributes of a page, and the text a reader sees."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.parts: list[str] = []
        self.skip = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.skip += tag in ("style", "title")

    def handle_endtag(self, tag):
        self.skip -= tag in ("style", "title")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_the_html_report_is_self_contained_and_says_everything(tmp_path):
    out = tmp_path / "rapport.html"
    result = run("validate", EXAMPLE, "--as-of", "2026-11-22", "-f", "html", "-o", str(out))
    assert result.exit_code == 1
    html = out.read_text(encoding="utf-8")
    page = _Page(html)
    assert html.startswith("<!DOCTYPE html>") and ("html", {"lang": "fr"}) in page.tags
    assert not [tag for tag, _ in page.tags if tag in EXTERNAL_TAGS], "nothing to fetch, nothing to run"
    assert not [a for _, attrs in page.tags for a in attrs if a in ("src", "href", "srcset") or a.startswith("on")]
    assert "url(" not in html and "@import" not in html and "@font-face" not in html
    text = page.text
    assert text.index("NON CONFORME") < text.index("Fichiers validés"), "the verdict is read first"
    assert "8 erreurs, 2 avertissements, 0 information" in text
    report = json.loads(run("validate", EXAMPLE, "--as-of", "2026-11-22", "-f", "json").stdout)
    rules = catalogue()
    for code, rule in report["summary"]["rules"].items():
        assert f"{rule['title']} {rule['count']} constat" in text and " ".join(rules[code].reason.split()) in text, code
        assert ("details", {"class": "rapport-regle", "id": f"regle-{code}", "open": None}) in page.tags
    for finding in report["findings"]:
        assert " ".join(finding["message"].split()) in text
        assert f"Champ {finding['path']}" in text and f"Contrat {finding['uid']}" in text
    assert "Date de référence : 22/11/2026" in text


def test_a_clean_file_is_conforme_and_the_html_lists_at_most_the_examples_asked(tmp_path):
    clean = tmp_path / "propre.json"
    generate(clean, contracts=30, seed=3)
    result = run("validate", str(clean), "--as-of", "2026-11-22", "-f", "html")
    assert result.exit_code == 0
    text = _Page(result.stdout).text
    assert "CONFORME" in text and "NON CONFORME" not in text and "0 erreur," in text
    assert "Aucune erreur : les fichiers peuvent être publiés." in text
    defective = tmp_path / "defauts.json"
    generate(defective, contracts=60, seed=4, defect_rate=0.5)
    shown = run("validate", str(defective), "--as-of", "2026-11-22", "-f", "html", "--examples", "1").stdout
    assert "le rapport JSON et le rapport CSV les donnent tous" in _Page(shown).text


def test_the_view_words_counts_the_french_way():
    report = Report()
    for position in (0, 3):
        report.add(
            Finding.of(
                "placeholder", "« montant » : NC", value="NC", file="a.json", position=position, uid="X", path="p"
            )
        )
    report.add(Finding.of("bom", "BOM", file="a.json"))
    view = report_view(report)
    assert view["verdict"] == "NON CONFORME" and not view["conforme"]
    assert view["bilan"] == "2 erreurs, 1 avertissement, 0 information"
    (errors, warnings) = view["groupes"]
    assert errors["compte"] == "2 constats, 1 règle" and warnings["compte"] == "1 constat, 1 règle"
    placeholder = errors["regles"][0]
    assert placeholder["titre"] == catalogue()["placeholder"].title and placeholder["nature"] == "règle métier"
    assert [c["rang"] for c in placeholder["constats"]] == [1, 4]
    assert warnings["regles"][0]["constats"][0] == {
        "message": "BOM",
        "contrat": None,
        "rang": None,
        "fichier": "a.json",  # a finding about the file as a whole names it
        "chemin": None,
        "ligne": None,
        "valeur": None,
    }


def test_a_doubled_space_in_a_value_stays_visible(tmp_path):
    """HTML folds runs of spaces: « Clause  sociale » would read as the allowed « Clause sociale ». The message
    and the value keep the published text as it is (white-space: pre-wrap, in the report's own stylesheet)."""
    record = json.loads((FIXTURES / "valid-2022.json").read_text(encoding="utf-8"))["marches"]["marche"][0]
    record["considerationsSociales"] = {"considerationSociale": ["Clause  sociale"]}
    source = tmp_path / "decp.json"
    source.write_text(json.dumps({"marches": {"marche": [record]}}, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "rapport.html"
    run("validate", str(source), "--as-of", "2026-11-30", "-f", "html", "-o", str(out))
    html = out.read_text(encoding="utf-8")
    style = html[html.index("<style") : html.index("</style>")]
    assert ".constat-message, .constat-valeur { white-space: pre-wrap;" in style
    assert '<span class="constat-valeur">Clause  sociale</span>' in html
    assert "« Clause  sociale » n&#39;est pas la valeur officielle" in html
