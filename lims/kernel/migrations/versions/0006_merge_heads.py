"""merge the ingest, analytics and certificates branches into one head

Revision ID: 0006_merge_heads
Revises: 0003_ingest, 0004_analytics, 0005_certificates
Create Date: 2026-11-30
"""

revision = "0006_merge_heads"
down_revision = ("0003_ingest", "0004_analytics", "0005_certificates")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
