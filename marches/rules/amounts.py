"""Amounts and durations: placeholders, implausible values, the publication threshold at the date,
durations given in days."""

from __future__ import annotations

import polars as pl

from marches import french
from marches.regulation import PUBLICATION_THRESHOLDS
from marches.rules import published, rule

PLACEHOLDER_REASON = (
    "Des montants de remplissage (999\u202f999\u202f999, 123\u202f456\u202f789…) faussent toutes les sommes : "
    "les montants bruts de la base nationale totalisent environ 10\u202f000 milliards d'euros."
)
IMPLAUSIBLE_REASON = (
    "Au-delà de 3 milliards d'euros HT (seuil réglable), un montant est presque toujours une "
    "erreur de saisie (unité, zéros en trop)."
)


def _placeholder(column: str):
    def ok(c) -> pl.Expr:
        value = pl.col(column)
        as_published = pl.col(published(column)).str.extract(r"^\s*-?0*(\d+)(?:\.\d*)?\s*$", 1)
        digits = pl.when(value.is_not_null()).then(
            pl.coalesce(as_published, value.round(0).cast(pl.Decimal(38, 0), strict=False).cast(pl.String))
        )
        repeated = pl.any_horizontal([digits.str.contains(str(d) * c.amount_repeated_digits) for d in range(1, 10)])
        return ~(digits.str.starts_with("123456789") | (repeated & (value >= c.amount_placeholder_floor)))

    return ok


# What to publish instead of a 0 € or 1 € amount (a concession has no maximum of an accord-cadre): for a
# 0 € amount, then for a 1 € one
MONTANT = (
    "le montant HT (pour un accord-cadre sans maximum, le montant estimé)",
    "le montant HT, ou le montant maximum estimé d'un accord-cadre",
)
VALEUR = ("la valeur globale HT du contrat (estimée)",) * 2
SOUS_TRAITE = ("le montant HT sous-traité (ou le montant maximum estimé attribué)",) * 2  # schema 2.0.3
AMOUNTS = (  # table, column, how the message names it, what to publish instead of 0 € or 1 €
    ("marches", "montant", "Montant", MONTANT),
    ("concessions", "valeurGlobale", "Valeur globale", VALEUR),
    ("marches_modifications", "montant", "Montant modifié", MONTANT),
    ("concessions_modifications", "valeurGlobale", "Valeur globale modifiée", VALEUR),
    ("marches_actes_sous_traitance", "montant", "Montant sous-traité", SOUS_TRAITE),
    ("marches_modifications_actes_sous_traitance", "montant", "Montant sous-traité modifié", SOUS_TRAITE),
)
for table, column, label, expected in AMOUNTS:
    rule(
        code="amount-placeholder",
        severity="error",
        table=table,
        field=column,
        title="Montant de remplissage",
        message=f"{label} de {{value}} € : valeur de remplissage (123\u202f456\u202f789, chiffre répété), pas un montant "
        "réel. Publiez le montant HT du contrat.",
        reason=PLACEHOLDER_REASON,
        ok=_placeholder(column),
        valid=({column: 85000.0}, {column: 999999.0}, {column: 1_111_111.0}),
        invalid=(
            {column: 999999999.0},
            {column: 123456789.0},
            {column: 7_777_777_777.0},
            {column: "99999999999999999999"},  # beyond a double: read on the published digits
        ),
    )
    rule(
        code="amount-implausible",
        severity="error",
        table=table,
        field=column,
        title="Montant invraisemblable",
        message=f"{label} de {{value}} € invraisemblable (au-delà de {{limit}}) : vérifiez l'unité et les zéros.",
        reason=IMPLAUSIBLE_REASON,
        params=lambda c: {"limit": french.amount(c.amount_implausible)},
        ok=lambda c, col=column: pl.col(col) <= c.amount_implausible,
        valid=({column: 2_500_000_000.0},),
        invalid=({column: 1e17},),
    )
    rule(
        code="amount-zero",
        severity="error",
        table=table,
        field=column,
        title="Montant nul ou inférieur à 1 €",
        message=f"{label} de {{value}} € : moins de 1 €, ce n'est pas le montant d'un contrat. Publiez {expected[0]}.",
        reason="Le format 2019 admettait 0 € et les centimes ; un montant nul ou de quelques centimes n'est pas "
        "une donnée et fausse les moyennes. Le format 2022 exige au moins 1 €.",
        ok=lambda c, col=column: pl.col(col) >= 1,
        valid=({column: 1.0}, {column: 85000.0}),
        invalid=({column: 0.0}, {column: 0.5}),
    )
    rule(
        code="amount-symbolic",
        severity="warning",
        table=table,
        field=column,
        title="Montant symbolique de 1 €",
        message=f"{label} de 1 € : montant symbolique plutôt que le montant du contrat. Publiez {expected[1]}.",
        reason="Le montant minimal de 1 € du format sert souvent de valeur de remplissage ; le montant réel "
        "est attendu (le maximum estimé pour un accord-cadre).",
        ok=lambda c, col=column: pl.col(col) != 1,
        valid=({column: 2.0}, {column: 85000.0}),
        invalid=({column: 1.0},),
    )


