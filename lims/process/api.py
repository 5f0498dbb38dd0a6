"""Process-data ingest over HTTP: rejects (list, counts), alarm events (history, acknowledge,
shelve), ingester status, and Prometheus metrics. The ingesters write rejects, alarms and their
heartbeats (lims.process.ingesters) to the database; people only answer alarms here (rules in
lims.process.alarms)."""

from __future__ import annotations

from datetime import UTC

from flask import Blueprint as FlaskBlueprint
from flask import Response
from flask_smorest.pagination import PaginationParameters
from marshmallow import Schema, fields, validate
from sqlalchemy import Select, func, select

from ingest.validate import REASONS
from lims.kernel.clock import utcnow
from lims.kernel.models.process import IngestReject
from lims.permissions import Capability, require
from lims.process import alarms as alarm_service
from lims.process.ingesters import ingesters, prometheus_text
from lims.web.api_blueprint import blueprint, page
from lims.web.auth import require_user
from lims.web.request_db import db

# Process data belongs to the lab's own installations: every lab role reads it, customers do not.


def _require_process_reader() -> None:
    require(require_user(), Capability.READ_PROCESS_DATA)


ingest_blp = blueprint(
    "ingest", "/ingest", "Process-data ingest: rejected values and the ingester's status."
)
alarms_blp = blueprint(
    "alarms", "/alarms", "Process alarm events (a sensor beyond its alarm limits)."
)
metrics_blp = FlaskBlueprint("metrics", __name__)
BLUEPRINTS = (ingest_blp, alarms_blp)
for _blp in (ingest_blp, alarms_blp, metrics_blp):
    _blp.before_request(_require_process_reader)


def _aware(**kw) -> fields.AwareDateTime:
    return fields.AwareDateTime(default_timezone=UTC, **kw)


class RejectQuerySchema(Schema):
    installation = fields.String(validate=validate.Length(max=80))
    reason = fields.String(validate=validate.OneOf(sorted(REASONS)))
    since = _aware(metadata={"description": "received at or after (ISO 8601)"})
    until = _aware(metadata={"description": "received before (ISO 8601)"})


class RejectSchema(Schema):
    id = fields.Integer()
    received_at = fields.DateTime()
    topic = fields.String(metadata={
        "description": 'the MQTT topic of the message; "(spool)" for a value the store refused'
                       " when it was written from the spool"})
    installation = fields.String(allow_none=True)
    sensor = fields.String(allow_none=True)
    reason = fields.String()
    reason_text = fields.Function(lambda r: REASONS.get(r.reason, r.reason))
    detail = fields.String()
    excerpt = fields.String()


class RejectCountSchema(Schema):
    installation = fields.String(allow_none=True)
    reason = fields.String()
    reason_text = fields.String()
    count = fields.Integer()


class RejectSummarySchema(Schema):
    total = fields.Integer()
    counts = fields.List(fields.Nested(RejectCountSchema))


class AlarmQuerySchema(Schema):
    installation = fields.String(validate=validate.Length(max=80))
    sensor = fields.String(validate=validate.Length(max=120))
    kind = fields.String(validate=validate.OneOf(["low", "high"]))
    state = fields.String(
        load_default="all", validate=validate.OneOf(alarm_service.STATES),
        metadata={"description": "active = not ended and not shelved; shelved = not ended, "
                  "shelved until a later time; unacknowledged = nobody acknowledged it; "
                  "past = ended"},
    )
    since = _aware(metadata={"description": "started at or after"})
    until = _aware(metadata={"description": "started before"})


class AlarmSchema(Schema):
    id = fields.Integer()
    installation = fields.String()
    sensor = fields.String()
    kind = fields.String()
    limit = fields.Float()
    started_at = fields.DateTime()
    peak_value = fields.Float()
    ended_at = fields.DateTime(allow_none=True)
    active = fields.Function(
        lambda a: a.ended_at is None and not alarm_service.is_shelved(a, utcnow()),
        metadata={"description": "ongoing and not shelved"},
    )
    shelved = fields.Function(lambda a: alarm_service.is_shelved(a, utcnow()))
    acknowledged_at = fields.DateTime(allow_none=True)
    acknowledged_by = fields.String(allow_none=True)
    ack_comment = fields.String(allow_none=True)
    shelved_until = fields.DateTime(allow_none=True)
    shelved_by = fields.String(allow_none=True)
    shelve_comment = fields.String(allow_none=True)


class AcknowledgeSchema(Schema):
    comment = fields.String(
        required=True, metadata={"description": "what was seen or done (1 to 500 characters)"}
    )


class ShelveSchema(Schema):
    minutes = fields.Integer(
        required=True, metadata={"description": "how long the alarm stays out of the active list"}
    )
    comment = fields.String(required=True, metadata={"description": "why it is shelved"})


