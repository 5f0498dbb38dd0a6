"""The API's argument parser: webargs' FlaskParser, refusing two inputs that would otherwise
reach the database or the stack and end as a 500 (a 422 naming the field instead)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from webargs.flaskparser import FlaskParser

OUT_OF_RANGE = "out of range: the time must lie between years 1 and 9999 in UTC"


class ApiParser(FlaskParser):
    def _raw_load_json(self, req) -> Any:
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            # The stdlib decoder recurses once per level: `[` * 1000 exhausts the stack.
            raise ma.ValidationError({"_schema": ["the JSON body is nested too deeply"]}) from None

    def _process_location_data(self, location_data, schema, req, location, unknown, validators):
        data = super()._process_location_data(
            location_data, schema, req, location, unknown, validators
        )
        problems = _unstorable_times(data)
        if problems:
            raise ma.ValidationError(problems)
        return data


def _unstorable_times(value: Any) -> Any:
    """Messages keyed like the data for each aware time that has no UTC equivalent
    (0001-01-01T00:00+14:00 is in year 0 in UTC): the database layer stores UTC."""
    if isinstance(value, dict):
        found = {k: m for k, v in value.items() if (m := _unstorable_times(v))}
        return found or None
    if isinstance(value, list | tuple):
        found = {i: m for i, v in enumerate(value) if (m := _unstorable_times(v))}
        return found or None
    if isinstance(value, datetime) and value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            return [OUT_OF_RANGE]
    return None
