"""``marches package``: DECP files -> a Frictionless data package, lossless, deduplicated, updatable.

Every record read ends up in the package, in exactly one state (table ``enregistrements``):

* ``conforme`` / ``signalé``: in the main tables (``signalé`` lists its rule codes in ``constats``);
* ``quarantaine``: its values break the Table Schemas; kept exactly as published, with the codes
  and messages of its findings (table ``quarantaine``); ``--drop-invalid`` makes it ``supprimé``;
* ``doublon``: another copy of the same contract (same ``uid``) was retained; its content is kept
  in the table ``doublons``.

Copies of one contract are ranked by: latest ``datePublicationDonnees``, then most complete, then
most modifications, then first read; the first is retained, and takes the modifications that
only the other copies published. The package is built in a staging directory and swapped in
atomically, one writer at a time (``marches.atomic``); ``--update`` adds new files only (a file
already in the package, by SHA-256, changes nothing) without reading the old input files again,
after checking the package's tables against the SHA-256 its descriptor records.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from marches.atomic import FAULT_POINT, Lock, fault, remove_leftovers, replace_directory, staging_path
from marches.cpv import Nomenclature
from marches.errors import InputError, OutputError, display_path, os_problem
from marches.package.common import STATUTS, PackageSummary
from marches.package.state import _decide, _Previous, _read_inputs, _validate
from marches.package.write import _write
from marches.readers.base import Source
from marches.rules import Config
from marches.sirene import Sirene

__all__ = ["FAULT_POINT", "STATUTS", "PackageSummary", "package"]


def package(
    paths: Iterable[Path],
    target: Path,
    *,
    update: bool = False,
    drop_invalid: bool = False,
    parquet: bool = False,
    skip_unreadable: bool = False,
    config: Config | None = None,
    cpv: Nomenclature | None = None,
    sirene: Sirene | None = None,
    title: str | None = None,
    progress: Callable[[Source], None] | None = None,
    on_wait: Callable[[int | None], None] | None = None,
    workers: int = 0,
) -> PackageSummary:
    """Build (or, with ``update``, extend) the data package in ``target`` from ``paths``.

    One writer at a time: a second run on the same target waits for the first (``on_wait`` is
    told), then works on its result. With ``skip_unreadable``, a file that cannot be read is
    left out and listed with its error in the package metadata instead of stopping everything.
    With ``workers`` > 1, the records of large files are flattened in that many worker processes;
    the package is the same, byte for byte.
    """
    target = Path(os.path.abspath(target))
    config = config or Config()
    summary = PackageSummary(target)
    with Lock(target, on_wait=on_wait):
        remove_leftovers(target)
        previous = _Previous.load(target) if update and (target / "datapackage.json").is_file() else None
        staging = staging_path(target)
        try:
            (staging / "work").mkdir(parents=True)
        except OSError as exc:
            raise OutputError(f"Impossible d'écrire dans {display_path(target.parent)} : {os_problem(exc)}") from exc
        try:
            new = _read_inputs(paths, staging / "work", previous, summary, progress, skip_unreadable, workers)
            if not new.sources and (previous is not None or summary.sources_unreadable):
                if previous is None:  # nothing could be read at all
                    raise InputError(
                        display_path(target),
                        "aucun fichier lisible : rien à empaqueter",
                        hint="; ".join(f"{path} : {error}" for path, error in summary.sources_unreadable),
                    )
                summary.changed = False
                summary.counts = previous.counts()
                summary.records = previous.records.height
                shutil.rmtree(staging, ignore_errors=True)
                return summary
            new.settle()
            findings = _validate(new, config, cpv, sirene)
            fault("validated")
            records = _decide(new, findings, previous, drop_invalid)
            _write(
                staging,
                new,
                findings,
                records,
                previous,
                drop_invalid,
                parquet,
                title or display_path(target.name),
                config,
                cpv,
                summary.sources_unreadable,
            )
            fault("written")
            shutil.rmtree(staging / "work")
            replace_directory(staging, target, before_cleanup=lambda: fault("swapped"))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    counts = records.group_by("statut").len()
    summary.counts = dict(zip(counts["statut"].to_list(), counts["len"].to_list(), strict=True))
    summary.records = records.height
    return summary
