"""SIRETs against the SIRENE register (only when it is installed, or given with --sirene).

A SIRET unknown to SIRENE, an establishment closed before the contract, a buyer whose legal
category is not a public body's. Only well-formed SIRETs whose key is right are looked up: a SIRET
failing its checksum has its own finding and is never also « unknown ». The distinct SIRETs of a
batch are looked up once (the store remembers them between tables and batches).
"""

from __future__ import annotations

import polars as pl

from marches.rules import rule
from marches.rules.identifiers import with_status
from marches.sirene.labels import CATEGORIES_JURIDIQUES, PUBLIC_CATEGORIES

REASON = (
    "Le répertoire SIRENE de l'INSEE identifie chaque établissement par son SIRET, avec son état administratif "
    "(actif ou fermé, depuis quelle date) et la catégorie juridique de son entreprise : un SIRET juste pour la clé "
    "de Luhn peut ne désigner aucun établissement, ou un établissement fermé."
)
# The rules' examples look up this tiny store (built like an installed one by Sirene.in_memory).
EXAMPLE_SIRENE = {
    "etablissements": [
        {"siret": 21690123100011, "etat": "A", "date_debut": "1990-01-01", "code_commune": "69123", "diffusion": "O"},
        {"siret": 55204599900869, "etat": "A", "date_debut": "2001-05-01", "code_commune": "75056", "diffusion": "O"},
        {"siret": 73282932000017, "etat": "F", "date_debut": "2023-06-30", "code_commune": "69123", "diffusion": "O"},
        {"siret": 44306184100013, "etat": "A", "date_debut": "2015-02-01", "code_commune": "33063", "diffusion": "O"},
        {"siret": 38012986600014, "etat": "F", "date_debut": "2022-01-31", "diffusion": "P"},
    ],
    "unites_legales": [
        {"siren": 216901231, "nom": "COMMUNE DE LYON", "categorie_juridique": "7210", "diffusion": "O"},
        {"siren": 552045999, "nom": "ENTREPRISE EXEMPLE", "categorie_juridique": "5710", "diffusion": "O"},
        {"siren": 732829320, "nom": "BATIMENT EXEMPLE", "categorie_juridique": "5499", "diffusion": "O"},
        {"siren": 443061841, "nom": "SOCIETE EXEMPLE", "categorie_juridique": "5710", "diffusion": "O"},
        {"siren": 380129866, "categorie_juridique": "1000", "diffusion": "P"},
        {"siren": 912345675, "nom": "AUTRE SOCIETE", "categorie_juridique": "5710", "diffusion": "O"},
    ],
    "date_stock": "2026-11-01",
}
UNKNOWN = "91234567500017"  # a valid SIRET of a known SIREN (912345675), absent from the example store
NOWHERE = "83295648600019"  # a valid SIRET whose SIREN is absent too
_LOOKED_UP = ("sirene_connu", "siren_connu", "etat", "date_debut", "nom", "commune", "categorie_juridique")


def _date_of(column: str, parent: str | None, keys: tuple[str, ...] = ("record_key",), own=None):
    """How a row finds the date its establishment is compared with: its own column or its parent's."""

    def attach(frame: pl.DataFrame, ctx) -> pl.DataFrame:
        if parent is None:
            return frame.with_columns(pl.col(column).alias("_sirene_date"))
        parents = ctx.frames.get(parent)
        if parents is None or column not in parents.columns:
            return frame.with_columns(pl.lit(None, dtype=pl.Date).alias("_sirene_date"))
        lookup = parents.select(*keys, pl.col(column).alias("_sirene_date")).unique(list(keys))
        left = list(own or keys)
        return frame.join(lookup, left_on=left, right_on=list(keys), how="left", maintain_order="left")

    return attach


