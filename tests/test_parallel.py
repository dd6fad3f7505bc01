"""The worker processes validate and package share."""

from marches import gcpause, parallel


def test_workers_run_with_the_cyclic_collector_paused():
    """The initializer pauses the collector for the worker's whole life (it was turned back on at once
    when the initializer entered a context manager it then dropped)."""
    workers = parallel.Workers(2, gcpause.paused_for_life)
    try:
        states = list(workers.map(gcpause.state, [(), (), ()]))
    finally:
        workers.close()
    assert all(enabled is False and frozen > 0 for enabled, frozen in states), states
