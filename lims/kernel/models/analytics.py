"""Grade model registry and stored predictions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, query_expression, relationship

from lims.kernel.clock import utcnow
from lims.kernel.db import Base
from lims.kernel.models.sample import Lot, Sample

MODEL_STATUSES = ("candidate", "production", "retired")


class ModelVersion(Base):
    """One trained grade model: its metrics, training data and the artifact it was saved to."""

    __tablename__ = "model_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    # e.g. "grade-20261130T041500Z"; names the artifact directory too.
    version: Mapped[str] = mapped_column(String(60), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default="candidate", index=True)
    # Set when it became production, so a rollback can return to the previous one.
    promoted_at: Mapped[datetime | None]
    metrics: Mapped[dict] = mapped_column(JSON)
    # Production windows (lot end times) of the training and test lots.
    train_start: Mapped[datetime]
    train_end: Mapped[datetime]
    test_start: Mapped[datetime | None]
    test_end: Mapped[datetime | None]
    n_train: Mapped[int]
    n_test: Mapped[int]
    features: Mapped[list] = mapped_column(JSON)
    # Per numeric feature [min, max] seen in training, and categories seen: the range check.
    feature_ranges: Mapped[dict] = mapped_column(JSON)
    # Per numeric feature the training histogram (decile edges and shares), for PSI drift.
    reference: Mapped[dict] = mapped_column(JSON)
    classes: Mapped[list] = mapped_column(JSON)
    artifact_path: Mapped[str] = mapped_column(String(500))
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(400), default="")


class ModelDriftReport(Base):
    """One `recyclab model drift` of a version: PSI per feature between its training lots and
    the lots whose production ended in the window, kept so its page shows the latest."""

    __tablename__ = "model_drift_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"), index=True)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    since: Mapped[datetime]
    until: Mapped[datetime]
    lots: Mapped[int]
    # The worst feature level (analytics.drift.LEVELS), or "no lots" when none ended in the
    # window: the list pages read it without the features.
    level: Mapped[str] = mapped_column(String(20))
    # [{"feature", "psi" (None: no recent value), "n_recent", "level"}], largest PSI first.
    features: Mapped[list] = mapped_column(JSON)

    model_version: Mapped[ModelVersion] = relationship()


class Prediction(Base):
    """A predicted grade for a lot (and the sample it was asked for), kept for agreement."""

    __tablename__ = "prediction"
    __table_args__ = (Index("ix_prediction_lot_id_id", "lot_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lot.id"))
    sample_id: Mapped[int | None] = mapped_column(ForeignKey("sample.id"), index=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    predicted_grade: Mapped[str] = mapped_column(String(20))
    probabilities: Mapped[dict] = mapped_column(JSON)
    # [{"feature": ..., "value": ..., "contribution": ...}], largest first.
    top_features: Mapped[list] = mapped_column(JSON)
    out_of_training_range: Mapped[bool] = mapped_column(default=False)
    out_of_range_features: Mapped[list] = mapped_column(JSON, default=list)
    # {"off_spec_alarm": bool, "properties": [{"property", "predicted", "low", "high"}],
    #  "limits_at_risk": [{"property", "grade", "bound", "limit", "share_beyond"}]}
    details: Mapped[dict | None] = mapped_column(JSON)
    # The lot's lab grade as the lab has it now, for the one who loads the prediction with it
    # (analytics.predict); None otherwise. Never stored: it changes with the lot's samples,
    # and a copy on the row was written by whoever read it.
    lab_grade: Mapped[str | None] = query_expression()

    lot: Mapped[Lot] = relationship()
    sample: Mapped[Sample | None] = relationship()
    model_version: Mapped[ModelVersion] = relationship(lazy="joined")

    @property
    def agrees(self) -> bool | None:
        """The predicted grade is the lab grade (None while the lot has none)."""
        return None if self.lab_grade is None else self.predicted_grade == self.lab_grade


class ModelArtifact(Base):
    """A saved model (skops bytes) keyed by its SHA-256: every web and CLI process loads the
    same model from the database, whatever file system it has."""

    __tablename__ = "model_artifact"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[bytes] = mapped_column(LargeBinary)
