"""Feature drift: population stability index (PSI) between training and recent lots.

PSI = sum over bins of (recent% - train%) * ln(recent% / train%), with the training deciles
as bins. Usual reading: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major shift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from analytics import model_registry
from analytics.features import feature_rows
from analytics.train import frame, window_of_lot
from ingest.registry import Registry
from ingest.store.base import TimeSeriesStore
from lims.kernel.clock import utcnow
from lims.kernel.models import Lot
from lims.kernel.models.analytics import ModelDriftReport

EPS = 1e-4
MODERATE, MAJOR = 0.1, 0.25
# Feature levels, worst last: a report's level is its worst feature's.
LEVELS = ("no data", "stable", "moderate", "major")
# A report's level when no lot ended in its window: every feature has no data then, and
# none above 0.1 says nothing about the process.
NO_LOTS = "no lots"


def psi(edges: Sequence[float], reference_shares: Sequence[float], values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return float("nan")
    counts = np.bincount(np.searchsorted(np.asarray(edges), values, side="right"), minlength=len(edges) + 1)
    actual = np.clip(counts / counts.sum(), EPS, None)
    expected = np.clip(np.asarray(reference_shares, dtype=float), EPS, None)
    return float(((actual - expected) * np.log(actual / expected)).sum())


def level(value: float) -> str:
    if np.isnan(value):
        return "no data"
    return "major" if value > MAJOR else "moderate" if value > MODERATE else "stable"


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float
    n_recent: int
    level: str


def drift(reference: dict, recent: pd.DataFrame) -> list[FeatureDrift]:
    """PSI of every feature with a training histogram, largest first (no-data features last)."""
    out = []
    for feature, ref in reference.items():
        if feature not in recent:
            continue
        values = recent[feature].to_numpy(dtype=float)
        value = psi(ref["edges"], ref["shares"], values)
        out.append(FeatureDrift(feature, value, int((~np.isnan(values)).sum()), level(value)))
    return sorted(out, key=lambda d: (np.isnan(d.psi), -np.nan_to_num(d.psi)))


@dataclass(frozen=True)
class DriftReport:
    version: str
    lots: int
    features: list[FeatureDrift]
    since: datetime
    until: datetime

    @property
    def level(self) -> str:
        if self.lots == 0:
            return NO_LOTS
        return max((d.level for d in self.features), key=LEVELS.index, default="no data")


def recent_drift(session: Session, store: TimeSeriesStore, registry: Registry, since: datetime, version: str | None = None) -> DriftReport:
    """Drift of the lots whose production window ended after ``since`` (and before now) against a
    model's training."""
    mv = model_registry.get_version(session, version) if version else model_registry.production(session)
    if mv is None:
        raise LookupError("no production model; name a version with --version")
    # Only lots whose production has ended: a running lot's window is half filled.
    until = utcnow()
    lots = list(session.scalars(select(Lot).where(Lot.production_end.between(since, until)).order_by(Lot.production_end)))
    rows = feature_rows(store, registry, [window_of_lot(lot) for lot in lots])
    numeric = [f for f in mv.features if f in mv.reference]
    return DriftReport(mv.version, len(lots), drift(mv.reference, frame(rows, numeric)), since, until)


def record_drift(session: Session, store: TimeSeriesStore, registry: Registry, since: datetime, version: str | None = None) -> DriftReport:
    """recent_drift, stored: the version's page shows its latest report beside the model."""
    report = recent_drift(session, store, registry, since, version)
    session.add(ModelDriftReport(
        model_version=model_registry.get_version(session, report.version),
        since=report.since, until=report.until, lots=report.lots, level=report.level,
        # JSON has no NaN (PostgreSQL refuses it): a feature without recent values has no PSI.
        features=[{"feature": d.feature, "psi": None if np.isnan(d.psi) else d.psi, "n_recent": d.n_recent,
                   "level": d.level} for d in report.features],
    ))
    session.flush()
    return report


def latest_report(session: Session, model_version_id: int) -> ModelDriftReport | None:
    return session.scalar(
        select(ModelDriftReport).where(ModelDriftReport.model_version_id == model_version_id)
        .order_by(ModelDriftReport.id.desc()).limit(1)
    )


def latest_reports(session: Session) -> dict[int, ModelDriftReport]:
    """The latest report of every version that has one, by version id, in one query. Its
    features are not loaded (a list shows the level), and reading them raises rather than
    query once per row."""
    latest = select(func.max(ModelDriftReport.id)).group_by(ModelDriftReport.model_version_id)
    rows = session.scalars(
        select(ModelDriftReport).where(ModelDriftReport.id.in_(latest)).options(defer(ModelDriftReport.features, raiseload=True))
    )
    return {r.model_version_id: r for r in rows}
