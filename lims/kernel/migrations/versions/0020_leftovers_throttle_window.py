"""throttle counters are pruned by their window's start: an index for the lookup

Revision ID: 0020_leftovers_throttle_window
Revises: 0019_rules_must_change_password
Create Date: 2026-12-03
"""

from alembic import op

revision = "0020_leftovers_throttle_window"
down_revision = "0019_rules_must_change_password"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_throttle_window_start"), "throttle", ["window_start"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_throttle_window_start"), table_name="throttle")
