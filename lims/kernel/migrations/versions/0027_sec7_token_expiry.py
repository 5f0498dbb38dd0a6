"""API tokens expire, record their last use and the token that minted them

Revision ID: 0027_sec7_token_expiry
Revises: 0026_audit6_db_beat_at
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

import lims.kernel.db

revision = "0027_sec7_token_expiry"
down_revision = "0026_audit6_db_beat_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Tokens from before keep no expiry (NULL: never): machine clients that hold one go on
    # working after the upgrade; their owners see them in the list and replace them.
    with op.batch_alter_table("api_token") as t:
        t.add_column(sa.Column("expires_at", lims.kernel.db.UTCDateTime(), nullable=True))
        t.add_column(sa.Column("last_used_at", lims.kernel.db.UTCDateTime(), nullable=True))
        t.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        t.create_foreign_key(op.f("fk_api_token_parent_id_api_token"), "api_token", ["parent_id"], ["id"])
        t.create_index(op.f("ix_api_token_parent_id"), ["parent_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("api_token") as t:
        t.drop_index(op.f("ix_api_token_parent_id"))
        t.drop_constraint(op.f("fk_api_token_parent_id_api_token"), type_="foreignkey")
        t.drop_column("parent_id")
        t.drop_column("last_used_at")
        t.drop_column("expires_at")
