"""How errors no view caught are answered: domain errors and database refusals as JSON naming the
field on the API, as an error page in the reader's language on the pages."""

from __future__ import annotations

import logging
import re

from flask import Flask, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from werkzeug.http import HTTP_STATUS_CODES

from lims.kernel.errors import DomainError, InputError
from lims.web import request_db
from lims.web.api_blueprint import API_PREFIX
from lims.web.errors import error_detail, render_error

log = logging.getLogger(__name__)


def _body(status: int, message: str, errors: dict | None = None):
    body = {"code": status, "status": HTTP_STATUS_CODES.get(status, ""), "message": message}
    if errors:
        # Where the field was given, as flask-smorest says it for a schema's errors: a GET has
        # no body, its fields are in the query string.
        body["errors"] = {"query" if request.method == "GET" else "json": errors}
    return body, status


def _answer(status: int, message: str, errors: dict | None = None, page_detail: object = None):
    """The API's JSON body, or for a page the error page (with `page_detail`, else `message`)."""
    if request.path.startswith(API_PREFIX):
        return _body(status, message, errors)
    request_db.rollback()
    return render_error(status, str(page_detail if page_detail is not None else message))


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
        return _answer(
            exc.status, exc.message, exc.errors if isinstance(exc, InputError) else None, error_detail(exc)
        )

    @app.errorhandler(IntegrityError)
    def _integrity(exc: IntegrityError):
        field = _constraint_field(exc)
        return _answer(
            409,
            f"conflicts with existing data ({field})",
            {field: ["conflicts with existing data"]},
            _l("This conflicts with data saved meanwhile (%(field)s).", field=field),
        )

    @app.errorhandler(DataError)
    def _data(exc: DataError):
        # The database's own words name tables and types: they stay in the log.
        log.warning("refused by the database: %s", str(exc.orig).splitlines()[0])
        return _answer(
            422,
            "a value does not fit its column",
            {"request": ["a number is out of range or a text is too long"]},
            _l("A number is out of range or a text is too long."),
        )

    @app.errorhandler(OperationalError)
    def _busy(exc: OperationalError):
        # The database is unreachable or (embedded SQLite) another writer holds it: retryable.
        body, status = _answer(
            503,
            "the database is busy or unavailable; retry shortly",
            page_detail=_l("The database is busy or unavailable; try again in a moment."),
        )
        return body, status, {"Retry-After": "1"}

