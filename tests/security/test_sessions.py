"""Item 3: a session cookie stops working after logout and after a password change, including
copies of it (another tab, a stolen cookie), on pages and on the API."""

from __future__ import annotations

import re

from tests.lims.conftest import ok
from tests.support.api_client import API


def _login(client, username: str, password: str) -> None:
    ok(client.post(f"{API}/auth/login", json={"username": username, "password": password}))


def _copy(app, client):
    """A second browser holding the same session cookie."""
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def _csrf(client) -> str:
    return ok(client.get(f"{API}/auth/csrf"))["csrf_token"]


def test_api_logout_ends_every_copy_of_the_session(app, lab):
    client = lab.client
    _login(client, "tech", "demo-tech")
    stolen = _copy(app, client)
    assert stolen.get(f"{API}/auth/me").status_code == 200
    ok(client.post(f"{API}/auth/logout", headers={"X-CSRFToken": _csrf(client)}))
    assert stolen.get(f"{API}/auth/me").status_code == 401
    assert stolen.get("/lab/samples").status_code == 302  # to the login page
    # A new login works again.
    _login(client, "tech", "demo-tech")
    assert client.get(f"{API}/auth/me").status_code == 200


def test_page_logout_ends_every_copy_of_the_session(app, lab):
    client = lab.client
    csrf = re.compile(r'name="csrf_token" value="([^"]+)"')
    token = csrf.search(client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"username": "tech", "password": "demo-tech", "csrf_token": token})
    stolen = _copy(app, client)
    assert stolen.get("/lab/samples").status_code == 200
    token = csrf.search(client.get("/lab/samples").get_data(as_text=True)).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert stolen.get("/lab/samples").status_code == 302


def test_a_password_change_ends_the_users_sessions_but_not_the_changers(app, lab):
    tech_api, admin_api = lab.as_("tech"), lab.as_("admin")
    tech_browser = app.test_client()
    _login(tech_browser, "tech", "demo-tech")
    admin_browser = app.test_client()
    _login(admin_browser, "admin", "demo-admin")
    ok(admin_browser.patch(f"{API}/users/tech", json={"password": "a-new-secret-1"},
                           headers={"X-CSRFToken": _csrf(admin_browser)}))
    assert tech_browser.get(f"{API}/auth/me").status_code == 401
    assert admin_browser.get(f"{API}/auth/me").status_code == 200
    # The admin's own password: other copies of the admin session end, this one stays.
    stolen = _copy(app, admin_browser)
    ok(admin_browser.patch(f"{API}/users/admin", json={"password": "a-new-secret-2"},
                           headers={"X-CSRFToken": _csrf(admin_browser)}))
    assert admin_browser.get(f"{API}/auth/me").status_code == 200
    assert stolen.get(f"{API}/auth/me").status_code == 401
    # A reset by someone else revokes the user's tokens too (whoever knew the old password may
    # have made one); one's own change keeps them.
    assert tech_api.get("/auth/me").status_code == 401
    assert admin_api.get("/auth/me").status_code == 200
