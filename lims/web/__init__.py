"""The server-rendered web application: one blueprint per area, sharing login, CSRF, i18n
and error pages set up by init_web()."""

from __future__ import annotations

from flask import Flask, request
from flask_wtf.csrf import CSRFProtect

from lims.web import errors, i18n
from lims.web import session as session_auth
from lims.web.state_names import STATE_NAMES

csrf = CSRFProtect()


def init_web(app: Flask, api_prefix: str) -> None:
    # Only the pages need CSRF tokens: the API authenticates each request by token or by its own
    # session login, and flask-smorest owns its error format.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)

    @app.before_request
    def _protect_forms() -> None:
        if not request.path.startswith(api_prefix):
            csrf.protect()

    i18n.init_app(app)
    session_auth.init_app(app)
    errors.init_app(app, api_prefix)
    app.jinja_env.globals["state_names"] = STATE_NAMES
