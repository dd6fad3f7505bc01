"""Coherence between fields and between tables of one contract."""

from __future__ import annotations

import polars as pl

from marches import french
from marches.regulation import ORIGIN_RANGES
from marches.rules import rule

NONE_VALUES = {
    "techniques": "Sans objet",
    "modalitesExecution": "Sans objet",
    "considerationsSociales": "Pas de considération sociale",
    "considerationsEnvironnementales": "Pas de considération environnementale",
}


def parent_column(column: str, parent: str = "marches"):
    """A rule's ``prepare``: the row's contract's ``column`` (from the ``parent`` table) as ``_parent_<column>``."""

    def prepare(frame: pl.DataFrame, ctx) -> pl.DataFrame:
        parents = ctx.frames.get(parent)
        if parents is None or column not in parents.columns:
            return frame.with_columns(pl.lit(None, dtype=pl.String).alias(f"_parent_{column}"))
        lookup = parents.select("record_key", pl.col(column).alias(f"_parent_{column}")).unique("record_key")
        return frame.join(lookup, on="record_key", how="left", maintain_order="left")

    return prepare


# where a contract names the company it went to: (table, field, what the message calls it, the parent table and
# its column naming the buyer, what the message calls the buyer)
HOLDERS = (
    ("marches_titulaires", "id", "Le titulaire", "marches", "acheteur_id", "l'acheteur"),
    (
        "marches_modifications_titulaires",
        "id",
        "Le titulaire de la modification",
        "marches",
        "acheteur_id",
        "l'acheteur",
    ),
    ("marches_actes_sous_traitance", "sousTraitant_id", "Le sous-traitant", "marches", "acheteur_id", "l'acheteur"),
    (
        "concessions_concessionnaires",
        "id",
        "Le concessionnaire",
        "concessions",
        "autoriteConcedante_id",
        "l'autorité concédante",
    ),
)
for table, field, holder, parent, buyer_id, buyer in HOLDERS:
    rule(
        code="buyer-is-holder",
        severity="warning",
        table=table,
        field=field,
        title="L'acheteur (ou l'autorité concédante) est titulaire de son propre contrat",
        message=f"{holder} « {{value}} » a le même SIRET que {buyer} : vérifiez son identifiant (erreur "
        "fréquente de saisie).",
        reads=(buyer_id,),
        reason="Un acheteur ne contracte pas avec lui-même : l'identifiant du titulaire (du concessionnaire, du "
        "sous-traitant) a souvent été rempli avec celui de l'acheteur ou de l'autorité concédante.",
        prepare=parent_column(buyer_id, parent),
        ok=lambda c, f=field, b=buyer_id: pl.col(f) != pl.col(f"_parent_{b}"),
        valid=({field: "55204599900869", f"@{parent}.{buyer_id}": "21690123100011"},),
        invalid=({field: "21690123100011", f"@{parent}.{buyer_id}": "21690123100011"},),
    )


def _modification_order(date_column: str):
    """Modifications in the order of their notification; on one date, in the order of their numbers.

    The position in the published list carries no meaning (platforms list the latest first, or
    sort by number): only the dates and the numbers must agree.
    """

    def prepare(frame: pl.DataFrame, ctx) -> pl.DataFrame:
        ordered = frame.with_row_index("_row").sort(["record_key", date_column, "id", "position"], nulls_last=True)
        ordered = ordered.with_columns(pl.col("id").cum_max().shift(1).over("record_key").alias("_previous_max"))
        return ordered.sort("_row").drop("_row")

    return prepare


