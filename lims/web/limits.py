"""Request size limits: small for every request, larger for the few routes that take files,
so a huge anonymous body is refused (413) before anything reads or hashes it."""

from __future__ import annotations

from flask import Flask, request

MAX_REQUEST_BYTES = 512 * 1024
# endpoint -> its larger limit. The CSV import reads up to 5 MB (samples.api.imports.MAX_BYTES)
# plus multipart framing; a certificate file up to 512 kB (certificates.api.MAX_UPLOAD).
UPLOAD_LIMITS = {
    "imports.results": 6 * 1024 * 1024,
    "lab.import_csv": 6 * 1024 * 1024,
    "public_certificates.verify_upload": 1024 * 1024,
    "verify.upload_page": 1024 * 1024,
}


def init_app(app: Flask) -> None:
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES

    @app.before_request
    def _upload_limit() -> None:
        limit = UPLOAD_LIMITS.get(request.endpoint or "")
        if limit:
            request.max_content_length = limit
            # A CSV pasted into the import form is a form field, not a file.
            request.max_form_memory_size = limit
