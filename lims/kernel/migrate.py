"""Run Alembic migrations from code (`recyclab db upgrade`, tests, the demo)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(database_url), revision)


@cache
def head_revisions() -> frozenset[str]:
    """The revisions a database must be at for this version of the code (read once)."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def schema_problem(connection: Connection) -> str | None:
    """Why the database on `connection` is not at this version's migrations, in one line; None
    when it is. (On PostgreSQL a database without Alembic's table leaves the transaction failed.)"""
    try:
        applied = set(connection.scalars(text("SELECT version_num FROM alembic_version")))
    except SQLAlchemyError:
        applied = set()
    if applied == head_revisions():
        return None
    return (f"the database is at {sorted(applied) or 'no migration'}, this version needs"
            f" {sorted(head_revisions())}: run `recyclab db upgrade`")
