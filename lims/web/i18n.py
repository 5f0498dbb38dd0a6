"""English and Dutch pages; times shown in the lab's zone (Europe/Amsterdam by default).

The choice made with the language switch lives in the session; otherwise the browser's
Accept-Language decides (so the public verify page, with nobody logged in, follows the browser).
Everything a page shows follows that language: reference names (name_nl), the services'
messages (Text), numbers (a comma in Dutch) and dates (one short format per language:
29/11/2026 in English, 29-11-2026 in Dutch).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal as babel_format_decimal
from flask import Flask, current_app, request, session
from flask_babel import Babel, format_date, format_decimal, get_locale
from flask_babel import gettext as _

from lims.kernel.clock import EARLIEST_YEAR, LATEST_YEAR, from_wall_clock, in_calendar, today_in
from lims.kernel.errors import InputError, Text
from lims.kernel.models.reference import name_in

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


class Named(Protocol):
    def name_in(self, language: str) -> str: ...


def local_name(row: Named | Mapping[str, str]) -> str:
    """A material's, method's, installation's or sensor's name in the page's language; `row`
    may also be its {"name", "name_nl"} as an API view gives it."""
    if isinstance(row, Mapping):
        return name_in(row["name"], row.get("name_nl", ""), chosen_language())
    return row.name_in(chosen_language())


def local_number(value: Decimal | float | int) -> str:
    """A number with the locale's decimal sign and the digits it has (0.910 stays 0,910)."""
    if isinstance(value, bool | int):
        return str(value)
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        digits = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        return format_decimal(value, format="0" + ("." + "0" * digits if digits else ""))
    # flask-babel's format_decimal passes no options on, so babel's own is called for a float.
    return babel_format_decimal(value, locale=get_locale(), decimal_quantization=False, group_separator=False)


def localized(message: Any) -> Any:
    """A service's message (Text) in the page's language, its numbers in the page's locale;
    lists and dicts of them (InputError.errors) message by message; anything else as it is."""
    if isinstance(message, Text):
        values = {
            key: local_number(v) if isinstance(v, Decimal | float) else localized(v)
            for key, v in message.values.items()
        }
        return _(message.template, **values)
    if isinstance(message, list):
        return [localized(m) for m in message]
    if isinstance(message, dict):
        return {key: localized(m) for key, m in message.items()}
    return message


def _finalize(value: Any) -> Any:
    # Jinja calls this on every {{ ... }}: a service's message on a page is said in its language.
    return localized(value) if isinstance(value, Text) else value


def local_date(value: date | str) -> str:
    """A day (or an ISO 8601 day as certificates store it) in the page's one date format."""
    return format_date(date.fromisoformat(value) if isinstance(value, str) else value, "short")


def init_app(app: Flask) -> None:
    app.config.setdefault(
        "BABEL_TRANSLATION_DIRECTORIES", str(Path(__file__).resolve().parent.parent / "translations")
    )
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.finalize = _finalize
    app.jinja_env.filters["local_name"] = local_name
    app.jinja_env.filters["local_date"] = local_date

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
    # As the pages show a time too: "29-11-2026, 14:00".
    raw = " ".join(raw.replace(",", " ").split())
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
    return from_wall_clock(local, lab_zone(), field)


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
    """A UTC time as a date field shows it: in the lab's zone, in the page's date format; in the
    hour the clocks go back, when that names two moments, in ISO 8601 with its UTC offset
    (which parse_local_datetime reads back as the same moment)."""
    local = ts.astimezone(lab_zone())
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        return local.isoformat(timespec="minutes")
    return f"{format_date(local.date(), 'short')} {local:%H:%M}"
