"""Response headers every answer carries, and the cookie flags that follow the public URL."""

from __future__ import annotations

from flask import Flask

from lims.kernel.settings import Settings

# The pages load their scripts from /static only; inline style stays allowed (the verify pages
# and the SVG charts carry their own, and htmx injects its indicator style).
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Verify links carry the certificate hash: it does not travel to other sites.
    "Referrer-Policy": "same-origin",
}
HSTS = "max-age=31536000"


def init_app(app: Flask, settings: Settings) -> None:
    https = settings.uses_https
    app.config["SESSION_COOKIE_SECURE"] = https
    headers = {**HEADERS, "Strict-Transport-Security": HSTS} if https else HEADERS

    @app.after_request
    def _security_headers(response):
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
