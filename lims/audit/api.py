"""The audit trail, for the lab (customers do not see it)."""

from __future__ import annotations

from sqlalchemy import select

from lims.audit import service as audit
from lims.audit.schemas import AuditEventSchema, AuditQuerySchema, ChainReportSchema
from lims.kernel.errors import N_
from lims.kernel.models import AuditEvent
from lims.permissions import Capability, require
from lims.web.api_blueprint import blueprint, page
from lims.web.auth import require_user
from lims.web.request_db import db

blp = blueprint("audit", "/audit", "Append-only, hash-chained audit trail.")
BLUEPRINTS = (blp,)


@blp.route("/events")
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditEventSchema(many=True))
@blp.paginate()
def events(args: dict, pagination_parameters):
    require(require_user(), Capability.READ_AUDIT)
    stmt = select(AuditEvent).order_by(AuditEvent.seq)
    for name in ("entity_type", "entity_id", "action"):
        if name in args:
            stmt = stmt.where(getattr(AuditEvent, name) == args[name])
    return page(stmt, pagination_parameters)


@blp.route("/verify")
@blp.response(200, ChainReportSchema)
def verify():
    require(require_user(), Capability.READ_AUDIT, N_("verify the audit trail"))
    return audit.verify_chain(db())
