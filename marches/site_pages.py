"""The data behind the site's own pages: a contract with its titulaires, modifications and findings;
a buyer or a titulaire with its totals, its contracts and its counterparties; the one-box search;
the about page. Every query reads an index (or a small pre-aggregated table): pages stay under a
second at national scale.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from typing import Any

# reliable column -> the published columns it leaves out when validation flagged them
RELIABLE = {
    "montant_fiable": ("montant",),
    "valeur_fiable": ("valeurGlobale",),
    "date_fiable": ("dateNotification", "dateSignature"),
}
FICHES = ("marches", "concessions", "acheteurs", "titulaires")
SEARCH_LIMIT = 20
CONTRACT_COLUMNS = (
    "m.record_key, m.objet, m.acheteur_id, m.montant_fiable, m.montant, m.date_fiable, m.dateNotification, "
    "m.procedure, m.titulairesActuels"
)


@cache
def rule_titles() -> dict[str, str]:
    from marches.report import catalogue

    return {code: rule.title for code, rule in catalogue().items()}


async def _rows(db, sql: str, params: Any = ()) -> list[dict]:
    result = await db.execute(sql, params)
    return [dict(r) for r in result.rows]


async def _row(db, sql: str, params: Any = ()) -> dict | None:
    rows = await _rows(db, sql, params)
    return rows[0] if rows else None


async def fiche(db, table: str, key: str) -> dict[str, Any]:
    """Everything a contract, buyer or titulaire page shows besides its own row."""
    if table == "marches":
        return {
            "titulaires": await _rows(
                db,
                "SELECT t.position, t.typeIdentifiant, t.id, coalesce(e.denominationSociale, t.denominationSociale) "
                "AS denominationSociale, e.nombre_marches, e.commune, e.categorie_entreprise FROM marches_titulaires t "
                "LEFT JOIN titulaires e ON e.titulaire_id = t.id WHERE t.record_key = ? ORDER BY t.position",
                [key],
            ),
            "acheteur": await _row(
                db,
                "SELECT a.nom, a.commune, a.departement FROM acheteurs a JOIN marches m ON m.acheteur_id = a.acheteur_id "
                "WHERE m.record_key = ?",
                [key],
            ),
            "modifications": await _rows(
                db,
                "SELECT m.position, m.id, m.objetModification, m.dateNotificationModification, m.dureeMois, m.montant, "
                "(SELECT group_concat(id, ', ') FROM marches_modifications_titulaires t WHERE t.record_key = "
                "m.record_key AND t.modification_position = m.position) AS titulaires "
                "FROM marches_modifications m WHERE m.record_key = ? ORDER BY m.position",
                [key],
            ),
            "sous_traitance": await _rows(
                db,
                "SELECT id, sousTraitant_id, dateNotification, dureeMois, montant FROM marches_actes_sous_traitance "
                "WHERE record_key = ? ORDER BY position",
                [key],
            ),
            **await _findings(db, key),
        }
    if table == "concessions":
        return {
            "titulaires": await _rows(
                db,
                "SELECT c.position, c.typeIdentifiant, c.id, coalesce(e.denominationSociale, c.denominationSociale) "
                "AS denominationSociale FROM concessions_concessionnaires c "
                "LEFT JOIN titulaires e ON e.titulaire_id = c.id WHERE c.record_key = ? ORDER BY c.position",
                [key],
            ),
            **await _findings(db, key),
        }
    if table == "acheteurs":
        return {
            "sirene": await _sirene(db),
            "annees": await _rows(
                db,
                "SELECT annee_fiable AS annee, count(*) AS nombre, sum(montant_fiable) AS montant_total FROM marches "
                "WHERE acheteur_id = ? GROUP BY annee_fiable ORDER BY annee_fiable DESC",
                [key],
            ),
            "recents": await _rows(
                db,
                f"SELECT {CONTRACT_COLUMNS} FROM marches m WHERE m.acheteur_id = ? "
                "ORDER BY m.date_fiable DESC LIMIT 10",
                [key],
            ),
            "partenaires": await _rows(
                db,
                "SELECT r.titulaire_id AS id, t.denominationSociale AS nom, r.nombre_marches, r.montant_total "
                "FROM relations r LEFT JOIN titulaires t ON t.titulaire_id = r.titulaire_id "
                "WHERE r.acheteur_id = ? ORDER BY r.nombre_marches DESC, r.montant_total DESC LIMIT 10",
                [key],
            ),
        }
    return {
        "sirene": await _sirene(db),
        "recents": await _rows(
            db,
            f"SELECT {CONTRACT_COLUMNS} FROM marches m WHERE m.record_key IN (SELECT record_key FROM "
            "marches_titulaires WHERE id = ? UNION SELECT record_key FROM marches_modifications_titulaires WHERE id = ?) "
            "ORDER BY m.date_fiable DESC LIMIT 10",
            [key, key],
        ),
        "partenaires": await _rows(
            db,
            "SELECT r.acheteur_id AS id, a.nom, r.nombre_marches, r.montant_total FROM relations r "
            "LEFT JOIN acheteurs a ON a.acheteur_id = r.acheteur_id WHERE r.titulaire_id = ? "
            "ORDER BY r.nombre_marches DESC, r.montant_total DESC LIMIT 10",
            [key],
        ),
    }


async def _sirene(db) -> dict | None:
    """The SIRENE stock the database was built with (None without it, or in a database built before it)."""
    if "sirene" not in await db.table_names():
        return None
    return await _row(db, "SELECT date_stock, etablissements FROM sirene")


async def _findings(db, key: str) -> dict[str, list[dict]]:
    return {
        "constats": await _rows(
            db,
            "SELECT c.code, r.titre, c.severity, c.message, c.field FROM constats c LEFT JOIN regles r "
            "ON r.code = c.code WHERE c.record_key = ? "
            "ORDER BY CASE c.severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END",
            [key],
        ),
        "copies": await _rows(
            db,
            "SELECT d.record_key, e.source_file, e.source_position FROM doublons d "
            "JOIN enregistrements e ON e.record_key = d.record_key WHERE d.retenu_record_key = ?",
            [key],
        ),
    }


async def table_of(db, key: str) -> str | None:
    """Where a record key leads: its contract, or its reading record when it was not retained."""
    for table in ("marches", "concessions", "enregistrements"):
        if (await db.execute(f"SELECT 1 FROM {table} WHERE record_key = ?", [key])).rows:
            return table
    return None


async def parameters(db, declared: dict[str, dict]) -> dict[str, dict]:
    """The parameters of a prepared query: label, example, and the choices when they come from the data."""
    out = {}
    for name, spec in declared.items():
        entry = dict(spec)
        if spec.get("choix_sql"):
            entry["choix"] = [(r[0], r[-1]) for r in (await db.execute(spec["choix_sql"])).rows]
        if spec.get("exemple_sql"):
            rows = (await db.execute(spec["exemple_sql"])).rows
            entry["exemple"] = rows[0][0] if rows else None
        out[name] = entry
    return out


def _fts_query(text: str) -> str:
    """Each word a prefix term: « espaces vert » finds « espaces verts »."""
    words = [w for w in "".join(c if c.isalnum() else " " for c in text).split() if w]
    return " ".join(f'"{w}"*' for w in words)


def _commune(text: str) -> str:
    """A town as SIRENE writes it: « Saint-Étienne » → « SAINT-ETIENNE » (capitals, no accents); the
    arrondissements of Paris, Lyon and Marseille are « PARIS 15 », « LYON 3EME »…"""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(plain.upper().replace("’", "'").split())


async def search(db, text: str) -> dict[str, Any]:
    """One box for contracts, buyers, companies and places."""
    fts = _fts_query(text)
    out: dict[str, Any] = {"fts": fts}
    if not fts:
        return out
    out["departements"] = await _rows(
        db,
        "SELECT code, nom FROM departements WHERE nom LIKE ? OR code = ? ORDER BY code LIMIT 5",
        [f"%{text}%", text.upper()],
    )
    commune = _commune(text)
    out["acheteurs"] = await _rows(
        db,
        "SELECT acheteur_id AS id, nom, commune, nombre_marches, montant_total FROM acheteurs "
        "WHERE acheteur_id LIKE ? OR nom LIKE ? OR commune = ? OR commune GLOB ? "
        "ORDER BY nombre_marches DESC LIMIT ?",
        [f"{text}%", f"%{text}%", commune, f"{commune} [0-9]*", SEARCH_LIMIT],
    )
    out["titulaires"] = await _rows(
        db,
        "SELECT titulaire_id AS id, denominationSociale AS nom, commune, nombre_marches, montant_total FROM titulaires "
        "WHERE titulaire_id LIKE ? OR denominationSociale LIKE ? OR commune = ? OR commune GLOB ? "
        "ORDER BY nombre_marches DESC LIMIT ?",
        [f"{text}%", f"%{text}%", commune, f"{commune} [0-9]*", SEARCH_LIMIT],
    )
    out["commune"] = {
        table: commune for table in ("acheteurs", "titulaires") if any(row["commune"] == commune for row in out[table])
    }
    out["marches"] = await _rows(
        db,
        f"SELECT {CONTRACT_COLUMNS}, m.lieu, (SELECT nom FROM acheteurs a WHERE a.acheteur_id = m.acheteur_id) "
        "AS acheteur_nom_sirene FROM marches m WHERE m.rowid IN "
        "(SELECT rowid FROM marches_fts WHERE marches_fts MATCH ?) ORDER BY m.date_fiable DESC LIMIT ?",
        [fts, SEARCH_LIMIT + 1],
    )
    return out


async def about(db) -> dict[str, Any]:
    """What the about page tells: what was read, what was kept, what validation found, what is left out."""
    return {
        "enregistrements": await _rows(db, "SELECT statut, nombre FROM stats_enregistrements ORDER BY nombre DESC"),
        "constats": await _rows(
            db,
            "SELECT s.code, r.titre, s.severity, s.nombre, s.enregistrements FROM stats_constats s "
            "LEFT JOIN regles r ON r.code = s.code "
            "ORDER BY CASE s.severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, s.nombre DESC",
        ),
        "ecarts": (
            await _rows(
                db,
                "SELECT sum(nombre) AS marches, sum(montants_ecartes) AS montants, sum(dates_ecartees) AS dates "
                "FROM stats_annee",
            )
        )[0],
        "paquets": await _rows(db, "SELECT * FROM paquets"),
        "sirene": await _sirene(db),
    }
