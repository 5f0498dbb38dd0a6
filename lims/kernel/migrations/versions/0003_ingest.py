"""ingest: rejects and alarm events

Revision ID: 0003_ingest
Revises: 0001_foundation
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

import lims.kernel.db

revision = "0003_ingest"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_reject",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("topic", sa.String(length=300), nullable=False),
        sa.Column("installation", sa.String(length=80), nullable=True),
        sa.Column("sensor", sa.String(length=120), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.String(length=400), nullable=False),
        sa.Column("excerpt", sa.String(length=400), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_reject")),
    )
    op.create_index(
        "ix_ingest_reject_installation_reason", "ingest_reject", ["installation", "reason"]
    )
    op.create_index("ix_ingest_reject_received_at", "ingest_reject", ["received_at"])
    op.create_table(
        "alarm_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("installation", sa.String(length=80), nullable=False),
        sa.Column("sensor", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=4), nullable=False),
        sa.Column("limit", sa.Float(), nullable=False),
        sa.Column("started_at", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("peak_value", sa.Float(), nullable=False),
        sa.Column("ended_at", lims.kernel.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_event")),
    )
    op.create_index("ix_alarm_event_installation_sensor", "alarm_event", ["installation", "sensor"])
    op.create_index("ix_alarm_event_started_at", "alarm_event", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_alarm_event_started_at", table_name="alarm_event")
    op.drop_index("ix_alarm_event_installation_sensor", table_name="alarm_event")
    op.drop_table("alarm_event")
    op.drop_index("ix_ingest_reject_received_at", table_name="ingest_reject")
    op.drop_index("ix_ingest_reject_installation_reason", table_name="ingest_reject")
    op.drop_table("ingest_reject")
