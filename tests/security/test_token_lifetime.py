"""An API token is a lasting credential, so it should not last for ever, its owner should see
whether it is still in use, and a leaked one should take down what it made: tokens expire
(the creator chooses within a maximum, the lab's setting is the default), record their last
use, and a token minted by a token dies with its parent and never outlives it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from lims.kernel.clock import frozen_at
from lims.kernel.models import ApiToken, AuditEvent
from lims.kernel.settings import SettingsError, load_settings
from tests.lims.conftest import API, ok
from tests.support.api_client import Caller
from tests.web.test_pages import csrf_token, log_in

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _mint(caller: Caller, name: str, **fields) -> Caller:
    made = ok(caller.post("/tokens", json={"name": name, **fields}), 201)
    return Caller(caller.client, caller.username, made["token"])


def _listed(caller: Caller, name: str) -> dict:
    (row,) = [t for t in ok(caller.get("/tokens")) if t["name"] == name]
    return row


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_an_expired_token_is_refused_saying_it_expired(lab):
    """The balance PC's token was made for a day's trial; the day after, its calls are refused
    with a message saying the token expired (not that it is wrong), so the operator knows to
    make a new one rather than hunt for a typing error."""
    with frozen_at(T0):
        trial = _mint(lab.as_("tech"), "trial", expires_in_days=1)
        kept = _mint(lab.as_("tech"), "kept")
        assert _at(_listed(trial, "trial")["expires_at"]) == T0 + timedelta(days=1)
        # Without a choice the lab's default lifetime (RECYCLAB_TOKEN_LIFETIME_DAYS) holds.
        assert _at(_listed(kept, "kept")["expires_at"]) == T0 + timedelta(days=90)
    with frozen_at(T0 + timedelta(hours=23)):
        ok(trial.get("/auth/me"))
    with frozen_at(T0 + timedelta(days=1, seconds=1)):
        refused = trial.get("/auth/me")
        assert refused.status_code == 401
        message = refused.get_json()["message"]
        assert "expired" in message and "invalid" not in message
        ok(kept.get("/auth/me"))
        wrong = lab.client.get(f"{API}/auth/me", headers={"Authorization": "Bearer rcl_not-a-token"})
        assert wrong.status_code == 401 and "expired" not in wrong.get_json()["message"]


def test_a_token_minted_by_a_token_dies_with_its_parent(lab, session_factory):
    """A leaked token minted two more (no password needed); revoking the leaked one revokes
    them too, each in the audit trail. And a minted token never outlives its parent."""
    with frozen_at(T0):
        leaked = _mint(lab.as_("tech"), "leaked", expires_in_days=10)
        child = _mint(leaked, "child", expires_in_days=300)
        grandchild = _mint(child, "grandchild")
        other = _mint(lab.as_("tech"), "other")  # minted by the test's own token, not the leaked one
        assert _at(_listed(child, "child")["expires_at"]) == T0 + timedelta(days=10)
        assert _at(_listed(child, "grandchild")["expires_at"]) == T0 + timedelta(days=10)
        assert _listed(child, "grandchild")["parent"] == _listed(child, "child")["id"]
        leaked_id = _listed(leaked, "leaked")["id"]

        assert other.delete(f"/tokens/{leaked_id}").status_code == 204

        for dead in (leaked, child, grandchild):
            assert dead.get("/auth/me").status_code == 401
        ok(other.get("/auth/me"))
    with session_factory() as s:
        revoked = set(s.scalars(select(AuditEvent.entity_id).where(AuditEvent.action == "token.revoke")))
        names = dict(s.execute(select(ApiToken.id, ApiToken.name)).all())
    assert {names[int(i)] for i in revoked} == {"leaked", "child", "grandchild"}


def test_revoking_on_the_page_says_the_minted_tokens_went_too(lab, client, session_factory):
    leaked = _mint(lab.as_("tech"), "leaked")
    _mint(_mint(leaked, "child"), "grandchild")
    log_in(client, "tech")
    leaked_id = _listed(leaked, "leaked")["id"]
    done = client.post(f"/tokens/{leaked_id}/revoke", data={"csrf_token": csrf_token(client, "/account/tokens")},
                       follow_redirects=True)
    assert "The 2 tokens minted with it are revoked too." in done.get_data(as_text=True)
    assert leaked.get("/auth/me").status_code == 401


@pytest.mark.parametrize("app_settings", [{"token_lifetime_days": 30}])
def test_the_lab_chooses_the_default_lifetime_within_the_maximum(lab, monkeypatch):
    with frozen_at(T0):
        made = ok(lab.as_("tech").post("/tokens", json={"name": "default"}), 201)
    assert _at(made["expires_at"]) == T0 + timedelta(days=30)
    for days in ("0", "367", "ninety"):
        monkeypatch.setenv("RECYCLAB_TOKEN_LIFETIME_DAYS", days)
        with pytest.raises(SettingsError, match="RECYCLAB_TOKEN_LIFETIME_DAYS"):
            load_settings()


def test_an_expiry_beyond_the_maximum_is_refused_naming_the_field(lab, client, session_factory):
    def count() -> int:
        with session_factory() as s:
            return s.scalar(select(func.count()).select_from(ApiToken))

    tech = lab.as_("tech")
    before = count()
    for days in (367, 0, -5):
        refused = tech.post("/tokens", json={"name": "forever", "expires_in_days": days})
        assert refused.status_code == 422, refused.get_data(as_text=True)
        assert "expires_in_days" in refused.get_json()["errors"]["json"]
    ok(tech.post("/tokens", json={"name": "a year", "expires_in_days": 366}), 201)

    log_in(client, "tech")
    for days in ("400", "soon"):
        page = client.post("/account/tokens", data={
            "name": "forever", "expires_in_days": days, "password": "demo-tech",
            "csrf_token": csrf_token(client, "/account/tokens")})
        assert page.status_code == 422
        form = re.search(r'<form method="post" action="/account/tokens".*?</form>', page.get_data(as_text=True), re.S).group(0)
        assert 'name="expires_in_days"' in form and 'class="field-error"' in form
    assert count() == before + 1


def test_last_use_is_shown_and_not_written_on_every_request(lab, app, client, session_factory):
    """The owner sees when each token was last used; the time is written at most every few
    minutes, not by every request a busy machine client makes."""

    def last_used() -> datetime | None:
        with session_factory() as s:
            return s.scalar(select(ApiToken.last_used_at).where(ApiToken.name == "balance PC"))

    token_writes: list[str] = []

    def count_writes(conn, cursor, statement, *args) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_TOKEN"):
            token_writes.append(statement)

    with frozen_at(T0):
        balance = _mint(lab.as_("tech"), "balance PC", expires_in_days=5)
        assert last_used() is None and _listed(lab.as_("tech"), "balance PC")["last_used_at"] is None
        ok(balance.get("/auth/me"))
        assert last_used() == T0
    event.listen(app.extensions["recyclab.engine"], "before_cursor_execute", count_writes)
    try:
        for minute in range(1, 5):
            with frozen_at(T0 + timedelta(minutes=minute)):
                ok(balance.get("/auth/me"))
    finally:
        event.remove(app.extensions["recyclab.engine"], "before_cursor_execute", count_writes)
    assert token_writes == [] and last_used() == T0
    later = T0 + timedelta(minutes=6)
    with frozen_at(later):
        assert _at(_listed(balance, "balance PC")["last_used_at"]) == later
        assert last_used() == later
        log_in(client, "tech")
        page = client.get("/account/tokens").get_data(as_text=True)
    row = re.search(r'<tr data-token="balance PC".*?</tr>', page, re.S).group(0)
    assert f'datetime="{later.isoformat()}"' in row  # last used
    assert 'data-expires-soon' in row  # expires within 7 days
    kept = re.search(r'<tr data-token="tests".*?</tr>', page, re.S).group(0)
    assert 'data-expires-soon' not in kept
