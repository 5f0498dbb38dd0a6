"""English and Dutch pages; times shown in the lab's zone (Europe/Amsterdam by default).

The choice made with the language switch lives in the session; otherwise the browser's
Accept-Language decides.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
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


def parse_local_datetime(raw: str, field: str) -> datetime:
    """A datetime-local form value, read in the lab's zone, as UTC. InputError names the field."""
    try:
        local = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InputError(field, _("give a date and time like 2026-11-30T14:00")) from None
    if not in_calendar(local):
        raise InputError(field, _("give a year between %(a)s and %(b)s", a=EARLIEST_YEAR, b=LATEST_YEAR))
    if local.tzinfo is None:
        local = local.replace(tzinfo=lab_zone())
    return local.astimezone(UTC)


def local_input_value(ts: datetime) -> str:
    """The value a datetime-local input shows for a UTC time."""
    return ts.astimezone(lab_zone()).strftime("%Y-%m-%dT%H:%M")
