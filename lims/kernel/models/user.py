from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lims.kernel.clock import utcnow
from lims.kernel.db import Base
from lims.kernel.models.organization import Organization

ROLES = ("admin", "technician", "reviewer", "engineer", "customer")
# What a username is made of, whichever way the account is made (API, page, command line): no
# space, nothing that reads like another name in the audit trail ("reviewer " beside "reviewer").
USERNAME_PATTERN = r"^[A-Za-z0-9_.@-]{2,80}$"
# Why an account must choose a new password (User.password_change_reason): the page and the
# API tell the user the true reason.
PASSWORD_SET_BY_ADMIN = "set_by_admin"
PASSWORD_COMMON = "common_password"


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    # argon2id hash (argon2-cffi); never logged, never in the audit trail.
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Stamped into each session at login and compared on every request: raising it (logout,
    # password change) ends every session of the user, wherever its cookie is.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # Set when an administrator sets the password (and so knows it), or when a login shows the
    # password is a common one (set before the rule refused those): until the user chooses
    # their own, the account does nothing else.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Which of the two (PASSWORD_SET_BY_ADMIN, PASSWORD_COMMON); None while no change is due.
    password_change_reason: Mapped[str | None] = mapped_column(String(20))

    # Loaded when asked for: most requests need only organization_id (the scoping rule).
    organization: Mapped[Organization] = relationship()

    @property
    def is_customer(self) -> bool:
        return self.role == "customer"


class ApiToken(Base):
    """A bearer token for machine clients. Only its sha256 is stored: the token is shown once."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # First characters of the token, so a user can tell tokens apart without the secret.
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    # None: never (tokens made before tokens expired, migration 0027); every new token has one.
    expires_at: Mapped[datetime | None]
    # Stamped when the token authenticates, at most every few minutes (lims.identity.note_use).
    last_used_at: Mapped[datetime | None]
    # The token that was calling when this one was minted (none: minted on a password). It
    # never outlives its parent and is revoked with it, so revoking a leaked token also ends
    # the tokens minted with it.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("api_token.id"), index=True)

    user: Mapped[User] = relationship(lazy="joined")
    parent: Mapped[ApiToken | None] = relationship(remote_side=[id])


class Throttle(Base):
    """A counter shared by every web process: failed logins per account, per account and client
    address, and per address; requests per address to the public endpoints. Rows are keyed
    "<purpose>:<subject>"."""

    __tablename__ = "throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    # The count in the window that began at window_start, and in the window before it (see
    # lims.throttle: the count slides over both).
    count: Mapped[int] = mapped_column(Integer)
    previous_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Indexed for lims.throttle.prune, which looks up the oldest windows.
    window_start: Mapped[datetime] = mapped_column(index=True)
    blocked_until: Mapped[datetime | None]
