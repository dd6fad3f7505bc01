"""Identity: the same contract (same uid) published twice, in one file or across files.

Both rules look at every record of the run at once and do not depend on the order of the files
nor on which other files are given: within a file, every copy after the first (in the file's
own order) is an error; across files, each copy is told of the other files holding the contract
(named in alphabetical order), a warning since packaging keeps one with the provenance of all.
"""

from __future__ import annotations

import polars as pl

from marches.rules import rule


def _duplicates(frame: pl.DataFrame, ctx) -> pl.DataFrame:
    """For each record: the first copy in its own file, and another file holding the same uid.

    Only a uid held by several records has copies: the other records (nearly all) keep nulls, which
    both rules accept; what is found for the copies is put back at their rows, so that nothing the
    size of the whole frame is built but the four columns added."""
    frame = frame.with_columns(pl.col("source_position").cast(pl.Int64, strict=False).alias("_position"))
    copies = (
        frame.select("uid", "source_file", "source_path", "_position")
        .with_row_index("_row")
        .filter(pl.col("uid").is_not_null() & pl.col("uid").is_duplicated())
    )
    first_in_file = (
        copies.sort("_position")
        .group_by("uid", "source_file", maintain_order=True)
        .agg(pl.col("_position").first().alias("_first_position"), pl.col("source_path").first().alias("_first_path"))
    )
    files = copies.group_by("uid").agg(pl.col("source_file").unique().sort().alias("_files"))
    found = (
        copies.join(first_in_file, on=["uid", "source_file"], how="left", maintain_order="left")
        .join(files, on="uid", how="left", maintain_order="left")
        .select(
            "_row",
            "_first_position",
            "_first_path",
            pl.col("_files")
            .list.set_difference(pl.concat_list(pl.col("source_file")))
            .list.sort()
            .list.first()
            .alias("_other_file"),
        )
    )
    rows = found.get_column("_row")
    return frame.with_columns(
        pl.repeat(None, frame.height, dtype=column.dtype, eager=True).alias(column.name).scatter(rows, column)
        for column in found.drop("_row").get_columns()
    )


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
        message="Contrat déjà publié dans ce fichier (uid {value}, à « {_first_path} ») : "
        "chaque contrat ne figure qu'une fois ; ses modifications s'ajoutent dans « modifications ».",
        reason=REASON,
        prepare=_duplicates,
        ok=lambda c: pl.col("_first_position").is_null() | (pl.col("_position") == pl.col("_first_position")),
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
        message="Contrat aussi publié dans {_other_file} (uid {value}) : l'empaquetage n'en gardera qu'une "
        "copie, avec la provenance de chacune.",
        reason=REASON,
        prepare=_duplicates,
        ok=lambda c: pl.col("_other_file").is_null(),
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