def _prepare(id_column: str, type_column: str | None, date_of):
    status = with_status(type_column, id_column)

    def prepare(frame: pl.DataFrame, ctx) -> pl.DataFrame:
        frame = status(frame, ctx)
        checkable = (pl.col("_kind") == "SIRET") & (pl.col("_id_status") == "ok")
        frame = frame.with_columns(checkable.fill_null(False).alias("_sirene_checkable"))
        sirets = frame.filter(pl.col("_sirene_checkable")).get_column(id_column)
        found = ctx.sirene.lookup(sirets.to_list()).select("siret", *_LOOKED_UP)
        found = found.rename({c: f"_sirene_{c}" for c in _LOOKED_UP})
        frame = frame.join(found, left_on=id_column, right_on="siret", how="left", maintain_order="left", coalesce=True)
        if "siret" in frame.columns and id_column != "siret":
            frame = frame.drop("siret")
        if date_of is not None:
            frame = date_of(frame, ctx)
        who = pl.concat_str(pl.col("_sirene_nom"), pl.col("_sirene_commune"), separator=", ", ignore_nulls=True)
        category = pl.col("_sirene_categorie_juridique")
        label = category.str.slice(0, 2).replace_strict(CATEGORIES_JURIDIQUES, default=None, return_dtype=pl.String)
        return frame.with_columns(
            pl.when(who != "").then(pl.concat_str(pl.lit(" ("), who, pl.lit(")"))).otherwise(pl.lit("")).alias("_qui"),
            pl.col("_sirene_date_debut").str.to_date(strict=False).alias("_fermeture"),
            pl.concat_str(category, pl.lit(" ("), label.fill_null("catégorie inconnue"), pl.lit(")")).alias(
                "_categorie"
            ),
            pl.when(pl.col("_sirene_siren_connu"))
            .then(pl.concat_str(pl.lit(" ; son SIREN "), pl.col(id_column).str.slice(0, 9), pl.lit(" existe")))
            .otherwise(pl.lit(""))
            .alias("_siren"),
        )

    return prepare


def _sirene_rules(table: str, id_column: str, type_column: str | None, who: str, date_of, date_column: str) -> None:
    prepare = _prepare(id_column, type_column, date_of)
    base = {} if type_column is None else {type_column: "SIRET"}
    rule(
        code="siret-unknown",
        severity="warning",
        table=table,
        field=id_column,
        reads=(type_column,) if type_column else (),
        needs_sirene=True,
        title="SIRET inconnu du répertoire SIRENE",
        message=f"SIRET {who} « {{value}} » inconnu du répertoire SIRENE{{_siren}} : vérifiez-le sur "
        "annuaire-entreprises.data.gouv.fr (un établissement créé après la date du stock SIRENE n'y est pas encore).",
        reason=REASON,
        prepare=prepare,
        ok=lambda c: ~pl.col("_sirene_checkable") | pl.col("_sirene_sirene_connu"),
        valid=({**base, id_column: "55204599900869"}, {**base, id_column: "21690123100012"}),
        invalid=({**base, id_column: UNKNOWN}, {**base, id_column: NOWHERE}),
    )
    rule(
        code="siret-closed",
        severity="warning",
        table=table,
        field=id_column,
        reads=(date_column,),
        needs_sirene=True,
        title="Établissement fermé avant le contrat",
        message=f"Établissement {who} « {{value}} »{{_qui}} fermé le {{_fermeture}}, avant la date du contrat "
        f"({{_sirene_date}}) : vérifiez le SIRET (l'entreprise a pu changer d'établissement).",
        reason=REASON + " Un établissement fermé ne peut plus être partie à un contrat.",
        prepare=prepare,
        ok=lambda c: (
            ~(
                pl.col("_sirene_checkable")
                & (pl.col("_sirene_etat") == "F")
                & (pl.col("_fermeture") < pl.col("_sirene_date"))
            )
        ),
        valid=_closed_examples(table, base, id_column, date_column, closed=False),
        invalid=_closed_examples(table, base, id_column, date_column, closed=True),
    )


