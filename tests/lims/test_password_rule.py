"""A password someone sets is held to NIST SP 800-63B 5.1.1.2, whichever way it is set: not one
of the passwords attackers try first (a common one from leaked lists, the username, the lab's
or the service's name with digits), while a long phrase of ordinary words is fine. A common
password set before the rule is evidence of compromise (NIST: the verifier forces a change):
its next login succeeds, and the account chooses a new one before anything else."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from lims.cli import main
from lims.kernel.models import AuditEvent, User
from lims.kernel.settings import config_dir
from lims.people.accounts import hash_password
from lims.seed import seed_all
from tests.lims.conftest import API, ok
from tests.web.test_pages import csrf_token

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)

COMMON = ["Password1", "welcome123", "PASSWORD1!", "Recyclab2026", "ntk-12345678", "Nationaal Testcentrum Kunststoffen 1"]
PASSPHRASE = "kiln sieve and a purple granulate"


def _new_user(password: str, username: str = "nina") -> dict:
    return {"username": username, "password": password, "role": "technician", "organization": "ntk"}


def _refusal(response) -> str:
    assert response.status_code == 422, response.get_data(as_text=True)
    errors = response.get_json()["errors"]["json"]
    assert list(errors) == ["password"], errors
    return errors["password"][0]


def test_an_administrator_cannot_give_a_new_colleague_a_common_password_through_the_api(lab, session_factory):
    admin = lab.as_("admin")
    for password in COMMON:
        message = _refusal(admin.post("/users", json=_new_user(password)))
        assert "attackers try first" in message and "choose" in message, (password, message)
    # Nor as a temporary password for an existing account.
    assert "attackers try first" in _refusal(admin.patch("/users/tech", json={"password": "welcome123"}))
    with session_factory() as s:
        assert s.scalar(select(User.id).where(User.username == "nina")) is None

    ok(admin.post("/users", json=_new_user(PASSPHRASE)), 201)


def test_a_user_choosing_her_own_password_cannot_use_a_common_one_or_her_username(lab, client):
    ok(lab.as_("admin").post("/users", json=_new_user("told-at-the-desk", username="ninab")), 201)
    for password, why in (("Password1", "used most often"), ("welcome123", "used most often"),
                          ("NinaB-is-my-name", "contains the username 'ninab'")):
        refused = client.post(f"{API}/auth/password", json={
            "username": "ninab", "current_password": "told-at-the-desk", "password": password})
        assert why in _refusal(refused), password
    ok(client.post(f"{API}/auth/password", json={
        "username": "ninab", "current_password": "told-at-the-desk", "password": PASSPHRASE}))
    assert ok(client.get(f"{API}/auth/me"))["username"] == "ninab"


def test_the_command_line_refuses_a_common_password_for_the_first_administrator(database_url, session_factory, tmp_path):
    with session_factory.begin() as s:
        seed_all(s, config_dir(), demo_users=False)
    env = {"RECYCLAB_DATABASE_URL": database_url, "RECYCLAB_VAR_DIR": str(tmp_path / "var")}

    def create(password: str):
        return CliRunner().invoke(main, ["user", "create", "anouk", "--role", "admin", "--organization", "ntk",
                                         "--password-stdin"], env=env, input=password + "\n")

    for password in ("Password1", "welcome123", "anouk-2026!"):
        refused = create(password)
        assert refused.exit_code == 1 and "password: " in refused.output and "attackers try first" in refused.output
    with session_factory() as s:
        assert s.scalar(select(User.id)) is None
    made = create(PASSPHRASE)
    assert made.exit_code == 0, made.output


def _stored_before_the_rule(session_factory, username: str, password: str) -> None:
    """The password as an account kept it from before the rule: its hash, set directly."""
    with session_factory.begin() as s:
        s.scalar(select(User).where(User.username == username)).password_hash = hash_password(password)


def _common_password_events(session_factory, username: str) -> list[AuditEvent]:
    with session_factory() as s:
        user_id = s.scalar(select(User.id).where(User.username == username))
        return list(s.scalars(select(AuditEvent).where(
            AuditEvent.action == "user.password_common", AuditEvent.entity_id == str(user_id))))


def test_a_common_password_from_before_the_rule_is_changed_at_the_next_login_on_the_web(lab, app, session_factory):
    """Sanne's password123 dates from before the rule. She logs in on the page: the login
    works, but she is sent to the password page, which tells her why (attackers try it first,
    not that an administrator knows it), and no other page opens until she has chosen a new one."""
    _stored_before_the_rule(session_factory, "tech2", "password123")
    browser = app.test_client()
    login = browser.post("/login?next=/lab/samples", data={
        "username": "tech2", "password": "password123", "csrf_token": csrf_token(browser)})
    assert login.status_code == 302 and login.headers["Location"].endswith("/account/password")
    page = browser.get("/account/password").get_data(as_text=True)
    assert "attackers try first" in page and "administrator" not in page, page
    assert browser.get("/lab/samples").headers["Location"].endswith("/account/password")

    changed = browser.post("/account/password", data={
        "current_password": "password123", "password": PASSPHRASE, "repeat": PASSPHRASE,
        "csrf_token": csrf_token(browser, "/account/password")})
    assert changed.status_code == 302, changed.get_data(as_text=True)
    assert browser.get("/lab/samples").status_code == 200
    with session_factory() as s:
        sanne = s.scalar(select(User).where(User.username == "tech2"))
        assert (sanne.must_change_password, sanne.password_change_reason) == (False, None)
    [event] = _common_password_events(session_factory, "tech2")
    assert event.after["password_change_reason"] == "common_password"
    assert "password123" not in str(event.before) + str(event.after)


def test_a_common_password_from_before_the_rule_is_refused_for_the_api_until_changed(lab, app, session_factory):
    """A script logs in as Sanne with her old common password: the login is refused with the
    reason, and so is the next call with the token she made before, until she chose another."""
    sanne = lab.as_("tech2")
    ok(sanne.get("/auth/me"))
    _stored_before_the_rule(session_factory, "tech2", "Password123!")
    refused = app.test_client().post(f"{API}/auth/login", json={"username": "tech2", "password": "Password123!"})
    assert refused.status_code == 403
    [reason] = refused.get_json()["errors"]["json"]["password"]
    assert "attackers try first" in reason and "administrator" not in reason, reason
    next_call = sanne.get("/auth/me")
    assert next_call.status_code == 403 and "attackers try first" in next_call.get_data(as_text=True)
    assert len(_common_password_events(session_factory, "tech2")) == 1

    ok(app.test_client().post(f"{API}/auth/password", json={
        "username": "tech2", "current_password": "Password123!", "password": PASSPHRASE}))
    assert ok(sanne.get("/auth/me"))["username"] == "tech2"


def test_an_uncommon_or_published_demo_password_is_not_flagged_at_login(lab, app, session_factory):
    """Only the leaked list counts at login: a phrase of ordinary words, and the demo accounts'
    published passwords (which contain their usernames, refused when chosen), go on working."""
    _stored_before_the_rule(session_factory, "tech2", PASSPHRASE)
    for username, password in (("tech2", PASSPHRASE), ("tech", "demo-tech"), ("admin", "demo-admin")):
        me = ok(app.test_client().post(f"{API}/auth/login", json={"username": username, "password": password}))
        assert me["username"] == username
        with session_factory() as s:
            assert s.scalar(select(User.must_change_password).where(User.username == username)) is False
        assert _common_password_events(session_factory, username) == []
