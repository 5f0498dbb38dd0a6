"""Administration in the UI (issue 16, item 9): users, API tokens minted only by their owner and
shown once, and the audit log with its filters and chain check."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from lims.kernel.models import ApiToken, AuditEvent
from tests.web import seed
from tests.web.test_pages import _count_queries, csrf_token, log_in

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)

TOKEN = re.compile(r'<code class="code" id="new-token">(rcl_[^<]+)</code>')


def log_out(client) -> None:
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account/tokens")})


def test_admin_creates_and_deactivates_users_with_errors_under_their_fields(client, seeded):
    log_in(client, "tech")
    assert client.get("/admin/users").status_code == 403
    log_out(client)
    log_in(client, "admin")
    page = client.get("/admin/users").get_data(as_text=True)
    assert 'data-user="tech"' in page and 'href="/admin/users"' in page
    form = {"username": "x", "full_name": "Nina Bakker", "role": "technician", "organization": "ntk", "password": "short"}
    bad = client.post("/admin/users", data={**form, "csrf_token": csrf_token(client, "/admin/users")})
    assert bad.status_code == 422
    refused = bad.get_data(as_text=True)
    for field in ("username", "password"):
        assert re.search(rf'name="{field}"[^>]*aria-describedby="error-{field}"[^>]*>\s*</label><p class="field-error" id="error-{field}">', refused), field
    assert 'value="Nina Bakker"' in refused  # what was typed stays
    wrong_org = client.post("/admin/users", data={**form, "username": "nina", "password": "long enough pw", "organization": "polyvorm",
                                                  "csrf_token": csrf_token(client, "/admin/users")})
    assert wrong_org.status_code == 422 and "does not fit" in wrong_org.get_data(as_text=True)
    made = client.post("/admin/users", data={**form, "username": "nina", "password": "long enough pw",
                                              "csrf_token": csrf_token(client, "/admin/users")})
    assert made.status_code == 302
    assert 'data-user="nina"' in client.get("/admin/users").get_data(as_text=True)
    # Deactivated: the login no longer works. An admin cannot lock themselves out.
    off = client.post("/admin/users/nina/active", data={"active": "0", "confirmed": "1", "csrf_token": csrf_token(client, "/admin/users")})
    assert off.status_code == 302
    me = client.post("/admin/users/admin/active", data={"active": "0", "confirmed": "1", "csrf_token": csrf_token(client, "/admin/users")})
    assert me.status_code == 422 and "cannot deactivate yourself" in me.get_data(as_text=True)
    log_out(client)
    login = client.post("/login", data={"username": "nina", "password": "long enough pw", "csrf_token": csrf_token(client)})
    assert login.status_code == 401


def _preselected(page: str, name: str) -> list[str]:
    """The option(s) a <select> of the page submits untouched: the one marked selected, else its
    first (as a browser does)."""
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S).group(1)
    options = re.findall(r'<option value="([^"]*)"\s*(selected)?', select)
    return [value for value, chosen in options if chosen] or [options[0][0]]


def test_the_new_user_form_offers_the_least_privileged_staff_account_at_the_lab(client, seeded):
    """An administrator who fills in only the name and password creates a technician of the lab,
    not another administrator: a right is given by choosing it."""
    log_in(client, "admin")
    page = client.get("/admin/users").get_data(as_text=True)
    assert _preselected(page, "role") == ["technician"] and _preselected(page, "organization") == ["ntk"]
    form = {"username": "nina", "full_name": "Nina Bakker", "password": "long enough pw",
            "role": _preselected(page, "role")[0], "organization": _preselected(page, "organization")[0]}
    made = client.post("/admin/users", data={**form, "csrf_token": csrf_token(client, "/admin/users")})
    assert made.status_code == 302, made.get_data(as_text=True)
    row = re.search(r'<tr data-user="nina">.*?</tr>', client.get("/admin/users").get_data(as_text=True), re.S).group(0)
    assert "technician" in row and "administrator" not in row


def test_tokens_are_minted_by_their_owner_shown_once_and_revocable(client, seeded):
    log_in(client, "tech")
    created = client.post("/account/tokens", data={"name": "balance PC", "password": seed.PASSWORDS["tech"],
                                                 "csrf_token": csrf_token(client, "/account/tokens")},
                          follow_redirects=True)
    assert created.status_code == 200
    token = TOKEN.search(created.get_data(as_text=True)).group(1)
    assert token not in client.get("/account/tokens").get_data(as_text=True)  # shown once
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/auth/me", headers=bearer).get_json()["username"] == "tech"
    with seeded() as s:
        token_id = s.scalar(select(ApiToken.id).where(ApiToken.name == "balance PC"))
    log_out(client)
    # Somebody else's token is not theirs to revoke; an admin may, but may not mint one for tech.
    log_in(client, "tech2")
    assert client.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(client, "/account/tokens")}).status_code == 404
    log_out(client)
    log_in(client, "admin")
    assert client.post("/api/v1/tokens", json={"name": "for tech", "user": "tech"},
                       headers={"X-CSRFToken": csrf_token(client, "/account/tokens")}).status_code == 403
    listing = client.get("/admin/tokens").get_data(as_text=True)
    assert 'data-token="balance PC"' in listing
    assert client.post(f"/tokens/{token_id}/revoke", data={"back": "all", "csrf_token": csrf_token(client, "/admin/tokens")}).status_code == 302
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 401


def test_the_tokens_pages_say_which_token_each_token_was_minted_with_at_one_cost(app, client, seeded):
    """Tech mints an ERP token with their password, and the ERP mints its nightly tokens with it
    through the API: tech's page and the admin's show against each which token it was minted
    with (revoking that one ends them too), and cost as many statements for many as for one."""
    log_in(client, "tech")
    created = client.post("/account/tokens", data={"name": "ERP import", "password": seed.PASSWORDS["tech"],
                                                 "csrf_token": csrf_token(client, "/account/tokens")},
                          follow_redirects=True)
    erp = {"Authorization": f"Bearer {TOKEN.search(created.get_data(as_text=True)).group(1)}"}

    def mint(name: str) -> None:
        assert app.test_client().post("/api/v1/tokens", json={"name": name}, headers=erp).status_code == 201

    def row(page: str, name: str) -> str:
        found = re.search(rf'<tr data-token="{name}".*?</tr>', page, re.S)
        assert found, name
        return " ".join(re.sub(r"<[^>]+>", " ", found.group(0)).split())

    mint("ERP night 1")
    with seeded() as s:
        prefix = s.scalar(select(ApiToken.prefix).where(ApiToken.name == "ERP import"))
    mine = client.get("/account/tokens").get_data(as_text=True)
    assert "Minted with" in mine
    assert f"ERP import {prefix}…" in row(mine, "ERP night 1")
    assert "password" in row(mine, "ERP import")
    few = _count_queries(app, client, "/account/tokens")
    for n in range(2, 7):
        mint(f"ERP night {n}")
    assert _count_queries(app, client, "/account/tokens") == few
    log_out(client)
    log_in(client, "admin")
    everyone = client.get("/admin/tokens").get_data(as_text=True)
    assert f"ERP import {prefix}…" in row(everyone, "ERP night 6")


def test_audit_log_filters_and_the_chain_check_finds_a_changed_event(client, seeded):
    seed.lot_with_samples(seeded, 1)
    log_in(client, "reviewer")
    everything = client.get("/admin/audit/").get_data(as_text=True)
    assert "lot.create" in everything
    lots_only = client.get("/admin/audit/?action=lot.create").get_data(as_text=True)
    assert re.findall(r"<code>([\w.]+)</code>", lots_only) == ["lot.create"]
    assert "No events match." in client.get("/admin/audit/?actor=nobody").get_data(as_text=True)
    intact = client.post("/admin/audit/verify", data={"csrf_token": csrf_token(client, "/admin/audit/")})
    assert "The chain is intact" in intact.get_data(as_text=True)
    with seeded.begin() as s:
        seq = s.scalar(select(AuditEvent.seq).where(AuditEvent.action == "lot.create"))
        s.execute(update(AuditEvent).where(AuditEvent.seq == seq).values(actor="mallory"))
    broken = client.post("/admin/audit/verify", data={"csrf_token": csrf_token(client, "/admin/audit/")})
    assert f"The chain is broken at event {seq}" in broken.get_data(as_text=True)
    log_out(client)
    # The audit trail is the lab's (every staff role, as in the API), never a customer's.
    log_in(client, "polyvorm")
    assert client.get("/admin/audit/").status_code == 403


def test_deactivating_a_user_asks_for_confirmation_first(client, seeded):
    log_in(client, "admin")
    token = csrf_token(client, "/admin/users")
    asked = client.post("/admin/users/tech/active", data={"active": "0", "csrf_token": token})
    assert asked.status_code == 200
    page = asked.get_data(as_text=True)
    assert "Deactivate tech?" in page
    assert re.search(r'<form method="post" action="/admin/users/tech/active"[^>]*>.*?name="confirmed" value="1"', page, re.S)
    assert 'href="/admin/users"' in page  # cancel: back to the list, nothing changed
    with seeded() as s:
        assert seed.user(s, "tech").active
    done = client.post("/admin/users/tech/active", data={"active": "0", "confirmed": "1", "csrf_token": token})
    assert done.status_code == 302
    with seeded() as s:
        assert not seed.user(s, "tech").active
    # Reactivating needs no confirmation: it takes nothing away.
    assert client.post("/admin/users/tech/active", data={"active": "1", "csrf_token": token}).status_code == 302
    with seeded() as s:
        assert seed.user(s, "tech").active


def test_a_common_password_is_refused_on_the_pages_under_the_field_it_is_about(client, seeded):
    """Whether the administrator types it for a new colleague or as a temporary password in a
    user's row, or the user chooses it on the change-password page: the refusal says why, under
    the field a screen reader is on (the row's own, not the new-user form's)."""
    log_in(client, "admin")
    form = {"username": "nina", "full_name": "Nina Bakker", "role": "technician", "organization": "ntk"}
    bad = client.post("/admin/users", data={**form, "password": "Password1", "csrf_token": csrf_token(client, "/admin/users")})
    assert bad.status_code == 422
    assert re.search(r'name="password"[^>]*aria-describedby="error-password"[^>]*>\s*</label>'
                     r'<p class="field-error" id="error-password">[^<]*used most often', bad.get_data(as_text=True))

    reset = client.post("/admin/users/tech/password", data={"password": "welcome123", "csrf_token": csrf_token(client, "/admin/users")})
    assert reset.status_code == 422
    row = re.search(r'<tr data-user="tech">.*?</tr>', reset.get_data(as_text=True), re.S).group(0)
    assert re.search(r'<input name="password"[^>]*aria-invalid="true" aria-describedby="error-password-tech"', row), row
    assert re.search(r'<p class="field-error" id="error-password-tech">[^<]*used most often', row), row
    made = client.post("/admin/users", data={**form, "password": "told at the desk on monday",
                                              "csrf_token": csrf_token(client, "/admin/users")})
    assert made.status_code == 302

    log_out(client)
    client.post("/login", data={"username": "nina", "password": "told at the desk on monday", "csrf_token": csrf_token(client)})
    own = {"current_password": "told at the desk on monday", "password": "nina2026!", "repeat": "nina2026!"}
    refused = client.post("/account/password", data={**own, "csrf_token": csrf_token(client, "/account/password")})
    assert refused.status_code == 422
    assert re.search(r'<p class="field-error" id="error-password">[^<]*contains the username', refused.get_data(as_text=True))


def test_the_password_rule_is_said_in_dutch(client, seeded):
    log_in(client, "admin")
    client.post("/lang", data={"lang": "nl", "next": "/admin/users", "csrf_token": csrf_token(client, "/admin/users")})
    reset = client.post("/admin/users/tech/password", data={"password": "welcome123", "csrf_token": csrf_token(client, "/admin/users")})
    assert reset.status_code == 422
    assert "een van de meest gebruikte wachtwoorden" in reset.get_data(as_text=True)


def test_a_refused_temporary_password_is_tied_to_its_field_in_the_users_row(client, seeded):
    """A screen reader on the temporary-password field of tech's row hears why it was refused
    (and the reason is said, not just "invalid password" above the table)."""
    log_in(client, "admin")
    reset = client.post("/admin/users/tech/password", data={"password": "short", "csrf_token": csrf_token(client, "/admin/users")})
    assert reset.status_code == 422
    row = re.search(r'<tr data-user="tech">.*?</tr>', reset.get_data(as_text=True), re.S).group(0)
    assert re.search(r'<input name="password"[^>]*aria-invalid="true" aria-describedby="error-password-tech"', row), row
    assert '<p class="field-error" id="error-password-tech">give a password of 8 to 200 characters</p>' in row
