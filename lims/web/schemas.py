from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_dump, validate

from lims.permissions import reads_lab_records, shown_analyses
from lims.sorting import Sorting
from lims.web.auth import current_user


def key_of(attr: str, metadata: dict | None = None) -> fields.Function:
    """Dump a related object as its key (material -> "pp"), never as a nested blob or an id."""
    return fields.Function(lambda obj: _get_key(obj, attr), dump_only=True, metadata=metadata)


def _get_key(obj: object, path: str) -> str | None:
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def SortField(sorting: Sorting) -> fields.String:  # noqa: N802 - reads like a field class
    """The `sort` query parameter of a list: a key of `sorting`, "-" before it for the reverse."""
    lab_only = f" Lab staff only: {', '.join(sorted(sorting.lab_only))}." if sorting.lab_only else ""

    def readable(value: str) -> None:
        # Also refused by the service (Sorting.check); here so the 422 names the query's `sort`.
        allowed = sorting.choices(lab_records=reader_reads_lab_records())
        if value in sorting.choices() and value not in allowed:  # else OneOf said it
            raise ValidationError(f"Must be one of: {', '.join(allowed)}.")

    return fields.String(
        validate=[validate.OneOf(sorting.choices()), readable],
        metadata={"description": f"Order of the list (default {sorting.default}); ties by id.{lab_only}"},
    )


DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
_DECIMAL = re.compile(DECIMAL_PATTERN)


class DecimalString(fields.Decimal):
    """A decimal that travels as a string ("12.50") so no float rounding creeps in. The OpenAPI
    documents it as a string with DECIMAL_PATTERN (app.py maps the class to "string"); a Range
    appears as x-minimum/x-maximum there. A JSON number is still accepted on input."""

    def __init__(self, **kwargs) -> None:
        metadata = {"pattern": DECIMAL_PATTERN, "example": "12.5", **kwargs.pop("metadata", {})}
        super().__init__(as_string=True, allow_nan=False, metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        # Decimal() alone reads "8_5" and full-width "８５" as 85: a string keeps to the pattern
        # the OpenAPI documents.
        if isinstance(value, str) and not _DECIMAL.fullmatch(value.strip()):
            raise ValidationError(f"not a decimal number: {value!r} (digits 0-9, e.g. 12.5)")
        return super()._deserialize(value, attr, data, **kwargs)


def Amount(**kwargs) -> fields.Decimal:  # noqa: N802 - reads like a field class
    return DecimalString(**kwargs)


class ReasonSchema(Schema):
    reason = fields.String(
        required=True, metadata={"description": "Why (kept in the audit trail)."}
    )


class MessageSchema(Schema):
    message = fields.String()


Aware = fields.AwareDateTime  # a time without a UTC offset is refused, not guessed


# Marks on a field of a ReaderSchema (as its metadata).
LAB_RECORD = {"lab_record": True}
RESULT = {"result": True}


def reader_reads_lab_records() -> bool:
    return reads_lab_records(current_user())


class ReaderSchema(Schema):
    """An answer shaped by who reads it (the rules are lims.permissions'): a field marked
    LAB_RECORD is left out for a reader who may not read the lab's records (a customer), and a
    field marked RESULT is null for that reader until `released(obj)`."""

    released: Callable[[Any], bool] = staticmethod(lambda obj: True)

    @post_dump(pass_original=True)
    def _for_reader(self, data: dict, original: Any, **_kwargs) -> dict:
        if reader_reads_lab_records():
            return data
        released = self.released(original)
        for name, field in self.dump_fields.items():
            key = field.data_key or name
            if field.metadata.get("lab_record"):
                data.pop(key, None)
            elif field.metadata.get("result") and not released:
                data[key] = None
        return data


class ShownAnalyses(fields.List):
    """A sample's analyses as far as the reader sees them listed."""

    def _serialize(self, value, attr, obj, **kwargs):
        return super()._serialize(shown_analyses(current_user(), value), attr, obj, **kwargs)
