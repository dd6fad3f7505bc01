"""Worker processes for the batches of a large file: records shipped cheaply, results in batch order.

``validate`` and ``package`` read a file in one process (reading is sequential) and hand its
batches of records to worker processes, which flatten and check them. Results come back in the
order the batches were read, so every output is the one a single process writes, byte for byte.
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import operator
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from marches.readers.base import RawRecord, Source, UnparsedRecords

PARALLEL_FROM = 16 << 20  # bytes: below this size, starting worker processes costs more than it saves


def cores() -> int:
    """The processors this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def batches(records: Iterator[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    """The records, ``size`` at a time."""
    while batch := list(itertools.islice(records, size)):
        yield batch


MAX_DEFAULT_WORKERS = 4  # each worker holds a batch (about 0.5 GB for 50 000 contracts validated)


def default_workers() -> int:
    """Worker processes when none are asked for: one per core this process may use, at most
    ``MAX_DEFAULT_WORKERS``; none (0) on a single core."""
    count = min(cores(), MAX_DEFAULT_WORKERS)
    return count if count > 1 else 0


def pool(workers: int, initializer: Callable[..., None], initargs: tuple = ()) -> ProcessPoolExecutor:
    """``workers`` processes started by ``spawn`` (polars' threads do not survive a fork), each ending by
    itself if this process is gone (``_start_worker``)."""
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(), initializer, initargs),
    )


PARENT_CHECK_SECONDS = 0.5  # how often a worker checks that the process that started it is still there


def _start_worker(parent: int, initializer: Callable[..., None], initargs: tuple) -> None:
    """A worker's start: ``initializer(*initargs)``, and a thread that ends the worker once ``parent`` is
    gone. A process stopped by a signal (a CI job's timeout sends SIGTERM, then SIGKILL) runs no clean-up:
    without this, its workers ran on, orphaned, each holding a batch's memory, until killed by hand."""
    threading.Thread(target=_end_with, args=(parent,), name="marches-parent-watch", daemon=True).start()
    initializer(*initargs)


def _end_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


@dataclass
class Workers:
    """``count`` worker processes for the batches of large files (none when ``count`` < 2), started by
    ``spawn`` at the first batch they get (each runs ``initializer(*initargs)`` once), stopped by ``close``.

    ``validate`` and ``package`` read a file here and hand its batches to ``map``: the results come back
    in the batches' order, so the output is the one of a single process."""

    count: int
    initializer: Callable[..., None]
    initargs: tuple = ()
    _executor: ProcessPoolExecutor | None = field(default=None, repr=False)

    def wanted(self, source: Source) -> bool:
        """Whether the records of ``source`` go to the workers: a JSON or XML file of ``PARALLEL_FROM``
        bytes or more, when there are workers."""
        return self.count > 1 and source.size >= PARALLEL_FROM and source.shape != "csv"

    def map(self, function: Callable, jobs: Iterable[tuple], ahead: int | None = None) -> Iterator[Any]:
        """``function(*job)`` for every job, in the workers, the results in the jobs' order, at most
        ``ahead`` (one per worker by default) + 1 jobs in flight (``in_order``)."""
        if self._executor is None:
            self._executor = pool(self.count, self.initializer, self.initargs)
        return in_order(self._executor, function, jobs, ahead=ahead or self.count)

    def close(self) -> None:
        """Stop the workers (the jobs not started are cancelled); ``map`` starts new ones."""
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None


def in_order(executor: ProcessPoolExecutor, function: Callable, jobs: Iterable[tuple], ahead: int) -> Iterator[Any]:
    """``function(*job)`` for every job, run by ``executor``, the results yielded in the jobs' order.

    At most ``ahead`` + 1 jobs are in flight: memory stays bounded whatever the number of jobs.
    When the caller stops early (an error while reading), the jobs still in flight are cancelled."""
    pending: deque = deque()
    try:
        for job in jobs:
            pending.append(executor.submit(function, *job))
            while len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


PIECE = 2_000  # records whose parsed values are held at once while a shipment is packed

# what a shipment carries of each record besides its parsed values and its source, in RawRecord's order
_LOCATION = tuple(f.name for f in dataclasses.fields(RawRecord) if f.name not in ("data", "source"))
_location = operator.attrgetter(*_LOCATION)


