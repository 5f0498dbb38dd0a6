"""Certificates of analysis, the samples they cover and the organizations they are shared with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from lims.kernel.clock import utcnow
from lims.kernel.db import Base
from lims.kernel.models.organization import Organization
from lims.kernel.models.reference import Material, ProgrammeLine
from lims.kernel.models.sample import Lot, Sample
from lims.kernel.models.user import User

CERTIFICATE_STATUSES = ("valid", "withdrawn", "superseded")

certificate_sample = Table(
    "certificate_sample",
    Base.metadata,
    Column("certificate_id", ForeignKey("certificate.id"), primary_key=True),
    Column("sample_id", ForeignKey("sample.id"), primary_key=True, index=True),
)


class Certificate(Base):
    """One issued certificate. The signed content is kept byte for byte (`content`, the RFC 8785
    canonical JSON); the columns beside it are copies for searching and listing."""

    __tablename__ = "certificate"
    __table_args__ = (
        UniqueConstraint("series", "revision"),
        # The manufacturer's list: own certificates, newest first, optionally by lot/material/grade.
        Index("ix_certificate_owner_issued", "owner_org_id", "issued_at"),
        Index("ix_certificate_lot_issued", "lot_id", "issued_at"),
        Index("ix_certificate_material_issued", "material_id", "issued_at"),
        Index("ix_certificate_issued", "issued_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # NTK-COA-2026-000123 for the first issue, NTK-COA-2026-000123-R1 for its first revision.
    number: Mapped[str] = mapped_column(String(40), unique=True)
    series: Mapped[str] = mapped_column(String(40))
    revision: Mapped[int] = mapped_column(default=0)
    # sample | lot
    kind: Mapped[str] = mapped_column(String(10))
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id"))
    material_id: Mapped[int] = mapped_column(ForeignKey("material.id"))
    line_id: Mapped[int] = mapped_column(ForeignKey("programme_line.id"), index=True)
    grade: Mapped[str | None] = mapped_column(String(20), index=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    content: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(80))
    signature: Mapped[str] = mapped_column(String(120))
    key_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), default="valid")
    withdrawn_at: Mapped[datetime | None]
    withdrawn_reason: Mapped[str] = mapped_column(String(400), default="")
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("certificate.id"), unique=True)
    # The PDF as issued, PAdES-signed with the key the content names (tens of kB: loaded only
    # when downloaded). None for certificates issued before PDFs were signed.
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    # Lower-cased number, lot, samples, material, customer and description for `q` searches.
    search_text: Mapped[str] = mapped_column(Text, default="")

    owner: Mapped[Organization] = relationship(lazy="joined")
    lot: Mapped[Lot | None] = relationship(lazy="joined")
    material: Mapped[Material] = relationship(lazy="joined")
    line: Mapped[ProgrammeLine] = relationship(lazy="joined")
    issued_by: Mapped[User | None] = relationship(foreign_keys=[issued_by_id])
    samples: Mapped[list[Sample]] = relationship(secondary=certificate_sample, order_by="Sample.id")
    supersedes: Mapped[Certificate | None] = relationship(
        remote_side=[id], foreign_keys=[supersedes_id], back_populates="superseded_by"
    )
    superseded_by: Mapped[Certificate | None] = relationship(
        foreign_keys=[supersedes_id], back_populates="supersedes", uselist=False
    )
    grants: Mapped[list[CertificateGrant]] = relationship(
        back_populates="certificate", order_by="CertificateGrant.id"
    )


class CertificateGrant(Base):
    """A certificate shared with another organization (e.g. the buyer of the lot)."""

    __tablename__ = "certificate_grant"
    __table_args__ = (UniqueConstraint("certificate_id", "organization_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificate.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    certificate: Mapped[Certificate] = relationship(back_populates="grants")
    organization: Mapped[Organization] = relationship(lazy="joined")


def open_certificate(session: Session, sample: Sample) -> Certificate | None:
    """The certificate covering this sample that is not yet replaced, the sample's own or its
    lot's: valid, or withdrawn (reopened for an amendment) and waiting for its revision."""
    return open_certificates(session, [sample.id]).get(sample.id)


def open_certificates(session: Session, sample_ids: list[int]) -> dict[int, Certificate]:
    """open_certificate of many samples in one query: sample id -> its certificate (samples
    without one left out)."""
    rows = session.execute(
        select(certificate_sample.c.sample_id, Certificate)
        .join(certificate_sample, certificate_sample.c.certificate_id == Certificate.id)
        .where(
            certificate_sample.c.sample_id.in_(sample_ids),
            Certificate.status.in_(("valid", "withdrawn")),
            ~Certificate.superseded_by.has(),
        )
        .order_by(Certificate.id)
    ).all()
    # The newest wins, as it is written last.
    return {sample_id: cert for sample_id, cert in rows}
