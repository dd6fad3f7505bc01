"""The worker processes validate and package share."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the processes' states in /proc (Linux)")
def test_workers_end_when_the_process_that_started_them_is_killed(tmp_path):
    """A parent stopped by SIGKILL runs no clean-up: its workers still end by themselves."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, signal\n"
        "from marches import gcpause, parallel\n"
        "if __name__ == '__main__':\n"
        "    workers = parallel.Workers(2, gcpause.paused_for_life)\n"
        "    pids = set(workers.map(os.getpid, [()] * 8))\n"
        "    print(' '.join(map(str, sorted(pids))), flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    out, err = tmp_path / "out", tmp_path / "err"  # files, not pipes: orphaned workers would hold a pipe open
    with out.open("w") as stdout, err.open("w") as stderr:
        done = subprocess.run([sys.executable, str(script)], stdout=stdout, stderr=stderr, timeout=120)
    assert done.returncode == -9, err.read_text()
    pids = [int(p) for p in out.read_text().split()]
    assert pids

    def alive(pid: int) -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        return state != "Z"

    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    still = [pid for pid in pids if alive(pid)]
    for pid in still:
        os.kill(pid, 9)
    assert not still, "orphaned workers"
