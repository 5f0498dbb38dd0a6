"""Error pages that say what went wrong and what to do next. API paths keep flask-smorest's
JSON errors."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from lims.kernel.errors import DomainError, InputError
from lims.web.i18n import localized

# status -> (title, what to do)
ADVICE = {
    400: (_l("The request could not be understood"), _l("Go back, reload the page and try again.")),
    401: (
        _l("You are not logged in (any more)"),
        _l("Your session has ended. Log in again; the page you were on opens afterwards."),
    ),
    403: (
        _l("You may not open this page"),
        _l("Your role does not include this page. Log in as a different user or ask an administrator."),
    ),
    404: (
        _l("Not found"),
        _l("The address or the record does not exist (any more). Check the code or use the search."),
    ),
    409: (
        _l("Not possible in the current state"),
        _l("Someone may have changed this record meanwhile. Reload the page to see its current state."),
    ),
    413: (_l("The upload is too large"), _l("Send a smaller file, or split it into several.")),
    429: (_l("Too many attempts"), _l("Wait the time named below, then try again.")),
    422: (_l("The input was not accepted"), _l("Correct the fields named below and submit again.")),
    503: (
        _l("This is not available right now"),
        _l("A part of the system this page needs does not answer (named below). Try again in a minute; if it"
           " keeps happening, tell the lab's IT contact."),
    ),
    500: (
        _l("Something went wrong on our side"),
        _l("Nothing was saved. Try again in a minute; if it keeps happening, tell the lab's IT contact."),
    ),
}


def render_error(status: int, detail: str = ""):
    title, advice = ADVICE.get(status, ADVICE[500] if status >= 500 else ADVICE[400])
    return render_template("error.html", status=status, title=title, advice=advice, detail=detail), status


def init_app(app: Flask, api_prefix: str) -> None:
    def _http_error(exc: HTTPException):
        if request.path.startswith(api_prefix):
            api = app.extensions["recyclab.api"]
            return api.handle_http_exception(exc)
        if isinstance(exc, CSRFError):
            detail = _l("The form had expired or was sent from elsewhere (%(reason)s).", reason=exc.description)
        else:
            # Werkzeug's text for 404/403 says nothing the advice does not; for the others it names the problem.
            detail = exc.description if exc.code in (400, 409, 422, 503) else ""
        return render_error(exc.code or 500, str(detail))

    for code in (400, 401, 403, 404, 405, 409, 413, 422, 429, 503):
        app.register_error_handler(code, _http_error)

    @app.errorhandler(500)
    def _server_error(exc: Exception):
        if request.path.startswith(api_prefix):
            return {"code": 500, "status": "Internal Server Error"}, 500
        return render_error(500)


def error_detail(exc: DomainError) -> object:
    """What a page says of a refusal: an input error names its field(s) before the problem, as
    the API's body does, since one wording ("give a date like ...") can fit several fields of a
    form; entries of a list (rows, samples) keep the service's summary."""
    if isinstance(exc, InputError) and all(isinstance(found, list) for found in exc.errors.values()):
        return "; ".join(
            f"{field}: {'; '.join(str(localized(message)) for message in found)}"
            for field, found in exc.errors.items()
        )
    return exc.message


def _domain_error_page(exc: DomainError):
    return render_error(exc.status, error_detail(exc))


def web_blueprint(name: str, import_name: str, **options: object) -> Blueprint:
    """A page blueprint: a service refusal its views let escape becomes a page naming the reason."""
    bp = Blueprint(name, import_name, **options)
    bp.register_error_handler(DomainError, _domain_error_page)
    return bp
