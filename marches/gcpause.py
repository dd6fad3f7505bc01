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
    """The cyclic collector off for the block, then back as it was (and one collection)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def between_batches() -> None:
    """Collect what cycles the batch left (exceptions, library objects) while little is alive."""
    gc.collect()
