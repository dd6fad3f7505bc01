"""Reading pauses Python's cyclic garbage collector.

Reading and flattening build millions of small dicts and lists that never form reference cycles
(reference counting frees them); with the collector on, every full collection walks all of them
again, which more than doubles the time of reading a batch. The collector is paused while
records are read and run once between batches, when few objects are alive.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """The cyclic collector off for the block, then back as it was.

    What is alive when the block starts (modules, classes, configuration: tens of thousands of
    objects) is frozen out of the collections run within it (``gc.freeze``): each then walks only
    what the block built."""
    was_enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def between_batches() -> None:
    """Collect what cycles the batch left (exceptions, library objects) while little is alive."""
    gc.collect()


def paused_for_life() -> None:
    """Initializer of a worker process, whose whole life is flattening batches: the collector paused
    (as by ``paused``) until the process ends; the worker runs ``between_batches`` itself.

    Not ``paused().__enter__()``: the context manager, dropped at once, closes its generator, whose
    ``finally`` turns the collector back on (the workers ran with it on, parsing 3 to 5 times slower)."""
    gc.disable()
    gc.freeze()


def state() -> tuple[bool, int]:
    """Whether the collector is on, and how many objects are frozen out of its collections."""
    return gc.isenabled(), gc.get_freeze_count()
