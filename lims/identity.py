"""Whose credential is this: the one lookup of an API token, shared by the web shell (every
request) and the accounts service (which mints tokens)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from lims.kernel.clock import utcnow
from lims.kernel.models import ApiToken

# A token's last use is written at most this often: a machine client calling every second
# would otherwise write its token's row at every request.
LAST_USE_STEP = timedelta(minutes=5)


class TokenExpired(Exception):
    """A real, unrevoked token past its expiry: its holder is told so, not that it is wrong."""

    def __init__(self, expires_at: datetime) -> None:
        super().__init__(f"this API token expired at {expires_at.isoformat(timespec='seconds')}: create a new one")
        self.expires_at = expires_at


def token_hash(token: str) -> str:
    # Tokens carry 256 random bits, so a fast unsalted hash is enough to make a stolen table useless.
    return hashlib.sha256(token.encode()).hexdigest()


def authenticated_token(session: Session, token: str) -> ApiToken | None:
    """The token row this secret is, if it may be used now; None for no token, a revoked one
    or a deactivated user's. Raises TokenExpired for one past its expiry (and only for a token
    that would work otherwise: a revoked one is not worth telling apart)."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise TokenExpired(row.expires_at)
    return row


def note_use(sessions: sessionmaker[Session], token: ApiToken) -> None:
    """Stamps the token's last use when the last stamp is LAST_USE_STEP old. In a short
    transaction of its own: a refused request is a use too, and no request holds the token's
    row locked while it runs. The condition is in the UPDATE, so of several web processes
    seeing the same old stamp only the first writes."""
    now = utcnow()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USE_STEP:
        return
    with sessions.begin() as s:
        s.execute(
            update(ApiToken)
            .where(ApiToken.id == token.id,
                   or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - LAST_USE_STEP))
            .values(last_used_at=now)
        )
    # The caller's copy shows the stamp too, without being written again by the caller's session.
    set_committed_value(token, "last_used_at", now)
