"""lims search: trigram index for the sample list's text filter (PostgreSQL)

Revision ID: 0007_lims_search
Revises: 0006_merge_heads
Create Date: 2026-11-30
"""

from alembic import op

revision = "0007_lims_search"
down_revision = "0006_merge_heads"
branch_labels = None
depends_on = None

# The same expression as lims.samples.api.samples.SEARCH_TEXT, so the planner matches the index.
EXPRESSION = "(code || ' ' || description || ' ' || storage_location)"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite (embedded) scans; it holds a small lab's samples
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(f"CREATE INDEX ix_sample_search ON sample USING gin ({EXPRESSION} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_sample_search")
