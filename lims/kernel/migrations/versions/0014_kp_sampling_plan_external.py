"""issue 12, ISO/IEC 17025 7.8.2.1 k) and p): the sampling plan a sample was taken by, and
results from an approved external provider with the provider's report

Revision ID: 0014_kp_sampling_plan_external
Revises: 0013_i16b_alarm_ack
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_kp_sampling_plan_external"
down_revision = "0013_i16b_alarm_ack"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sample") as t:
        t.add_column(sa.Column("sampling_plan", sa.String(400), nullable=False, server_default=""))
    with op.batch_alter_table("analysis") as t:
        t.add_column(sa.Column("external_provider_id", sa.Integer(), nullable=True))
        t.add_column(sa.Column("external_report", sa.String(100), nullable=False, server_default=""))
        t.create_foreign_key(
            "fk_analysis_external_provider_id_organization",
            "organization",
            ["external_provider_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("analysis") as t:
        t.drop_constraint("fk_analysis_external_provider_id_organization", type_="foreignkey")
        t.drop_column("external_report")
        t.drop_column("external_provider_id")
    with op.batch_alter_table("sample") as t:
        t.drop_column("sampling_plan")
