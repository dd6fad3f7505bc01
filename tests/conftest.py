from __future__ import annotations

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
