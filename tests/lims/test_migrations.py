"""The models and the migrations describe the same schema."""

from __future__ import annotations

import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from lims.identity import authenticated_token, token_hash
from lims.kernel.db import Base, make_session_factory
from lims.kernel.migrate import alembic_config, upgrade
from lims.kernel.models import Sample, User
from lims.kernel.models.analytics import ModelDriftReport
from lims.permissions import PasswordChangeRequired, require_own_password
from lims.samples import workflow
from tests.conftest import PG_ADMIN_URL
from tests.support.models import version_without_artifact
from tests.web import seed

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


def test_samples_received_before_0024_name_their_receiver_from_the_audit_trail(fresh_pg_url):
    """Migration 0024 adds who received a sample; for samples received before it, the receiver
    is read from the audit trail's receipt, so the receive page's record of the day holds them."""
    upgrade(fresh_pg_url, "heads")
    engine = create_engine(fresh_pg_url)
    factory = make_session_factory(engine)
    seed.seed_reference(factory)
    codes = seed.lot_with_samples(factory, 2, receive=False).sample_codes
    with factory.begin() as s:
        tech2 = seed.user(s, "tech2")
        received = s.scalar(select(Sample).where(Sample.code == codes[0]))
        workflow.receive(s, tech2, received)
    command.downgrade(alembic_config(fresh_pg_url), "0023_security2_sliding_throttle")
    upgrade(fresh_pg_url, "heads")
    with engine.connect() as conn:
        receivers = dict(conn.execute(text("SELECT code, received_by_id FROM sample ORDER BY code")).all())
    engine.dispose()
    assert receivers == {codes[0]: tech2.id, codes[1]: None}


def test_tokens_made_before_0027_keep_working_and_never_expire(fresh_pg_url):
    """Migration 0027 gives tokens an expiry, a last use and a parent. A machine client's token
    made before it must not stop working at the upgrade: it has no expiry (as before) until
    its owner replaces it, and nothing minted it."""
    upgrade(fresh_pg_url, "heads")
    engine = create_engine(fresh_pg_url)
    factory = make_session_factory(engine)
    seed.seed_reference(factory)
    with factory.begin() as s:
        tech_id = seed.user(s, "tech").id
    command.downgrade(alembic_config(fresh_pg_url), "0026_audit6_db_beat_at")
    secret = "rcl_made-before-expiry-existed"
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO api_token (user_id, name, token_hash, prefix, created_at)"
            " VALUES (:user, 'old balance PC', :hash, :prefix, now() - interval '2 years')"
        ), {"user": tech_id, "hash": token_hash(secret), "prefix": secret[:10]})
    upgrade(fresh_pg_url, "heads")
    with factory() as s:
        token = authenticated_token(s, secret)
        assert token is not None and token.user.username == "tech"
        assert (token.expires_at, token.parent_id, token.last_used_at) == (None, None, None)
    engine.dispose()


def test_drift_reports_stored_after_0028_go_with_a_downgrade_and_their_table_comes_back(fresh_pg_url):
    """Migration 0028 adds the stored drift reports of the grade model versions: a downgrade
    removes them with their table (the versions stay), and upgrading again makes it anew."""
    upgrade(fresh_pg_url, "heads")
    engine = create_engine(fresh_pg_url)
    factory = make_session_factory(engine)
    with factory.begin() as s:
        mv = version_without_artifact("grade-m", ["A"])
        s.add(mv)
        s.flush()
        s.add(ModelDriftReport(model_version=mv, since=mv.created_at, until=mv.created_at, lots=0,
                               level="no lots", features=[]))
    command.downgrade(alembic_config(fresh_pg_url), "0027_sec7_token_expiry")
    with engine.connect() as conn:
        tables = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
        versions = conn.execute(text("SELECT version FROM model_version")).scalars().all()
    assert "model_drift_report" not in tables and versions == ["grade-m"]
    upgrade(fresh_pg_url, "heads")
    with factory() as s:
        assert s.scalars(select(ModelDriftReport)).all() == []
    engine.dispose()


def test_a_password_an_administrator_set_before_0029_still_says_so(fresh_pg_url):
    """Migration 0029 stores why an account must change its password. One flagged before it
    was flagged because an administrator set the password: it still says that, not that the
    password is a common one."""
    upgrade(fresh_pg_url, "heads")
    engine = create_engine(fresh_pg_url)
    factory = make_session_factory(engine)
    seed.seed_reference(factory)
    command.downgrade(alembic_config(fresh_pg_url), "0028_eng7_drift_report")
    with engine.begin() as conn:
        conn.execute(text("UPDATE app_user SET must_change_password = true WHERE username = 'tech'"))
    upgrade(fresh_pg_url, "heads")
    with factory() as s:
        reasons = dict(s.execute(select(User.username, User.password_change_reason)).tuples().all())
        with pytest.raises(PasswordChangeRequired, match="set by an administrator"):
            require_own_password(s.scalar(select(User).where(User.username == "tech")))
    engine.dispose()
    assert reasons["tech"] == "set_by_admin" and reasons["tech2"] is None
