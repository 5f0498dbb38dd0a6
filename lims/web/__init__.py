"""The server-rendered web application: one blueprint per area, sharing login, CSRF, i18n
and error pages set up by init_web()."""

from __future__ import annotations

from flask import Flask, request, session
from flask_smorest import abort as api_abort
from flask_wtf.csrf import CSRFError, CSRFProtect

from lims.web import auth as session_auth
from lims.web import errors, i18n
from lims.web.auth import SESSION_KEY
from lims.web.state_names import STATE_NAMES

csrf = CSRFProtect()


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Sec-Fetch-Site values of requests another origin started; a browser sets the header itself.
FOREIGN_SITES = frozenset({"cross-site", "same-site"})


def protect_api_write() -> None:
    """The session cookie rides along on requests other pages start, so an API write that
    relies on it must show it comes from our own pages: the X-CSRFToken header (the pages
    send it; GET /api/v1/auth/csrf gives it to other session clients). A bearer token is not
    sent by browsers on their own, so token requests need nothing more."""
    if request.method in SAFE_METHODS or request.headers.get("Authorization"):
        return
    if request.headers.get("Sec-Fetch-Site", "").lower() in FOREIGN_SITES:
        api_abort(403, message="cross-origin writes are refused; send an API token instead")
    # Logging in (and choosing one's password) acts on the credentials sent, not on the
    # session's authority.
    if session.get(SESSION_KEY) is None or request.endpoint in ("auth.login", "auth.change_password"):
        return
    try:
        csrf.protect()
    except CSRFError as exc:
        api_abort(
            403,
            message=f"a session-authenticated write needs the X-CSRFToken header ({exc.description});"
            " get it from GET /api/v1/auth/csrf, or send an API token",
        )


def init_web(app: Flask, api_prefix: str) -> None:
    # Pages carry the token in their forms and htmx headers; the API checks it only for writes
    # authenticated by the session cookie (protect_api_write).
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)

    @app.before_request
    def _protect_forms() -> None:
        if request.path.startswith(api_prefix):
            protect_api_write()
        else:
            csrf.protect()

    i18n.init_app(app)
    session_auth.init_app(app)
    errors.init_app(app, api_prefix)
    app.jinja_env.globals["state_names"] = STATE_NAMES
