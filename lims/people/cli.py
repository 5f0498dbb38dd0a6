"""`recyclab user`: accounts from the server's command line.

A new installation has no administrator to log in as, and the pages and the API only let an
administrator make accounts: the first one is made here, by whoever runs the server. It is
also the way back in when the last administrator's password is lost. Every change goes through
the account services and is in the audit trail under the operating-system account that ran it.
"""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lims.audit.service import command_line_operator
from lims.kernel.errors import DomainError, InputError
from lims.kernel.models import User
from lims.kernel.models.user import ROLES
from lims.people import accounts


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _refused(exc: DomainError) -> click.ClickException:
    if isinstance(exc, InputError):
        fields = "; ".join(f"{field}: {', '.join(map(str, messages))}" for field, messages in exc.errors.items())
        return click.ClickException(fields)
    return click.ClickException(str(exc.message))


@click.group("user")
def user() -> None:
    """Accounts: the first administrator, a lost password, who has access."""


@user.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the account may do.")
@click.option("--organization", required=True,
              help="Organization key (config/organizations.toml): lab staff belong to the lab, customers to their own.")
@click.option("--full-name", default="", help="The person's name, as a certificate they authorise names them.")
@click.option("--email", default="")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of asking twice.")
@with_appcontext
def create(username: str, role: str, organization: str, full_name: str, email: str, password_stdin: bool) -> None:
    """Make an account, e.g. the first administrator:
    recyclab user create anouk --role admin --organization ntk --full-name "Anouk de Vries"."""
    password = _password(password_stdin)
    sessions = current_app.extensions["recyclab.sessions"]
    try:
        with sessions.begin() as session:
            accounts.create_user(
                session, None, username=username, password=password, role=role,
                organization=accounts.get_org(session, organization), full_name=full_name, email=email,
                who=command_line_operator(),
            )
    except DomainError as exc:
        raise _refused(exc) from exc
    click.echo(f"created {role} {username} ({organization})")


@user.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of asking twice.")
@with_appcontext
def set_password(username: str, password_stdin: bool) -> None:
    """Give USERNAME a new password: it ends the account's sessions and revokes its API tokens."""
    _update(username, {"password": _password(password_stdin)})
    click.echo(f"new password set for {username}; their sessions ended and API tokens revoked")


def _update(username: str, changes: dict) -> None:
    """The account service's change, as the pages and the API make it, by the operator."""
    sessions = current_app.extensions["recyclab.sessions"]
    try:
        with sessions.begin() as session:
            account = session.scalar(select(User).where(User.username == username))
            if account is None:
                raise click.ClickException(f"no user {username!r}")
            accounts.update_user(session, None, account, changes, who=command_line_operator())
    except DomainError as exc:
        raise _refused(exc) from exc


@user.command("deactivate")
@click.argument("username")
@with_appcontext
def deactivate(username: str) -> None:
    """Close USERNAME's account at once (someone left, a laptop was lost): it ends the account's
    sessions and revokes its API tokens for good; what it did stays in the audit trail."""
    _update(username, {"active": False})
    click.echo(f"{username} deactivated; their sessions ended and API tokens revoked")


@user.command("activate")
@click.argument("username")
@with_appcontext
def activate(username: str) -> None:
    """Open a closed account again; its owner logs in anew (no old session or token comes back)."""
    _update(username, {"active": True})
    click.echo(f"{username} active again")


@user.command("list")
@with_appcontext
def list_users() -> None:
    """Every account: username, role, organization, active or closed."""
    sessions = current_app.extensions["recyclab.sessions"]
    with sessions() as session:
        for account in session.scalars(select(User).options(selectinload(User.organization)).order_by(User.username)):
            state = "active" if account.active else "closed"
            click.echo(f"{account.username:20s} {account.role:11s} {account.organization.key:22s} {state}"
                       f"  {account.full_name}")
