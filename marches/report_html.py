"""The validation report as a page people read and share.

One view (plain data, already worded and formatted in French) rendered by one template partial,
``site_assets/templates/_rapport.html``: ``marches validate --format html`` wraps it in a
self-contained file (inline CSS, no script, no font, nothing fetched from the network), and the
validation page of the site shows it inside the site's own layout. The view is JSON-serialisable,
so the process that validates an upload hands it to the server as a file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marches import __version__, french
from marches.findings import Finding
from marches.french import plural
from marches.report import Report, catalogue, rule_groups, verdict

HTML_FINDINGS_PER_RULE = 500  # findings listed under each rule; the JSON and CSV reports hold them all
ASSETS = Path(__file__).parent / "site_assets"
SEVERITY_TITLES = {"error": "Erreurs", "warning": "Avertissements", "info": "Informations"}
SEVERITY_NAMES = {"error": ("erreur", "erreurs"), "warning": ("avertissement", "avertissements")}
KINDS = {
    "format": "format officiel",
    "rule": "règle métier",
    "reading": "lecture du fichier",
}
SHAPES = {
    "json-2022": "JSON, forme du format 2022",
    "json-array": "JSON, forme du format 2019",
    "json": "JSON",
    "xml": "XML",
    "csv": "tables CSV de marches",
}


def _size(size: int) -> str:
    if size < 1024:
        return plural(size, "octet")
    if size < 1 << 20:
        return f"{french.number(round(size / 1024, 1))} Ko"
    return f"{french.number(round(size / (1 << 20), 1))} Mo"


def moment(timestamp: float | None = None) -> str:
    """« 01/12/2026 à 14:05 », Paris time (the machine's UTC if it has no time zone database)."""
    try:
        zone: dt.tzinfo = ZoneInfo("Europe/Paris")
    except ZoneInfoNotFoundError:
        zone = dt.UTC
    when = dt.datetime.fromtimestamp(timestamp, zone) if timestamp is not None else dt.datetime.now(zone)
    return f"{when:%d/%m/%Y} à {when:%H:%M}"


def _finding(f: Finding, several_files: bool) -> dict[str, Any]:
    return {
        "message": f.message,
        "contrat": f.uid or f.id,
        "rang": None if f.position is None else f.position + 1,
        "fichier": f.file if several_files or f.position is None else None,
        "chemin": f.path,
        "ligne": f.line,
        "valeur": f.value,
    }


def report_view(report: Report, strict: bool = False) -> dict[str, Any]:
    """Everything the report page says, worded in French: verdict, files, then findings by severity and rule."""
    rules = catalogue()
    passed, _ = verdict(report, strict)
    several = len(report.sources) > 1
    bilan = [plural(report.severities[s], *SEVERITY_NAMES[s]) for s in SEVERITY_NAMES]
    bilan.append(plural(report.severities["info"], "information"))
    groups = []
    for severity, codes in rule_groups(report):
        items = []
        for code, number in codes:
            info = rules.get(code)
            shown = report.examples.get(code, [])
            items.append(
                {
                    "code": code,
                    "titre": info.title if info else code,
                    "raison": info.reason if info else "",
                    "nature": KINDS.get(info.kind, "") if info else "",
                    "nombre": number,
                    "compte": plural(number, "constat"),
                    "constats": [_finding(f, several) for f in shown],
                    "autres": plural(number - len(shown), "autre") if number > len(shown) else None,
                }
            )
        groups.append(
            {
                "gravite": severity,
                "titre": SEVERITY_TITLES[severity],
                "compte": f"{plural(report.severities[severity], 'constat')}, {plural(len(codes), 'règle')}",
                "regles": items,
            }
        )
    if passed:
        meaning = "Aucune erreur : les fichiers peuvent être publiés."
        if report.warnings:
            meaning += " Les avertissements signalent des données à vérifier."
    elif report.errors:
        meaning = "Au moins une erreur : corrigez les constats ci-dessous avant de publier."
    else:
        meaning = "Des avertissements, comptés comme des erreurs (--strict) : vérifiez-les avant de publier."
    total = sum(report.records.values())
    return {
        "conforme": passed,
        "verdict": "CONFORME" if passed else "NON CONFORME",
        "bilan": ", ".join(bilan),
        "sens": meaning,
        "contrats": f"{plural(total, 'contrat')} lu{'s' if total > 1 else ''} "
        f"({plural(report.records['marche'], 'marché')}, {plural(report.records['concession'], 'concession')})",
        "fichiers": [
            {
                "nom": s["file"],
                "forme": SHAPES.get(s["shape"], s["shape"]),
                "contrats": plural(s["records"], "contrat"),
                "taille": _size(s["bytes"]),
            }
            for s in report.sources
        ],
        "date_reference": french.date(report.as_of) if report.as_of else None,
        "notes": list(report.notices),
        "groupes": groups,
        "produit": f"marches {__version__}, le {moment()}",
    }


def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ASSETS / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render_html(view: dict[str, Any]) -> str:
    """The self-contained report file: the page's report, its CSS inline, nothing else to fetch."""
    css = (ASSETS / "static" / "rapport.css").read_text(encoding="utf-8")
    return _environment().get_template("rapport_autonome.html").render(rapport=view, css=css)
