"""Whose credential is this: the one lookup of an API token, shared by the web shell (every
request) and the accounts service (which mints tokens)."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.kernel.models import ApiToken, User


def token_hash(token: str) -> str:
    # Tokens carry 256 random bits, so a fast unsalted hash is enough to make a stolen table useless.
    return hashlib.sha256(token.encode()).hexdigest()


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    return row.user
