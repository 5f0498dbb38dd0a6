"""Counters that slow down guessing, kept in the LIMS database so every web process (and every worker
thread) counts the same attempts: failed logins per account and client address together, per client
address, and per account from all addresses; and requests per address to the public endpoints. A
count covers the last window, sliding: the current window's count plus the previous window's
weighted by how much of it still lies within one window of now. (Fixed windows would forget
everything at a window's end, so a guesser could spend one window's allowance just before its end
and the next one's just after.) A counter that counts nothing any more is deleted by whoever next
starts a count (prune): the table holds the addresses and accounts still counting, not every one
that ever called."""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from lims.kernel.clock import utcnow
from lims.kernel.db import insert_or_merge
from lims.kernel.models import Throttle

# Failed logins for an account from one address before the first delay; then 1 s, 2 s, 4 s ...
# up to 15 minutes a try.
FREE_FAILURES = 5
# Failed logins from one address across accounts (password spraying) before the first delay. An
# address is often shared (the lab's tablet, an office behind one NAT router): five colleagues'
# typos in an hour must not lock all of them out, so the address allows more than one account's
# pair does; each guessed account is still held to FREE_FAILURES from it.
ADDRESS_FREE_FAILURES = 20
# Failed logins for one account, from all addresses together, before the first delay. This
# delay keeps its owner out from everywhere, so no one address may be able to cause it: one
# address, waiting out its own delays (doubling up to 15 minutes), fails fewer than 20 times in
# an hour; 50 takes at least three addresses working together (distributed guessing), which
# this still slows down to a try every 15 minutes. A person mistyping never gets near it.
ACCOUNT_FREE_FAILURES = 50
MAX_DELAY = timedelta(minutes=15)
# A streak of failures older than this is forgotten (a user who mistyped yesterday starts fresh).
FAILURE_MEMORY = timedelta(hours=1)
# No counter's window may be longer.
LONGEST_WINDOW = FAILURE_MEMORY
# A counter whose window started two windows ago counts nothing (its previous window has slid
# out too), and one that blocks nothing would restart at its next attempt: its row may go.
FORGET_AFTER = 2 * LONGEST_WINDOW
# Rows deleted at most per new count: every row started removes up to this many old ones, so
# the table never grows past the live rows by much, and no request pays for a large delete.
PRUNE_BATCH = 100


def _held(session: Session, key: str, now: datetime) -> tuple[int, int, datetime]:
    """The key's counter (count, previous_count, window_start), a new one started at `now`
    if it has none. The (no-op) update on conflict holds the row until the transaction ends:
    what the caller reads and writes of it is one step for every process counting the same key."""
    count, previous, start = session.execute(
        insert_or_merge(session, Throttle)
        .values(key=key, count=0, previous_count=0, window_start=now)
        .on_conflict_do_update(index_elements=["key"], set_={"key": key})
        .returning(Throttle.count, Throttle.previous_count, Throttle.window_start)
    ).one()
    return count, previous, start


def _estimate(count: int, previous: int, start: datetime, now: datetime, window: timedelta) -> float:
    """The count over the last window: the current window's and the part of the previous
    window's still within one window of now."""
    # A clock set back (tests) counts the previous window whole.
    still_in = min(1.0, max(0.0, 1 - (now - start) / window))
    return previous * still_in + count


def _count_up(session: Session, key: str, now: datetime, window: timedelta) -> tuple[float, bool]:
    """Adds one to the key's counter; the count over the last window, and whether this one
    started a window (a new row, or one whose window had passed)."""
    if window > LONGEST_WINDOW:
        raise ValueError(f"a throttle window of {window} outlasts the counters ({LONGEST_WINDOW})")
    count, previous, start = _held(session, key, now)
    if now >= start + 2 * window:
        count, previous, start = 0, 0, now
    elif now >= start + window:
        count, previous, start = 0, count, start + window
    count += 1
    session.execute(
        update(Throttle).where(Throttle.key == key)
        .values(count=count, previous_count=previous, window_start=start)
    )
    return _estimate(count, previous, start, now, window), count == 1


def prune(session: Session, now: datetime) -> None:
    """Deletes up to PRUNE_BATCH counters that count nothing any more. Rows another
    process holds (counting them up, or pruning them itself) are skipped, not waited for; a
    row counted up meanwhile is no longer expired and stays (the condition is checked again
    on the locked row)."""
    expired = (Throttle.window_start < now - FORGET_AFTER) & or_(
        Throttle.blocked_until.is_(None), Throttle.blocked_until <= now
    )
    batch = (
        select(Throttle.key).where(expired).limit(PRUNE_BATCH).with_for_update(skip_locked=True)
    )
    session.execute(
        delete(Throttle).where(Throttle.key.in_(batch.scalar_subquery()), expired),
        execution_options={"synchronize_session": False},
    )


