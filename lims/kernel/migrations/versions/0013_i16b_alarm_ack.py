"""alarms: acknowledge with a comment, shelve until a time

Revision ID: 0013_i16b_alarm_ack
Revises: 0012_i16_open_analyses
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

import lims.kernel.db

revision = "0013_i16b_alarm_ack"
down_revision = "0012_i16_open_analyses"
branch_labels = None
depends_on = None

COLUMNS = (
    ("acknowledged_at", lims.kernel.db.UTCDateTime()),
    ("acknowledged_by", sa.String(length=80)),
    ("ack_comment", sa.String(length=500)),
    ("shelved_until", lims.kernel.db.UTCDateTime()),
    ("shelved_by", sa.String(length=80)),
    ("shelve_comment", sa.String(length=500)),
)


def upgrade() -> None:
    # batch mode: SQLite (embedded) cannot alter tables in place
    with op.batch_alter_table("alarm_event") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alarm_event") as batch:
        for name, _type in reversed(COLUMNS):
            batch.drop_column(name)
