"""lims core: people, reference data, lots, samples, analyses, audit trail

Revision ID: 0002_lims_core
Revises: 0001_foundation
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

import lims.kernel.db

revision = "0002_lims_core"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "method",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("property", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("standard", sa.String(length=100), nullable=False),
        sa.Column("conditions", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("decimals", sa.Integer(), nullable=False),
        sa.Column("uncertainty_abs", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("uncertainty_rel_pct", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("detection_limit", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_method")),
        sa.UniqueConstraint("key", name=op.f("uq_method_key")),
    )
    op.create_index(op.f("ix_method_property"), "method", ["property"], unique=False)
    op.create_table(
        "programme_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sample_prefix", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_line")),
        sa.UniqueConstraint("key", name=op.f("uq_programme_line_key")),
        sa.UniqueConstraint("sample_prefix", name=op.f("uq_programme_line_sample_prefix")),
    )
    op.create_table(
        "sample_counter",
        sa.Column("prefix", sa.String(length=10), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", "year", name=op.f("pk_sample_counter")),
    )
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_app_user_organization_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("username", name=op.f("uq_app_user_username")),
    )
    op.create_index(
        op.f("ix_app_user_organization_id"), "app_user", ["organization_id"], unique=False
    )
    op.create_table(
        "installation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_id"], ["programme_line.id"], name=op.f("fk_installation_line_id_programme_line")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installation")),
        sa.UniqueConstraint("key", name=op.f("uq_installation_key")),
    )
    op.create_table(
        "material",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_id"], ["programme_line.id"], name=op.f("fk_material_line_id_programme_line")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material")),
        sa.UniqueConstraint("key", name=op.f("uq_material_key")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", lims.kernel.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_api_token_user_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_index(op.f("ix_api_token_user_id"), "api_token", ["user_id"], unique=False)
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("entity_type", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=60), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["app_user.id"], name=op.f("fk_audit_event_actor_id_app_user")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_event")),
    )
    op.create_index(
        "ix_audit_event_entity", "audit_event", ["entity_type", "entity_id"], unique=False
    )
    op.create_table(
        "grade_spec",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("material_id", sa.Integer(), nullable=False),
        sa.Column("decision_rule", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["material_id"], ["material.id"], name=op.f("fk_grade_spec_material_id_material")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grade_spec")),
        sa.UniqueConstraint("material_id", name=op.f("uq_grade_spec_material_id")),
    )
    op.create_table(
        "lot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("material_id", sa.Integer(), nullable=False),
        sa.Column("owner_org_id", sa.Integer(), nullable=False),
        sa.Column("production_start", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("production_end", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("input_stream", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=400), nullable=False),
        sa.Column("recycled_content_pct", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("created_at", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("production_start < production_end", name=op.f("ck_lot_window")),
        sa.CheckConstraint(
            "recycled_content_pct >= 0 AND recycled_content_pct <= 100",
            name=op.f("ck_lot_recycled_content"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["app_user.id"], name=op.f("fk_lot_created_by_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["installation_id"],
            ["installation.id"],
            name=op.f("fk_lot_installation_id_installation"),
        ),
        sa.ForeignKeyConstraint(
            ["material_id"], ["material.id"], name=op.f("fk_lot_material_id_material")
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"], ["organization.id"], name=op.f("fk_lot_owner_org_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lot")),
        sa.UniqueConstraint("code", name=op.f("uq_lot_code")),
    )
    op.create_index(op.f("ix_lot_installation_id"), "lot", ["installation_id"], unique=False)
    op.create_index(op.f("ix_lot_material_id"), "lot", ["material_id"], unique=False)
    op.create_index(op.f("ix_lot_owner_org_id"), "lot", ["owner_org_id"], unique=False)
    op.create_index(op.f("ix_lot_production_start"), "lot", ["production_start"], unique=False)
    op.create_table(
        "sensor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("range_min", sa.Float(), nullable=False),
        sa.Column("range_max", sa.Float(), nullable=False),
        sa.Column("alarm_low", sa.Float(), nullable=True),
        sa.Column("alarm_high", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["installation_id"],
            ["installation.id"],
            name=op.f("fk_sensor_installation_id_installation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensor")),
        sa.UniqueConstraint("installation_id", "key", name=op.f("uq_sensor_installation_id")),
    )
    op.create_table(
        "test_plan_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("material_id", sa.Integer(), nullable=False),
        sa.Column("method_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["material_id"], ["material.id"], name=op.f("fk_test_plan_item_material_id_material")
        ),
        sa.ForeignKeyConstraint(
            ["method_id"], ["method.id"], name=op.f("fk_test_plan_item_method_id_method")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_plan_item")),
        sa.UniqueConstraint("material_id", "method_id", name=op.f("uq_test_plan_item_material_id")),
    )
    op.create_table(
        "grade_limit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grade_spec_id", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(length=10), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("property", sa.String(length=60), nullable=False),
        sa.Column("min", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("max", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.ForeignKeyConstraint(
            ["grade_spec_id"],
            ["grade_spec.id"],
            name=op.f("fk_grade_limit_grade_spec_id_grade_spec"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grade_limit")),
        sa.UniqueConstraint(
            "grade_spec_id", "grade", "property", name=op.f("uq_grade_limit_grade_spec_id")
        ),
    )
    op.create_table(
        "sample",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("material_id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=True),
        sa.Column("owner_org_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("storage_location", sa.String(length=120), nullable=False),
        sa.Column("description", sa.String(length=400), nullable=False),
        sa.Column("registered_at", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("registered_by_id", sa.Integer(), nullable=True),
        sa.Column("received_at", lims.kernel.db.UTCDateTime(), nullable=True),
        sa.Column("grade", sa.String(length=20), nullable=True),
        sa.Column("grade_reasons", sa.JSON(), nullable=True),
        sa.Column("graded_at", lims.kernel.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["line_id"], ["programme_line.id"], name=op.f("fk_sample_line_id_programme_line")
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"], name=op.f("fk_sample_lot_id_lot")),
        sa.ForeignKeyConstraint(
            ["material_id"], ["material.id"], name=op.f("fk_sample_material_id_material")
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"], ["organization.id"], name=op.f("fk_sample_owner_org_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["sample.id"], name=op.f("fk_sample_parent_id_sample")
        ),
        sa.ForeignKeyConstraint(
            ["registered_by_id"], ["app_user.id"], name=op.f("fk_sample_registered_by_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sample")),
        sa.UniqueConstraint("code", name=op.f("uq_sample_code")),
    )
    op.create_index("ix_sample_line_state_id", "sample", ["line_id", "state", "id"], unique=False)
    op.create_index(op.f("ix_sample_lot_id"), "sample", ["lot_id"], unique=False)
    op.create_index(
        "ix_sample_material_state_id", "sample", ["material_id", "state", "id"], unique=False
    )
    op.create_index("ix_sample_owner_org_id_id", "sample", ["owner_org_id", "id"], unique=False)
    op.create_index(op.f("ix_sample_parent_id"), "sample", ["parent_id"], unique=False)
    op.create_index(op.f("ix_sample_registered_at"), "sample", ["registered_at"], unique=False)
    op.create_index("ix_sample_state_id", "sample", ["state", "id"], unique=False)
    op.create_table(
        "analysis",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("method_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("retest_of_id", sa.Integer(), nullable=True),
        sa.Column("value", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("below_detection_limit", sa.Boolean(), nullable=False),
        sa.Column("uncertainty", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("unit", sa.String(length=20), nullable=True),
        sa.Column("instrument", sa.String(length=100), nullable=False),
        sa.Column("analyst_id", sa.Integer(), nullable=True),
        sa.Column("measured_at", lims.kernel.db.UTCDateTime(), nullable=True),
        sa.Column("evaluation", sa.String(length=20), nullable=True),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", lims.kernel.db.UTCDateTime(), nullable=True),
        sa.Column("verified_by_id", sa.Integer(), nullable=True),
        sa.Column("verified_at", lims.kernel.db.UTCDateTime(), nullable=True),
        sa.Column("retract_reason", sa.String(length=400), nullable=False),
        sa.Column("created_at", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["analyst_id"], ["app_user.id"], name=op.f("fk_analysis_analyst_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["method_id"], ["method.id"], name=op.f("fk_analysis_method_id_method")
        ),
        sa.ForeignKeyConstraint(
            ["retest_of_id"], ["analysis.id"], name=op.f("fk_analysis_retest_of_id_analysis")
        ),
        sa.ForeignKeyConstraint(
            ["sample_id"], ["sample.id"], name=op.f("fk_analysis_sample_id_sample")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"], ["app_user.id"], name=op.f("fk_analysis_submitted_by_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["verified_by_id"], ["app_user.id"], name=op.f("fk_analysis_verified_by_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis")),
    )
    op.create_index(op.f("ix_analysis_sample_id"), "analysis", ["sample_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_analysis_sample_id"), table_name="analysis")
    op.drop_table("analysis")
    op.drop_index("ix_sample_state_id", table_name="sample")
    op.drop_index(op.f("ix_sample_registered_at"), table_name="sample")
    op.drop_index(op.f("ix_sample_parent_id"), table_name="sample")
    op.drop_index("ix_sample_owner_org_id_id", table_name="sample")
    op.drop_index("ix_sample_material_state_id", table_name="sample")
    op.drop_index(op.f("ix_sample_lot_id"), table_name="sample")
    op.drop_index("ix_sample_line_state_id", table_name="sample")
    op.drop_table("sample")
    op.drop_table("grade_limit")
    op.drop_table("test_plan_item")
    op.drop_table("sensor")
    op.drop_index(op.f("ix_lot_production_start"), table_name="lot")
    op.drop_index(op.f("ix_lot_owner_org_id"), table_name="lot")
    op.drop_index(op.f("ix_lot_material_id"), table_name="lot")
    op.drop_index(op.f("ix_lot_installation_id"), table_name="lot")
    op.drop_table("lot")
    op.drop_table("grade_spec")
    op.drop_index("ix_audit_event_entity", table_name="audit_event")
    op.drop_table("audit_event")
    op.drop_index(op.f("ix_api_token_user_id"), table_name="api_token")
    op.drop_table("api_token")
    op.drop_table("material")
    op.drop_table("installation")
    op.drop_index(op.f("ix_app_user_organization_id"), table_name="app_user")
    op.drop_table("app_user")
    op.drop_table("sample_counter")
    op.drop_table("programme_line")
    op.drop_index(op.f("ix_method_property"), table_name="method")
    op.drop_table("method")
    op.drop_table("audit_head")
