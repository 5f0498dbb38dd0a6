from __future__ import annotations

from marshmallow import Schema, fields


def key_of(attr: str) -> fields.Function:
    """Dump a related object as its key (material -> "pp"), never as a nested blob or an id."""
    return fields.Function(lambda obj: _get_key(obj, attr), dump_only=True)


def _get_key(obj: object, path: str) -> str | None:
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"


class DecimalString(fields.Decimal):
    """A decimal that travels as a string ("12.50") so no float rounding creeps in. The OpenAPI
    documents it as a string with DECIMAL_PATTERN (app.py maps the class to "string"); a Range
    appears as x-minimum/x-maximum there. A JSON number is still accepted on input."""

    def __init__(self, **kwargs) -> None:
        metadata = {"pattern": DECIMAL_PATTERN, "example": "12.5", **kwargs.pop("metadata", {})}
        super().__init__(as_string=True, allow_nan=False, metadata=metadata, **kwargs)


def Amount(**kwargs) -> fields.Decimal:  # noqa: N802 - reads like a field class
    return DecimalString(**kwargs)


class ReasonSchema(Schema):
    reason = fields.String(
        required=True, metadata={"description": "Why (kept in the audit trail)."}
    )


class MessageSchema(Schema):
    message = fields.String()


Aware = fields.AwareDateTime  # a time without a UTC offset is refused, not guessed
