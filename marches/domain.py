"""Facts of the DECP domain shared by the generator and the rules."""

from __future__ import annotations

# CPV ranges where the shares of EU and French origin apply (decree 2022-767; decp.md §4)
ORIGIN_RANGES: tuple[tuple[int, int], ...] = (
    (15100000, 15982200),
    (34100000, 34144910),
    (34510000, 34522700),
    (34600000, 34622500),
    (34710000, 34722200),
    (33100000, 33198200),
    (33600000, 33698300),
    (18100000, 18453000),
    (18800000, 18843000),
)


def origin_applies(code: str) -> bool:
    number = int(code[:8])
    return any(low <= number <= high for low, high in ORIGIN_RANGES)
