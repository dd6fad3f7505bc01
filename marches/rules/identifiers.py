"""Identifiers: SIRET (length, Luhn key, La Poste exception) and the other identifier types."""

from __future__ import annotations

import re

import polars as pl
from stdnum.eu import vat
from stdnum.fr import siret

from marches.rules import rule

SIRET_REASON = (
    "Arrêtés du 22/12/2022 : l'acheteur et les titulaires sont identifiés par leur SIRET (14 chiffres, "
    "clé de Luhn ; les établissements de La Poste, SIREN 356000000, suivent une règle propre). "
    "Un SIRET faux rend le contrat introuvable dans SIRENE."
)
LA_POSTE_SIREN = "356000000"
# The check a false SIRET failed, as its message says it: La Poste's establishments (but its head office
# 35600000000048, which passes the Luhn check) follow their own rule (stdnum.fr.siret)
LUHN_KEY = "la clé de contrôle (algorithme de Luhn) est fausse"
LA_POSTE_KEY = (
    f"la somme de ses chiffres n'est pas un multiple de 5, règle des SIRET des établissements de La Poste "
    f"(SIREN {LA_POSTE_SIREN}), qui remplace pour eux la clé de Luhn"
)
OTHER_PATTERNS = {
    "TAHITI": re.compile(r"^[A-Za-z0-9]{9}$"),
    "RIDET": re.compile(r"^[A-Za-z0-9]{10}$"),
    "FRWF": re.compile(r"^FRWF[A-Za-z0-9]{14}$"),
    "IREP": re.compile(r"^[0-9]{5}[A-Za-z0-9]*$"),
    "HORS-UE": re.compile(r"^[A-Z]{2}[A-Za-z0-9]{0,16}$"),
}
FORMAT_HINTS = {
    "SIRET": "14 chiffres",
    "TVA": "un numéro de TVA intracommunautaire valide (préfixe pays et clé)",
    "TAHITI": "9 caractères alphanumériques",
    "RIDET": "10 caractères alphanumériques",
    "FRWF": "« FRWF » suivi de 14 caractères alphanumériques",
    "IREP": "5 chiffres puis des caractères alphanumériques",
    "HORS-UE": "2 lettres majuscules (pays) puis jusqu'à 16 caractères alphanumériques",
}


def _luhn(digits: list[pl.Expr]) -> pl.Expr:
    """True where the digits (most significant first) pass the Luhn check."""
    doubled = [
        d if (len(digits) - 1 - i) % 2 == 0 else pl.when(d * 2 > 9).then(d * 2 - 9).otherwise(d * 2)
        for i, d in enumerate(digits)
    ]
    return pl.sum_horizontal(doubled) % 10 == 0


def luhn_ok() -> pl.Expr:
    """Vectorised SIRET check of the 14-digit ``_id`` column: SIREN and SIRET keys (Luhn), La Poste excluded.

    A fast first pass: what it accepts is valid; stdnum decides everything else.
    """
    digits = [pl.col("_id").str.slice(i, 1).cast(pl.Int32, strict=False) for i in range(14)]
    return _luhn(digits[:9]) & _luhn(digits) & ~pl.col("_id").str.starts_with(LA_POSTE_SIREN)


def identifier_status(kind: str | None, value: str) -> str:
    """'ok', 'format' or 'checksum' for one identifier of the given type."""
    if kind in (None, "SIRET"):
        if not re.fullmatch(r"\d{14}", value):
            return "format"
        return "ok" if siret.is_valid(value) else "checksum"
    if kind == "TVA":
        return "ok" if vat.is_valid(value) else "format"
    pattern = OTHER_PATTERNS.get(kind)
    if pattern is None:
        return "ok"  # an unknown type is an enum error, reported by the structure
    return "ok" if pattern.match(value) else "format"


