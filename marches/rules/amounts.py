"""Amounts and durations: placeholders, implausible values, threshold, durations given in days."""

from __future__ import annotations

import polars as pl

from marches.rules import rule

PLACEHOLDER_REASON = (
    "Des montants de remplissage (999 999 999, 123 456 789, 1 €…) faussent toutes les sommes : "
    "les montants bruts de la base nationale totalisent environ 10 000 milliards d'euros."
)
IMPLAUSIBLE_REASON = (
    "Au-delà de 3 milliards d'euros HT (seuil réglable), un montant est presque toujours une "
    "erreur de saisie (unité, zéros en trop)."
)


def _placeholder(column: str):
    def ok(c) -> pl.Expr:
        value = pl.col(column)
        digits = value.round(0).cast(pl.Int64, strict=False).cast(pl.String)
        repeated = pl.any_horizontal([digits.str.contains(str(d) * c.amount_repeated_digits) for d in range(1, 10)])
        return ~(
            (value <= 1) | digits.str.starts_with("123456789") | (repeated & (value >= c.amount_placeholder_floor))
        )

    return ok


for table, column, label in (
    ("marches", "montant", "Montant"),
    ("concessions", "valeurGlobale", "Valeur globale"),
    ("marches_modifications", "montant", "Montant modifié"),
):
    rule(
        code="amount-placeholder",
        severity="error",
        table=table,
        field=column,
        title="Montant de remplissage",
        message=f"{label} de {{value}} € : valeur de remplissage (1 €, 123 456 789, chiffre répété), pas un montant "
        "réel. Publiez le montant HT du contrat.",
        reason=PLACEHOLDER_REASON,
        ok=_placeholder(column),
        valid=({column: 85000.0}, {column: 999999.0}, {column: 1_111_111.0}),
        invalid=({column: 999999999.0}, {column: 123456789.0}, {column: 1.0}, {column: 7_777_777_777.0}),
    )
    rule(
        code="amount-implausible",
        severity="error",
        table=table,
        field=column,
        title="Montant invraisemblable",
        message=f"{label} de {{value}} € invraisemblable (au-delà de {{_max}} €) : vérifiez l'unité et les zéros.",
        reason=IMPLAUSIBLE_REASON,
        prepare=lambda fr, ctx: fr.with_columns(
            pl.lit(f"{ctx.config.amount_implausible:,.0f}".replace(",", " ")).alias("_max")
        ),
        ok=lambda c, col=column: pl.col(col) <= c.amount_implausible,
        valid=({column: 2_500_000_000.0},),
        invalid=({column: 1e17},),
    )

rule(
    code="amount-below-threshold",
    severity="info",
    table="marches",
    field="montant",
    title="Montant sous le seuil de publication obligatoire",
    message="Montant de {value} € sous le seuil de publication obligatoire ({_threshold} € HT) : "
    "publication facultative, mais bienvenue.",
    reason="Depuis 2020, la publication des données essentielles est obligatoire à partir de 40 000 € HT "
    "(25 000 € avant) ; en dessous, elle est permise.",
    prepare=lambda fr, ctx: fr.with_columns(
        pl.lit(f"{ctx.config.publication_threshold:,.0f}".replace(",", " ")).alias("_threshold")
    ),
    ok=lambda c: pl.col("montant") >= c.publication_threshold,
    valid=({"montant": 40000.0},),
    invalid=({"montant": 12000.0},),
)

for table, limit in (("marches", "duration_implausible"), ("concessions", "concession_duration_implausible")):
    rule(
        code="duration-implausible",
        severity="warning",
        table=table,
        field="dureeMois",
        title="Durée invraisemblable",
        message="Durée de {value} mois (plus de {_max} mois) : vérifiez qu'elle est bien exprimée en mois.",
        reason="Au-delà de 15 ans pour un marché, de 40 ans pour une concession (seuils réglables), une durée en "
        "mois est rare : c'est souvent une durée en jours.",
        prepare=lambda fr, ctx, name=limit: fr.with_columns(pl.lit(getattr(ctx.config, name)).alias("_max")),
        ok=lambda c, name=limit: pl.col("dureeMois") <= getattr(c, name),
        valid=({"dureeMois": 48},),
        invalid=({"dureeMois": 900},),
    )

rule(
    code="duration-days",
    severity="warning",
    table="marches",
    field="dureeMois",
    title="Durée probablement donnée en jours",
    message="Durée de {value} « mois » pour un marché de {montant} € : c'est probablement une durée en jours "
    "(30, 360, 365…). La durée se publie en mois.",
    reason="Des acheteurs publient la durée en jours : 30, 31, 360, 365 ou 366 « mois » pour un petit montant.",
    ok=lambda c: ~(pl.col("dureeMois").is_in(c.day_like_durations) & (pl.col("montant") < c.day_like_amount_max)),
    valid=({"dureeMois": 36, "montant": 50000.0}, {"dureeMois": 360, "montant": 90_000_000.0}),
    invalid=({"dureeMois": 365, "montant": 50000.0}, {"dureeMois": 30, "montant": 12000.0}),
)
