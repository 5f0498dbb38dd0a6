"""shared state between processes: ingester heartbeats and model artifacts in the database

Revision ID: 0010_i15_shared_state
Revises: 0009_i14_security
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

import lims.kernel.db

revision = "0010_i15_shared_state"
down_revision = "0009_i14_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingester_heartbeat",
        sa.Column("ingester", sa.String(length=120), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("interval_s", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("counters", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("ingester", name=op.f("pk_ingester_heartbeat")),
    )
    op.create_table(
        "model_artifact",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_model_artifact")),
    )


def downgrade() -> None:
    op.drop_table("model_artifact")
    op.drop_table("ingester_heartbeat")
