"""Request size limits: small for every request, larger for the few routes that take files,
so a huge anonymous body is refused (413) before anything reads or hashes it. A request rate
limit per client address on the public endpoints, whose certificate numbers are sequential:
counted in the LIMS database, so it holds across all web processes. And no text with a NUL
character, which PostgreSQL refuses in any query: refused here naming the field, rather than
by the database naming none. Nor an id in an address past any row's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, current_app, request
from flask_babel import lazy_gettext as _l
from flask_smorest import abort as api_abort
from werkzeug.datastructures import MultiDict
from werkzeug.routing import IntegerConverter

from lims import throttle
from lims.web.api_blueprint import API_PREFIX
from lims.web.errors import render_error

MAX_REQUEST_BYTES = 512 * 1024
# endpoint -> its larger limit. The CSV import reads up to 5 MB (samples.imports.MAX_BYTES)
# plus multipart framing; a certificate file up to 512 kB (certificates.api.MAX_UPLOAD).
UPLOAD_LIMITS = {
    "imports.results": 6 * 1024 * 1024,
    "lab.import_csv": 6 * 1024 * 1024,
    "public_certificates.verify_upload": 1024 * 1024,
    "verify.upload_page": 1024 * 1024,
}


# Blueprints anyone may call without logging in.
PUBLIC_BLUEPRINTS = frozenset({"verify", "public_certificates"})
PUBLIC_REQUESTS = 60
PUBLIC_WINDOW = timedelta(minutes=1)


def _public_rate_limit():
    if request.blueprint not in PUBLIC_BLUEPRINTS:
        return None
    key = f"public:{throttle.client_key(request.remote_addr)}"
    with current_app.extensions["recyclab.sessions"].begin() as s:
        if not throttle.over_rate(s, key, PUBLIC_REQUESTS, PUBLIC_WINDOW):
            return None
    # The count slides over two windows: two windows from now it is empty, whatever came before.
    retry = str(int(2 * PUBLIC_WINDOW.total_seconds()))
    message = f"more than {PUBLIC_REQUESTS} requests a minute from this address; retry in {retry} s"
    if request.path.startswith(API_PREFIX):
        api_abort(429, message=message, headers={"Retry-After": retry})
    body, status = render_error(429, message)
    return body, status, {"Retry-After": retry}


NUL = "\x00"
NUL_MESSAGE = "holds a NUL character, which no text may"


def _nul_errors(value: Any) -> Any:
    """Messages keyed like the data for each key or text of decoded JSON holding a NUL."""
    if isinstance(value, dict):
        found = {str(k): [NUL_MESSAGE] if NUL in str(k) else _nul_errors(v) for k, v in value.items()}
        return {k: m for k, m in found.items() if m} or None
    if isinstance(value, list):
        return {str(i): m for i, v in enumerate(value) if (m := _nul_errors(v))} or None
    return [NUL_MESSAGE] if isinstance(value, str) and NUL in value else None


def _fields_with_nul(fields: MultiDict) -> dict[str, list[str]]:
    return {k: [NUL_MESSAGE] for k, values in fields.lists() if NUL in k or any(NUL in v for v in values)}


def _refuse_nul():
    """Query, path and form fields, and a JSON body, by where they came in. The routes that take
    files leave their body to the service reading it (a CSV import names the file, a PDF is
    bytes)."""
    fields = {
        "query": _fields_with_nul(request.args),
        "path": {k: [NUL_MESSAGE] for k, v in (request.view_args or {}).items() if isinstance(v, str) and NUL in v},
    }
    if (request.endpoint or "") not in UPLOAD_LIMITS:
        fields["form"] = _fields_with_nul(request.form)
        try:
            fields["json"] = (_nul_errors(request.get_json(silent=True)) or {}) if request.is_json else {}
        except RecursionError:
            pass  # JSON nested too deeply to read: the API's parser refuses it as such
    errors = {where: found for where, found in fields.items() if found}
    if not errors:
        return None
    if request.path.startswith(API_PREFIX):
        api_abort(422, message=f"a text {NUL_MESSAGE}", errors=errors)
    names = ", ".join(name.replace(NUL, "\\0") for found in errors.values() for name in found)
    return render_error(422, str(_l("%(fields)s: holds a NUL character, which no text may", fields=names)))


# The ids in addresses are PostgreSQL integers.
LARGEST_ID = 2**31 - 1


def query_int(raw: str) -> int:
    """An integer query argument (id filter, keyset start, page number) held to PostgreSQL's
    integer range: past an end it means what that end means (no such row, no such page), where
    the database would refuse the query. For request.args.get(..., type=query_int)."""
    return max(-LARGEST_ID - 1, min(int(raw), LARGEST_ID))


class RowId(IntegerConverter):
    """<int:...> in a route: a larger number names no row (404, and the OpenAPI document says
    so), rather than a query the database refuses."""

    def __init__(self, map, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", LARGEST_ID)
        super().__init__(map, *args, **kwargs)


def init_app(app: Flask) -> None:
    """Before any route is added: the converter applies to the routes added after it."""
    app.url_map.converters["int"] = RowId
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES

    @app.before_request
    def _upload_limit() -> None:
        limit = UPLOAD_LIMITS.get(request.endpoint or "")
        if limit:
            request.max_content_length = limit
            # A CSV pasted into the import form is a form field, not a file.
            request.max_form_memory_size = limit

    app.before_request(_public_rate_limit)
    app.before_request(_refuse_nul)