class IngesterSchema(Schema):
    ingester = fields.String(metadata={"description": "the ingester's MQTT client id"})
    host = fields.String()
    pid = fields.Integer()
    started_at = fields.DateTime()
    heartbeat_at = fields.DateTime()
    age_s = fields.Float()
    state = fields.String(metadata={"description": "running, stopped or silent"})
    counters = fields.Dict()


class IngestStatusSchema(Schema):
    available = fields.Boolean(metadata={"description": "some ingester has reported"})
    fresh = fields.Boolean(metadata={"description": "some ingester is running"})
    age_s = fields.Float(allow_none=True, metadata={"description": "age of the newest heartbeat"})
    status = fields.Dict(
        allow_none=True, metadata={"description": "counters of the ingester that beat last"}
    )
    ingesters = fields.List(fields.Nested(IngesterSchema))


def _reject_filters(stmt: Select, args: dict) -> Select:
    if "installation" in args:
        stmt = stmt.where(IngestReject.installation == args["installation"])
    if "reason" in args:
        stmt = stmt.where(IngestReject.reason == args["reason"])
    if "since" in args:
        stmt = stmt.where(IngestReject.received_at >= args["since"])
    if "until" in args:
        stmt = stmt.where(IngestReject.received_at < args["until"])
    return stmt


@ingest_blp.route("/rejects")
@ingest_blp.arguments(RejectQuerySchema, location="query")
@ingest_blp.response(200, RejectSchema(many=True))
@ingest_blp.paginate()
def rejects(args: dict, pagination_parameters: PaginationParameters):
    """Rejected message parts, newest first."""
    stmt = _reject_filters(select(IngestReject), args)
    return page(stmt.order_by(IngestReject.id.desc()), pagination_parameters)


@ingest_blp.route("/rejects/summary")
@ingest_blp.arguments(RejectQuerySchema, location="query")
@ingest_blp.response(200, RejectSummarySchema)
def rejects_summary(args: dict):
    """Reject counts per installation and reason."""
    stmt = _reject_filters(
        select(IngestReject.installation, IngestReject.reason, func.count()), args
    ).group_by(IngestReject.installation, IngestReject.reason)
    counts = [
        {"installation": inst, "reason": reason, "reason_text": REASONS.get(reason, reason),
         "count": n}
        for inst, reason, n in db().execute(stmt).all()
    ]
    counts.sort(key=lambda c: (-c["count"], c["installation"] or "", c["reason"]))
    return {"total": sum(c["count"] for c in counts), "counts": counts}


@ingest_blp.route("/status")
@ingest_blp.response(200, IngestStatusSchema)
def status():
    """Every ingester's heartbeat: state and counters (messages/s, values/s, rejects, spool,
    lag, last messages)."""
    states = ingesters(db())
    latest = min(states, key=lambda s: s.age_s, default=None)
    return {
        "available": latest is not None,
        "fresh": any(s.up for s in states),
        "age_s": latest.age_s if latest else None,
        "status": latest.counters if latest else None,
        "ingesters": states,
    }


@alarms_blp.route("")
@alarms_blp.arguments(AlarmQuerySchema, location="query")
@alarms_blp.response(200, AlarmSchema(many=True))
@alarms_blp.paginate()
def alarms(args: dict, pagination_parameters: PaginationParameters):
    """Alarm events, newest first; state=active for the ones going on and not shelved."""
    return page(alarm_service.query(alarm_service.AlarmFilter(**args)), pagination_parameters)


@alarms_blp.route("/<int:alarm_id>/acknowledge", methods=["POST"])
@alarms_blp.arguments(AcknowledgeSchema)
@alarms_blp.response(200, AlarmSchema)
def acknowledge(data: dict, alarm_id: int):
    """Acknowledge an alarm (once), with a comment; written to the audit trail."""
    return alarm_service.acknowledge(db(), require_user(), alarm_id, data["comment"])


@alarms_blp.route("/<int:alarm_id>/shelve", methods=["POST"])
@alarms_blp.arguments(ShelveSchema)
@alarms_blp.response(200, AlarmSchema)
def shelve(data: dict, alarm_id: int):
    """Shelve an ongoing alarm for 1 to 1440 minutes, with a reason; written to the audit trail."""
    return alarm_service.shelve(db(), require_user(), alarm_id, data["minutes"], data["comment"])


@metrics_blp.get("/metrics")
def metrics():
    """Prometheus text format, from the ingesters' heartbeats (one small query per scrape)."""
    return Response(prometheus_text(ingesters(db())),
                    mimetype="text/plain; version=0.0.4")
