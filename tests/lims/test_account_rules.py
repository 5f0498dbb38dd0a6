"""Who may administer accounts, and what a password change ends: held by the account services
themselves, so every way in (API, pages, seeding, a direct call) keeps to them."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select

from lims.kernel.errors import Forbidden, NotFound
from lims.kernel.models import ApiToken, Organization, User
from lims.kernel.settings import config_dir
from lims.people import accounts
from lims.seed import seed_all
from tests.lims.conftest import API, ok
from tests.web.test_pages import csrf_token


def _user(session, username: str) -> User:
    return session.scalar(select(User).where(User.username == username))


@pytest.mark.parametrize("change", [
    lambda s, tech: accounts.update_user(s, tech, _user(s, "tech2"), {"role": "admin"}),
    lambda s, tech: accounts.set_active(s, tech, _user(s, "tech2"), False),
    lambda s, tech: accounts.set_password(s, tech, _user(s, "tech2"), "chosen-by-tech"),
    lambda s, tech: accounts.create_user(
        s, tech, username="mallory", password="long-enough", role="admin",
        organization=tech.organization),
    lambda s, tech: accounts.create_organization(s, tech, key="shell", name="Shell B.V.", kind="customer"),
    lambda s, tech: accounts.update_organization(
        s, tech, s.scalar(select(Organization).where(Organization.key == "polyvorm")), {"name": "Mine"}),
], ids=["update_user", "set_active", "set_password", "create_user", "create_organization", "update_organization"])
def test_the_account_services_refuse_a_caller_who_does_not_administer(seeded, session_factory, change):
    """A technician calling the service directly (a script, a future CLI command, a view that
    forgot its check) is refused by the service itself, and nothing is written."""
    with session_factory() as s:
        tech = _user(s, "tech")
        with pytest.raises(Forbidden, match="administer users and organizations|create|change"):
            change(s, tech)
        s.rollback()
        assert _user(s, "tech2").role == "technician" and _user(s, "tech2").active
        assert _user(s, "mallory") is None


def test_a_closed_admin_account_administers_nothing(seeded, session_factory):
    with session_factory.begin() as s:
        ghost = accounts.create_user(s, _user(s, "admin"), username="ghost", password="long-enough",
                                     role="admin", organization=_user(s, "admin").organization)
        ghost.active = False
    with session_factory() as s:
        with pytest.raises(Forbidden, match="deactivated"):
            accounts.update_user(s, _user(s, "ghost"), _user(s, "tech"), {"full_name": "Changed"})


def _logged_in(app, username: str, password: str):
    browser = app.test_client()
    ok(browser.post(f"{API}/auth/login", json={"username": username, "password": password}))
    return browser


def _works(browser, token: str | None = None) -> bool:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return browser.get(f"{API}/auth/me", headers=headers).status_code == 200


def test_seeding_a_new_demo_password_ends_the_users_sessions_and_tokens(lab, app, session_factory, tmp_path):
    """The demo password in config/users.toml changed (it had leaked, say): re-seeding sets the
    new one, and whoever logged in or made a token with the old one is out."""
    tech = lab.as_("tech")
    balance_pc = ok(tech.post("/tokens", json={"name": "balance PC"}), 201)["token"]
    browser = _logged_in(app, "tech", "demo-tech")
    config = tmp_path / "config"
    shutil.copytree(config_dir(), config)
    users = config / "users.toml"
    users.write_text(users.read_text().replace('"demo-tech"', '"demo-tech-new"'))

    with session_factory.begin() as s:
        assert seed_all(s, config)["users"] == 1

    assert not _works(browser) and not _works(app.test_client(), balance_pc)
    assert _works(_logged_in(app, "tech", "demo-tech-new"))  # a seeded password is not temporary


def test_a_password_set_by_an_administrator_must_be_changed_at_the_next_login(lab, app, session_factory):
    """The administrator knows the password they set: its owner's tokens and sessions end, the
    API refuses to log in with it naming the password, and the page asks for a new one first."""
    admin, tech = lab.as_("admin"), lab.as_("tech")
    balance_pc = ok(tech.post("/tokens", json={"name": "balance PC"}), 201)["token"]
    browser = _logged_in(app, "tech", "demo-tech")

    ok(admin.patch("/users/tech", json={"password": "told-at-the-desk"}))

    assert not _works(browser) and not _works(app.test_client(), balance_pc)
    refused = app.test_client().post(f"{API}/auth/login", json={"username": "tech", "password": "told-at-the-desk"})
    assert refused.status_code == 403, refused.get_data(as_text=True)
    assert "must be changed" in refused.get_json()["errors"]["json"]["password"][0]

    page = app.test_client()
    answer = page.post("/login", data={"username": "tech", "password": "told-at-the-desk",
                                       "csrf_token": csrf_token(page)})
    assert answer.headers["Location"].startswith("/account/password")
    assert page.get("/lab/samples").headers["Location"].startswith("/account/password")
    assert page.get(f"{API}/samples").status_code == 403  # the browser's API calls wait too
    form = page.get("/account/password")
    assert form.status_code == 200 and 'name="current_password"' in form.get_data(as_text=True)
    token = csrf_token(page, "/account/password")
    same = page.post("/account/password", data={"csrf_token": token, "current_password": "told-at-the-desk",
                                                "password": "told-at-the-desk", "repeat": "told-at-the-desk"})
    assert same.status_code == 422
    changed = page.post("/account/password", data={"csrf_token": token, "current_password": "told-at-the-desk",
                                                   "password": "only-tim-knows-it", "repeat": "only-tim-knows-it"})
    assert changed.status_code == 302, changed.get_data(as_text=True)
    assert page.get("/lab/samples").status_code == 200
    assert _works(_logged_in(app, "tech", "only-tim-knows-it"))
    with session_factory() as s:
        assert not _user(s, "tech").must_change_password


def test_changing_ones_own_password_ends_the_other_sessions_only(lab, app):
    """One's own choice: the other browsers are logged out, this one stays, tokens stay."""
    tech = lab.as_("tech")
    other_browser = _logged_in(app, "tech", "demo-tech")
    page = app.test_client()
    page.post("/login", data={"username": "tech", "password": "demo-tech", "csrf_token": csrf_token(page)})
    wrong = page.post("/account/password", data={"csrf_token": csrf_token(page, "/account/password"),
                                                 "current_password": "guessed", "password": "x" * 12, "repeat": "x" * 12})
    assert wrong.status_code == 422 and _works(other_browser)
    changed = page.post("/account/password", data={"csrf_token": csrf_token(page, "/account/password"),
                                                   "current_password": "demo-tech", "password": "x" * 12,
                                                   "repeat": "x" * 12})
    assert changed.status_code == 302
    assert not _works(other_browser)
    assert _works(page) and _works(app.test_client(), tech.token)


