"""Lots, samples and analyses: what the lab receives and measures."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lims.kernel.clock import utcnow
from lims.kernel.db import Base
from lims.kernel.models.organization import Organization
from lims.kernel.models.reference import Amount, Installation, Material, Method, ProgrammeLine
from lims.kernel.models.user import User

SAMPLE_STATES = (
    "registered",
    "received",
    "to_be_verified",
    "verified",
    "certified",
    "cancelled",
    "rejected",
    "invalid",
)
ANALYSIS_STATES = ("unassigned", "submitted", "verified", "retracted")
# EN 15343 terms; "post-industrial" is the older word for pre-consumer material, still accepted
# from the simulator and older clients, and shown as pre-consumer on certificates.
INPUT_STREAMS = ("post-consumer", "pre-consumer", "post-industrial")
EN_15343_STREAM = {"post-industrial": "pre-consumer"}


class Lot(Base):
    __tablename__ = "lot"
    __table_args__ = (
        CheckConstraint("production_start < production_end", name="window"),
        CheckConstraint(
            "recycled_content_pct >= 0 AND recycled_content_pct <= 100", name="recycled_content"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    installation_id: Mapped[int] = mapped_column(ForeignKey("installation.id"), index=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("material.id"), index=True)
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    # [start, end): the installation's process data in this window belongs to the lot.
    production_start: Mapped[datetime] = mapped_column(index=True)
    production_end: Mapped[datetime]
    input_stream: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(400), default="")
    recycled_content_pct: Mapped[Decimal] = mapped_column(Amount)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    installation: Mapped[Installation] = relationship(lazy="joined", innerjoin=True)
    material: Mapped[Material] = relationship(lazy="joined", innerjoin=True)
    owner: Mapped[Organization] = relationship(lazy="joined", innerjoin=True)


class SampleCounter(Base):
    """The last number handed out per ID prefix and year; incremented atomically."""

    __tablename__ = "sample_counter"

    prefix: Mapped[str] = mapped_column(String(10), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(default=0)


class Sample(Base):
    __tablename__ = "sample"
    __table_args__ = (
        # The list page filters on these (state mostly with material or line) and shows the
        # newest first: each index serves the filter, the order and the page's count.
        Index("ix_sample_state_id", "state", "id"),
        Index("ix_sample_material_state_id", "material_id", "state", "id"),
        Index("ix_sample_line_state_id", "line_id", "state", "id"),
        Index("ix_sample_owner_org_id_id", "owner_org_id", "id"),
        # Sorting by storage location (lims.samples.sample_search), page after page.
        Index("ix_sample_storage_location_id", "storage_location", "id"),
        # The receive page lists what its user received today (lims.samples.workflow.received_since).
        Index("ix_sample_received_by_at", "received_by_id", "received_at"),
        # The text filter has a trigram index on PostgreSQL, ix_sample_search: an expression
        # index that only migration 0007 knows (autogenerate cannot compare it).
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The human ID printed on the label: NTK-2026-000123, partitions NTK-2026-000123-01.
    code: Mapped[str] = mapped_column(String(40), unique=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("programme_line.id"))
    material_id: Mapped[int] = mapped_column(ForeignKey("material.id"))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id"), index=True)
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("sample.id"), index=True)
    state: Mapped[str] = mapped_column(String(20), default="registered")
    storage_location: Mapped[str] = mapped_column(String(120), default="")
    description: Mapped[str] = mapped_column(String(400), default="")
    registered_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    registered_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    received_at: Mapped[datetime | None]
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    # ISO/IEC 17025 7.8.2.2: recorded at registration (sampled_by "" = sampled by the customer)
    # and at receipt, never defaulted at issue.
    sampled_at: Mapped[datetime | None]
    sampled_by: Mapped[str] = mapped_column(String(120), default="")
    # 7.8.2.1 k): the sampling plan and method the sample was taken by ("" = none stated).
    sampling_plan: Mapped[str] = mapped_column(String(400), default="")
    condition_on_receipt: Mapped[str] = mapped_column(String(400), default="")
    grade: Mapped[str | None] = mapped_column(String(20))
    # Per property: {"mfr": {"verdict": "...", "reason": "..."}}; set with the grade.
    grade_reasons: Mapped[dict | None] = mapped_column(JSON)
    graded_at: Mapped[datetime | None]

    line: Mapped[ProgrammeLine] = relationship(lazy="joined", innerjoin=True)
    material: Mapped[Material] = relationship(lazy="joined", innerjoin=True)
    lot: Mapped[Lot | None] = relationship()
    owner: Mapped[Organization] = relationship(lazy="joined", innerjoin=True)
    parent: Mapped[Sample | None] = relationship(remote_side=[id], back_populates="partitions")
    partitions: Mapped[list[Sample]] = relationship(back_populates="parent", order_by="Sample.id")
    analyses: Mapped[list[Analysis]] = relationship(back_populates="sample", order_by="Analysis.id")


class Analysis(Base):
    """One method on one sample. A retest is a new analysis; the retracted original stays."""

    __tablename__ = "analysis"
    __table_args__ = (
        # Worksheets by method: the open analyses of one method, a small part of all analyses.
        Index(
            "ix_analysis_open_method", "method_id", "sample_id",
            postgresql_where=text("state = 'unassigned'"), sqlite_where=text("state = 'unassigned'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("sample.id"), index=True)
    method_id: Mapped[int] = mapped_column(ForeignKey("method.id"))
    state: Mapped[str] = mapped_column(String(20), default="unassigned")
    retest_of_id: Mapped[int | None] = mapped_column(ForeignKey("analysis.id"))
    value: Mapped[Decimal | None] = mapped_column(Amount)
    # "< 0.05": the flag is set and value holds the limit.
    below_detection_limit: Mapped[bool] = mapped_column(default=False)
    uncertainty: Mapped[Decimal | None] = mapped_column(Amount)
    unit: Mapped[str | None] = mapped_column(String(20))
    instrument: Mapped[str] = mapped_column(String(100), default="")
    analyst_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    measured_at: Mapped[datetime | None]
    # in_spec | warn | out_of_spec, computed from the grade specification, never entered.
    evaluation: Mapped[str | None] = mapped_column(String(20))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    submitted_at: Mapped[datetime | None]
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    verified_at: Mapped[datetime | None]
    retract_reason: Mapped[str] = mapped_column(String(400), default="")
    # Why an uncertainty below the method's is valid for this result (shown with it).
    uncertainty_reason: Mapped[str] = mapped_column(String(400), default="")
    # The value and unit as entered, when converted to the method's unit.
    entered_value: Mapped[str | None] = mapped_column(String(40))
    entered_unit: Mapped[str | None] = mapped_column(String(20))
    # 7.8.2.1 p): a result measured by an approved external provider (an organization of kind
    # "provider"), transcribed from its report; None = measured by the lab itself.
    external_provider_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    external_report: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    sample: Mapped[Sample] = relationship(back_populates="analyses")
    method: Mapped[Method] = relationship(lazy="joined", innerjoin=True)
    analyst: Mapped[User | None] = relationship(foreign_keys=[analyst_id])
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])
    verified_by: Mapped[User | None] = relationship(foreign_keys=[verified_by_id])
    external_provider: Mapped[Organization | None] = relationship(lazy="joined")
    retest_of: Mapped[Analysis | None] = relationship(remote_side=[id], foreign_keys=[retest_of_id])
    # The investigation opened when this result was retested (at most one: original_id is unique).
    oos: Mapped[OosInvestigation | None] = relationship(
        back_populates="original", foreign_keys="OosInvestigation.original_id"
    )


class OosInvestigation(Base):
    """An out-of-specification investigation: opened when a verified or out-of-spec result is
    retested (ISO/IEC 17025 7.10). The original result stays; the certificate lists the
    retest history of the property unless a reviewer records why it is excluded."""

    __tablename__ = "oos_investigation"

    id: Mapped[int] = mapped_column(primary_key=True)
    original_id: Mapped[int] = mapped_column(ForeignKey("analysis.id"), unique=True)
    retest_id: Mapped[int] = mapped_column(ForeignKey("analysis.id"), index=True)
    original_state: Mapped[str] = mapped_column(String(20))
    original_evaluation: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(400))
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    exclusion_reason: Mapped[str] = mapped_column(String(400), default="")
    excluded_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    original: Mapped[Analysis] = relationship(foreign_keys=[original_id], back_populates="oos")
    retest: Mapped[Analysis] = relationship(foreign_keys=[retest_id])
    opened_by: Mapped[User] = relationship(foreign_keys=[opened_by_id])
