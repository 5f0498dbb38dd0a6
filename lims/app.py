"""The Flask app factory: the kernel's database, the web shell, and each domain's API and pages."""

from __future__ import annotations

import logging

from flask import Flask
from flask_smorest import Api

from lims.kernel.db import make_engine, make_session_factory
from lims.kernel.settings import Settings, load_settings
from lims.web import init_web, limits, request_db, security
from lims.web.api_blueprint import API_PREFIX
from lims.web.api_errors import register_error_handlers

# A request holds its session's connection and, at a login (a password change, a token, the
# audit check page), one more for its own transaction: each worker thread may need two at once.
CONNECTIONS_PER_THREAD = 2


def create_app(settings: Settings | None = None, *, threads: int | None = None, **overrides: object) -> Flask:
    """The app; `threads`: how many requests its server serves at once (`recyclab web
    --threads`), for which the database connection pool is sized. Without it, SQLAlchemy's
    default pool: tests and the commands need few connections."""
    settings = settings or load_settings(overrides or None)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.session_secret(),
        RECYCLAB=settings,
        API_TITLE="Recyclab API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        JSON_SORT_KEYS=False,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    pool = {} if threads is None else {
        # Kept open: one a thread. Opened when needed and closed after: the second.
        "pool_size": threads, "max_overflow": (CONNECTIONS_PER_THREAD - 1) * threads,
    }
    engine = make_engine(settings.database_url, **pool)
    app.extensions["recyclab.engine"] = engine
    app.extensions["recyclab.sessions"] = make_session_factory(engine)
    request_db.init_app(app)
    security.init_app(app, settings)
    limits.init_app(app)

    api = Api(app)
    app.extensions["recyclab.api"] = api
    _register_api(app, api)
    init_web(app, API_PREFIX)
    _register_pages(app)
    return app


def _register_api(app: Flask, api: Api) -> None:
    from lims.audit import api as audit
    from lims.certificates import api as certificates
    from lims.grade_model import api as grade_model
    from lims.people import api as people
    from lims.people import auth_api
    from lims.process import api as process
    from lims.reference import api as reference
    from lims.samples.api import analyses, imports, lots, samples
    from lims.web.schemas import DecimalString

    register_error_handlers(app)
    api.register_field(DecimalString, "string", None)
    api.spec.components.security_scheme(
        "bearer",
        {"type": "http", "scheme": "bearer", "description": "API token (POST /api/v1/tokens)"},
    )
    # Every operation needs the token (or the session cookie) unless it says otherwise.
    api.spec.options["security"] = [{"bearer": []}]
    domains = (auth_api, people, reference, lots, samples, analyses, imports, audit, process,
               certificates, grade_model)
    for module in domains:
        for blp in module.BLUEPRINTS:
            api.register_blueprint(blp)


def _register_pages(app: Flask) -> None:
    from lims.audit import pages as audit_pages
    from lims.certificates.pages import portal, release, verify
    from lims.grade_model import pages as grade_model
    from lims.people import admin_pages
    from lims.people import pages as people
    from lims.process import api as process_api
    from lims.process import pages as process
    from lims.samples.pages import lab, lots, review
    from lims.web import health

    for bp in (health.blp, people.bp, lab.bp, lots.bp, review.bp, portal.bp, process.bp, grade_model.bp,
               verify.bp, release.bp, process_api.metrics_blp, admin_pages.bp, audit_pages.bp):
        app.register_blueprint(bp)
