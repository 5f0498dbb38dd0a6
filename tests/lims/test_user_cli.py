"""A lab installs Recyclab for production: `recyclab db upgrade`, `recyclab seed` (no demo
users), `recyclab keys create`. Nobody can log in yet, and only an administrator may make
accounts on the pages and the API. The operator makes the first administrator with
`recyclab user create`; she logs in and makes her colleagues' accounts. When she has lost her
password, `recyclab user set-password` lets her back in and ends what was still logged in."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from lims.audit.service import command_line_operator
from lims.cli import main
from lims.kernel.models import AuditEvent, User
from lims.kernel.settings import config_dir
from lims.seed import seed_all

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)


def _recyclab(database_url, tmp_path, *args: str, password: str | None = None):
    env = {"RECYCLAB_DATABASE_URL": database_url, "RECYCLAB_VAR_DIR": str(tmp_path / "var")}
    stdin = None if password is None else password + "\n"
    return CliRunner().invoke(main, list(args), env=env, input=stdin)


def _login(client, username: str, password: str):
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def test_the_first_administrator_comes_from_the_command_line(database_url, session_factory, client, tmp_path):
    with session_factory.begin() as s:
        seed_all(s, config_dir(), demo_users=False)
        assert s.scalar(select(User.id)) is None

    refused = _recyclab(database_url, tmp_path, "user", "create", "anouk", "--role", "admin", "--organization",
                        "ntk", "--password-stdin", password="short")
    assert refused.exit_code == 1 and "password: give a password of 8 to 200 characters" in refused.output
    wrong_org = _recyclab(database_url, tmp_path, "user", "create", "anouk", "--role", "admin", "--organization",
                          "polyvorm", "--password-stdin", password="a long enough secret")
    assert wrong_org.exit_code == 1 and "role: role 'admin' does not fit a customer organization" in wrong_org.output
    with session_factory() as s:
        assert s.scalar(select(User.id)) is None  # nothing half-made

    made = _recyclab(database_url, tmp_path, "user", "create", "anouk", "--role", "admin", "--organization", "ntk",
                     "--full-name", "Anouk de Vries", "--password-stdin", password="a long enough secret")
    assert made.exit_code == 0, made.output
    assert "created admin anouk (ntk)" in made.output
    assert _login(client, "anouk", "a long enough secret").status_code == 200
    colleague = client.post("/api/v1/users", headers={"X-CSRFToken": client.get("/api/v1/auth/csrf").get_json()["csrf_token"]},
                            json={"username": "tim", "password": "first password", "role": "technician",
                                  "organization": "ntk", "full_name": "Tim Jansen"})
    assert colleague.status_code == 201, colleague.get_data(as_text=True)
    listed = _recyclab(database_url, tmp_path, "user", "list")
    assert listed.exit_code == 0 and "anouk" in listed.output and "tim" in listed.output and "technician" in listed.output

    # Her password is lost: the operator sets a new one, and the browser left logged in is out.
    reset = _recyclab(database_url, tmp_path, "user", "set-password", "anouk", "--password-stdin",
                      password="another long secret")
    assert reset.exit_code == 0, reset.output
    assert client.get("/api/v1/users").status_code == 401
    assert _login(client, "anouk", "a long enough secret").status_code == 401
    assert _login(client, "anouk", "another long secret").status_code == 200
    unknown = _recyclab(database_url, tmp_path, "user", "set-password", "nobody", "--password-stdin",
                        password="another long secret")
    assert unknown.exit_code == 1 and "no user 'nobody'" in unknown.output

    with session_factory() as s:
        by_command = [e.action for e in s.scalars(select(AuditEvent).where(AuditEvent.actor == command_line_operator()))]
    assert by_command == ["user.create", "user.update"]


def test_the_command_line_holds_a_new_account_to_the_rules_the_pages_and_the_api_do(
    database_url, session_factory, tmp_path
):
    """A username the pages refuse (a space, one too long) came in by `recyclab user create`:
    "reviewer " beside "reviewer" in the audit trail, or a database error on PostgreSQL and a
    name kept whole on SQLite. The account service names the field, as the pages do."""
    with session_factory.begin() as s:
        seed_all(s, config_dir(), demo_users=False)

    def create(username: str, *extra: str):
        return _recyclab(database_url, tmp_path, "user", "create", username, "--role", "reviewer", "--organization",
                         "ntk", *extra, "--password-stdin", password="a long enough secret")

    for username in ("reviewer ", "x" * 81, "ruud visser", "r"):
        refused = create(username)
        assert refused.exit_code == 1 and "username: " in refused.output, (username, refused.output)
    refused = create("ruud", "--full-name", "R" * 201)
    assert refused.exit_code == 1 and "full_name: " in refused.output, refused.output
    with session_factory() as s:
        assert s.scalar(select(User.id)) is None
    assert create("ruud.visser@ntk", "--full-name", "Ruud Visser").exit_code == 0


def test_the_operator_closes_an_account_from_the_command_line(database_url, session_factory, client, tmp_path):
    """A technician left with a laptop still logged in, and the one administrator is away:
    the command line could make accounts and set passwords, not close one."""
    with session_factory.begin() as s:
        seed_all(s, config_dir(), demo_users=False)
    made = _recyclab(database_url, tmp_path, "user", "create", "tim", "--role", "technician", "--organization",
                     "ntk", "--password-stdin", password="a long enough secret")
    assert made.exit_code == 0, made.output
    assert _login(client, "tim", "a long enough secret").status_code == 200
    token = client.post("/api/v1/tokens", headers={"X-CSRFToken": client.get("/api/v1/auth/csrf").get_json()["csrf_token"]},
                        json={"name": "balance PC", "password": "a long enough secret"})
    assert token.status_code == 201, token.get_data(as_text=True)
    bearer = {"Authorization": f"Bearer {token.get_json()['token']}"}

    closed = _recyclab(database_url, tmp_path, "user", "deactivate", "tim")
    assert closed.exit_code == 0 and "tim deactivated" in closed.output, closed.output
    assert client.get("/api/v1/samples").status_code == 401  # the browser left logged in
    assert client.get("/api/v1/samples", headers=bearer).status_code == 401
    assert _login(client, "tim", "a long enough secret").status_code == 401
    assert "closed" in _recyclab(database_url, tmp_path, "user", "list").output

    reopened = _recyclab(database_url, tmp_path, "user", "activate", "tim")
    assert reopened.exit_code == 0, reopened.output
    assert client.get("/api/v1/samples", headers=bearer).status_code == 401  # the token stays revoked
    assert _login(client, "tim", "a long enough secret").status_code == 200
    unknown = _recyclab(database_url, tmp_path, "user", "deactivate", "nobody")
    assert unknown.exit_code == 1 and "no user 'nobody'" in unknown.output
    with session_factory() as s:
        by_command = [(e.action, e.after.get("active") if e.after else None)
                      for e in s.scalars(select(AuditEvent).where(AuditEvent.actor == command_line_operator())
                                         .order_by(AuditEvent.seq))]
    assert ("user.update", False) in by_command and ("user.update", True) in by_command
