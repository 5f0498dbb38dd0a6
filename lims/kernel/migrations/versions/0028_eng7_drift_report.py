"""stored drift reports of the grade model versions: the model page shows the latest

Revision ID: 0028_eng7_drift_report
Revises: 0027_sec7_token_expiry
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

import lims.kernel.db

revision = "0028_eng7_drift_report"
down_revision = "0027_sec7_token_expiry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_drift_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("computed_at", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("since", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("until", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("lots", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"], ["model_version.id"],
            name=op.f("fk_model_drift_report_model_version_id_model_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_drift_report")),
    )
    op.create_index(op.f("ix_model_drift_report_model_version_id"), "model_drift_report", ["model_version_id"])


def downgrade() -> None:
    op.drop_table("model_drift_report")
