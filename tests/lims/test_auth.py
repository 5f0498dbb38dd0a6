"""People and access: argon2 passwords, session login, tokens shown once and revocable, roles."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lims.kernel.models import ApiToken, User
from tests.lims.conftest import API, ok

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)


def test_session_login_and_logout(client, seeded, session_factory):
    assert client.get(f"{API}/auth/me").status_code == 401
    assert client.post(f"{API}/auth/login", json={"username": "tech", "password": "nope"}).status_code == 401
    assert client.post(f"{API}/auth/login", json={"username": "ghost", "password": "nope"}).status_code == 401
    me = ok(client.post(f"{API}/auth/login", json={"username": "tech", "password": "demo-tech"}))
    assert (me["role"], me["organization"]) == ("technician", "ntk")
    assert ok(client.get(f"{API}/samples")) == []
    csrf = ok(client.get(f"{API}/auth/csrf"))["csrf_token"]
    ok(client.post(f"{API}/auth/logout", headers={"X-CSRFToken": csrf}))
    assert client.get(f"{API}/samples").status_code == 401
    with session_factory() as s:
        assert s.scalar(select(User.password_hash).where(User.username == "tech")).startswith("$argon2id$")


def test_token_is_shown_once_stored_hashed_and_revocable(lab, client, session_factory):
    tech = lab.as_("tech")
    created = ok(tech.post("/tokens", json={"name": "balance PC"}), 201)
    token = created["token"]
    assert token.startswith("rcl_") and len(token) > 40
    listed = ok(tech.get("/tokens"))
    assert "token" not in listed[-1] and listed[-1]["prefix"] == token[:10]
    with session_factory() as s:
        stored = s.scalar(select(ApiToken.token_hash).where(ApiToken.id == created["id"]))
        assert token not in stored and len(stored) == 64
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get(f"{API}/auth/me", headers=bearer).get_json()["username"] == "tech"
    assert client.delete(f"{API}/tokens/{created['id']}", headers=bearer).status_code == 204
    assert client.get(f"{API}/auth/me", headers=bearer).status_code == 401
    assert client.get(f"{API}/auth/me", headers={"Authorization": "Basic abc"}).status_code == 401
    # Someone else's token is not even visible.
    other = lab.as_("tech2")
    assert other.delete(f"/tokens/{created['id']}").status_code == 404


def test_admin_manages_users_and_roles_are_enforced(lab, client):
    admin, tech = lab.as_("admin"), lab.as_("tech")
    assert tech.get("/users").status_code == 403
    assert tech.post("/organizations", json={"key": "xy", "name": "X", "kind": "customer"}).status_code == 403
    ok(admin.post("/organizations", json={"key": "recytex", "name": "Recytex B.V.", "kind": "customer"}), 201)
    dup = admin.post("/organizations", json={"key": "recytex", "name": "Again", "kind": "customer"})
    assert dup.status_code == 422 and "key" in dup.get_json()["errors"]["json"]
    bad = admin.post("/users", json={"username": "eve", "password": "short", "role": "god", "organization": "recytex"})
    assert set(bad.get_json()["errors"]["json"]) == {"password", "role"}
    wrong_org = admin.post("/users", json={"username": "eve", "password": "long-enough", "role": "technician",
                                            "organization": "recytex"})
    assert wrong_org.status_code == 422 and "role" in wrong_org.get_json()["errors"]["json"]
    ok(admin.post("/users", json={"username": "eve", "password": "long-enough", "role": "customer",
                                  "organization": "recytex"}), 201)
    # The administrator knows the first password: eve chooses her own before anything else.
    ok(client.post(f"{API}/auth/password", json={"username": "eve", "current_password": "long-enough",
                                                  "password": "her-own-choice-now"}))
    assert ok(client.get(f"{API}/organizations")) == [
        {"id": pytest.approx(0, abs=10**9), "key": "recytex", "name": "Recytex B.V.", "kind": "customer", "address": "", "language": "en"}
    ]
    ok(admin.patch("/users/eve", json={"active": False}))
    assert client.get(f"{API}/auth/me").status_code == 401
    assert ok(tech.get("/users/tech"))["username"] == "tech"
    assert tech.get("/users/admin").status_code == 404
    customer = lab.as_("polyvorm")
    assert customer.post("/lots", json={}).status_code == 422
    from tests.lims.conftest import PP_LOT

    assert customer.post("/lots", json=PP_LOT).status_code == 403
    assert customer.post("/samples", json={"material": "pp", "owner": "polyvorm"}).status_code == 403
    assert customer.get("/audit/events").status_code == 403


def test_an_admin_cannot_deactivate_themselves_by_the_api_either(lab, session_factory):
    """The administration page refuses it; the users API must too, or the lab's one administrator
    is locked out with a single PATCH."""
    admin = lab.as_("admin")
    refused = admin.patch("/users/admin", json={"active": False, "full_name": "Admin Istrator"})
    assert refused.status_code == 422, refused.get_data(as_text=True)
    assert "yourself" in refused.get_json()["errors"]["json"]["active"][0]
    assert ok(admin.get("/auth/me"))["active"] is True
    with session_factory() as s:
        me = s.scalar(select(User).where(User.username == "admin"))
        assert me.active and me.full_name != "Admin Istrator"  # nothing half-written
    ok(admin.patch("/users/tech2", json={"active": False}))


def test_a_deactivated_account_comes_back_without_its_old_sessions_and_tokens(lab, app, session_factory):
    """Deactivating ends the account's access for good: reactivated, its owner logs in again and
    makes new tokens; a token that leaked, or a browser left logged in, stays dead."""
    admin, tech = lab.as_("admin"), lab.as_("tech")
    client = app.test_client()  # the technician's own browser
    balance_pc = ok(tech.post("/tokens", json={"name": "balance PC"}), 201)["token"]
    ok(client.post(f"{API}/auth/login", json={"username": "tech", "password": "demo-tech"}))
    ok(client.get(f"{API}/auth/me"))

    ok(admin.patch("/users/tech", json={"active": False}))
    ok(admin.patch("/users/tech", json={"active": True}))

    assert client.get(f"{API}/auth/me").status_code == 401
    assert client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {balance_pc}"}).status_code == 401
    assert tech.get("/auth/me").status_code == 401
    with session_factory() as s:
        tokens = s.scalars(select(ApiToken).join(User).where(User.username == "tech")).all()
        assert tokens and all(t.revoked_at is not None for t in tokens)
    me = ok(client.post(f"{API}/auth/login", json={"username": "tech", "password": "demo-tech"}))
    assert me["username"] == "tech" and me["active"] is True


def test_an_admins_change_keeps_only_the_admins_own_session(lab, app):
    """Deactivating ends the user's browser sessions even when the admin's request carries that
    user's session cookie (a shared kiosk browser, a script reusing a cookie jar): only a change
    to one's own account keeps the session making it."""
    admin = lab.as_("admin")
    kiosk = app.test_client()
    ok(kiosk.post(f"{API}/auth/login", json={"username": "tech", "password": "demo-tech"}))
    headers = {"Authorization": f"Bearer {admin.token}"}
    ok(kiosk.patch(f"{API}/users/tech", json={"active": False}, headers=headers))
    ok(kiosk.patch(f"{API}/users/tech", json={"active": True}, headers=headers))
    assert kiosk.get(f"{API}/auth/me").status_code == 401


