"""certificates: the PAdES-signed PDF as issued

Revision ID: 0015_i12_signed_pdf
Revises: 0014_kp_sampling_plan_external
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_i12_signed_pdf"
down_revision = "0014_kp_sampling_plan_external"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite (embedded) cannot alter tables in place. Certificates issued before keep
    # no PDF: theirs is signed when downloaded.
    with op.batch_alter_table("certificate") as batch:
        batch.add_column(sa.Column("pdf", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("certificate") as batch:
        batch.drop_column("pdf")
