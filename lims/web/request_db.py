"""One database session and one transaction per request.

The session is opened on first use, committed when the response is a success and rolled
back otherwise, so a rejected request leaves nothing half-written.
"""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session


def db() -> Session:
    if "db_session" not in g:
        g.db_session = current_app.extensions["recyclab.sessions"]()
    return g.db_session


def rollback() -> None:
    """End the request's failed transaction, so an error page can still read (who is logged in)."""
    session: Session | None = g.get("db_session")
    if session is not None:
        session.rollback()


def init_app(app: Flask) -> None:
    @app.after_request
    def _commit_on_success(response):
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            try:
                if response.status_code < 400:
                    session.commit()
                else:
                    session.rollback()
            finally:
                session.close()
        return response

    @app.teardown_request
    def _rollback_on_error(_exc):
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()
