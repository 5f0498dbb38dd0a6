"""Drive lots and samples through the real LIMS workflow to "verified", ready to certify."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.kernel.models import Lot, Sample, User
from lims.people import accounts as auth
from lims.samples import registration as samples
from lims.samples import workflow
from tests.support import seeding

# Grade A PP results (config/grade_specs.toml), clear of the guard band.
PP_GRADE_A = {
    "mfr": "12.00",
    "density": "0.905",
    "ash": "0.40",
    "moisture": "0.020",
    "tensile_modulus": "1450",
    "charpy_notched": "5.2",
    "dsc_tm": "164.0",
    "pe_in_pp": "2.0",
    "filter_pressure_value": "0.40",
    "colour_l": "78.0",
}


def seed_reference(session: Session) -> None:
    """Everything under config/ except the demo users (tests make their own, faster)."""
    seeding.seed_reference(
        session,
        only=("organizations", "installations", "materials", "methods", "test_plans", "grade_specs"),
    )


def password_of(username: str) -> str:
    """The password make_user gives: one per user, without the username in it (the password
    rule refuses that)."""
    return "pw-" + hashlib.sha256(username.encode()).hexdigest()[:16]


def make_user(session: Session, username: str, role: str, org_key: str, full_name: str = "") -> User:
    return auth.create_user(
        session,
        None,
        username=username,
        password=password_of(username),
        role=role,
        organization=auth.get_org(session, org_key),
        full_name=full_name or username.title(),
    )


def make_lot(
    session: Session, actor: User, code: str, owner: str = "polyvorm", material: str = "pp"
) -> Lot:
    start = datetime(2026, 11, 20, 6, tzinfo=UTC)
    return samples.create_lot(
        session,
        actor,
        code=code,
        installation="ntk-ext1",
        material=material,
        owner=owner,
        production_start=start,
        production_end=start + timedelta(hours=8),
        input_stream="post-consumer",
        recycled_content_pct=Decimal("100"),
        source="Household packaging, sorted PP fraction",
    )


def verified_sample(
    session: Session,
    technician: User,
    reviewer: User,
    lot: Lot,
    values: dict[str, str] | None = None,
    description: str = "",
) -> Sample:
    """Register, receive, enter every planned result (technician) and verify them (reviewer)."""
    values = values or PP_GRADE_A
    (sample,) = samples.register_samples(
        session, technician, [samples.SampleRequest(lot=lot.code, description=description)]
    )
    workflow.receive(session, technician, sample, "shelf B-2", "No anomalies recorded at receipt.")
    for analysis in list(sample.analyses):
        method = analysis.method
        workflow.submit(session, technician, analysis, value=values[method.property], unit=method.unit)
    for analysis in list(sample.analyses):
        workflow.verify(session, reviewer, analysis)
    assert sample.state == "verified", sample.state
    return sample


def user(session: Session, username: str) -> User:
    return session.scalar(select(User).where(User.username == username))


def lot_by_code(session: Session, code: str) -> Lot:
    return session.scalar(select(Lot).where(Lot.code == code))
