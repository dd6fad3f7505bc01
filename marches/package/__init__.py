"""``marches package``: DECP files -> a Frictionless data package, lossless, deduplicated, updatable.

Every record read ends up in the package, in exactly one state (table ``enregistrements``):

* ``conforme`` / ``signalé``: in the main tables (``signalé`` lists its rule codes in ``constats``);
* ``quarantaine``: its values break the Table Schemas; kept exactly as published, with the codes
  and messages of its findings (table ``quarantaine``); ``--drop-invalid`` makes it ``supprimé``;
* ``doublon``: another copy of the same contract (same ``uid``) was retained; its content is kept
  in the table ``doublons``.

Copies of one contract are ranked by: latest ``datePublicationDonnees``, then most complete, then
most modifications, then first read; the first is retained. The package is built in a staging
directory and swapped in atomically; ``--update`` adds new files only (a file already in the
package, by SHA-256, changes nothing) without reading the old input files again.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from marches.atomic import recover, replace_directory
from marches.cpv import Nomenclature
from marches.errors import OutputError
from marches.package.common import STATUTS, PackageSummary
from marches.package.state import _decide, _Previous, _read_inputs, _validate
from marches.package.write import _write
from marches.readers.base import Source
from marches.rules import Config

__all__ = ["FAULT_POINT", "STATUTS", "PackageSummary", "package"]

FAULT_POINT = "MARCHES_FAULT_POINT"  # tests: die at this point, as a crash or a kill would


def _fault(point: str) -> None:
    if os.environ.get(FAULT_POINT) == point:
        os.kill(os.getpid(), 9)


def package(
    paths: Iterable[Path],
    target: Path,
    *,
    update: bool = False,
    drop_invalid: bool = False,
    parquet: bool = False,
    config: Config | None = None,
    cpv: Nomenclature | None = None,
    title: str | None = None,
    progress: Callable[[Source], None] | None = None,
) -> PackageSummary:
    """Build (or, with ``update``, extend) the data package in ``target`` from ``paths``."""
    target = Path(target)
    recover(target)
    _remove_abandoned_staging(target)
    config = config or Config()
    summary = PackageSummary(target)
    previous = _Previous.load(target) if update and (target / "datapackage.json").is_file() else None
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        (staging / "work").mkdir(parents=True)
    except OSError as exc:
        raise OutputError(f"Impossible d'écrire dans {target.parent} : {exc.strerror}") from exc
    try:
        new = _read_inputs(paths, staging / "work", previous, summary, progress)
        if previous is not None and not new.sources:
            summary.changed = False
            summary.counts = previous.counts()
            summary.records = previous.records.height
            shutil.rmtree(staging, ignore_errors=True)
            return summary
        findings = _validate(new, config, cpv)
        _fault("validated")
        records = _decide(new, findings, previous, drop_invalid)
        _write(staging, new, findings, records, previous, drop_invalid, parquet, title or target.name, config, cpv)
        _fault("written")
        shutil.rmtree(staging / "work")
        replace_directory(staging, target, before_cleanup=lambda: _fault("swapped"))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    counts = records.group_by("statut").len()
    summary.counts = dict(zip(counts["statut"].to_list(), counts["len"].to_list(), strict=True))
    summary.records = records.height
    return summary


def _remove_abandoned_staging(target: Path) -> None:
    """Staging directories of runs that died (killed, power cut): their process is gone."""
    for path in target.parent.glob(f".{target.name}.tmp-*"):
        try:
            pid = int(path.name.rsplit("-", 1)[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (ValueError, PermissionError):
            continue