for table, date_column in (
    ("marches_modifications", "dateNotificationModification"),
    ("concessions_modifications", "dateSignatureModification"),
):
    rule(
        code="modification-order",
        severity="error",
        table=table,
        field="id",
        title="Numéros de modification incohérents",
        message="Modification numéro {value} : les numéros doivent être uniques et croître avec la date de "
        f"{'signature' if table.startswith('concessions') else 'notification'} (numéro précédent le plus grand : "
        "{_previous_max}).",
        reason="Arrêtés du 22/12/2022 : l'identifiant d'une modification est unique dans le contrat et forme une "
        "séquence croissante dans l'ordre des notifications.",
        prepare=_modification_order(date_column),
        reads=(date_column,),
        generations=("2022",),
        ok=lambda c: pl.col("_previous_max").is_null() | (pl.col("id") > pl.col("_previous_max")),
        valid=(
            {
                "@rows": [
                    {"position": 0, "id": 1, date_column: "2024-01-01"},
                    {"position": 1, "id": 2, date_column: "2024-06-01"},
                ]
            },
            {  # listed latest first
                "@rows": [
                    {"position": 0, "id": 2, date_column: "2024-06-01"},
                    {"position": 1, "id": 1, date_column: "2024-01-01"},
                ]
            },
            {  # two modifications notified the same day, listed in any order
                "@rows": [
                    {"position": 0, "id": 2, date_column: "2024-06-01"},
                    {"position": 1, "id": 1, date_column: "2024-06-01"},
                ]
            },
        ),
        invalid=(
            {
                "@rows": [
                    {"position": 0, "id": 2, date_column: "2024-01-01"},
                    {"position": 1, "id": 1, date_column: "2024-06-01"},
                ]
            },
            {
                "@rows": [
                    {"position": 0, "id": 1, date_column: "2024-01-01"},
                    {"position": 1, "id": 1, date_column: "2024-06-01"},
                ]
            },
            {  # the same number twice on one date
                "@rows": [
                    {"position": 0, "id": 1, date_column: "2024-06-01"},
                    {"position": 1, "id": 1, date_column: "2024-06-01"},
                ]
            },
        ),
    )


def _act_exists(frame: pl.DataFrame, ctx) -> pl.DataFrame:
    """``_act_exists``: the act the modification names is published; null (not judged) when an act of the
    contract has no number the rules can read (missing, or rejected by the format: already a finding)."""
    acts = ctx.frames.get("marches_actes_sous_traitance")
    if acts is None:
        return frame.with_columns(pl.lit(False).alias("_act_exists"))
    known = acts.select("record_key", "id").drop_nulls().unique().with_columns(pl.lit(True).alias("_act_exists"))
    unread = acts.filter(pl.col("id").is_null()).get_column("record_key").unique().implode()
    return frame.join(known, on=["record_key", "id"], how="left", maintain_order="left").with_columns(
        pl.when(pl.col("record_key").is_in(unread))
        .then(None)
        .otherwise(pl.col("_act_exists").fill_null(False))
        .alias("_act_exists")
    )


rule(
    code="subcontracting-reference",
    severity="error",
    table="marches_modifications_actes_sous_traitance",
    field="id",
    title="Modification d'un acte de sous-traitance inexistant",
    message="La modification porte sur l'acte de sous-traitance numéro {value}, qui n'est pas publié pour ce marché.",
    reason="Une modification d'acte de sous-traitance désigne par son numéro un acte publié dans actesSousTraitance.",
    prepare=_act_exists,
    reads=("actesSousTraitance",),
    generations=("2022",),
    ok=lambda c: pl.col("_act_exists") | pl.col("id").is_null(),
    valid=(
        {"id": 1, "@marches_actes_sous_traitance.id": 1},
        {"id": 9, "@marches_actes_sous_traitance.id": None},  # an act whose number is unreadable (its own finding)
    ),
    invalid=({"id": 9, "@marches_actes_sous_traitance.id": 1},),
)

rule(
    code="origine-order",
    severity="error",
    table="marches",
    field="origineFrance",
    title="Part d'origine France supérieure à la part d'origine UE",
    message="Part d'origine France ({value}) supérieure à la part d'origine UE ({origineUE}) : la France est "
    "dans l'Union européenne.",
    reads=("origineUE",),
    generations=("2022",),
    display={"value": french.percent, "origineUE": french.percent},
    reason="Arrêtés du 22/12/2022 : origineFrance est une partie de origineUE.",
    ok=lambda c: pl.col("origineFrance") <= pl.col("origineUE"),
    valid=({"origineUE": 0.6, "origineFrance": 0.3},),
    invalid=({"origineUE": 0.3, "origineFrance": 0.6},),
)


