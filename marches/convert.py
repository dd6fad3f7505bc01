"""Read DECP files and write the tables of the model: the orchestration behind ``marches convert``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from marches.findings import Finding
from marches.flatten import flatten
from marches.readers import Input, open_input
from marches.readers.base import Source
from marches.tables import TableWriter

MAX_EXAMPLES = 10


@dataclass
class ConversionSummary:
    sources: list[Source] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    records: Counter = field(default_factory=Counter)  # by kind
    generations: Counter = field(default_factory=Counter)
    findings: Counter = field(default_factory=Counter)  # by code
    examples: list[Finding] = field(default_factory=list)  # the first findings met, to show
    rows: dict[str, int] = field(default_factory=dict)


def open_inputs(paths: Iterable[Path | str]) -> Iterator[tuple[Input | None, str, str | None]]:
    """Each path opened once; the same content given twice is skipped (it would duplicate record keys)."""
    seen: dict[str, str] = {}
    for path in paths:
        opened = open_input(path)
        first = seen.get(opened.source.sha256)
        if first is not None:
            yield None, str(path), f"contenu identique à {first} : ignoré"
            continue
        seen[opened.source.sha256] = str(path)
        yield opened, str(path), None


def convert(paths: list[Path], out: Path, progress: Callable[[Source], None] | None = None) -> ConversionSummary:
    """Convert ``paths`` into the CSV tables of the model in ``out``. All or nothing."""
    summary = ConversionSummary()
    writer = TableWriter(out)
    try:
        for opened, path, skipped in open_inputs(paths):
            if opened is None:
                summary.skipped.append((path, skipped or ""))
                continue
            summary.sources.append(opened.source)
            for raw in opened.records:
                record = flatten(raw)
                for table, rows in record.rows.items():
                    writer.write(table, rows)
                summary.records[record.kind] += 1
                summary.generations[record.generation] += 1
                summary.findings.update(f.code for f in record.findings)
                if len(summary.examples) < MAX_EXAMPLES:
                    summary.examples.extend(record.findings[: MAX_EXAMPLES - len(summary.examples)])
                if progress:
                    progress(opened.source)
            summary.findings.update(f.code for f in opened.source.findings)
            summary.examples[:0] = opened.source.findings
            if progress:
                progress(opened.source)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    summary.rows = dict(writer.counts)
    return summary


__all__ = ["ConversionSummary", "convert", "open_inputs"]
