"""Liveness and readiness: /healthz answers 200 only when the database answers and its schema
is at this version's migrations (else logins and pages would fail behind a green check)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from lims.kernel.migrate import schema_problem
from lims.web.request_db import db

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz():
    try:
        db().execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return jsonify(status="error", database="unreachable", detail=type(exc).__name__), 503
    problem = schema_problem(db().connection())
    if problem:
        return jsonify(status="error", database="ok", schema="not upgraded", detail=problem), 503
    return jsonify(status="ok", database="ok")
