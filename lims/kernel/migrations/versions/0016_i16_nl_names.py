"""reference names in Dutch beside the English; each organization's language (its certificates)

Revision ID: 0016_i16_nl_names
Revises: 0015_i12_signed_pdf
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_i16_nl_names"
down_revision = "0015_i12_signed_pdf"
branch_labels = None
depends_on = None

NAMED = ("programme_line", "installation", "sensor", "material", "method")


def upgrade() -> None:
    # batch mode: SQLite (embedded) cannot alter tables in place
    for table in NAMED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("name_nl", sa.String(length=200), nullable=False, server_default=""))
    with op.batch_alter_table("organization") as batch:
        batch.add_column(sa.Column("language", sa.String(length=5), nullable=False, server_default="en"))


def downgrade() -> None:
    with op.batch_alter_table("organization") as batch:
        batch.drop_column("language")
    for table in reversed(NAMED):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("name_nl")
