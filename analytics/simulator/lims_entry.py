"""Entering SIMULATED lots and lab results into the LIMS through its service functions.

The simulator acts as the people who would do it: a process engineer creates the lot, a
technician registers and receives the sample and submits the results, a reviewer verifies
them (four eyes); the LIMS workflow then grades the sample from its specification.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.simulator.physics import SimulatedLot
from lims.kernel.models import Lot, Sample, User
from lims.samples import registration as sample_service
from lims.samples import workflow


@dataclass(frozen=True)
class Actors:
    engineer: str = "engineer"
    technician: str = "tech"
    reviewer: str = "reviewer"
    owner: str = "ntk"  # the organization owning the pilot lines' lots

    def user(self, session: Session, username: str) -> User:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise LookupError(f"user {username!r} does not exist; seed the users or pass other usernames")
        return user


def create_lot(session: Session, actors: Actors, lot: SimulatedLot) -> Lot:
    p = lot.plan
    return sample_service.create_lot(
        session,
        actors.user(session, actors.engineer),
        code=p.lot_key,
        installation=p.installation,
        material=p.material,
        owner=actors.owner,
        production_start=p.start,
        production_end=p.end,
        input_stream=p.input_stream,
        recycled_content_pct=Decimal(str(p.recycled_content)),
        source=p.source,
    )


def enter_lab_results(session: Session, actors: Actors, lot: Lot, lab_values: dict[str, float]) -> Sample:
    """Register a sample of the lot, enter the (simulated) lab values and verify them."""
    tech = actors.user(session, actors.technician)
    (sample,) = sample_service.register_samples(
        session,
        tech,
        [sample_service.SampleRequest(lot=lot.code, description=f"SIMULATED lab results for {lot.code}")],
    )
    return enter_results(session, actors, sample, lab_values)


def enter_results(session: Session, actors: Actors, sample: Sample, lab_values: dict[str, float]) -> Sample:
    """Receive a registered sample, submit the lab values per method and verify them (four
    eyes: technician submits, reviewer verifies); the LIMS grades the sample."""
    tech = actors.user(session, actors.technician)
    reviewer = actors.user(session, actors.reviewer)
    workflow.receive(session, tech, sample)
    for analysis in list(sample.analyses):
        value = lab_values.get(analysis.method.key)
        if value is not None:
            workflow.submit(
                session, tech, analysis, value=f"{value:.6f}", unit=analysis.method.unit,
                instrument="SIMULATED",
            )
    for analysis in list(sample.analyses):
        if analysis.state == "submitted":
            workflow.verify(session, reviewer, analysis)
    session.flush()
    return sample
