"""One contract from its copies: every published modification kept, then its current state.

The same contract is often published by several platforms, and not every copy carries every
modification (platform A publishes the amendment, platform B's later copy does not). The copy
retained by deduplication takes the modifications of all the valid copies of its contract,
deduplicated by content (number, dates, values and titulaires), each with the key of the copy it
was read from (column ``source_record_key``). The current amount, duration and titulaires then
follow the modifications in the order of their notification dates, and on one date in the order
of their numbers (the position in the published list carries no meaning).

Both ``marches package`` (copies within and across input files) and ``marches publish`` (copies
in several packages) use these functions. They work on tables read as text (every column a
string), as the package's CSV files are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import polars as pl

from marches import unflatten
from marches.model import CONCESSION_TABLES, MARCHE_TABLES, load_tables
from marches.package.common import json_lists
from marches.validation.structure import typed_frame

# root table -> (its modifications table, the titulaires of those modifications, the date that orders them)
MODIFICATIONS = {
    "marches": ("marches_modifications", "marches_modifications_titulaires", "dateNotificationModification"),
    "concessions": ("concessions_modifications", None, "dateSignatureModification"),
}
PROVENANCE = "source_record_key"
_NULL = "\x00"  # stands for an absent value in content signatures


def merge_modifications(tables: dict[str, pl.DataFrame], copies: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Give each retained contract the modifications of its other copies.

    ``tables`` holds the modification tables (and their titulaires) of the retained copies and of
    the copies set aside; ``copies`` maps each copy set aside (``record_key``) to the retained one
    (``retenu_record_key``), with its rank (``rang``: the better copies first). Returns the same
    tables, every row now under a retained key, numbered again (``position``) in the order: the
    retained copy's own modifications, then each other copy's new ones.
    """
    out = dict(tables)
    copies = copies.select(
        pl.col("record_key").cast(pl.String),
        pl.col("retenu_record_key").cast(pl.String),
        pl.col("rang").cast(pl.Int64),
    ).filter(pl.col("record_key") != pl.col("retenu_record_key"))
    for name, holders_name, _ in MODIFICATIONS.values():
        mods = tables[name].with_columns(pl.coalesce(PROVENANCE, "record_key").alias(PROVENANCE))
        holders = tables.get(holders_name) if holders_name else None
        mods = mods.join(copies, on="record_key", how="left").with_columns(
            pl.coalesce("retenu_record_key", "record_key").alias("_target"),
            pl.col("rang").fill_null(-1),  # the retained copy's own rows first
            pl.col("position").cast(pl.Int64).alias("_position"),
        )
        mods = mods.join(_signatures(mods, holders), on=["record_key", "_position"], how="left")
        mods = (
            mods.sort("_target", "rang", "_position")
            .unique(["_target", "_signature"], keep="first", maintain_order=True)
            .with_columns(pl.int_range(pl.len()).over("_target").alias("_new_position"))
        )
        if holders is not None:
            moved = mods.select(
                "record_key",
                pl.col("_position").cast(pl.String).alias("modification_position"),
                "_target",
                "_new_position",
            )
            renamed = {"record_key": "_target", "modification_position": "_new_position"}
            out[holders_name] = holders.join(moved, on=["record_key", "modification_position"], how="inner").select(
                _in_order(holders.columns, renamed)
            )
        out[name] = mods.select(_in_order(tables[name].columns, {"record_key": "_target", "position": "_new_position"}))
    return out


def _in_order(columns: list[str], renamed: dict[str, str]) -> list[pl.Expr]:
    """The table's columns in their order, some taken from the computed ones (as text)."""
    return [pl.col(renamed[c]).cast(pl.String).alias(c) if c in renamed else pl.col(c) for c in columns]


def _signatures(mods: pl.DataFrame, holders: pl.DataFrame | None) -> pl.DataFrame:
    """What makes two modifications the same: every published value, and the titulaires they name."""
    technical = ("record_key", "position", "retenu_record_key", "rang")  # and source_*: where each copy has it
    content = [c for c in mods.columns if c not in technical and not c.startswith(("_", "source_"))]
    signature = pl.concat_str([pl.col(c).cast(pl.String).fill_null(_NULL) for c in content], separator="\x1f")
    frame = mods.select("record_key", "_position", signature.alias("_signature"))
    if holders is None or holders.height == 0:
        return frame
    named = (
        holders.with_columns(
            pl.concat_str(
                [pl.col(c).fill_null(_NULL) for c in ("typeIdentifiant", "id", "denominationSociale")], separator="\x1f"
            ).alias("_holder"),
            pl.col("modification_position").cast(pl.Int64).alias("_position"),
        )
        .group_by("record_key", "_position")
        .agg(pl.col("_holder").sort().str.join("\x1e").alias("_holders"))
    )
    return frame.join(named, on=["record_key", "_position"], how="left").select(
        "record_key", "_position", pl.concat_str("_signature", pl.col("_holders").fill_null("")).alias("_signature")
    )


