from __future__ import annotations

import os
import shutil
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
