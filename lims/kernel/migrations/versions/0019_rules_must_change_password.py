"""a password an administrator set must be changed by its user before anything else

Revision ID: 0019_rules_must_change_password
Revises: 0018_ingest2_reject_key
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_rules_must_change_password"
down_revision = "0018_ingest2_reject_key"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite (embedded) cannot alter tables in place
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("must_change_password")
