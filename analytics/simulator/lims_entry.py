"""Entering SIMULATED lots and lab results into the LIMS through its service functions.

The simulator acts as the people who would do it: a process engineer creates the lot, a
technician registers and receives the sample and submits the results, a reviewer verifies
them (four eyes); the LIMS workflow then grades the sample from its specification.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.lims_link import LabCatalogue
from analytics.simulator.physics import SimulatedLot
from lims.certificates import issuing
from lims.kernel.models import Lot, Sample, User
from lims.samples import registration as sample_service
from lims.samples import workflow


@dataclass(frozen=True)
class Actors:
    engineer: str = "engineer"
    technician: str = "tech"
    reviewer: str = "reviewer"
    owner: str = "ntk"  # the organization owning the pilot lines' lots
    zone: str = sample_service.LAB_ZONE  # the lab's (settings.timezone): its year numbers samples

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
    return enter_results(session, actors, register_sample(session, actors, lot), lab_values)


# What a pilot line's sampler would state; the simulated lots are sampled by it.
SAMPLING_PLAN = "Composite of 1 kg increments from the extruder outlet, one per hour of the lot (simulated)"


def register_sample(session: Session, actors: Actors, lot: Lot) -> Sample:
    (sample,) = sample_service.register_samples(
        session,
        actors.user(session, actors.technician),
        [
            sample_service.SampleRequest(
                lot=lot.code,
                description=f"SIMULATED lab results for {lot.code}",
                sampling_plan=SAMPLING_PLAN,
            )
        ],
        zone=actors.zone,
    )
    return sample


def enter_results(session: Session, actors: Actors, sample: Sample, lab_values: dict[str, float]) -> Sample:
    """Receive a registered sample, submit the lab values per method and verify them (four
    eyes: technician submits, reviewer verifies); the LIMS grades the sample."""
    return advance(session, actors, sample, lab_values, "verified")


# How far a sample is taken, in workflow order: the LIMS states a demo's samples are left in.
STAGES = ("registered", "received", "to_be_verified", "verified", "certified")


def advance(
    session: Session,
    actors: Actors,
    sample: Sample,
    lab_values: dict[str, float],
    stage: str,
    issuer: issuing.Issuer | None = None,
) -> Sample:
    """Take a registered sample through the workflow up to ``stage`` (one of STAGES), each step
    by the user whose job it is; "certified" needs the ``issuer`` (the lab's signing key)."""
    reached = STAGES.index(stage)
    tech = actors.user(session, actors.technician)
    reviewer = actors.user(session, actors.reviewer)
    if reached >= STAGES.index("received"):
        workflow.receive(session, tech, sample)
    if reached >= STAGES.index("to_be_verified"):
        for analysis in list(sample.analyses):
            value = lab_values.get(analysis.method.key)
            if value is not None:
                workflow.submit(
                    session, tech, analysis, value=f"{value:.6f}", unit=analysis.method.unit,
                    instrument="SIMULATED",
                )
    if reached >= STAGES.index("verified"):
        for analysis in list(sample.analyses):
            if analysis.state == "submitted":
                workflow.verify(session, reviewer, analysis)
    if reached >= STAGES.index("certified"):
        if issuer is None:
            raise ValueError("certifying needs the lab's issuer (signing key)")
        session.flush()
        issuing.issue_for_sample(session, issuer, reviewer, sample)
    session.flush()
    return sample


def enter_backlog(
    session: Session,
    actors: Actors,
    catalogue: LabCatalogue,
    lots: Iterable[SimulatedLot],
    rng: np.random.Generator,
    issuer: issuing.Issuer,
) -> list[Sample]:
    """Lots that ended before the live simulation starts, each with one sample left at a
    stage of the workflow in turn (most certified), so that a fresh LIMS shows work in every
    state instead of waiting hours for the first live lot to close."""
    order = ("certified", "to_be_verified", "certified", "received", "verified", "registered")
    samples = []
    for i, lot in enumerate(lots):
        sample = register_sample(session, actors, create_lot(session, actors, lot))
        values = catalogue.lab_values(lot.plan.material, lot.properties, rng)
        samples.append(advance(session, actors, sample, values, order[i % len(order)], issuer))
    return samples
