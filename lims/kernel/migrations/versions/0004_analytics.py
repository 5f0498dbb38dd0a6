"""analytics: grade model registry and predictions

Revision ID: 0004_analytics
Revises: 0002_lims_core
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

import lims.kernel.db

revision = "0004_analytics"
down_revision = "0002_lims_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=60), nullable=False),
        sa.Column("created_at", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("promoted_at", lims.kernel.db.UTCDateTime(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("train_start", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("train_end", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("test_start", lims.kernel.db.UTCDateTime(), nullable=True),
        sa.Column("test_end", lims.kernel.db.UTCDateTime(), nullable=True),
        sa.Column("n_train", sa.Integer(), nullable=False),
        sa.Column("n_test", sa.Integer(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("feature_ranges", sa.JSON(), nullable=False),
        sa.Column("reference", sa.JSON(), nullable=False),
        sa.Column("classes", sa.JSON(), nullable=False),
        sa.Column("artifact_path", sa.String(length=500), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=400), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_version")),
        sa.UniqueConstraint("version", name=op.f("uq_model_version_version")),
    )
    op.create_index(op.f("ix_model_version_status"), "model_version", ["status"])
    op.create_table(
        "prediction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=True),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("created_at", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("predicted_grade", sa.String(length=20), nullable=False),
        sa.Column("probabilities", sa.JSON(), nullable=False),
        sa.Column("top_features", sa.JSON(), nullable=False),
        sa.Column("out_of_training_range", sa.Boolean(), nullable=False),
        sa.Column("out_of_range_features", sa.JSON(), nullable=False),
        sa.Column("lab_grade", sa.String(length=20), nullable=True),
        sa.Column("lab_graded_at", lims.kernel.db.UTCDateTime(), nullable=True),
        sa.Column("agrees", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"], name=op.f("fk_prediction_lot_id_lot")),
        sa.ForeignKeyConstraint(["sample_id"], ["sample.id"], name=op.f("fk_prediction_sample_id_sample")),
        sa.ForeignKeyConstraint(
            ["model_version_id"], ["model_version.id"],
            name=op.f("fk_prediction_model_version_id_model_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction")),
    )
    op.create_index("ix_prediction_lot_id_id", "prediction", ["lot_id", "id"])
    op.create_index(op.f("ix_prediction_sample_id"), "prediction", ["sample_id"])
    op.create_index(op.f("ix_prediction_model_version_id"), "prediction", ["model_version_id"])


def downgrade() -> None:
    op.drop_table("prediction")
    op.drop_table("model_version")
