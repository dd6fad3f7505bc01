"""Identity: the same contract (same uid) published twice, in one file or across files."""

from __future__ import annotations

import polars as pl

from marches.rules import rule


def _duplicates(frame: pl.DataFrame, ctx) -> pl.DataFrame:
    """For each record, the first record with the same uid (file, position), if it is another one."""
    first = (
        frame.with_row_index("_row")
        .filter(pl.col("uid").is_not_null())
        .group_by("uid", maintain_order=True)
        .agg(
            pl.col("source_file").first().alias("_first_file"),
            pl.col("source_position").first().alias("_first_position"),
            pl.col("_row").first().alias("_first_row"),
        )
    )
    out = frame.with_row_index("_row").join(first, on="uid", how="left", maintain_order="left")
    return out.with_columns((pl.col("_first_file") == pl.col("source_file")).alias("_same_file"))


def _ok_within(c) -> pl.Expr:
    return pl.col("_first_row").is_null() | (pl.col("_row") == pl.col("_first_row")) | ~pl.col("_same_file")


def _ok_across(c) -> pl.Expr:
    return pl.col("_first_row").is_null() | (pl.col("_row") == pl.col("_first_row")) | pl.col("_same_file")


REASON = (
    "Le même contrat (même SIRET d'acheteur et même identifiant) publié plusieurs fois fausse les comptes : "
    "environ 13 % du fichier national 2020 étaient des doublons."
)
for table in ("marches", "concessions"):
    rule(
        code="duplicate-uid",
        severity="error",
        table=table,
        field="uid",
        scope="global",
        title="Contrat publié deux fois dans le même fichier",
        message="Contrat déjà publié dans ce fichier (uid {value}, enregistrement {_first_position}) : "
        "chaque contrat ne doit figurer qu'une fois ; les modifications s'ajoutent dans « modifications ».",
        reason=REASON,
        prepare=_duplicates,
        ok=_ok_within,
        valid=(
            {
                "@rows": [
                    {"uid": "A1", "source_file": "a.json", "source_position": 0},
                    {"uid": "A2", "source_file": "a.json", "source_position": 1},
                    {"uid": "A1", "source_file": "b.json", "source_position": 0},
                ]
            },
        ),
        invalid=(
            {
                "@rows": [
                    {"uid": "A1", "source_file": "a.json", "source_position": 0},
                    {"uid": "A1", "source_file": "a.json", "source_position": 1},
                ]
            },
        ),
    )
    rule(
        code="duplicate-uid-across-files",
        severity="warning",
        table=table,
        field="uid",
        scope="global",
        title="Contrat publié dans plusieurs fichiers",
        message="Contrat aussi publié dans {_first_file} (uid {value}, enregistrement {_first_position}) : "
        "l'empaquetage n'en gardera qu'un, avec la provenance de chaque copie.",
        reason=REASON,
        prepare=_duplicates,
        ok=_ok_across,
        valid=(
            {
                "@rows": [
                    {"uid": "A1", "source_file": "a.json", "source_position": 0},
                    {"uid": "A1", "source_file": "a.json", "source_position": 1},
                ]
            },
        ),
        invalid=(
            {
                "@rows": [
                    {"uid": "A1", "source_file": "a.json", "source_position": 0},
                    {"uid": "A1", "source_file": "b.json", "source_position": 0},
                ]
            },
        ),
    )
