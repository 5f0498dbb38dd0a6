"""Request size limits: small for every request, larger for the few routes that take files,
so a huge anonymous body is refused (413) before anything reads or hashes it. And a request
rate limit per client address on the public endpoints, whose certificate numbers are
sequential: counted in the LIMS database, so it holds across all web processes."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, current_app, request
from flask_smorest import abort as api_abort

from lims import throttle
from lims.web.api_blueprint import API_PREFIX
from lims.web.errors import render_error

MAX_REQUEST_BYTES = 512 * 1024
# endpoint -> its larger limit. The CSV import reads up to 5 MB (samples.api.imports.MAX_BYTES)
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
    key = f"public:{request.remote_addr or 'unknown'}"
    with current_app.extensions["recyclab.sessions"].begin() as s:
        if not throttle.over_rate(s, key, PUBLIC_REQUESTS, PUBLIC_WINDOW):
            return None
    # The count restarts at most a window after its first request.
    retry = str(int(PUBLIC_WINDOW.total_seconds()))
    message = f"more than {PUBLIC_REQUESTS} requests a minute from this address; retry in {retry} s"
    if request.path.startswith(API_PREFIX):
        api_abort(429, message=message, headers={"Retry-After": retry})
    body, status = render_error(429, message)
    return body, status, {"Retry-After": retry}


def init_app(app: Flask) -> None:
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES

    @app.before_request
    def _upload_limit() -> None:
        limit = UPLOAD_LIMITS.get(request.endpoint or "")
        if limit:
            request.max_content_length = limit
            # A CSV pasted into the import form is a form field, not a file.
            request.max_form_memory_size = limit

    app.before_request(_public_rate_limit)
