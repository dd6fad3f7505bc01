"""CPV codes: existence in the CPV 2008 nomenclature and check digit (by lookup: it cannot be computed)."""

from __future__ import annotations

import polars as pl

from marches.rules import rule

CPV_PATTERN = r"^[0-9]{8}(-[0-9])?$"
REASON = (
    "Le code CPV doit appartenir au vocabulaire commun pour les marchés publics (règlement CE 213/2008, "
    "9 454 codes). Son chiffre de contrôle ne se calcule pas simplement : il se vérifie dans la nomenclature."
)


def _lookup(frame: pl.DataFrame, ctx) -> pl.DataFrame:
    digits = ctx.cpv.check_digits if ctx.cpv is not None else {}
    labels = ctx.cpv.labels if ctx.cpv is not None else {}
    well_formed = pl.col("codeCPV").str.contains(CPV_PATTERN)
    code8 = pl.col("codeCPV").str.slice(0, 8)
    return frame.with_columns(
        well_formed.alias("_cpv_ok_pattern"),
        code8.alias("_cpv_code8"),
        pl.col("codeCPV").str.slice(9, 1).alias("_cpv_given"),
        code8.replace_strict(digits, default=None, return_dtype=pl.String).alias("_cpv_expected"),
        code8.replace_strict(labels, default="", return_dtype=pl.String).alias("_cpv_label"),
    )


EXAMPLE_CPV = {"45000000": "7", "77313000": "7", "72267000": "4"}  # what the examples' test nomenclature holds

rule(
    code="cpv-unknown",
    severity="error",
    table="marches",
    field="codeCPV",
    needs_cpv=True,
    title="Code CPV absent de la nomenclature",
    message="Code CPV « {value} » inconnu : il n'existe pas dans la nomenclature CPV 2008. "
    "Cherchez le bon code sur simap.ted.europa.eu (CPV).",
    reason=REASON,
    prepare=_lookup,
    ok=lambda c: ~pl.col("_cpv_ok_pattern") | pl.col("_cpv_expected").is_not_null(),
    valid=({"codeCPV": "45000000-7"}, {"codeCPV": "77313000"}, {"codeCPV": "9310000"}),
    invalid=({"codeCPV": "99999999"}, {"codeCPV": "45000001-2"}),
)
rule(
    code="cpv-check-digit",
    severity="error",
    table="marches",
    field="codeCPV",
    needs_cpv=True,
    title="Chiffre de contrôle du code CPV faux",
    message="Code CPV « {value} » : le chiffre de contrôle devrait être {_cpv_expected} "
    "({_cpv_code8}-{_cpv_expected}, « {_cpv_label} »).",
    reason=REASON,
    prepare=_lookup,
    ok=lambda c: (
        (pl.col("_cpv_given") == "")
        | pl.col("_cpv_expected").is_null()
        | (pl.col("_cpv_given") == pl.col("_cpv_expected"))
    ),
    valid=({"codeCPV": "45000000-7"}, {"codeCPV": "72267000"}),
    invalid=({"codeCPV": "45000000-1"}, {"codeCPV": "77313000-0"}),
)
