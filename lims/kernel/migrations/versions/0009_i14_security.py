"""issue 14 security: per-user session version (revocable sessions); shared throttle counters

Revision ID: 0009_i14_security
Revises: 0008_i12_results_integrity
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

import lims.kernel.db

revision = "0009_i14_security"
down_revision = "0008_i12_results_integrity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(
            sa.Column("session_version", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("window_start", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("blocked_until", lims.kernel.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_throttle")),
    )


def downgrade() -> None:
    op.drop_table("throttle")
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("session_version")
