"""alarm events: one ongoing event per sensor, and the newest reading beyond its limit

Revision ID: 0021_alarmsdb_one_open_alarm
Revises: 0020_leftovers_throttle_window
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

import lims.kernel.db

revision = "0021_alarmsdb_one_open_alarm"
down_revision = "0020_leftovers_throttle_window"
branch_labels = None
depends_on = None

ONE_OPEN = sa.text("ended_at IS NULL")


def upgrade() -> None:
    # Two ingesters of one shared subscription could each open an event for the same alarm.
    # The earliest one stays ongoing with the most extreme peak of them; the others are ended
    # where they began, so that an operator's acknowledgement on one of them is kept.
    op.execute("""
        UPDATE alarm_event SET peak_value = (
            SELECT CASE WHEN alarm_event.kind = 'high' THEN MAX(o.peak_value)
                        ELSE MIN(o.peak_value) END
            FROM alarm_event o
            WHERE o.installation = alarm_event.installation AND o.sensor = alarm_event.sensor
              AND o.kind = alarm_event.kind AND o.ended_at IS NULL)
        WHERE ended_at IS NULL""")
    op.execute("""
        UPDATE alarm_event SET ended_at = started_at
        WHERE ended_at IS NULL AND EXISTS (
            SELECT 1 FROM alarm_event o
            WHERE o.installation = alarm_event.installation AND o.sensor = alarm_event.sensor
              AND o.ended_at IS NULL
              AND (o.started_at < alarm_event.started_at
                   OR (o.started_at = alarm_event.started_at AND o.id < alarm_event.id)))""")
    with op.batch_alter_table("alarm_event") as batch:
        batch.add_column(sa.Column("last_beyond_at", lims.kernel.db.UTCDateTime(), nullable=True))
    # An ended event's last reading beyond is not known: its end keeps any late reading from
    # shortening it. An ongoing one was beyond at its start at least.
    op.execute("UPDATE alarm_event SET last_beyond_at = COALESCE(ended_at, started_at)")
    # batch mode: SQLite (embedded) cannot alter tables in place
    with op.batch_alter_table("alarm_event") as batch:
        batch.alter_column("last_beyond_at", existing_type=lims.kernel.db.UTCDateTime(),
                           nullable=False)
        batch.create_index("uq_alarm_event_one_open", ["installation", "sensor"], unique=True,
                           postgresql_where=ONE_OPEN, sqlite_where=ONE_OPEN)


def downgrade() -> None:
    with op.batch_alter_table("alarm_event") as batch:
        batch.drop_index("uq_alarm_event_one_open")
        batch.drop_column("last_beyond_at")
