"""a method's conditions in Dutch beside the English (Dutch certificates and pages)

Revision ID: 0017_nl_conditions
Revises: 0016_i16_nl_names
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_nl_conditions"
down_revision = "0016_i16_nl_names"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite (embedded) cannot alter tables in place
    with op.batch_alter_table("method") as batch:
        batch.add_column(sa.Column("conditions_nl", sa.String(length=200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("method") as batch:
        batch.drop_column("conditions_nl")
