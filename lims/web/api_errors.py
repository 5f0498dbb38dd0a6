"""How the API answers errors: domain errors and database refusals as JSON naming the field."""

from __future__ import annotations

import logging
import re

from flask import Flask
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from werkzeug.http import HTTP_STATUS_CODES

from lims.kernel.errors import DomainError, InputError

log = logging.getLogger(__name__)


def _body(status: int, message: str, errors: dict | None = None):
    body = {"code": status, "status": HTTP_STATUS_CODES.get(status, ""), "message": message}
    if errors:
        body["errors"] = {"json": errors}
    return body, status


def _constraint_field(exc: IntegrityError) -> str:
    """Best effort: the column a violated constraint is about (uq_lot_code -> code)."""
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        table = getattr(diag, "table_name", None) or ""
        for prefix in ("uq_", "fk_", "ck_", "pk_"):
            for start in (f"{prefix}{table}_", prefix):
                if name.startswith(start):
                    return name[len(start):]
        return name
    found = re.search(r"constraint failed: ([\w.]+)", str(exc.orig))
    return found.group(1).split(".")[-1] if found else "request"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        return _body(exc.status, exc.message, exc.errors if isinstance(exc, InputError) else None)

    @app.errorhandler(IntegrityError)
    def _integrity(exc: IntegrityError):
        field = _constraint_field(exc)
        return _body(
            409,
            f"conflicts with existing data ({field})",
            {field: ["conflicts with existing data"]},
        )

    @app.errorhandler(DataError)
    def _data(exc: DataError):
        # The database's own words name tables and types: they stay in the log.
        log.warning("refused by the database: %s", str(exc.orig).splitlines()[0])
        return _body(
            422,
            "a value does not fit its column",
            {"request": ["a number is out of range or a text is too long"]},
        )

    @app.errorhandler(OperationalError)
    def _busy(exc: OperationalError):
        # The database is unreachable or (embedded SQLite) another writer holds it: retryable.
        body, status = _body(503, "the database is busy or unavailable; retry shortly")
        return body, status, {"Retry-After": "1"}

