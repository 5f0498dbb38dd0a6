"""config/'s reference data for a test, restored from a copy after a run's first seeding.

seed_all writes a few hundred audited rows one at a time, about half a second per test on
PostgreSQL, and most tests start from exactly that state. So the first seeding of an empty
database in a run is kept as rows, and later seedings of an empty database insert those rows,
one statement per table: the same ids, audit chain and sequences as a real seeding leaves. The
rows keep the time of that first seeding. A database that holds anything is seeded for real.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, exists, insert, or_, select, text
from sqlalchemy.orm import Session

from lims.kernel.db import Base
from lims.kernel.settings import config_dir
from lims.people import accounts
from lims.seed import seed_all

_copies: dict[tuple, list[tuple[Table, list[dict[str, Any]]]]] = {}


def seed_reference(session: Session, **options: Any) -> None:
    """seed_all(session, config_dir(), **options), in the caller's transaction."""
    tables = Base.metadata.sorted_tables
    hasher = accounts._hasher  # tests pick cheaper argon2 parameters; a copy keeps its own
    key = (
        session.get_bind().dialect.name,
        tuple(sorted(options.items())),
        (hasher.time_cost, hasher.memory_cost, hasher.parallelism),
    )
    holds_rows = session.scalar(select(or_(*(exists().select_from(t) for t in tables))))
    if holds_rows or key not in _copies:
        seed_all(session, config_dir(), **options)
        if not holds_rows:
            session.flush()
            _copies[key] = [(t, [dict(r._mapping) for r in session.execute(select(t))]) for t in tables]
        return
    for table, rows in _copies[key]:
        if rows:
            session.execute(insert(table), rows)
            _continue_sequence(session, table, rows)


def _continue_sequence(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL's id sequences do not see ids inserted explicitly (SQLite's rowids do). Which
    key has a sequence, PostgreSQL says (pg_get_serial_sequence is NULL for the others)."""
    if session.get_bind().dialect.name != "postgresql" or len(table.primary_key.columns) != 1:
        return
    (column,) = table.primary_key.columns
    session.execute(
        text(
            "SELECT setval(seq, :last) FROM"
            " (SELECT pg_get_serial_sequence(:table, :column) AS seq) s WHERE seq IS NOT NULL"
        ),
        {"table": table.name, "column": column.name, "last": max(r[column.name] for r in rows)},
    )
