"""each ingester beat timed by the database's clock: silence judged by one clock, not two hosts'

Revision ID: 0026_audit6_db_beat_at
Revises: 0025_audit6_lab_grade_read
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

import lims.kernel.db

revision = "0026_audit6_db_beat_at"
down_revision = "0025_audit6_lab_grade_read"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A row from before keeps the time its ingester told (SQLite adds no column whose default
    # is the time); a running ingester beats again within seconds.
    with op.batch_alter_table("ingester_heartbeat") as t:
        t.add_column(sa.Column("db_beat_at", lims.kernel.db.UTCDateTime(), nullable=True))
    op.execute("UPDATE ingester_heartbeat SET db_beat_at = heartbeat_at")
    with op.batch_alter_table("ingester_heartbeat") as t:
        t.alter_column("db_beat_at", existing_type=lims.kernel.db.UTCDateTime(), nullable=False,
                       server_default=sa.func.now())


def downgrade() -> None:
    with op.batch_alter_table("ingester_heartbeat") as t:
        t.drop_column("db_beat_at")
