from __future__ import annotations

import contextlib
import os
import shutil
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(database: Path, *options: str):
    """``marches serve`` on a free port for the duration of the block; yields the site's URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "marches.cli", "serve", str(database), "--port", str(port), *options],
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


# -- a real browser (Debian chromium driven by Playwright), for the site's tests --------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def captures(tmp_path_factory) -> Path:
    directory = Path(os.environ.get("MARCHES_CAPTURES") or tmp_path_factory.getbasetemp() / "captures")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def shipped(monkeypatch) -> list[str]:
    """The kind of every shipment sent to the worker processes (``Shipment``, ``UnparsedShipment``), in order."""
    from marches import parallel

    kinds: list[str] = []
    original = parallel.shipments

    def spy(*args, **kwargs):
        for shipment in original(*args, **kwargs):
            kinds.append(type(shipment).__name__)
            yield shipment

    monkeypatch.setattr(parallel, "shipments", spy)
    return kinds
