"""SQLAlchemy base, engine and session factory. Free of Flask, so ingest and analytics use it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy import exc as exc_module
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Recyclab stores timezone-aware UTC times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime()}


def make_engine(url: str, **kwargs) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # JIT compiles a query whose estimated cost is high, which takes hundreds of milliseconds:
    # the eager joins of a certificate lookup among 100,000 put it past the threshold, and
    # compiling took ~600 ms of its 700 (bench/certificates.py). The LIMS's queries are short.
    return create_engine(url, pool_pre_ping=True, connect_args={"options": "-c jit=off"}, **kwargs)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


LIKE_ESCAPE = "\\"


def contains_pattern(text: str) -> str:
    """A LIKE pattern (with escape=LIKE_ESCAPE) matching `text` anywhere: what a user types is
    searched for as typed, its "%" and "_" are no wildcards."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def insert_or_merge(session: Session, target: Any) -> Any:
    """INSERT for the session's backend with its ON CONFLICT clauses (on_conflict_do_nothing,
    on_conflict_do_update), which PostgreSQL and SQLite both have, with the same meaning."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(target)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(target)


# PostgreSQL's codes for a table or column the schema lacks: a database not (fully) upgraded.
_SCHEMA_BEHIND = {"42P01", "42703"}


def unusable_database(exc: Exception, url: str) -> str | None:
    """Why the database at `url` (RECYCLAB_DATABASE_URL) cannot serve a command, in one line:
    a URL SQLAlchemy cannot use, a server that does not answer, a schema not upgraded. None
    for any other error (a program error keeps its traceback)."""
    try:
        where = make_url(url).render_as_string(hide_password=True)
    except exc_module.ArgumentError:
        where = url
    setting = f"the LIMS database {where} (RECYCLAB_DATABASE_URL)"
    if isinstance(exc, exc_module.ArgumentError):  # NoSuchModuleError too: an unknown dialect
        return f"{setting} is no database URL SQLAlchemy can use: {exc}"
    if not isinstance(exc, exc_module.DBAPIError):
        return None
    reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
    if getattr(exc.orig, "sqlstate", None) in _SCHEMA_BEHIND or reason.startswith(("no such table", "no such column")):
        return f"{setting} lacks Recyclab's tables or columns ({reason}): run `recyclab db upgrade`"
    if isinstance(exc, exc_module.OperationalError):
        return f"{setting} cannot be used: {reason}"
    return None
