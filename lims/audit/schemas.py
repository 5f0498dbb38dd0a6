"""What the audit API accepts and returns."""

from __future__ import annotations

from marshmallow import Schema, fields


class AuditEventSchema(Schema):
    seq = fields.Integer()
    at = fields.DateTime()
    actor = fields.String()
    action = fields.String()
    entity_type = fields.String()
    entity_id = fields.String()
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    prev_hash = fields.String()
    hash = fields.String()


class AuditQuerySchema(Schema):
    entity_type = fields.String()
    entity_id = fields.String()
    action = fields.String()


class ChainReportSchema(Schema):
    ok = fields.Boolean()
    events = fields.Integer()
    broken_seq = fields.Integer(allow_none=True)
    reason = fields.String()
