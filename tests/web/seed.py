"""Test data for the page tests, made through the service functions (as a user would)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.kernel.clock import utcnow
from lims.kernel.models import Analysis, Sample, User
from lims.samples import grading, workflow
from lims.samples import registration as samples
from lims.samples.results import load_spec
from tests.support import seeding

# config/users.toml (demo credentials); polyvorm and vezelwerk are customer users.
PASSWORDS = {
    "admin": "demo-admin",
    "tech": "demo-tech",
    "tech2": "demo-tech2",
    "reviewer": "demo-reviewer",
    "engineer": "demo-engineer",
    "polyvorm": "demo-polyvorm",
    "vezelwerk": "demo-vezelwerk",
}


def seed_reference(session_factory) -> None:
    with session_factory.begin() as s:
        seeding.seed_reference(s)


def user(s: Session, username: str) -> User:
    return s.scalar(select(User).where(User.username == username))


@dataclass
class LotSeed:
    lot_id: int
    lot_code: str
    sample_codes: list[str]


def lot_with_samples(
    session_factory, count: int = 1, *, owner: str = "polyvorm", receive: bool = True, code: str = ""
) -> LotSeed:
    """A PP lot from regranulation line 1 that ended an hour ago, with `count` samples."""
    with session_factory.begin() as s:
        tech = user(s, "tech")
        end = utcnow() - timedelta(hours=1)
        lot = samples.create_lot(
            s, tech, code=code or f"LOT-{utcnow():%H%M%S%f}", installation="ntk-ext1", material="pp",
            owner=owner, production_start=end - timedelta(hours=2), production_end=end,
            input_stream="post-consumer", recycled_content_pct=Decimal("90"),
        )
        made = samples.register_samples(s, tech, [samples.SampleRequest(lot=lot.code)] * count)
        if receive:
            for sample in made:
                workflow.receive(s, tech, sample)
        return LotSeed(lot.id, lot.code, [m.code for m in made])


def in_spec_value(s: Session, analysis: Analysis) -> str:
    """The middle of the best grade's limit (or of the method's plausible range when the
    property is not limited)."""
    spec = load_spec(s, analysis.sample.material_id)
    limit = spec.grades[0].limits.get(analysis.method.property) if spec else None
    if limit is None:
        lo, hi = analysis.method.plausible_min, analysis.method.plausible_max
        return str((lo + hi) / 2) if lo is not None and hi is not None else "1"
    if limit.min is not None and limit.max is not None:
        return str((limit.min + limit.max) / 2)
    if limit.min is not None:
        top = analysis.method.plausible_max
        return str((limit.min + top) / 2) if top is not None else str(limit.min * 2 + 1)
    return str(limit.max / 2)


def submit_all(session_factory, code: str, username: str = "tech") -> None:
    with session_factory.begin() as s:
        actor = user(s, username)
        sample = s.scalar(select(Sample).where(Sample.code == code))
        for analysis in list(sample.analyses):
            if analysis.state == "unassigned":
                workflow.submit(s, actor, analysis, value=in_spec_value(s, analysis), unit=analysis.method.unit)


def verify_all(session_factory, code: str, username: str = "reviewer") -> None:
    with session_factory.begin() as s:
        actor = user(s, username)
        sample = s.scalar(select(Sample).where(Sample.code == code))
        for analysis in list(sample.analyses):
            if analysis.state == "submitted":
                workflow.verify(s, actor, analysis)


def out_of_spec_value(s: Session, analysis: Analysis) -> str:
    """A plausible value past the loosest grade's limit: a result that fails every grade."""
    limit = envelope_limit(s, analysis)
    lo, hi = analysis.method.plausible_min, analysis.method.plausible_max
    if limit is not None and limit.max is not None:
        return str((limit.max + hi) / 2 if hi is not None else limit.max * 2 + 1)
    if limit is not None and limit.min is not None:
        return str((limit.min + lo) / 2 if lo is not None else limit.min / 2)
    raise ValueError(f"{analysis.method.key} has no grade limit to fail")


def envelope_limit(s: Session, analysis: Analysis) -> grading.Limit | None:
    spec = load_spec(s, analysis.sample.material_id)
    found = grading.envelope(spec, analysis.method.property) if spec else None
    return found[1] if found else None
