"""Response headers every answer carries (no copy kept in a cache unless it says otherwise), the
cookie flags that follow the public URL, and the client address behind our reverse proxies."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

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
    # No page asks for the camera, microphone, location, payments or USB devices (barcode
    # scanners type like a keyboard): a script slipped into a page cannot either.
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
HSTS = "max-age=31536000"
# Pages and API answers show what their user may see: no browser or proxy keeps a copy, so Back
# after logging out on a shared lab computer shows nothing. Static files set their own.
NOT_KEPT = "no-store"


def init_app(app: Flask, settings: Settings) -> None:
    if settings.proxy_hops:
        # The client address is the one the nearest of our proxies saw, not the proxy's own.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops)  # type: ignore[method-assign]
    https = settings.uses_https
    app.config["SESSION_COOKIE_SECURE"] = https
    headers = {**HEADERS, "Strict-Transport-Security": HSTS} if https else HEADERS

    @app.after_request
    def _security_headers(response):
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Cache-Control", NOT_KEPT)
        return response