def _closed_examples(table, base, id_column, date_column, closed: bool) -> tuple[dict, ...]:
    """Examples of the closed rule: the date is the row's own, or its parent's (« @table.column »)."""
    parents = {
        "marches_titulaires": "@marches.dateNotification",
        "concessions_concessionnaires": "@concessions.dateSignature",
        "marches_modifications_titulaires": "@marches_modifications.dateNotificationModification",
    }
    where = parents.get(table, date_column)
    if closed:
        return (
            {**base, id_column: "73282932000017", where: "2024-03-12"},
            {**base, id_column: "38012986600014", where: "2024-03-12"},
        )
    return (
        {**base, id_column: "73282932000017", where: "2023-01-15"},
        {**base, id_column: "44306184100013", where: "2024-03-12"},
    )


_sirene_rules("marches", "acheteur_id", None, "de l'acheteur", _date_of("dateNotification", None), "dateNotification")
_sirene_rules(
    "concessions",
    "autoriteConcedante_id",
    None,
    "de l'autorité concédante",
    _date_of("dateSignature", None),
    "dateSignature",
)
_sirene_rules(
    "marches_titulaires",
    "id",
    "typeIdentifiant",
    "du titulaire",
    _date_of("dateNotification", "marches"),
    "dateNotification",
)
_sirene_rules(
    "marches_modifications_titulaires",
    "id",
    "typeIdentifiant",
    "du titulaire désigné par la modification",
    _date_of(
        "dateNotificationModification",
        "marches_modifications",
        ("record_key", "position"),
        ("record_key", "modification_position"),
    ),
    "dateNotificationModification",
)
_sirene_rules(
    "marches_actes_sous_traitance",
    "sousTraitant_id",
    "sousTraitant_typeIdentifiant",
    "du sous-traitant",
    _date_of("dateNotification", None),
    "dateNotification",
)
_sirene_rules(
    "concessions_concessionnaires",
    "id",
    "typeIdentifiant",
    "du concessionnaire",
    _date_of("dateSignature", "concessions"),
    "dateSignature",
)

PUBLIC = ", ".join(PUBLIC_CATEGORIES)
for table, id_column, who, role, party in (
    ("marches", "acheteur_id", "L'acheteur", "acheteurs", "titulaire"),
    ("concessions", "autoriteConcedante_id", "L'autorité concédante", "autorités concédantes", "concessionnaire"),
):
    rule(
        code="buyer-not-public",
        severity="info",
        table=table,
        field=id_column,
        needs_sirene=True,
        title="Acheteur ou autorité concédante qui n'est pas une personne publique",
        message=f"{who} « {{value}} »{{_qui}} est de catégorie juridique {{_categorie}}, qui n'est pas celle d'une "
        f"personne publique : vérifiez que ce SIRET est bien le sien et non celui d'un {party}. Certains organismes "
        f"de droit privé sont {role} (sociétés d'économie mixte, sociétés publiques locales, organismes de "
        "sécurité sociale, bailleurs sociaux).",
        reason="Les acheteurs publics sont pour la plupart des personnes publiques (catégories juridiques SIRENE "
        f"{PUBLIC} : État, collectivités, établissements publics) ; un SIRET d'entreprise à la place de celui de "
        "l'acheteur est une erreur de saisie fréquente. Information seulement : des organismes de droit privé sont "
        "aussi pouvoirs adjudicateurs (art. L. 1211-1 du code de la commande publique).",
        prepare=_prepare(id_column, None, None),
        ok=lambda c: (
            ~(
                pl.col("_sirene_checkable")
                & pl.col("_sirene_categorie_juridique").is_not_null()
                & ~pl.col("_sirene_categorie_juridique").str.slice(0, 2).is_in(list(PUBLIC_CATEGORIES))
            )
        ),
        valid=({id_column: "21690123100011"}, {id_column: UNKNOWN}),
        invalid=({id_column: "44306184100013"},),
    )
