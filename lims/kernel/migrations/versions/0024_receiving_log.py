"""who received a sample, so the receive page can list what its user received today after a reload

Revision ID: 0024_receiving_log
Revises: 0023_security2_sliding_throttle
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_receiving_log"
down_revision = "0023_security2_sliding_throttle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sample") as t:
        t.add_column(sa.Column("received_by_id", sa.Integer(), nullable=True))
        t.create_foreign_key("fk_sample_received_by_id_app_user", "app_user", ["received_by_id"], ["id"])
        t.create_index("ix_sample_received_by_at", ["received_by_id", "received_at"], unique=False)
    # Samples received before: the receiver is the actor of the latest receipt in the audit trail
    # (a partition of a received sample is received when it is made).
    op.execute(
        """
        UPDATE sample SET received_by_id = (
            SELECT a.actor_id FROM audit_event a
            WHERE a.entity_type = 'sample' AND a.entity_id = sample.code
              AND a.action IN ('sample.receive', 'sample.partition')
            ORDER BY a.seq DESC LIMIT 1
        )
        WHERE received_at IS NOT NULL
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("sample") as t:
        t.drop_index("ix_sample_received_by_at")
        t.drop_constraint("fk_sample_received_by_id_app_user", type_="foreignkey")
        t.drop_column("received_by_id")
