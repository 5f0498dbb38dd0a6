"""Item 7: security headers on every response; HSTS and the Secure cookie under an https
public URL; verify links from the configured public URL, never from the Host header; the
database's error text never reaches the client."""

from __future__ import annotations

import re

import pytest

from lims.certificates import public as certificates
from lims.kernel.models import Certificate
from tests.certificates import support
from tests.lims.conftest import ok
from tests.support.api_client import API

EVERY_RESPONSE = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


def _assert_headers(response) -> None:
    for name, value in EVERY_RESPONSE.items():
        assert response.headers.get(name) == value, (response.request.path, name)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp


def test_every_kind_of_response_carries_the_headers(client, seeded):
    for path in ["/login", "/lab/samples", "/no-such-page", "/static/app.js", "/healthz",
                 "/verify", "/verify/NO-SUCH", f"{API}/openapi.json", f"{API}/auth/me",
                 f"{API}/no-such"]:
        response = client.get(path)
        _assert_headers(response)
        assert "Strict-Transport-Security" not in response.headers
    _assert_headers(client.post(f"{API}/auth/login", json={"username": "x", "password": "y"}))


def test_https_public_url_turns_on_hsts_and_the_secure_cookie(database_url, tmp_path, seeded):
    from lims.app import create_app

    app = create_app(database_url=database_url, var_dir=tmp_path / "var", secret_key="s" * 40,
                     public_url="https://lims.example.org")
    client = app.test_client()
    response = client.post(f"{API}/auth/login", json={"username": "tech", "password": "demo-tech"},
                           base_url="https://lims.example.org")
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    app.extensions["recyclab.engine"].dispose()


def test_no_browser_or_proxy_keeps_a_users_pages(client, seeded):
    """Back after logging out on a shared lab computer must not show the last user's pages."""
    ok(client.post(f"{API}/auth/login", json={"username": "tech", "password": "demo-tech"}))
    for path in ["/lab/samples", f"{API}/auth/me", f"{API}/samples", "/no-such-page"]:
        assert client.get(path).headers.get("Cache-Control") == "no-store", path
    # Static files keep their own rule (revalidated, not refetched).
    assert client.get("/static/app.js").headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_verify_links_use_the_public_url_not_the_host_header(app, lab, session_factory):
    with session_factory.begin() as s:
        tech, reviewer = support.user(s, "tech"), support.user(s, "reviewer")
        lot = support.make_lot(s, tech, "L-HOST-1")
        sample = support.verified_sample(s, tech, reviewer, lot)
        code = sample.code
    ok(lab.as_("reviewer").post("/certificates", json={"sample": code}), 201)
    client = lab.client
    evil = "http://evil.example"  # the Host header of every request below
    csrf = re.compile(r'name="csrf_token" value="([^"]+)"')
    token = csrf.search(client.get("/login", base_url=evil).get_data(as_text=True)).group(1)
    client.post("/login", base_url=evil,
                data={"username": "polyvorm", "password": "demo-polyvorm", "csrf_token": token})
    page = client.get("/certificates/", base_url=evil).get_data(as_text=True)
    public_url = app.config["RECYCLAB"].public_url.rstrip("/")
    with session_factory() as s:
        cert = s.query(Certificate).one()
        assert certificates.verify_url(public_url, cert) in page.replace("&amp;", "&")
    assert "evil.example" not in page


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_database_error_text_is_not_returned(lab):
    response = lab.as_("admin").get("/analyses/99999999999")
    assert response.status_code in (404, 422)
    body = response.get_data(as_text=True)
    assert "integer" not in body and "out of range for type" not in body