def test_a_new_users_first_password_is_chosen_again_by_api_and_then_works(lab, app):
    """The administrator who made the account knows its first password too. An API client
    chooses its own with the current one (throttled like a login), and is logged in."""
    admin = lab.as_("admin")
    ok(admin.post("/users", json={"username": "nina", "password": "first-password", "role": "technician",
                                  "organization": "ntk"}), 201)
    client = app.test_client()
    refused = client.post(f"{API}/auth/login", json={"username": "nina", "password": "first-password"})
    assert refused.status_code == 403 and "password" in refused.get_json()["errors"]["json"]
    wrong = client.post(f"{API}/auth/password", json={"username": "nina", "current_password": "guess",
                                                      "password": "her-own-choice-now"})
    assert wrong.status_code == 422 and "current_password" in wrong.get_json()["errors"]["json"]
    short = client.post(f"{API}/auth/password", json={"username": "nina", "current_password": "first-password",
                                                      "password": "short"})
    assert short.status_code == 422 and "password" in short.get_json()["errors"]["json"]
    me = ok(client.post(f"{API}/auth/password", json={"username": "nina", "current_password": "first-password",
                                                      "password": "her-own-choice-now"}))
    assert me["username"] == "nina" and ok(client.get(f"{API}/auth/me"))["username"] == "nina"
    ok(app.test_client().post(f"{API}/auth/login", json={"username": "nina", "password": "her-own-choice-now"}))


def test_the_administration_page_sets_a_temporary_password(lab, app, session_factory):
    admin_page, tech = app.test_client(), lab.as_("tech")
    admin_page.post("/login", data={"username": "admin", "password": "demo-admin", "csrf_token": csrf_token(admin_page)})
    short = admin_page.post("/admin/users/tech/password", data={"password": "short",
                                                                "csrf_token": csrf_token(admin_page, "/admin/users")})
    assert short.status_code == 422 and "8 to 200" in short.get_data(as_text=True)
    assert _works(app.test_client(), tech.token)
    done = admin_page.post("/admin/users/tech/password", data={"password": "told-at-the-desk",
                                                               "csrf_token": csrf_token(admin_page, "/admin/users")})
    assert done.status_code == 302
    assert not _works(app.test_client(), tech.token)
    with session_factory() as s:
        assert _user(s, "tech").must_change_password
    assert "must choose a new password" in admin_page.get("/admin/users").get_data(as_text=True)


def test_only_the_owner_or_an_administrator_revokes_a_token(lab, session_factory):
    """Someone else's token is not found, whichever way in asks (as the pages and the API answer)."""
    lab.as_("tech")
    with session_factory() as s:
        token = s.scalar(select(ApiToken).join(User).where(User.username == "tech"))
        with pytest.raises(NotFound):
            accounts.revoke_token(s, _user(s, "tech2"), token)
        s.rollback()
        accounts.revoke_token(s, _user(s, "admin"), token)
        assert token.revoked_at is not None


def test_a_closed_account_cannot_choose_a_new_password(seeded, session_factory):
    with session_factory() as s:
        tech = _user(s, "tech")
        tech.active = False
        with pytest.raises(Forbidden, match="deactivated"):
            accounts.change_own_password(s, tech, "demo-tech", "a-new-secret-9")
