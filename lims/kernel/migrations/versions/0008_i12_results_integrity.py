"""issue 12: plausibility and unit conversion per method, documented uncertainty, entered values,
sampling and receipt records, OOS investigations

Revision ID: 0008_i12_results_integrity
Revises: 0007_lims_search
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

import lims.kernel.db

revision = "0008_i12_results_integrity"
down_revision = "0007_lims_search"
branch_labels = None
depends_on = None

Amount = sa.Numeric(18, 6)


def upgrade() -> None:
    with op.batch_alter_table("method") as t:
        t.add_column(sa.Column("plausible_min", Amount, nullable=True))
        t.add_column(sa.Column("plausible_max", Amount, nullable=True))
        t.add_column(sa.Column("conversions", sa.JSON(), nullable=True))
        t.add_column(sa.Column("origin", sa.String(20), nullable=False, server_default="standard"))
    with op.batch_alter_table("analysis") as t:
        t.add_column(sa.Column("uncertainty_reason", sa.String(400), nullable=False, server_default=""))
        t.add_column(sa.Column("entered_value", sa.String(40), nullable=True))
        t.add_column(sa.Column("entered_unit", sa.String(20), nullable=True))
    with op.batch_alter_table("sample") as t:
        t.add_column(sa.Column("sampled_at", lims.kernel.db.UTCDateTime(), nullable=True))
        t.add_column(sa.Column("sampled_by", sa.String(120), nullable=False, server_default=""))
        t.add_column(
            sa.Column("condition_on_receipt", sa.String(400), nullable=False, server_default="")
        )
    op.create_table(
        "oos_investigation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("original_id", sa.Integer(), sa.ForeignKey("analysis.id"), nullable=False, unique=True),
        sa.Column("retest_id", sa.Integer(), sa.ForeignKey("analysis.id"), nullable=False, index=True),
        sa.Column("original_state", sa.String(20), nullable=False),
        sa.Column("original_evaluation", sa.String(20), nullable=True),
        sa.Column("reason", sa.String(400), nullable=False),
        sa.Column("opened_by_id", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=False),
        sa.Column("opened_at", lims.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("exclusion_reason", sa.String(400), nullable=False, server_default=""),
        sa.Column("excluded_by_id", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("oos_investigation")
    with op.batch_alter_table("sample") as t:
        for name in ("condition_on_receipt", "sampled_by", "sampled_at"):
            t.drop_column(name)
    with op.batch_alter_table("analysis") as t:
        for name in ("entered_unit", "entered_value", "uncertainty_reason"):
            t.drop_column(name)
    with op.batch_alter_table("method") as t:
        for name in ("origin", "conversions", "plausible_max", "plausible_min"):
            t.drop_column(name)