def _count_and_prune(session: Session, keys: tuple[str, ...], now: datetime, window: timedelta) -> list[float]:
    """Counts one against each key; a count that starts a window (a new row, or a window
    passed) prunes, after the counting: prune skips the rows others hold, so it adds no wait
    (and no lock order) to the transaction's."""
    counted = [_count_up(session, key, now, window) for key in keys]
    if any(started for _, started in counted):
        prune(session, now)
    return [count for count, _ in counted]


def client_key(address: str | None) -> str:
    """Whom an address counts as: an IPv4 address itself, an IPv6 address its /64 (a host is
    given a whole /64 and may take any address in it)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:10.0.0.1, an IPv4 client of a dual-stack socket
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class LoginKeys(NamedTuple):
    """The counters one login attempt counts against."""

    account: str  # the username's, from every address
    pair: str  # the username's from this address: the quick block, which leaves its owner elsewhere alone
    address: str  # this address's, whatever the username


ACCOUNT, PAIR, ADDRESS = "login-user", "login-pair", "login-addr"
_FREE = {ACCOUNT: ACCOUNT_FREE_FAILURES, PAIR: FREE_FAILURES, ADDRESS: ADDRESS_FREE_FAILURES}


def login_keys(username: str, address: str | None) -> LoginKeys:
    name, client = username.strip().lower()[:80], client_key(address)
    # No address has a space (and no username an account has): the pair's parts cannot run together.
    return LoginKeys(f"{ACCOUNT}:{name}", f"{PAIR}:{client} {name}", f"{ADDRESS}:{client}")


def _free_failures(key: str) -> int:
    return _FREE[key.partition(":")[0]]


def wait_seconds(session: Session, keys: tuple[str, ...]) -> int:
    """How long the longest block among the keys lasts from now (0: not blocked)."""
    now = utcnow()
    until = session.scalar(select(Throttle.blocked_until).where(
        Throttle.key.in_(keys), Throttle.blocked_until > now
    ).order_by(Throttle.blocked_until.desc()).limit(1))
    return 0 if until is None else max(1, int((until - now).total_seconds() + 0.999))


def delay_after(failures: int, free: int) -> timedelta:
    if failures <= free:
        return timedelta(0)
    return min(MAX_DELAY, timedelta(seconds=2 ** min(failures - free - 1, 20)))


def login_failed(session: Session, keys: tuple[str, ...]) -> dict[str, tuple[int, timedelta]]:
    """Counts a failed login against each key and blocks the keys past their free failures;
    returns key -> (failures, delay) for the keys now blocked."""
    now = utcnow()
    blocked = {}
    for key, count in zip(keys, _count_and_prune(session, keys, now, FAILURE_MEMORY), strict=True):
        # A part of a failure counts as one: the estimate never lets a guess through early.
        failures = math.ceil(round(count, 6))
        delay = delay_after(failures, _free_failures(key))
        if delay:
            session.execute(
                update(Throttle).where(Throttle.key == key).values(blocked_until=now + delay)
            )
            blocked[key] = (failures, delay)
    return blocked


def login_attempt(session: Session, keys: tuple[str, ...]) -> tuple[int, dict[str, tuple[int, timedelta]]]:
    """Whether a login may try its password now. While a key is blocked: how many seconds the
    longest block lasts, and nothing is counted. Else 0, and the attempt is counted as a failed
    one (login_failed: the keys it blocks), before its password is tried; login_succeeded takes
    it back. Counted first, on the locked counters: logins sent at once each see the attempts
    before them, where a check before the password and a count after it let a whole burst
    through between the two."""
    now = utcnow()
    for key in keys:
        _held(session, key, now)
    wait = wait_seconds(session, keys)
    if wait:
        return wait, {}
    return 0, login_failed(session, keys)


def login_succeeded(session: Session, keys: LoginKeys) -> None:
    """The attempt login_attempt counted was no failure. The streaks of the account and of the
    account from this address end; the address loses that one count only (one valid account of
    an attacker must not reset the guessing of others from the same address), and the block
    that count alone set is lifted."""
    for key in (keys.account, keys.pair):  # one at a time, in login_attempt's lock order
        session.execute(
            update(Throttle).where(Throttle.key == key).values(count=0, previous_count=0, blocked_until=None)
        )
    now = utcnow()
    count, previous, start = _held(session, keys.address, now)
    count = max(0, count - 1)
    unblocked = {"blocked_until": None} if _estimate(count, previous, start, now, FAILURE_MEMORY) <= FREE_FAILURES else {}
    session.execute(update(Throttle).where(Throttle.key == keys.address).values(count=count, **unblocked))


def over_rate(session: Session, key: str, limit: int, window: timedelta) -> bool:
    """Counts one request against the key; True when it is past `limit` in the window."""
    (count,) = _count_and_prune(session, (key,), utcnow(), window)
    return count > limit