def ordered(mods: pl.DataFrame, date: str) -> pl.DataFrame:
    """Modifications in the order they took effect: by notification date, then by number, then as listed."""
    return mods.sort(
        "record_key",
        pl.col(date),
        pl.col("id").cast(pl.Int64, strict=False),
        pl.col("position").cast(pl.Int64),
        nulls_last=False,
    )


def current_state(root: str, main: pl.DataFrame, tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """``main`` with nombreModifications, the current amount (or value), duration and titulaires.

    Each is the value fixed by the last modification that fixes one, else the initial value.
    ``tables`` holds the contracts' modifications (and, for marchés, their titulaires and the
    initial titulaires). The column ``constats`` is left as it is.
    """
    name, holders_name, date = MODIFICATIONS[root]
    amount, current = ("montant", "montantActuel") if root == "marches" else ("valeurGlobale", "valeurGlobaleActuelle")
    mods = ordered(tables[name], date).with_columns(pl.int_range(pl.len()).over("record_key").alias("_rank"))
    latest = mods.group_by("record_key", maintain_order=True).agg(
        pl.len().alias("_count"),
        pl.col(amount).drop_nulls().last().alias("_amount"),
        pl.col("dureeMois").drop_nulls().last().alias("_duration"),
    )
    frame = main.drop("nombreModifications", current, "dureeMoisActuelle", strict=False)
    frame = frame.join(latest, on="record_key", how="left", maintain_order="left").with_columns(
        pl.col("_count").fill_null(0).cast(pl.String).alias("nombreModifications"),
        pl.coalesce("_amount", amount).alias(current),
        pl.coalesce("_duration", "dureeMois").alias("dureeMoisActuelle"),
    )
    frame = frame.drop("_count", "_amount", "_duration")
    if holders_name is None:
        return frame
    initial = (
        tables["marches_titulaires"]
        .sort("record_key", pl.col("position").cast(pl.Int64))
        .group_by("record_key", maintain_order=True)
        .agg(pl.col("id").alias("_initial"))
    )
    named = tables[holders_name].join(
        mods.select("record_key", pl.col("position").alias("modification_position"), "_rank"),
        on=["record_key", "modification_position"],
        how="inner",
    )
    last = named.group_by("record_key").agg(pl.col("_rank").max().alias("_last"))
    latest_holders = (
        named.join(last, on="record_key")
        .filter(pl.col("_rank") == pl.col("_last"))
        .sort("record_key", pl.col("position").cast(pl.Int64))
        .group_by("record_key", maintain_order=True)
        .agg(pl.col("id").alias("_changed"))
    )
    frame = frame.drop("titulairesActuels", strict=False)
    frame = frame.join(initial, on="record_key", how="left", maintain_order="left").join(
        latest_holders, on="record_key", how="left", maintain_order="left"
    )
    return (
        frame.with_columns(pl.coalesce("_changed", "_initial").alias("_holders"))
        .with_columns(
            pl.when(pl.col("_holders").is_not_null())
            .then(pl.col("_holders").map_batches(json_lists, return_dtype=pl.String))
            .alias("titulairesActuels")
        )
        .drop("_initial", "_changed", "_holders")
    )


REBUILT_AT_ONCE = 20_000  # copies typed and rebuilt together: their rows, as Python values, stay in memory


def reconstructed(tables: dict[str, pl.DataFrame], copies: pl.DataFrame) -> Iterator[list[dict]]:
    """Rows of ``doublons`` for copies that were retained in a package and are set aside now, in lists of
    at most ``REBUILT_AT_ONCE``.

    Each copy is rebuilt from the package's ``tables`` in the 2022 JSON shape, with only the
    modifications it published itself (not those merged into it from other copies). ``copies``:
    record_key, kind, uid, retenu_record_key; the rows come in their order. The tables are typed
    ``REBUILT_AT_ONCE`` copies at a time (a national publication sets aside hundreds of thousands of
    them; typing them one by one took 35 ms each), then their rows dealt out by record_key.
    """
    for start in range(0, copies.height, REBUILT_AT_ONCE):
        yield _rebuilt(tables, copies.slice(start, REBUILT_AT_ONCE))


def _rebuilt(tables: dict[str, pl.DataFrame], copies: pl.DataFrame) -> list[dict]:
    models = load_tables()
    keys = copies["record_key"].implode()
    kinds = set(copies["kind"].to_list())
    names = (MARCHE_TABLES if "marche" in kinds else ()) + (CONCESSION_TABLES if "concession" in kinds else ())
    own: dict[str, dict[str, list[dict]]] = {}  # table -> record_key -> the copy's rows, typed
    positions: pl.DataFrame | None = None  # (record_key, modification_position) of each copy's own modifications
    for name in names:
        frame = tables[name].filter(pl.col("record_key").is_in(keys))
        if PROVENANCE in frame.columns:
            frame = frame.filter(pl.coalesce(PROVENANCE, "record_key") == pl.col("record_key"))
            positions = frame.select("record_key", pl.col("position").alias("modification_position"))
        elif "modification_position" in frame.columns:
            frame = frame.join(positions, on=["record_key", "modification_position"], how="semi", maintain_order="left")
        typed, _ = typed_frame(frame, models[name])
        typed = typed.drop([f["name"] for f in models[name].fields if "x-computed" in f])
        by_key: dict[str, list[dict]] = {}
        for r in typed.to_dicts():
            by_key.setdefault(r["record_key"], []).append(
                {k: v for k, v in r.items() if not (isinstance(v, float) and v != v)}
            )
        own[name] = by_key
    out = []
    for row in copies.iter_rows(named=True):
        key = row["record_key"]
        kind_tables = MARCHE_TABLES if row["kind"] == "marche" else CONCESSION_TABLES
        rows = {name: own[name].get(key, []) for name in kind_tables}
        record = (unflatten.marche if row["kind"] == "marche" else unflatten.concession)(rows)
        out.append(
            {
                "record_key": key,
                "uid": row["uid"],
                "retenu_record_key": row["retenu_record_key"],
                "publie": json.dumps(record, ensure_ascii=False, default=str),
                "format_publie": "json-reconstitué",
            }
        )
    return out


RANKING = (  # copies of one uid, the one to retain first (the package's documented order)
    (pl.col("datePublicationDonnees").fill_null("0000-00-00"), True),
    (pl.col("completude").cast(pl.Int64, strict=False).fill_null(0), True),
    (pl.col("nombreModifications").cast(pl.Int64, strict=False).fill_null(0), True),
)


def across_packages(retained: list[pl.DataFrame]) -> pl.DataFrame:
    """The contracts retained in several packages: which copy to keep, which to set aside.

    ``retained``: each package's ``enregistrements`` rows that were retained (as text). Ranked
    as within a package (latest publication, most complete, most modifications), then by the
    order of the packages and the reading order. Returns one row per copy set aside:
    ``paquet`` (index), record_key, kind, uid, retenu_record_key, rang. A copy with the same key
    as the retained one (the same source file in two packages) is not set aside: it is the same.
    """
    frames = [
        frame.filter(pl.col("uid").is_not_null()).select(
            pl.lit(i).alias("paquet"),
            "record_key",
            "kind",
            "uid",
            "datePublicationDonnees",
            "completude",
            "nombreModifications",
            pl.col("ordre").cast(pl.Int64, strict=False).alias("ordre"),
        )
        for i, frame in enumerate(retained)
    ]
    frame = pl.concat(frames)
    ranked = frame.sort(
        [expr for expr, _ in RANKING] + [pl.col("paquet"), pl.col("ordre")],
        descending=[desc for _, desc in RANKING] + [False, False],
    ).with_columns(pl.int_range(pl.len()).over("uid").alias("rang"))
    winners = ranked.filter(pl.col("rang") == 0).select("uid", pl.col("record_key").alias("retenu_record_key"))
    return (
        ranked.join(winners, on="uid")
        .filter((pl.col("rang") > 0) & (pl.col("record_key") != pl.col("retenu_record_key")))
        .select("paquet", "record_key", "kind", "uid", "retenu_record_key", "rang")
    )
