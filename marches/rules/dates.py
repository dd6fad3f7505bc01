"""Dates: readable years, not in the future, in order, published within two months."""

from __future__ import annotations

import polars as pl

from marches.model import TABLES, load_tables
from marches.rules import rule

FLOOR_REASON = (
    "Les années avant 2000 (ou le plancher choisi) sont des erreurs de saisie (« 0002-11-30 ») : "
    "les données essentielles n'existent que depuis 2018."
)
FUTURE_REASON = (
    "Une date de notification, de signature ou de publication ne peut pas être postérieure au jour de la "
    "vérification (--as-of, par défaut aujourd'hui) : « 5021-02-18 » est une faute de frappe."
)
ORDER_REASON = "Les données d'un contrat se publient après sa notification (ou sa signature), jamais avant."

for table in (load_tables()[name] for name in TABLES):
    for f in table.fields:
        if f["type"] != "date":
            continue
        name = f["name"]
        rule(
            code="date-floor",
            severity="error",
            table=table.name,
            field=name,
            title="Année invraisemblable (trop ancienne)",
            message=f"« {name} » : date « {{value}} » antérieure à l'an {{_floor}} ; vérifiez l'année.",
            reason=FLOOR_REASON,
            prepare=lambda fr, ctx: fr.with_columns(pl.lit(ctx.config.year_floor).alias("_floor")),
            ok=lambda c, n=name: pl.col(n).dt.year() >= c.year_floor,
            valid=({name: "2024-03-12"},),
            invalid=({name: "0002-11-30"}, {name: "1899-01-01"}),
        )
        rule(
            code="date-future",
            severity="error",
            table=table.name,
            field=name,
            title="Date dans le futur",
            message=f"« {name} » : date « {{value}} » postérieure à la date de vérification ({{_as_of}}).",
            reason=FUTURE_REASON,
            prepare=lambda fr, ctx: fr.with_columns(pl.lit(ctx.config.as_of.isoformat()).alias("_as_of")),
            ok=lambda c, n=name: pl.col(n) <= pl.lit(c.as_of),
            valid=({name: "2024-03-12"},),
            invalid=({name: "5021-02-18"}, {name: "2999-01-01"}),
        )

ORDERS = (
    ("marches", "dateNotification", "datePublicationDonnees"),
    ("concessions", "dateSignature", "datePublicationDonnees"),
    ("marches_modifications", "dateNotificationModification", "datePublicationDonneesModification"),
    ("concessions_modifications", "dateSignatureModification", "datePublicationDonneesModification"),
    ("marches_actes_sous_traitance", "dateNotification", "datePublicationDonnees"),
    (
        "marches_modifications_actes_sous_traitance",
        "dateNotificationModificationSousTraitance",
        "datePublicationDonnees",
    ),
)
for table, event, published in ORDERS:
    rule(
        code="date-order",
        severity="error",
        table=table,
        field=published,
        title="Publication antérieure à la notification",
        message=f"« {published} » ({{value}}) est antérieure à « {event} » ({{{event}}}) : "
        "les données se publient après la notification.",
        reason=ORDER_REASON,
        ok=lambda c, e=event, p=published: pl.col(p) >= pl.col(e),
        valid=({event: "2024-03-12", published: "2024-03-20"}, {event: "2024-03-12", published: "2024-03-12"}),
        invalid=({event: "2024-03-12", published: "2023-03-15"},),
    )

rule(
    code="publication-delay",
    severity="warning",
    table="marches",
    field="datePublicationDonnees",
    title="Publication plus de deux mois après la notification",
    message="Données publiées le {value}, {_delay} jours après la notification du {dateNotification} : "
    "le délai réglementaire est de deux mois.",
    reason="Article R. 2196-1 du code de la commande publique et arrêtés du 22/12/2022 : les données essentielles "
    "sont publiées dans les deux mois suivant la notification.",
    prepare=lambda fr, ctx: fr.with_columns(
        (pl.col("datePublicationDonnees") - pl.col("dateNotification")).dt.total_days().alias("_delay")
    ),
    ok=lambda c: pl.col("_delay") <= c.publication_delay_days,
    valid=({"dateNotification": "2024-03-12", "datePublicationDonnees": "2024-05-10"},),
    invalid=({"dateNotification": "2024-03-12", "datePublicationDonnees": "2024-09-10"},),
)
