"""The audit log page: events newest first, filtered by action, object, user and date, and the
chain check (every hash recomputed) on request."""

from __future__ import annotations

from flask import current_app, render_template, request
from sqlalchemy import select

from lims.audit import service as audit
from lims.kernel.models import AuditEvent
from lims.permissions import Capability
from lims.web.auth import login_required
from lims.web.errors import web_blueprint
from lims.web.i18n import parse_local_day
from lims.web.limits import query_int
from lims.web.request_db import db

bp = web_blueprint("audit_pages", __name__, url_prefix="/admin/audit")

PER_PAGE = 50


def _events():
    args = request.args
    stmt = select(AuditEvent)
    for name in ("action", "entity_type", "actor"):
        if args.get(name, "").strip():
            stmt = stmt.where(getattr(AuditEvent, name) == args[name].strip())
    if args.get("entity_id", "").strip():
        stmt = stmt.where(AuditEvent.entity_id == args["entity_id"].strip())
    if args.get("from"):
        stmt = stmt.where(AuditEvent.at >= parse_local_day(args["from"], "from"))
    if args.get("to"):
        stmt = stmt.where(AuditEvent.at < parse_local_day(args["to"], "to", end=True))
    # Keyset paging on the chain position: older pages start below the last one shown.
    before = args.get("before", type=query_int)
    if before:
        stmt = stmt.where(AuditEvent.seq < before)
    return list(db().scalars(stmt.order_by(AuditEvent.seq.desc()).limit(PER_PAGE)))


def _page(report: audit.ChainReport | None = None):
    rows = _events()
    return render_template(
        "admin/audit.html",
        events=rows,
        report=report,
        actions=db().scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)).all(),
        entity_types=db().scalars(select(AuditEvent.entity_type).distinct().order_by(AuditEvent.entity_type)).all(),
        next_before=rows[-1].seq if len(rows) == PER_PAGE else None,
        filters={k: v for k, v in request.args.items() if k != "before" and v},
    )


@bp.get("/")
@login_required(Capability.READ_AUDIT)
def events():
    return _page()


@bp.post("/verify")
@login_required(Capability.READ_AUDIT)
def verify():
    """Recomputing every hash reads the whole trail: asked for with a button, never on a plain
    visit. It runs in a session of its own, because it empties its session as it goes (memory)
    and this request's session still holds the caller."""
    with current_app.extensions["recyclab.sessions"]() as session:
        report = audit.verify_chain(session)
    return _page(report)