def test_an_admin_cannot_change_their_own_role(lab, session_factory):
    """Like deactivating oneself: the lab's one administrator demoting themselves leaves nobody
    to administer it. Another administrator may change it."""
    admin = lab.as_("admin")
    refused = admin.patch("/users/admin", json={"role": "reviewer", "full_name": "Admin Istrator"})
    assert refused.status_code == 422, refused.get_data(as_text=True)
    assert "your own role" in refused.get_json()["errors"]["json"]["role"][0]
    with session_factory() as s:
        me = s.scalar(select(User).where(User.username == "admin"))
        assert me.role == "admin" and me.full_name != "Admin Istrator"  # nothing half-written
    assert ok(admin.patch("/users/admin", json={"role": "admin", "full_name": "Admin Istrator"}))["role"] == "admin"
    ok(admin.patch("/users/tech2", json={"role": "reviewer"}))


def test_the_process_engineer_reads_no_certificates_by_the_api_either(lab):
    """Reading certificates is a right some roles have (the pages ask for it); the API's list,
    detail and files ask for the same right, not merely whether the caller is a customer."""
    from tests.lims.conftest import analyses_by_method, register

    tech, reviewer, engineer = lab.as_("tech"), lab.as_("reviewer"), lab.as_("engineer")
    sample = register(tech, methods=["ash_3451"])
    ash = analyses_by_method(sample)["ash_3451"]
    ok(tech.post(f"/analyses/{ash}/result", json={"value": "0.42", "unit": "%"}))
    ok(reviewer.post(f"/analyses/{ash}/verify"))
    cert = ok(reviewer.post("/certificates", json={"sample": sample["sample_id"]}), 201)

    for path in ("/certificates", f"/certificates/{cert['id']}", f"/certificates/{cert['id']}.pdf",
                 f"/certificates/{cert['id']}.json", f"/certificates/{cert['id']}/grants"):
        refused = engineer.get(path)
        assert refused.status_code == 403 and "read certificates" in refused.get_json()["message"], path
    assert ok(tech.get(f"/certificates/{cert['id']}"))["number"] == cert["number"]
    assert [c["number"] for c in ok(lab.as_("polyvorm").get("/certificates"))] == [cert["number"]]


def test_a_password_hashed_with_older_parameters_is_hashed_anew_at_login(client, seeded, session_factory):
    """Argon2's costs are raised as machines get faster, but a stored hash kept the parameters
    it was made with for as long as its password was not changed: an account from the first
    year stayed as cheap to attack as then. At a successful login (the only moment the
    password is known) it is hashed again with today's."""
    from argon2 import PasswordHasher

    from lims.people import accounts

    old = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash("demo-tech")
    with session_factory.begin() as s:
        s.scalar(select(User).where(User.username == "tech")).password_hash = old
    assert client.post(f"{API}/auth/login", json={"username": "tech", "password": "wrong one"}).status_code == 401
    with session_factory() as s:
        assert s.scalar(select(User.password_hash).where(User.username == "tech")) == old
    assert client.post(f"{API}/auth/login", json={"username": "tech", "password": "demo-tech"}).status_code == 200
    with session_factory() as s:
        now = s.scalar(select(User.password_hash).where(User.username == "tech"))
    assert now != old and not accounts._hasher.check_needs_rehash(now)
    assert accounts._hasher.verify(now, "demo-tech")