def _in_origin_ranges() -> pl.Expr:
    code = pl.col("codeCPV").str.slice(0, 8).cast(pl.Int64, strict=False)
    return pl.any_horizontal([code.is_between(low, high) for low, high in ORIGIN_RANGES])


rule(
    code="origine-scope",
    severity="warning",
    table="marches",
    field="origineUE",
    title="Parts d'origine hors des achats concernés",
    message="Part d'origine UE renseignée ({value}) pour le code CPV {codeCPV}, hors des catégories concernées "
    "(denrées, véhicules, produits de santé, habillement).",
    reads=("codeCPV",),
    generations=("2022",),
    display={"value": french.percent},
    reason="Les parts d'origine UE et France ne concernent que certaines catégories d'achats (décret 2022-767) : "
    "CPV 15100000-15982200, 34100000-34144910, 33100000-33198200, 18100000-18453000…",
    ok=lambda c: pl.col("origineUE").is_null() | _in_origin_ranges(),
    valid=({"codeCPV": "15800000-6", "origineUE": 0.5}, {"codeCPV": "45000000-7"}),
    invalid=({"codeCPV": "45000000-7", "origineUE": 0.5},),
)

rule(
    code="taux-avance",
    severity="error",
    table="marches",
    field="tauxAvance",
    title="Taux d'avance sans avance attribuée",
    message="Taux d'avance de {value} alors qu'aucune avance n'est attribuée (« attributionAvance » : false).",
    reads=("attributionAvance",),
    generations=("2022",),
    display={"value": french.percent},
    reason="Le taux d'avance n'a de sens que si une avance est attribuée ; 0 avec une avance signifie « taux inconnu ».",
    ok=lambda c: pl.col("tauxAvance").is_null() | (pl.col("attributionAvance") | (pl.col("tauxAvance") == 0)),
    valid=({"attributionAvance": "true", "tauxAvance": 0.05}, {"attributionAvance": "false"}),
    invalid=({"attributionAvance": "false", "tauxAvance": 0.2},),
)

for table in ("marches", "concessions"):
    for column, none in NONE_VALUES.items():
        if table == "concessions" and column in ("techniques", "modalitesExecution"):
            continue
        rule(
            code="alone-in-list",
            severity="error",
            table=table,
            field=column,
            title="« Sans objet » ou « Pas de … » accompagné d'autres valeurs",
            message=f"« {column} » : « {none} » ne peut pas être accompagné d'autres valeurs ({{value}}).",
            reason="« Sans objet » et « Pas de considération … » disent qu'il n'y a rien : ils sont seuls dans "
            "leur liste ou absents.",
            ok=lambda c, col=column, v=none: ~(pl.col(col).list.contains(v) & (pl.col(col).list.len() > 1)),
            generations=("2022",),
            valid=({column: f'["{none}"]'},),
            invalid=({column: f'["{none}", "Clause sociale"]'},),
        )

rule(
    code="accord-cadre-id",
    severity="warning",
    table="marches",
    field="idAccordCadre",
    title="Marché subséquent sans identifiant d'accord-cadre",
    message="Marché subséquent (modalité « Marchés subséquents ») sans identifiant de l'accord-cadre "
    "(« idAccordCadre »), que le format 2022 prévoit.",
    reads=("modalitesExecution",),
    generations=("2022",),
    reason="Arrêtés du 22/12/2022 : un marché subséquent indique l'identifiant de l'accord-cadre dont il découle "
    "(le format 2019 n'avait pas ce champ).",
    ok=lambda c: (
        ~pl.col("modalitesExecution").list.contains("Marchés subséquents") | pl.col("idAccordCadre").is_not_null()
    ),
    valid=(
        {"modalitesExecution": '["Marchés subséquents"]', "idAccordCadre": "AC2023-01"},
        {"modalitesExecution": '["Tranches"]'},
    ),
    invalid=({"modalitesExecution": '["Marchés subséquents"]'},),
)
