"""ingest rejects keyed by their message: a batch redelivered after a crash records none twice

Revision ID: 0018_ingest2_reject_key
Revises: 0017_nl_conditions
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_ingest2_reject_key"
down_revision = "0017_nl_conditions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite (embedded) cannot alter tables in place. Rows from before have no
    # key (NULL), which a unique constraint lets any number of rows share.
    with op.batch_alter_table("ingest_reject") as batch:
        batch.add_column(sa.Column("message_key", sa.String(length=32), nullable=True))
        batch.create_unique_constraint("uq_ingest_reject_message_key", ["message_key"])


def downgrade() -> None:
    with op.batch_alter_table("ingest_reject") as batch:
        batch.drop_constraint("uq_ingest_reject_message_key", type_="unique")
        batch.drop_column("message_key")
