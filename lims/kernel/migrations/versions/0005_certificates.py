"""certificates: issued certificates, the samples they cover, grants to other organizations

Revision ID: 0005_certificates
Revises: 0002_lims_core
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

import lims.kernel.db

revision = "0005_certificates"
down_revision = "0002_lims_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("series", sa.String(length=40), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("owner_org_id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=True),
        sa.Column("material_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(length=20), nullable=True),
        sa.Column("issued_at", lims.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=80), nullable=False),
        sa.Column("signature", sa.String(length=120), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("withdrawn_at", lims.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_reason", sa.String(length=400), nullable=False),
        sa.Column("withdrawn_by_id", sa.Integer(), nullable=True),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issued_by_id"], ["app_user.id"], name=op.f("fk_certificate_issued_by_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["programme_line.id"], name=op.f("fk_certificate_line_id_programme_line")
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"], name=op.f("fk_certificate_lot_id_lot")),
        sa.ForeignKeyConstraint(
            ["material_id"], ["material.id"], name=op.f("fk_certificate_material_id_material")
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organization.id"],
            name=op.f("fk_certificate_owner_org_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["certificate.id"],
            name=op.f("fk_certificate_supersedes_id_certificate"),
        ),
        sa.ForeignKeyConstraint(
            ["withdrawn_by_id"],
            ["app_user.id"],
            name=op.f("fk_certificate_withdrawn_by_id_app_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate")),
        sa.UniqueConstraint("number", name=op.f("uq_certificate_number")),
        sa.UniqueConstraint("series", "revision", name=op.f("uq_certificate_series")),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_certificate_supersedes_id")),
    )
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_certificate_grade"), ["grade"], unique=False)
        batch_op.create_index("ix_certificate_issued", ["issued_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_certificate_line_id"), ["line_id"], unique=False)
        batch_op.create_index("ix_certificate_lot_issued", ["lot_id", "issued_at"], unique=False)
        batch_op.create_index(
            "ix_certificate_material_issued", ["material_id", "issued_at"], unique=False
        )
        batch_op.create_index(
            "ix_certificate_owner_issued", ["owner_org_id", "issued_at"], unique=False
        )

    op.create_table(
        "certificate_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("granted_at", lims.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("granted_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificate.id"],
            name=op.f("fk_certificate_grant_certificate_id_certificate"),
        ),
        sa.ForeignKeyConstraint(
            ["granted_by_id"],
            ["app_user.id"],
            name=op.f("fk_certificate_grant_granted_by_id_app_user"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_certificate_grant_organization_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_grant")),
        sa.UniqueConstraint(
            "certificate_id", "organization_id", name=op.f("uq_certificate_grant_certificate_id")
        ),
    )
    with op.batch_alter_table("certificate_grant", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_certificate_grant_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "certificate_sample",
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificate.id"],
            name=op.f("fk_certificate_sample_certificate_id_certificate"),
        ),
        sa.ForeignKeyConstraint(
            ["sample_id"], ["sample.id"], name=op.f("fk_certificate_sample_sample_id_sample")
        ),
        sa.PrimaryKeyConstraint("certificate_id", "sample_id", name=op.f("pk_certificate_sample")),
    )
    with op.batch_alter_table("certificate_sample", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_certificate_sample_sample_id"), ["sample_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("certificate_sample", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificate_sample_sample_id"))

    op.drop_table("certificate_sample")
    with op.batch_alter_table("certificate_grant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificate_grant_organization_id"))

    op.drop_table("certificate_grant")
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.drop_index("ix_certificate_owner_issued")
        batch_op.drop_index("ix_certificate_material_issued")
        batch_op.drop_index("ix_certificate_lot_issued")
        batch_op.drop_index(batch_op.f("ix_certificate_line_id"))
        batch_op.drop_index("ix_certificate_issued")
        batch_op.drop_index(batch_op.f("ix_certificate_grade"))

    op.drop_table("certificate")
