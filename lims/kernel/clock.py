"""The one source of "now" for the whole system.

Every rule that depends on the time (dates on a certificate, "today" on a page, token expiry,
alarm ages) asks this module, so a test can run the system at 23:30 UTC or across a DST change
by setting the clock instead of waiting for the hour.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from lims.kernel.errors import N_, InputError

_fixed: datetime | None = None
_offset = timedelta(0)


# Times further out are typing errors; staying away from the calendar's ends also keeps zone
# conversions and date arithmetic (an end date plus a day) from overflowing.
EARLIEST_YEAR, LATEST_YEAR = 1000, 9000
OUT_OF_CALENDAR = N_(
    "out of range: give a year between %(first)s and %(last)s", first=EARLIEST_YEAR, last=LATEST_YEAR
)


def in_calendar(when: date) -> bool:
    return EARLIEST_YEAR <= when.year <= LATEST_YEAR


def from_wall_clock(local: datetime, zone: tzinfo, field: str) -> datetime:
    """A time as the clocks in `zone` show it (no UTC offset: typed on a page, written by an
    instrument), as UTC; one with an offset as it says. In the hour the clocks go back such a
    time names two moments an hour apart, and in the hour they go forward none: InputError
    naming the field, rather than a guess an hour off."""
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    earlier, later = local.replace(tzinfo=zone, fold=0), local.replace(tzinfo=zone, fold=1)
    if earlier.utcoffset() == later.utcoffset():
        return earlier.astimezone(UTC)
    shown = f"{local:%Y-%m-%d %H:%M}"
    if earlier.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
        raise InputError(field, N_(
            "%(time)s does not exist in %(zone)s (the clocks go forward an hour there): check the time",
            time=shown, zone=str(zone)))
    raise InputError(field, N_(
        "%(time)s comes twice in %(zone)s (the clocks go back an hour there): give its UTC offset, "
        "%(first)s or %(second)s",
        time=shown, zone=str(zone), first=earlier.isoformat(timespec="minutes"),
        second=later.isoformat(timespec="minutes")))


def utcnow() -> datetime:
    return _fixed if _fixed is not None else datetime.now(UTC) + _offset


def today_in(zone: str | tzinfo) -> date:
    """The calendar day it is now in `zone` (a page's "today" is the lab's, not UTC's)."""
    return utcnow().astimezone(ZoneInfo(zone) if isinstance(zone, str) else zone).date()


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("the clock needs a timezone-aware datetime")
    return moment.astimezone(UTC)


@contextmanager
def frozen_at(moment: datetime) -> Iterator[None]:
    """Within the block, utcnow() returns `moment` (timezone-aware)."""
    global _fixed
    previous, _fixed = _fixed, _aware(moment)
    try:
        yield
    finally:
        _fixed = previous


@contextmanager
def running_from(moment: datetime) -> Iterator[None]:
    """Within the block the clock starts at `moment` and runs at the real pace, so timeouts
    and ages measured with it still work (a whole test run set to 23:30 UTC)."""
    global _offset
    previous, _offset = _offset, _aware(moment) - datetime.now(UTC)
    try:
        yield
    finally:
        _offset = previous
