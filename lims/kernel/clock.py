"""The one source of "now" for the whole system.

Every rule that depends on the time (dates on a certificate, "today" on a page, token expiry,
alarm ages) asks this module, so a test can run the system at 23:30 UTC or across a DST change
by setting the clock instead of waiting for the hour.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

_fixed: datetime | None = None


# Times further out are typing errors; staying away from the calendar's ends also keeps zone
# conversions and date arithmetic (an end date plus a day) from overflowing.
EARLIEST_YEAR, LATEST_YEAR = 1000, 9000
OUT_OF_CALENDAR = f"out of range: give a year between {EARLIEST_YEAR} and {LATEST_YEAR}"


def in_calendar(when: date) -> bool:
    return EARLIEST_YEAR <= when.year <= LATEST_YEAR


def utcnow() -> datetime:
    return _fixed if _fixed is not None else datetime.now(UTC)


@contextmanager
def frozen_at(moment: datetime) -> Iterator[None]:
    """Within the block, utcnow() returns `moment` (timezone-aware)."""
    global _fixed
    if moment.tzinfo is None:
        raise ValueError("frozen_at needs a timezone-aware datetime")
    previous, _fixed = _fixed, moment.astimezone(UTC)
    try:
        yield
    finally:
        _fixed = previous
