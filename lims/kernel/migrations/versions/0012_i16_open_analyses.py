"""worksheets by method: partial index on the open analyses of a method

Revision ID: 0012_i16_open_analyses
Revises: 0011_i17_prediction_details
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_i16_open_analyses"
down_revision = "0011_i17_prediction_details"
branch_labels = None
depends_on = None

OPEN = sa.text("state = 'unassigned'")


def upgrade() -> None:
    op.create_index(
        "ix_analysis_open_method", "analysis", ["method_id", "sample_id"],
        postgresql_where=OPEN, sqlite_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_analysis_open_method", table_name="analysis")
