"""prediction details: off-spec alarm, predicted lab properties with intervals and the limits at risk

Revision ID: 0011_i17_prediction_details
Revises: 0010_i15_shared_state
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_i17_prediction_details"
down_revision = "0010_i15_shared_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prediction") as batch:
        batch.add_column(sa.Column("details", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prediction") as batch:
        batch.drop_column("details")
