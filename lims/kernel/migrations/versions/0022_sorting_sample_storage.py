"""the lab sorts the sample list by storage location: an index serving that order and its pages

Revision ID: 0022_sorting_sample_storage
Revises: 0021_alarmsdb_one_open_alarm
Create Date: 2026-12-03
"""

from alembic import op

revision = "0022_sorting_sample_storage"
down_revision = "0021_alarmsdb_one_open_alarm"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sample_storage_location_id", "sample", ["storage_location", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sample_storage_location_id", table_name="sample")
