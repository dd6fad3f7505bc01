"""Dates: readable years, not in the future, in order, published within the delay the law sets."""

from __future__ import annotations

import polars as pl

from marches import french
from marches.model import TABLES, load_tables
from marches.regulation import FORMATS, PUBLICATION_DELAY_SOURCE
from marches.rules import rule
from marches.rules.coherence import parent_column

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
            message=f"« {name} » : date du {{value}}, antérieure à l'an {{floor}} ; vérifiez l'année.",
            reason=FLOOR_REASON,
            params=lambda c: {"floor": str(c.year_floor)},
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
            message=f"« {name} » : date du {{value}}, postérieure à la date de vérification ({{as_of}}).",
            reason=FUTURE_REASON,
            params=lambda c: {"as_of": french.date(c.as_of)},
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
        title="Publication antérieure à la notification ou à la signature",
        message=f"« {published} » (le {{value}}) est antérieure à « {event} » (le {{{event}}}) : "
        f"les données se publient après la {'signature' if table.startswith('concessions') else 'notification'}.",
        reason=ORDER_REASON,
        reads=(event,),
        ok=lambda c, e=event, p=published: pl.col(p) >= pl.col(e),
        valid=({event: "2024-03-12", published: "2024-03-20"}, {event: "2024-03-12", published: "2024-03-12"}),
        invalid=({event: "2024-03-12", published: "2023-03-15"},),
    )


for table, changed, parent, event, word in (
    ("marches_modifications", "dateNotificationModification", "marches", "dateNotification", "notifié"),
    ("concessions_modifications", "dateSignatureModification", "concessions", "dateSignature", "signé"),
):
    rule(
        code="modification-before-contract",
        severity="warning",
        table=table,
        field=changed,
        title="Modification antérieure au contrat qu'elle modifie",
        message=f"Modification du {{value}}, antérieure au contrat lui-même ({word} le {{_parent_{event}}}) : "
        f"vérifiez la date de la modification et « {event} ».",
        reason="Un avenant modifie un contrat déjà conclu : il ne peut pas dater d'avant la notification du "
        "marché (la signature de la concession). L'une des deux dates est fausse.",
        prepare=parent_column(event, parent),  # a contract date with its own finding is hidden (null) here
        reads=(event,),
        ok=lambda c, d=changed, e=event: pl.col(d) >= pl.col(f"_parent_{e}"),
        valid=(
            {changed: "2024-06-01", f"@{parent}.{event}": "2024-03-12"},
            {changed: "2024-03-12", f"@{parent}.{event}": "2024-03-12"},
        ),
        invalid=({changed: "2024-01-05", f"@{parent}.{event}": "2024-03-12"},),
    )


def _deadline(frame: pl.DataFrame, ctx) -> pl.DataFrame:
    months = ctx.config.publication_delay_months
    return frame.with_columns(pl.col("dateNotification").dt.offset_by(f"{months}mo").alias("_deadline"))


rule(
    code="publication-delay",
    severity="warning",
    table="marches",
    field="datePublicationDonnees",
    title="Publication hors délai (marché : plus de deux mois après la notification ; concession : après le "
    "début de l'exécution)",
    message="Données publiées le {value}, plus de {months} mois après la notification du {dateNotification} : "
    "elles devaient l'être au plus tard le {_deadline}.",
    reason=f"Délai en mois calendaires ({PUBLICATION_DELAY_SOURCE}) : un marché notifié le 21/12 se publie "
    "au plus tard le 21/02 ; le 31/12, au plus tard le dernier jour de février.",
    prepare=_deadline,
    reads=("dateNotification",),
    params=lambda c: {"months": french.number(c.publication_delay_months)},
    ok=lambda c: pl.col("datePublicationDonnees") <= pl.col("_deadline"),
    valid=(
        {"dateNotification": "2024-03-12", "datePublicationDonnees": "2024-05-10"},
        {"dateNotification": "2018-12-21", "datePublicationDonnees": "2019-02-21"},
        {"dateNotification": "2023-12-31", "datePublicationDonnees": "2024-02-29"},
    ),
    invalid=(
        {"dateNotification": "2024-03-12", "datePublicationDonnees": "2024-09-10"},
        {"dateNotification": "2018-12-21", "datePublicationDonnees": "2019-02-22"},
    ),
)

rule(
    code="publication-delay",
    severity="warning",
    table="concessions",
    field="datePublicationDonnees",
    title="Publication après le début de l'exécution",
    message="Données publiées le {value}, après le début de l'exécution le {dateDebutExecution} : "
    "celles d'un contrat de concession se publient avant que son exécution commence.",
    reason="Art. R. 3131-1 du code de la commande publique : l'autorité concédante publie les données "
    "essentielles du contrat de concession avant le commencement de son exécution.",
    reads=("dateDebutExecution",),
    ok=lambda c: pl.col("datePublicationDonnees") <= pl.col("dateDebutExecution"),
    valid=({"dateDebutExecution": "2024-06-01", "datePublicationDonnees": "2024-03-20"},),
    invalid=({"dateDebutExecution": "2024-06-01", "datePublicationDonnees": "2024-09-10"},),
)


# A contract notified (signed) once the 2022 format is in force is published in it: the 2019 format's
# schema accepts such a record, the law no longer does.
_START_2022 = FORMATS["2022"].in_force[0]
for table, event in (("marches", "dateNotification"), ("concessions", "dateSignature")):
    rule(
        code="format-outdated",
        severity="error",
        table=table,
        field=event,
        title="Contrat récent publié au format 2019",
        message=f"« {event} » : contrat du {{value}} publié au format 2019 ; depuis le {{start}}, les données "
        "essentielles se publient au format 2022 (schéma {schema}), qui en demande davantage.",
        reason=f"Le format 2022 ({FORMATS['2022'].texts}) s'applique aux contrats notifiés ou signés à partir du "
        f"{french.date(_START_2022)} ; le format 2019 ne vaut que jusqu'au {french.date(FORMATS['2019'].in_force[1])}.",
        params=lambda c: {"start": french.date(_START_2022), "schema": FORMATS["2022"].schema},
        generations=("2019",),
        reads=("_generation",),  # a fact about the record's format, not its date: the date stays usable
        ok=lambda c, e=event: pl.col(e) < pl.lit(_START_2022),
        valid=({event: "2023-12-31"}, {event: "2019-05-15"}),
        invalid=({event: "2024-01-01"}, {event: "2025-06-30"}),
    )
