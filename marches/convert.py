"""Read DECP files and write the tables of the model: the orchestration behind ``marches convert``."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from marches.atomic import Lock, fault, remove_leftovers, replace_directory, staging_path
from marches.errors import InputError, OutputError, display_path, os_problem
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


def open_inputs(
    paths: Iterable[Path | str], unreadable: list[tuple[str, str]] | None = None
) -> Iterator[tuple[Input | None, str, str | None]]:
    """Each path opened once; the same content given twice is skipped (it would duplicate record keys).

    Yields the name to show for each path (bytes of a name that are not UTF-8 shown as « \ufffd »,
    see :func:`marches.errors.display_path`): that name is the file's provenance in every table and
    report. With ``unreadable`` (a list), a file that cannot be opened is added to it as (name,
    error) and the others are still opened; without, the error is raised.
    """
    seen: dict[str, str] = {}
    for path in _expanded(paths):
        name = display_path(path)
        try:
            opened = _open(path, name)
        except InputError as exc:
            if unreadable is None:
                raise
            unreadable.append((name, exc.describe_problem()))
            continue
        first = seen.get(opened.source.sha256)
        if first is not None:
            yield None, name, f"contenu identique à {first} : ignoré"
            continue
        seen[opened.source.sha256] = name
        yield opened, name, None


PUBLISHED_SUFFIXES = (".json", ".xml")


def _expanded(paths: Iterable[Path | str]) -> Iterator[Path | str]:
    """The paths, a folder that holds no marches tables replaced by its JSON and XML files, sub-folders
    included (by path; hidden entries and the data packages' own ``datapackage.json`` left aside)."""
    for path in paths:
        folder = Path(path)
        if folder.is_dir() and not any(
            (folder / name).is_file() for name in ("marches.csv", "concessions.csv", "datapackage.json")
        ):
            files = sorted(
                (
                    p
                    for p in folder.rglob("*")
                    if p.suffix.lower() in PUBLISHED_SUFFIXES
                    and p.name != "datapackage.json"
                    and not any(part.startswith(".") for part in p.relative_to(folder).parts)
                    and p.is_file()
                ),
                key=lambda p: os.fsencode(str(p.relative_to(folder))),
            )
            if not files:
                raise InputError(
                    display_path(folder),
                    "dossier sans fichier à lire : ni fichiers .json ou .xml, ni tables CSV de marches "
                    "(marches.csv, concessions.csv)",
                    hint="Donnez les fichiers eux-mêmes, ou le dossier écrit par « marches convert »",
                )
            yield from files
        else:
            yield path


def _open(path: Path | str, name: str) -> Input:
    try:
        return open_input(path, name)
    except OSError as exc:  # a name too long, a loop of links...: the system refused to look
        raise InputError(name, os_problem(exc, with_file=False)) from exc


def convert(
    paths: list[Path],
    out: Path,
    progress: Callable[[Source], None] | None = None,
    on_wait: Callable[[int | None], None] | None = None,
) -> ConversionSummary:
    """Convert ``paths`` into the CSV tables of the model in ``out``. All or nothing.

    The tables are written in a new directory that takes the place of ``out`` in one step: a
    reader sees the previous tables or the new ones, never a mix, even if the process is killed.
    Files of ``out`` that are not marches tables are kept (hard links in the new directory).
    A second conversion into the same directory waits for the first (``on_wait`` is told).
    """
    out = Path(os.path.abspath(out))
    here = Path.cwd()
    if out == here or out in here.parents:
        raise OutputError(
            f"{display_path(out)} est le dossier courant ou le contient : les tables remplacent le dossier de "
            "sortie en entier ; choisissez un sous-dossier dédié, par exemple « -o tables »"
        )
    summary = ConversionSummary()
    with Lock(out, on_wait=on_wait):
        remove_leftovers(out)
        if out.exists() and not out.is_dir():
            raise OutputError(f"{display_path(out)} existe et n'est pas un dossier")
        staging = staging_path(out)
        writer = TableWriter(staging)
        try:
            _read_all(paths, writer, summary, progress)
            writer.commit()
            _keep_other_files(out, staging, writer.files())
            fault("converted")
            replace_directory(staging, out, before_cleanup=lambda: fault("swapped"))
        except BaseException:
            writer.abort()
            shutil.rmtree(staging, ignore_errors=True)
            raise
    summary.rows = dict(writer.counts)
    return summary


def _read_all(paths, writer: TableWriter, summary: ConversionSummary, progress) -> None:
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


def _keep_other_files(out: Path, staging: Path, ours: set[str]) -> None:
    """What the user keeps in the output directory besides the tables goes into the new one too."""
    if not out.is_dir():
        return
    for entry in out.iterdir():
        if entry.name in ours or entry.name.startswith(".marches-"):  # tables, and staging of older versions
            continue
        destination = staging / entry.name
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, destination, symlinks=True, copy_function=_link_or_copy)
        elif entry.is_symlink():
            os.symlink(os.readlink(entry), destination)
        else:
            _link_or_copy(entry, destination)


def _link_or_copy(source, destination) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


__all__ = ["ConversionSummary", "convert", "open_inputs"]
