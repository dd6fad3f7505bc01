"""Findings: their dictionary form, written out by the JSON and CSV reports."""

from __future__ import annotations

import dataclasses

from marches.findings import Finding


def test_to_dict_holds_every_field_in_declared_order():
    """``to_dict`` is written out for speed: a field added to Finding must be added there too."""
    finding = Finding(**{f.name: f"{f.name}-value" for f in dataclasses.fields(Finding)})
    assert list(finding.to_dict().items()) == list(dataclasses.asdict(finding).items())