def _threshold(frame: pl.DataFrame, ctx) -> pl.DataFrame:
    """The threshold in force at each notification date (or the one set by the configuration); null
    before the first one, and for an unknown date."""
    if ctx.config.publication_threshold is not None:
        threshold = pl.lit(ctx.config.publication_threshold)
    else:
        threshold = pl.lit(None, dtype=pl.Float64)
        for t in PUBLICATION_THRESHOLDS:
            threshold = (
                pl.when(pl.col("dateNotification") >= pl.lit(t.since)).then(pl.lit(t.amount)).otherwise(threshold)
            )
        # before the first threshold (01/04/2016) no text set one: the rule has nothing to say
    return frame.with_columns(threshold.alias("_threshold"))


rule(
    code="amount-below-threshold",
    severity="info",
    table="marches",
    field="montant",
    title="Montant sous le seuil de publication obligatoire",
    message="Montant de {value} € sous le seuil de publication obligatoire à la date de notification "
    "({_threshold} € HT) : publication facultative, mais bienvenue.",
    reason="; ".join(
        f"{french.amount(t.amount)} HT pour les marchés notifiés depuis le {french.date(t.since)} ({t.source})"
        for t in PUBLICATION_THRESHOLDS
    )
    + ". En dessous, la publication est permise.",
    prepare=_threshold,
    reads=("dateNotification",),
    ok=lambda c: pl.col("montant") >= pl.col("_threshold"),
    valid=(
        {"montant": 40000.0, "dateNotification": "2024-03-12"},
        {"montant": 30000.0, "dateNotification": "2018-10-15"},
        {"montant": 20000.0, "dateNotification": "2016-03-31"},  # no threshold before the first text
    ),
    invalid=(
        {"montant": 12000.0, "dateNotification": "2024-03-12"},
        {"montant": 30000.0, "dateNotification": "2020-01-01"},
        {"montant": 20000.0, "dateNotification": "2019-12-31"},
    ),
)


def _days(c) -> pl.Expr:
    """A duration that reads as days rather than months (reported by duration-days instead)."""
    small = (pl.col("montant") < c.day_like_amount_max).fill_null(False)  # an unknown amount proves nothing
    return pl.col("dureeMois").is_in(c.day_like_durations) & small


rule(
    code="duration-days",
    severity="warning",
    table="marches",
    field="dureeMois",
    title="Durée probablement donnée en jours",
    message="Durée de {value} « mois » pour un marché de {montant} € : c'est probablement une durée en jours "
    "({days}). La durée se publie en mois.",
    reason="Des acheteurs publient la durée en jours : 360, 365 ou 366 « mois » (30 ans) pour un petit montant. "
    "30 ou 31 mois sont des durées courantes, pas des jours.",
    reads=("montant",),
    params=lambda c: {"days": ", ".join(french.number(d) for d in c.day_like_durations)},
    ok=lambda c: ~_days(c),
    valid=(
        {"dureeMois": 36, "montant": 50000.0},
        {"dureeMois": 360, "montant": 90_000_000.0},
        {"dureeMois": 30, "montant": 12000.0},
    ),
    invalid=({"dureeMois": 365, "montant": 50000.0}, {"dureeMois": 360, "montant": 12000.0}),
)


for table, limit in (
    ("marches", "duration_implausible"),
    ("marches_modifications", "duration_implausible"),
    ("marches_actes_sous_traitance", "duration_implausible"),
    ("marches_modifications_actes_sous_traitance", "duration_implausible"),
    ("concessions", "concession_duration_implausible"),
    ("concessions_modifications", "concession_duration_implausible"),
):
    rule(
        code="duration-implausible",
        severity="warning",
        table=table,
        field="dureeMois",
        title="Durée invraisemblable",
        message="Durée de {value} mois (plus de {limit} mois) : vérifiez qu'elle est bien exprimée en mois.",
        reason="Au-delà de 15 ans pour un marché, de 40 ans pour une concession (seuils réglables), une durée en "
        "mois est rare : c'est souvent une durée en jours.",
        params=lambda c, name=limit: {"limit": french.number(getattr(c, name))},
        reads=("montant",) if table == "marches" else (),  # the marché's day-like durations have their own rule
        ok=lambda c, name=limit, days=table == "marches": (
            (pl.col("dureeMois") <= getattr(c, name)) | (_days(c) if days else pl.lit(False))
        ),
        valid=({"dureeMois": 48},),
        invalid=({"dureeMois": 900},),
    )
