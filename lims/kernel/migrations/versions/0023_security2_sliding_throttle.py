"""throttle counters slide over two windows: the previous window's count

Revision ID: 0023_security2_sliding_throttle
Revises: 0022_sorting_sample_storage
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_security2_sliding_throttle"
down_revision = "0022_sorting_sample_storage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("throttle") as batch:
        batch.add_column(sa.Column("previous_count", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("throttle") as batch:
        batch.drop_column("previous_count")