def with_status(type_column: str | None, id_column: str):
    """A prepare step adding ``_id_status``, computed once per distinct (type, identifier)."""

    def prepare(frame: pl.DataFrame, ctx) -> pl.DataFrame:
        kind = pl.col(type_column) if type_column else pl.lit("SIRET")
        pairs = frame.select(kind.alias("_kind"), pl.col(id_column).alias("_id")).unique().drop_nulls("_id")
        # most SIRETs pass Luhn: they are valid without asking stdnum; stdnum judges the others (La Poste…)
        obvious = (pl.col("_kind") == "SIRET") & pl.col("_id").str.contains(r"^\d{14}$") & luhn_ok()
        pairs = pairs.with_columns(obvious.fill_null(False).alias("_obvious"))
        doubtful = pairs.filter(~pl.col("_obvious"))
        statuses = [identifier_status(k, v) for k, v in doubtful.select("_kind", "_id").iter_rows()]
        lookup = pl.concat(
            [
                pairs.filter(pl.col("_obvious")).select("_kind", "_id", pl.lit("ok").alias("_id_status")),
                doubtful.select("_kind", "_id").with_columns(pl.Series("_id_status", statuses, dtype=pl.String)),
            ]
        )
        joined = frame.with_columns(kind.alias("_kind"), pl.col(id_column).alias("_id"))
        joined = joined.join(lookup, on=["_kind", "_id"], how="left", nulls_equal=True, maintain_order="left")
        return joined.with_columns(
            # an identifier whose type is unknown or broken is not judged (the type gets its own finding)
            pl.when(pl.col("_kind").is_null()).then(None).otherwise(pl.col("_id_status")).alias("_id_status"),
            pl.col("_kind").replace_strict(FORMAT_HINTS, default="un identifiant valide").alias("_hint"),
            pl.when(pl.col("_id").str.starts_with(LA_POSTE_SIREN))
            .then(pl.lit(LA_POSTE_KEY))
            .otherwise(pl.lit(LUHN_KEY))
            .alias("_key_rule"),
        )

    return prepare


def _siret_rules(table: str, id_column: str, type_column: str | None, who: str) -> None:
    prepare = with_status(type_column, id_column)
    base = {} if type_column is None else {type_column: "SIRET"}
    reads = (type_column,) if type_column else ()
    rule(
        code="siret-checksum",
        severity="error",
        table=table,
        field=id_column,
        reads=reads,
        title="SIRET à la clé de contrôle fausse",
        message=f"SIRET {who} « {{value}} » invalide : {{_key_rule}}. Vérifiez-le dans l'annuaire des entreprises "
        "(SIRENE).",
        reason=SIRET_REASON,
        prepare=prepare,
        ok=lambda c: pl.col("_id_status") != "checksum",
        valid=({**base, id_column: "55204599900869"}, {**base, id_column: "35600000049837"}),
        invalid=(
            {**base, id_column: "21750001630066"},
            {**base, id_column: "12345678901234"},
            {**base, id_column: "35600000000014"},  # passes Luhn, not La Poste's digit sum
        ),
    )
    if type_column is not None:  # the buyer's SIRET has a pattern in the Table Schema already
        rule(
            code="identifier-format",
            severity="error",
            table=table,
            field=id_column,
            reads=reads,
            title="Identifiant mal formé pour son type",
            message=f"Identifiant {who} « {{value}} » mal formé pour son type « {{_kind}} » : attendu {{_hint}}.",
            reason="Chaque type d'identifiant a son format (arrêtés du 22/12/2022, annexe) : un SIRET a 14 chiffres, "
            "un numéro de TVA intracommunautaire sa clé, un RIDET 10 caractères…",
            prepare=prepare,
            ok=lambda c: pl.col("_id_status") != "format",
            valid=(
                {type_column: "SIRET", id_column: "55204599900869"},
                {type_column: "TVA", id_column: "DE814864138"},
                {type_column: "RIDET", id_column: "1234567A01"},
                {type_column: "HORS-UE", id_column: "CH12345"},
            ),
            invalid=(
                {type_column: "SIRET", id_column: "214356"},
                {type_column: "SIRET", id_column: "868768687576575"},
                {type_column: "TVA", id_column: "FR123"},
                {type_column: "TAHITI", id_column: "12"},
            ),
        )


_siret_rules("marches", "acheteur_id", None, "de l'acheteur")
_siret_rules("concessions", "autoriteConcedante_id", None, "de l'autorité concédante")
_siret_rules("marches_titulaires", "id", "typeIdentifiant", "du titulaire")
_siret_rules("marches_modifications_titulaires", "id", "typeIdentifiant", "du titulaire désigné par la modification")
_siret_rules("marches_actes_sous_traitance", "sousTraitant_id", "sousTraitant_typeIdentifiant", "du sous-traitant")
_siret_rules("concessions_concessionnaires", "id", "typeIdentifiant", "du concessionnaire")