@dataclass(slots=True)
class Shipment:
    """A batch of raw records on its way to a worker process: their source once, their other fields as
    plain tuples (a slotted dataclass pickles field by field, in Python), their parsed values as
    orjson documents of ``PIECE`` records each (pickling nested dicts costs several times what orjson
    does, both ways, and the reading process never holds more than a piece of parsed values).
    A piece orjson cannot say exactly is pickled as it is: an integer beyond 64 bits (orjson refuses
    it), an infinite float (orjson would write null; only ijson's pure-Python backend, used past such
    an integer, can read one; yajl and the XML reader cannot)."""

    source: Source | None = None
    locations: list[tuple] = field(default_factory=list)
    pieces: list[bytes | list] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.locations)

    @classmethod
    def of(cls, raws: Iterable[RawRecord], keep_text: bool = False) -> Shipment:
        """The records with a plain copy of their source (what flattening needs: path, name, hash);
        the XML fragment as published (``text``) only with ``keep_text`` (packaging keeps it)."""
        shipment, exact = cls(), True
        raws = iter(raws)
        while piece := list(itertools.islice(raws, PIECE)):
            if shipment.source is None:
                source = piece[0].source
                exact = not getattr(source.scan, "python_numbers", False)
                shipment.source = Source(source.path, source.name, source.sha256, source.size, shape=source.shape)
            values = [raw.data for raw in piece]
            try:
                shipment.pieces.append(orjson.dumps(values) if exact else values)
            except TypeError:
                shipment.pieces.append(values)
            if not keep_text:
                for raw in piece:
                    raw.text = None
            shipment.locations.extend(map(_location, piece))
        return shipment

    def unpack(self) -> list[RawRecord]:
        """The records, each with its parsed values back."""
        values = itertools.chain.from_iterable(
            orjson.loads(piece) if isinstance(piece, bytes) else piece for piece in self.pieces
        )
        source = self.source
        return [
            RawRecord(location[0], value, source, *location[1:])
            for location, value in zip(self.locations, values, strict=True)
        ]


@dataclass(slots=True)
class UnparsedShipment:
    """Records a reader handed unparsed, on their way to a worker process: ``take`` of them from the
    ``skip``-th (a batch may end among them)."""

    records: UnparsedRecords
    skip: int
    take: int

    def __len__(self) -> int:
        return self.take

    def unpack(self) -> list[RawRecord]:
        """The records, parsed."""
        return self.records.records(self.skip, self.take)


def shipments(
    records: Iterator[RawRecord | UnparsedRecords], size: int, keep_text: bool = False, batch: int = 0
) -> Iterator[Shipment | UnparsedShipment]:
    """The records packed for the worker processes, ``size`` at a time at most: those parsed, and those a
    reader handed unparsed (as they came, cut where needed); with ``batch``, no shipment holds records of
    two batches of ``batch`` records (the ``batch`` first records, the ``batch`` next…), so that whole
    shipments make up each batch."""
    stream = _Ahead(records)
    shipped = 0
    while stream.head is not None:
        room = batch - shipped % batch if batch else None
        if stream.head.__class__ is UnparsedRecords:
            unparsed, skip = stream.head, stream.skip
            take = min(unparsed.count - skip, room or size, size)
            stream.advance(take)
            shipment = UnparsedShipment(unparsed, skip, take)
        else:
            shipment = Shipment.of(stream.parsed(min(size, room or size)), keep_text)
        shipped += len(shipment)
        yield shipment


class _Ahead:
    """Records read one item ahead: the next one (``head``), or the next unparsed ones and how many of
    them were already taken (``skip``)."""

    def __init__(self, records: Iterator[RawRecord | UnparsedRecords]):
        self.records = records
        self.head: RawRecord | UnparsedRecords | None = next(records, None)
        self.skip = 0

    def advance(self, taken: int = 1) -> None:
        """Past ``taken`` records of the head."""
        self.skip += taken
        if self.head.__class__ is not UnparsedRecords or self.skip == self.head.count:
            self.head, self.skip = next(self.records, None), 0

    def parsed(self, most: int) -> Iterator[RawRecord]:
        """The parsed records ahead, ``most`` at most, up to the next unparsed ones."""
        for _ in range(most):
            head = self.head
            if head is None or head.__class__ is UnparsedRecords:
                return
            self.advance()
            yield head
