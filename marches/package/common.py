"""What the parts of the packaging share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

NOT_FLAGS = frozenset({"duplicate-uid", "duplicate-uid-across-files"})  # resolved by deduplication
ROOTS = {"marche": "marches", "concession": "concessions"}
COMPUTED = {
    "marches": ("constats", "nombreModifications", "montantActuel", "dureeMoisActuelle", "titulairesActuels"),
    "concessions": ("constats", "nombreModifications", "valeurGlobaleActuelle", "dureeMoisActuelle"),
}
LICENCE = {
    "name": "etalab-2.0",
    "title": "Licence Ouverte / Open Licence version 2.0",
    "path": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
}
STATUTS = ("conforme", "signalé", "quarantaine", "supprimé", "doublon")


@dataclass
class PackageSummary:
    target: Path
    counts: dict[str, int] = field(default_factory=dict)  # records by statut
    records: int = 0
    sources_added: list[str] = field(default_factory=list)
    sources_skipped: list[tuple[str, str]] = field(default_factory=list)
    changed: bool = True
