"""English and Dutch pages; times shown in the lab's zone (Europe/Amsterdam by default).

The choice made with the language switch lives in the session; otherwise the browser's
Accept-Language decides.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request, session
from flask_babel import Babel
from flask_babel import gettext as _

from lims.kernel.clock import EARLIEST_YEAR, LATEST_YEAR, in_calendar, today_in
from lims.kernel.errors import InputError

LANGUAGES = {"en": "English", "nl": "Nederlands"}
# English pages format dates and numbers the British way: 24-hour clock, day before month.
_BABEL_LOCALES = {"en": "en_GB", "nl": "nl_NL"}


def chosen_language() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"


def select_locale() -> str:
    return _BABEL_LOCALES[chosen_language()]


def select_timezone() -> str:
    return current_app.config["RECYCLAB"].timezone


def init_app(app: Flask) -> None:
    app.config.setdefault(
        "BABEL_TRANSLATION_DIRECTORIES", str(Path(__file__).resolve().parent.parent / "translations")
    )
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)

    @app.context_processor
    def _languages() -> dict[str, object]:
        return {"languages": LANGUAGES, "current_lang": chosen_language()}


def lab_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["RECYCLAB"].timezone)


def lab_today() -> date:
    """Today on the pages: the lab's calendar day, from the system clock."""
    return today_in(lab_zone())


# Day first, as the pages show dates (en_GB 29/11/2026, nl_NL 29-11-2026); ISO 8601 as well.
_DAY_FIRST = ("%d/%m/%Y", "%d-%m-%Y")


def _parse_local(raw: str, with_time: bool) -> datetime | None:
    raw = " ".join(raw.split())
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        pass
    for day in _DAY_FIRST:
        for fmt in ((f"{day} %H:%M", f"{day} %H:%M:%S") if with_time else (day,)):
            try:
                return datetime.strptime(raw, fmt)
            except ValueError:
                continue
    return None


def _check_calendar(moment: datetime, field: str) -> None:
    if not in_calendar(moment):
        raise InputError(field, _("give a year between %(a)s and %(b)s", a=EARLIEST_YEAR, b=LATEST_YEAR))


def parse_local_datetime(raw: str, field: str) -> datetime:
    """A date and time typed in the lab's zone (29/11/2026 14:00, 29-11-2026 14:00 or
    2026-11-29T14:00), as UTC. InputError names the field."""
    local = _parse_local(raw, with_time=True)
    if local is None:
        raise InputError(field, _("give a date and time like 29/11/2026 14:00"))
    _check_calendar(local, field)
    if local.tzinfo is None:
        local = local.replace(tzinfo=lab_zone())
    return local.astimezone(UTC)


def parse_local_day(raw: str, field: str, *, end: bool = False) -> datetime:
    """The lab-zone midnight that starts a typed day, as UTC; with end=True the midnight after
    it, so a "to" day is included in a [from, to) search."""
    day = _parse_local(raw, with_time=False)
    if day is None or (day.hour, day.minute, day.second) != (0, 0, 0):
        raise InputError(field, _("give a date like 29/11/2026"))
    _check_calendar(day, field)
    if end:
        day += timedelta(days=1)
    return day.replace(tzinfo=lab_zone()).astimezone(UTC)


def local_input_value(ts: datetime) -> str:
    """The value a datetime-local input shows for a UTC time."""
    return ts.astimezone(lab_zone()).strftime("%Y-%m-%dT%H:%M")
