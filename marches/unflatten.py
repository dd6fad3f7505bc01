"""Rows of the tabular model -> a contract in the 2022 JSON shape (object items wrapped).

Used to show that flattening loses nothing (round-trip tests) and to give a reuser the record
back in the official format. Pure functions, no I/O.
"""

from __future__ import annotations

from typing import Any

from marches.model import TECHNICAL_COLUMNS

LISTS = {  # column -> (container key, item key)
    "techniques": ("techniques", "technique"),
    "modalitesExecution": ("modalitesExecution", "modaliteExecution"),
    "typesPrix": ("typesPrix", "typePrix"),
    "considerationsSociales": ("considerationsSociales", "considerationSociale"),
    "considerationsEnvironnementales": ("considerationsEnvironnementales", "considerationEnvironnementale"),
}
TECHNICAL = TECHNICAL_COLUMNS | {"nature_2019", "formePrix_2019", "source_record_key"}


def _nest(row: dict[str, Any]) -> dict[str, Any]:
    """``{"acheteur_id": "1", "objet": "x"}`` -> ``{"acheteur": {"id": "1"}, "objet": "x"}``; None dropped."""
    out: dict[str, Any] = {}
    for column, value in row.items():
        if value is None or column in TECHNICAL:
            continue
        if column in LISTS:
            container, item = LISTS[column]
            out[container] = {item: list(value)}
        elif "_" in column:
            head, _, tail = column.partition("_")
            out.setdefault(head, {})[tail] = value
        else:
            out[column] = value
    return out


def _children(rows: list[dict], wrapper: str, **match: Any) -> list[dict]:
    selected = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    return [{wrapper: _nest(r)} for r in sorted(selected, key=lambda r: r["position"])]


def marche(rows: dict[str, list[dict]]) -> dict[str, Any]:
    """The 2022 JSON form of one marché from its rows in every marché table."""
    record = _nest(rows["marches"][0])
    holders = _children(rows.get("marches_titulaires", []), "titulaire")
    if holders:
        record["titulaires"] = holders
    modifications = []
    for m in sorted(rows.get("marches_modifications", []), key=lambda r: r["position"]):
        item = _nest(m)
        holders = _children(
            rows.get("marches_modifications_titulaires", []), "titulaire", modification_position=m["position"]
        )
        if holders:
            item["titulaires"] = holders
        modifications.append({"modification": item})
    if modifications:
        record["modifications"] = modifications
    acts = _children(rows.get("marches_actes_sous_traitance", []), "acteSousTraitance")
    if acts:
        record["actesSousTraitance"] = acts
    act_changes = _children(rows.get("marches_modifications_actes_sous_traitance", []), "modificationActeSousTraitance")
    if act_changes:
        record["modificationsActesSousTraitance"] = act_changes
    return record


def concession(rows: dict[str, list[dict]]) -> dict[str, Any]:
    """The 2022 JSON form of one contrat de concession from its rows."""
    record = _nest(rows["concessions"][0])
    holders = _children(rows.get("concessions_concessionnaires", []), "concessionnaire")
    if holders:
        record["concessionnaires"] = holders
    modifications = _children(rows.get("concessions_modifications", []), "modification")
    if modifications:
        record["modifications"] = modifications
    executions = []
    for e in sorted(rows.get("concessions_donnees_execution", []), key=lambda r: r["position"]):
        item = _nest(e)
        tariffs = _children(rows.get("concessions_tarifs", []), "tarif", donneesExecution_position=e["position"])
        if tariffs:
            item["tarifs"] = tariffs
        executions.append({"donneesAnnuelles": item})
    if executions:
        record["donneesExecution"] = executions
    return record
