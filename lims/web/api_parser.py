"""The API's argument parser: webargs' FlaskParser, refusing inputs that would otherwise
reach the database or the stack and end as a 500 (a 422 naming the field instead)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import marshmallow as ma
from webargs.flaskparser import FlaskParser

from lims.kernel.clock import OUT_OF_CALENDAR, in_calendar


class ApiParser(FlaskParser):
    def _raw_load_json(self, req) -> Any:
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            # The stdlib decoder recurses once per level: `[` * 1000 exhausts the stack.
            raise ma.ValidationError({"_schema": ["the JSON body is nested too deeply"]}) from None
        except json.JSONDecodeError:
            raise  # webargs answers it: 400, invalid JSON
        except ValueError:
            # Python reads no integer of more than 4300 digits (sys.get_int_max_str_digits).
            raise ma.ValidationError({"_schema": ["a number in the JSON body has too many digits"]}) from None

    def _process_location_data(self, location_data, schema, req, location, unknown, validators):
        data = super()._process_location_data(
            location_data, schema, req, location, unknown, validators
        )
        problems = _out_of_calendar(data)
        if problems:
            raise ma.ValidationError(problems)
        return data


def _out_of_calendar(value: Any) -> Any:
    """Messages keyed like the data for each date or time near the calendar's ends
    (0001-01-01T00:00+14:00 is in year 0 in UTC, and the database layer stores UTC)."""
    if isinstance(value, dict):
        found = {k: m for k, v in value.items() if (m := _out_of_calendar(v))}
        return found or None
    if isinstance(value, list | tuple):
        found = {i: m for i, v in enumerate(value) if (m := _out_of_calendar(v))}
        return found or None
    if isinstance(value, date) and not in_calendar(value):
        return [OUT_OF_CALENDAR]
    return None
