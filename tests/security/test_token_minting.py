"""A browser left logged in on a shared lab computer must not turn into a credential that
outlives it: an API token survives logout, the idle timeout and its owner's own password
change. So a session mints a token only with its user's password; a token (already a lasting
credential) needs none."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from lims.kernel.models import ApiToken
from tests.lims.conftest import ok
from tests.support.api_client import API

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _tokens(session_factory) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(ApiToken))


def _page_login(client) -> None:
    token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"username": "tech", "password": "demo-tech", "csrf_token": token}).status_code == 302


def test_the_tokens_page_asks_for_the_password(client, seeded, session_factory):
    _page_login(client)
    csrf = CSRF.search(client.get("/account/tokens").get_data(as_text=True)).group(1)
    for password in ({}, {"password": "not-my-password"}):
        refused = client.post("/account/tokens", data={"name": "walk-up", "csrf_token": csrf, **password})
        assert refused.status_code == 422, refused.status_code
        assert _tokens(session_factory) == 0
    made = client.post("/account/tokens", data={"name": "balance PC", "password": "demo-tech", "csrf_token": csrf})
    assert made.status_code == 302 and _tokens(session_factory) == 1


def test_the_api_asks_a_session_for_the_password_but_not_a_token(client, lab, session_factory):
    ok(client.post(f"{API}/auth/login", json={"username": "tech", "password": "demo-tech"}))
    headers = {"X-CSRFToken": ok(client.get(f"{API}/auth/csrf"))["csrf_token"]}
    refused = client.post(f"{API}/tokens", json={"name": "walk-up"}, headers=headers)
    assert refused.status_code == 422 and "password" in refused.get_json()["errors"]["json"]
    wrong = client.post(f"{API}/tokens", json={"name": "walk-up", "password": "guess"}, headers=headers)
    assert wrong.status_code == 422
    ok(client.post(f"{API}/tokens", json={"name": "balance PC", "password": "demo-tech"}, headers=headers), 201)
    ok(lab.as_("tech").post("/tokens", json={"name": "ERP import"}), 201)
