"""A private, migrated PostgreSQL database, dropped afterwards (tests and benchmarks)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from lims.kernel.migrate import upgrade


@contextmanager
def private_database(admin_url: str, prefix: str) -> Iterator[str]:
    """Creates `<prefix>_<random>` next to admin_url's database, migrates it to head and
    yields its URL; drops it (ending any connection left open) when the block ends."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
            upgrade(url)
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def wait_for_lock_waiters(url: str, count: int, what: str, timeout: float = 10.0) -> None:
    """Until `count` sessions of url's database wait for a lock: a concurrency test's threads
    have reached the point it means them to wait at, however slow the machine."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    query = text(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE NOT l.granted AND a.datname = current_database()"
    )
    try:
        with engine.connect() as conn:
            deadline = time.monotonic() + timeout
            while conn.execute(query).scalar_one() < count:
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
                time.sleep(0.05)
    finally:
        engine.dispose()
