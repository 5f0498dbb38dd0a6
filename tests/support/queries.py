"""Counting the SQL statements a request costs, for the tests that hold list pages to a fixed cost."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event


@contextmanager
def statements_run(app) -> Iterator[list[str]]:
    """The statements the app's engine runs while the block runs; clear the list to start over."""
    engine = app.extensions["recyclab.engine"]
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)
