"""an account stores why it must change its password: set by an administrator, or a common one

Revision ID: 0029_common_password_at_login
Revises: 0028_eng7_drift_report
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0029_common_password_at_login"
down_revision = "0028_eng7_drift_report"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite (embedded) cannot alter tables in place
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("password_change_reason", sa.String(length=20), nullable=True))
    # Before this revision only an administrator's setting the password flagged an account.
    op.execute("UPDATE app_user SET password_change_reason = 'set_by_admin' WHERE must_change_password")


def downgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("password_change_reason")
