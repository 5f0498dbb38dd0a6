"""a prediction's lab grade is read with it, not copied onto it: the copy was written by reads

Revision ID: 0025_audit6_lab_grade_read
Revises: 0024_receiving_log
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

import lims.kernel.db

revision = "0025_audit6_lab_grade_read"
down_revision = "0024_receiving_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prediction") as t:
        t.drop_column("agrees")
        t.drop_column("lab_graded_at")
        t.drop_column("lab_grade")


def downgrade() -> None:
    # Empty again, as for a prediction no one has read since its lot was graded.
    with op.batch_alter_table("prediction") as t:
        t.add_column(sa.Column("lab_grade", sa.String(length=20), nullable=True))
        t.add_column(sa.Column("lab_graded_at", lims.kernel.db.UTCDateTime(), nullable=True))
        t.add_column(sa.Column("agrees", sa.Boolean(), nullable=True))
