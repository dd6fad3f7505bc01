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


class _Elements:
    """A chunk whose elements are given (what ``json_segment.RawChunk`` parses)."""

    def __init__(self, values: list):
        self.values = values

    def elements(self) -> list:
        return list(self.values)


def test_shipments_keep_the_reading_order_and_never_straddle_a_batch():
    """Records parsed and records handed unparsed, mixed: shipped in order, ``size`` at a time at most
    (parsed or not), no shipment holding records of two batches; a chunk a batch ends in goes in two."""
    from pathlib import Path

    from marches.readers.base import RawRecord, Source, UnparsedRecords

    source = Source(path=Path("x.json"), name="x.json", sha256="0" * 64, size=1)
    stream, position = [], 0
    for kind, count in [
        ("parsed", 7),
        ("unparsed", 12),
        ("unparsed", 3),
        ("parsed", 1),
        ("unparsed", 25),
        ("parsed", 9),
    ]:
        if kind == "parsed":
            for i in range(count):
                stream.append(
                    RawRecord("marche", {"n": position + i}, source, position + i, f"m[{position + i}]", "json")
                )
        else:
            chunk = _Elements([{"n": position + i} for i in range(count)])
            stream.append(UnparsedRecords("marche", source, position, "m", position, count, "2022", chunk))
        position += count
    shipments = list(parallel.shipments(iter(stream), 4, batch=10))
    records = [r for s in shipments for r in s.unpack()]
    assert [(r.position, r.data["n"], r.path) for r in records] == [(i, i, f"m[{i}]") for i in range(position)]
    assert {type(s).__name__ for s in shipments} == {"Shipment", "UnparsedShipment"}
    start = 0
    for shipment in shipments:
        size = len(shipment)
        assert size > 0 and start // 10 == (start + size - 1) // 10, (start, size)
        assert size <= 4, "parsed or not, a shipment holds size records at most"
        start += size
    assert start == position
