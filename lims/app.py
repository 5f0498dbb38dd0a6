"""The Flask app factory."""

from __future__ import annotations

import logging

from flask import Flask
from flask_smorest import Api

from lims import request_db
from lims.kernel.db import make_engine, make_session_factory
from lims.kernel.settings import Settings, load_settings

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None, **overrides: object) -> Flask:
    settings = settings or load_settings(overrides or None)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
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

    engine = make_engine(settings.database_url)
    app.extensions["recyclab.engine"] = engine
    app.extensions["recyclab.sessions"] = make_session_factory(engine)
    request_db.init_app(app)

    api = Api(app)
    app.extensions["recyclab.api"] = api
    _register_blueprints(app, api)
    return app


def _register_blueprints(app: Flask, api: Api) -> None:
    from lims.web import init_web
    from lims.web.health import blp as health_blp

    app.register_blueprint(health_blp)
    from lims.api import register_api

    register_api(app, api)
    init_web(app, API_PREFIX)
    from lims.api.ingest import register_ingest_api

    register_ingest_api(app, api)
    from lims.api.certificates import BLUEPRINTS as certificate_blueprints
    from lims.certificates.web import bp as verify_bp

    for blp in certificate_blueprints:
        api.register_blueprint(blp)
    from lims.api.predictions import BLUEPRINTS as prediction_blueprints

    for blp in prediction_blueprints:
        api.register_blueprint(blp)
    app.register_blueprint(verify_bp)
