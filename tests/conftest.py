from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = ROOT.parent / "shared" / "reference"
EXAMPLES = SHARED / "decp" / "examples"


def official_examples() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*/*/*") if p.suffix in (".json", ".xml")) if EXAMPLES.is_dir() else []


needs_shared = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="../shared/reference absent (official examples)")


def example_params():
    """Official examples as pytest params, or one skipped param when ../shared is absent."""
    found = official_examples()
    if not found:
        return [pytest.param(None, marks=pytest.mark.skip(reason="../shared/reference absent"), id="no-shared")]
    return [pytest.param(p, id=f"{p.parent.parent.name}/{p.name}") for p in found]


@contextlib.contextmanager
def served(database: Path):
    """``marches serve`` on a free port for the duration of the block; yields the site's URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "marches.cli", "serve", str(database), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # serve runs Datasette as a child: both are stopped together
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not start")
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
