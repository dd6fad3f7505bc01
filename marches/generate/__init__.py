"""``marches generate``: realistic synthetic DECP files at any scale, with optional known defects.

Contracts are generated and written one at a time, so memory stays bounded whatever the
number of contracts (only the populations of buyers and titulaires, and a small reservoir of
recent contracts to duplicate, are kept).
"""

from __future__ import annotations

import csv
import os
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from marches.errors import OutputError
from marches.generate.contracts import ContractFactory
from marches.generate.defects import candidates
from marches.generate.formats import FORMATS, to_2019, writer_for

__all__ = ["FORMATS", "GenerationSummary", "generate"]

PERIODS = {
    "json-2022": (date(2024, 1, 1), date(2026, 10, 1)),
    "xml-2022": (date(2024, 1, 1), date(2026, 10, 1)),
    "json-2019": (date(2019, 1, 1), date(2023, 10, 1)),
}
TRUTH_COLUMNS = ("position", "path", "kind", "uid", "id", "defect", "code", "table", "field", "value")
DUPLICATE_SHARE = 0.12  # of the defects: ~13 % of a 2020 national file were duplicates, the rest is other defects


@dataclass
class GenerationSummary:
    contracts: int = 0
    marches: int = 0
    concessions: int = 0
    defects: dict[str, int] = field(default_factory=dict)


def generate(
    out: Path,
    fmt: str = "json-2022",
    contracts: int = 1000,
    seed: int = 0,
    concession_share: float = 0.02,
    defect_rate: float = 0.0,
    truth: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> GenerationSummary:
    """Write ``contracts`` generated contracts to ``out`` in ``fmt``; a share carries one defect each."""
    if fmt not in FORMATS:
        raise ValueError(f"format inconnu : {fmt}")
    start, end = PERIODS[fmt]
    factory = ContractFactory(seed, contracts, start, end)
    rng = random.Random(seed + 1)  # defects have their own stream: the clean data does not depend on the rate
    names = {siret: name for siret, name in factory.buyers + factory.holders} if fmt == "json-2019" else {}
    n_concessions = round(contracts * concession_share)
    summary = GenerationSummary()
    recent = {"marche": deque(maxlen=500), "concession": deque(maxlen=500)}  # contracts that may be republished
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    truth_tmp = truth.with_name(f".{truth.name}.tmp-{os.getpid()}") if truth else None
    try:
        with tmp.open("wb") as fh, truth_tmp.open("w", newline="", encoding="utf-8") if truth_tmp else _Null() as tf:
            writer = writer_for(fmt, fh)
            truth_writer = csv.writer(tf, lineterminator="\n") if truth_tmp else None
            if truth_writer:
                truth_writer.writerow(TRUTH_COLUMNS)
            counters = {"marche": 0, "concession": 0}
            for position in range(contracts):
                kind = "marche" if position < contracts - n_concessions else "concession"
                injected = None
                if defect_rate and rng.random() < defect_rate:
                    if recent[kind] and rng.random() < DUPLICATE_SHARE:
                        record = recent[kind][rng.randrange(len(recent[kind]))]
                        table = "marches" if kind == "marche" else "concessions"
                        injected = ("duplicate", "duplicate-uid", table, "uid", None)
                    else:
                        record = factory.marche() if kind == "marche" else factory.concession()
                        options = candidates(kind, fmt)
                        result = rng.choice(options).apply(record, rng) if options else None
                        if result:
                            injected = (result.defect, result.code, result.table, result.field, result.value)
                else:
                    record = factory.marche() if kind == "marche" else factory.concession()
                if injected is None or injected[0] != "duplicate":
                    recent[kind].append(record)
                published = to_2019(record, kind, names) if fmt == "json-2019" else record
                writer.write(published, kind)
                if injected and truth_writer:
                    truth_writer.writerow(_truth_row(position, counters[kind], fmt, kind, record, injected))
                if injected:
                    summary.defects[injected[0]] = summary.defects.get(injected[0], 0) + 1
                counters[kind] += 1
                if progress and position % 1000 == 999:
                    progress(1000)
            writer.close()
        os.replace(tmp, out)
        if truth and truth_tmp:
            os.replace(truth_tmp, truth)
    except OSError as exc:
        raise OutputError(f"Impossible d'écrire {out} : {exc.strerror}") from exc
    finally:
        for path in (tmp, truth_tmp):
            if path is not None and path.exists():
                path.unlink()
    summary.contracts = contracts
    summary.marches, summary.concessions = counters["marche"], counters["concession"]
    return summary


def _truth_row(position: int, index: int, fmt: str, kind: str, record: dict, injected: tuple) -> list:
    defect, code, table, column, value = injected
    tag = "marche" if kind == "marche" else "contrat-concession"
    path = f"marches.{tag}[{index}]" if fmt in ("json-2022", "xml-2022") else f"marches[{position}]"
    buyer = (record.get("acheteur") or record.get("autoriteConcedante") or {}).get("id")
    uid = f"{buyer}{record.get('id')}" if buyer and record.get("id") else ""
    return [
        position,
        path,
        kind,
        uid,
        record.get("id", ""),
        defect,
        code,
        table,
        column,
        "" if value is None else str(value),
    ]


class _Null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
