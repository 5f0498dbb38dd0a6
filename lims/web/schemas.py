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


def Amount(**kwargs) -> fields.Decimal:  # noqa: N802 - reads like a field class
    """Decimals travel as strings so no float rounding creeps in."""
    return fields.Decimal(as_string=True, allow_nan=False, **kwargs)


class ReasonSchema(Schema):
    reason = fields.String(
        required=True, metadata={"description": "Why (kept in the audit trail)."}
    )


class MessageSchema(Schema):
    message = fields.String()


Aware = fields.AwareDateTime  # a time without a UTC offset is refused, not guessed
