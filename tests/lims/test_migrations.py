"""The models and the migrations describe the same schema."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from lims.kernel.db import Base
from lims.kernel.migrate import upgrade
from tests.conftest import PG_ADMIN_URL

# The tables of the LIMS core (migration 0002_lims_core).
LIMS_CORE = {
    "analysis", "api_token", "app_user", "audit_event", "audit_head", "grade_limit", "grade_spec",
    "installation", "lot", "material", "method", "programme_line", "sample", "sample_counter",
    "sensor", "test_plan_item",
}


def _not_migration_only(obj, name, type_, reflected, compare_to) -> bool:
    """The trigram expression index exists in migration 0007 only: autogenerate cannot
    compare expression indexes, so the test checks it by name instead."""
    return not (type_ == "index" and name == "ix_sample_search")


@pytest.fixture
def fresh_pg_url(pg_database):
    """An empty database of its own (the shared test database is migrated already)."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"recyclab_migr_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_models_match_migrations_on_postgresql(fresh_pg_url):
    upgrade(fresh_pg_url, "heads")
    engine = create_engine(fresh_pg_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": _not_migration_only}
        )
        diff = compare_metadata(context, Base.metadata)
        tables = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
        search = conn.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_sample_search'"))
    engine.dispose()
    assert LIMS_CORE <= tables
    assert diff == []
    assert "gin_trgm_ops" in search
