"""Counters that slow down guessing, kept in the LIMS database so every web process (and every
worker thread) counts the same attempts: failed logins per account and per client address, and
requests per address to the public endpoints. Each update is one atomic upsert."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from lims.kernel.clock import utcnow
from lims.kernel.db import insert_or_merge
from lims.kernel.models import Throttle

# Failed logins before the first delay; then 1 s, 2 s, 4 s ... up to 15 minutes a try.
FREE_FAILURES = 5
MAX_DELAY = timedelta(minutes=15)
# A streak of failures older than this is forgotten (a user who mistyped yesterday starts fresh).
FAILURE_MEMORY = timedelta(hours=1)


def _count_up(session: Session, key: str, now: datetime, window: timedelta) -> int:
    """Adds one to the key's counter (restarting it when its window has passed); the new count."""
    stale = Throttle.window_start < now - window
    stmt = insert_or_merge(session, Throttle).values(key=key, count=1, window_start=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "count": case((stale, 1), else_=Throttle.count + 1),
            "window_start": case((stale, now), else_=Throttle.window_start),
        },
    ).returning(Throttle.count)
    return session.execute(stmt).scalar_one()


def login_keys(username: str, address: str | None) -> tuple[str, str]:
    return f"login-user:{username.strip().lower()[:80]}", f"login-addr:{address or 'unknown'}"


def wait_seconds(session: Session, keys: tuple[str, ...]) -> int:
    """How long the longest block among the keys lasts from now (0: not blocked)."""
    now = utcnow()
    until = session.scalar(select(Throttle.blocked_until).where(
        Throttle.key.in_(keys), Throttle.blocked_until > now
    ).order_by(Throttle.blocked_until.desc()).limit(1))
    return 0 if until is None else max(1, int((until - now).total_seconds() + 0.999))


def delay_after(failures: int) -> timedelta:
    if failures <= FREE_FAILURES:
        return timedelta(0)
    return min(MAX_DELAY, timedelta(seconds=2 ** min(failures - FREE_FAILURES - 1, 20)))


def login_failed(session: Session, keys: tuple[str, ...]) -> dict[str, tuple[int, timedelta]]:
    """Counts a failed login against each key and blocks the keys past FREE_FAILURES; returns
    key -> (failures, delay) for the keys now blocked."""
    now = utcnow()
    blocked = {}
    for key in keys:
        failures = _count_up(session, key, now, FAILURE_MEMORY)
        delay = delay_after(failures)
        if delay:
            session.execute(
                update(Throttle).where(Throttle.key == key).values(blocked_until=now + delay)
            )
            blocked[key] = (failures, delay)
    return blocked


def login_succeeded(session: Session, account_key: str) -> None:
    """The account's streak ends; the address keeps its count (one valid account of an
    attacker must not reset the guessing of others from the same address)."""
    session.execute(
        update(Throttle).where(Throttle.key == account_key).values(count=0, blocked_until=None)
    )


def over_rate(session: Session, key: str, limit: int, window: timedelta) -> bool:
    """Counts one request against the key; True when it is past `limit` in the window."""
    return _count_up(session, key, utcnow(), window) > limit
