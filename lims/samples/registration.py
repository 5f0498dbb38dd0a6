"""Lots and sample registration: human IDs, partitions, bulk registration (all or nothing)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import TypeVar, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from lims.audit import service as audit
from lims.kernel.clock import utcnow
from lims.kernel.db import insert_or_merge
from lims.kernel.errors import N_, InputError, Text, WorkflowError
from lims.kernel.models import (
    Analysis,
    Installation,
    Lot,
    Material,
    Method,
    Organization,
    ProgrammeLine,
    Sample,
    SampleCounter,
    User,
)
from lims.kernel.models.sample import INPUT_STREAMS
from lims.permissions import Capability, require

MAX_BULK = 1000
# The year in a sample's ID is the lab's, as on its certificates: this zone unless the caller
# names the configured one (settings.timezone; config/defaults.toml has the same).
LAB_ZONE = "Europe/Amsterdam"
# What the storage location column holds.
STORAGE_MAX = 120
# Printed on labels and searched for: letters, digits and . _ / -, up to the column's 60.
LOT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,59}\Z")
LOT_CODE_RULE = N_("1 to 60 letters, digits or . _ / -, starting with a letter or digit")

# The reference rows looked up by their key.
_Keyed = TypeVar("_Keyed", Installation, Material, Organization)
_UNKNOWN = {
    "installation": N_("unknown installation %(key)s"),
    "material": N_("unknown material %(key)s"),
    "owner": N_("unknown owner %(key)s"),
}
# An approved external provider measures for the lab (lims.samples.results.external_provider);
# it is not a customer, and its users would read what it owned.
_PROVIDER_OWNS_NOTHING = N_("%(key)s is an external provider: it measures for the lab and owns no lots or samples")
_NOT_THE_LOTS = {
    "material": N_("differs from the lot's material %(key)s"),
    "owner": N_("differs from the lot's owner %(key)s"),
}


def at_most(field: str, text: str, most: int) -> None:
    """A text for a column of `most` characters; the pages reach the services without the API
    schema's length checks, and SQLite would keep a longer one whole."""
    if len(text) > most:
        raise InputError(field, N_("at most %(n)s characters", n=most))


def next_numbers(session: Session, prefix: str, year: int, count: int = 1) -> range:
    """Reserve `count` consecutive numbers for prefix+year.

    The UPDATE ... RETURNING takes the counter row's lock until commit, so concurrent
    registrations queue on it and never get the same number (PostgreSQL row lock; SQLite
    has one writer anyway). The first registration of a year creates the row.
    """
    # A declarative model's __table__ is its Table (typed as the wider FromClause).
    table = cast(Table, SampleCounter.__table__)
    bump = (
        update(table)
        .where(table.c.prefix == prefix, table.c.year == year)
        .values(last_value=table.c.last_value + count)
        .returning(table.c.last_value)
    )
    last = session.execute(bump).scalar_one_or_none()
    if last is None:
        session.execute(
            insert_or_merge(session, table).values(prefix=prefix, year=year, last_value=0).on_conflict_do_nothing()
        )
        last = session.execute(bump).scalar_one()
    return range(last - count + 1, last + 1)


def format_code(prefix: str, year: int, number: int) -> str:
    return f"{prefix}-{year}-{number:06d}"


def _by_key(session: Session, model: type[_Keyed], key: str, field_name: str) -> _Keyed:
    row = session.scalar(select(model).where(model.key == key))
    if row is None:
        raise InputError(field_name, Text(_UNKNOWN[field_name], key=repr(key)))
    return row


def create_lot(
    session: Session,
    actor: User,
    *,
    code: str,
    installation: str,
    material: str,
    owner: str,
    production_start: datetime,
    production_end: datetime,
    input_stream: str,
    recycled_content_pct: Decimal,
    source: str = "",
) -> Lot:
    require(actor, Capability.CREATE_LOTS, N_("create lots"))
    if not LOT_CODE.fullmatch(code):
        raise InputError("code", LOT_CODE_RULE)
    if production_start >= production_end:
        raise InputError(
            "production_end", N_("must be after production_start (window is [start, end))")
        )
    if input_stream not in INPUT_STREAMS:
        raise InputError("input_stream", N_("must be one of %(choices)s", choices=", ".join(INPUT_STREAMS)))
    if not Decimal(0) <= recycled_content_pct <= Decimal(100):
        raise InputError("recycled_content_pct", N_("must be between 0 and 100"))
    at_most("source", source, 400)
    inst = _by_key(session, Installation, installation, "installation")
    mat = _by_key(session, Material, material, "material")
    org = _by_key(session, Organization, owner, "owner")
    if org.kind == "provider":
        raise InputError("owner", Text(_PROVIDER_OWNS_NOTHING, key=repr(owner)))
    if inst.line_id != mat.line_id:
        raise InputError(
            "material", N_("%(material)s is not made on the line of %(installation)s", material=material, installation=installation)
        )
    if session.scalar(select(Lot.id).where(Lot.code == code)) is not None:
        raise InputError("code", N_("lot %(code)s exists already", code=repr(code)))
    lot = Lot(
        code=code,
        installation_id=inst.id,
        material_id=mat.id,
        owner_org_id=org.id,
        production_start=production_start.astimezone(UTC),
        production_end=production_end.astimezone(UTC),
        input_stream=input_stream,
        source=source,
        recycled_content_pct=recycled_content_pct,
        created_by_id=actor.id,
    )
    session.add(lot)
    session.flush()
    audit.record(session, actor, "lot.create", "lot", lot.id, None, audit.snapshot(lot))
    return lot


@dataclass
class SampleRequest:
    """What one registration asks for; material and owner come from the lot when one is given."""

    lot: str | None = None
    material: str | None = None
    owner: str | None = None
    storage_location: str = ""
    description: str = ""
    methods: list[str] | None = None
    # ISO/IEC 17025 7.8.2.2: when and by whom the sample was taken ("" = by the customer).
    sampled_at: datetime | None = None
    sampled_by: str = ""
    # 7.8.2.1 k): the sampling plan and method, e.g. "ISO 24153 random, 5 increments of 1 kg".
    sampling_plan: str = ""


@dataclass
class _Resolved:
    lot: Lot | None
    material: Material
    owner: Organization
    methods: list[Method]


def _find_methods(session: Session, keys: list[str]) -> tuple[list[Method], list[str]]:
    found = {m.key: m for m in session.scalars(select(Method).where(Method.key.in_(keys)))}
    problems: list[str] = []
    unknown = [k for k in keys if k not in found]
    if unknown:
        problems.append(N_("unknown method(s): %(keys)s", keys=", ".join(unknown)))
    if len(set(keys)) != len(keys):
        problems.append(N_("a method is listed twice"))
    return [found[k] for k in keys if k in found], problems


def _resolve(session: Session, req: SampleRequest) -> _Resolved | dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    lot: Lot | None = None
    material: Material | None = None
    owner: Organization | None = None
    if req.lot:
        lot = session.scalar(select(Lot).where(Lot.code == req.lot))
        if lot is None:
            errors["lot"] = [N_("unknown lot %(code)s", code=repr(req.lot))]
        else:
            material, owner = lot.material, lot.owner
    models: tuple[tuple[str, type[Material] | type[Organization]], ...] = (
        ("material", Material), ("owner", Organization)
    )
    for name, model in models:
        key = getattr(req, name)
        if key is None:
            if lot is None and "lot" not in errors:
                errors[name] = [N_("required when no lot is given")]
            continue
        # mypy types a select of either model as their base class.
        row = cast(Material | Organization | None, session.scalar(select(model).where(model.key == key)))
        if row is None:
            errors[name] = [Text(_UNKNOWN[name], key=repr(key))]
        elif lot is not None and row.id != getattr(lot, name).id:
            errors[name] = [Text(_NOT_THE_LOTS[name], key=repr(getattr(lot, name).key))]
        elif isinstance(row, Organization) and row.kind == "provider":
            errors[name] = [Text(_PROVIDER_OWNS_NOTHING, key=repr(key))]
        elif isinstance(row, Material):  # name == "material"
            material = row
        else:
            owner = row
    if req.sampled_at is not None and req.sampled_at > utcnow():
        errors["sampled_at"] = [N_("lies in the future")]
    # The web form reaches here without the API schema's length checks.
    for name, most in (("sampled_by", 120), ("sampling_plan", 400), ("storage_location", STORAGE_MAX)):
        if len(getattr(req, name).strip()) > most:
            errors[name] = [N_("at most %(n)s characters", n=most)]
    methods: list[Method] = []
    if req.methods is not None:
        methods, problems = _find_methods(session, req.methods)
        if problems:
            errors["methods"] = problems
    elif material is not None:
        methods = [item.method for item in material.test_plan]
    if errors:
        return errors
    if material is None or owner is None:
        # Not reached: without a lot, a missing material or owner is an error above.
        raise AttributeError("material and owner are required")
    return _Resolved(lot, material, owner, methods)


def register_samples(
    session: Session, actor: User, requests: list[SampleRequest], *, zone: str | tzinfo = LAB_ZONE
) -> list[Sample]:
    """Register all or none: any bad request raises InputError naming every bad entry by index.
    `zone`: the lab's, whose year numbers the samples (NTK-2027-… from midnight there)."""
    require(actor, Capability.REGISTER_SAMPLES, N_("register samples"))
    if not 1 <= len(requests) <= MAX_BULK:
        raise InputError("samples", N_("give 1 to %(n)s samples", n=MAX_BULK))
    outcomes = [_resolve(session, req) for req in requests]
    bad = {str(i): r for i, r in enumerate(outcomes) if isinstance(r, dict)}
    if bad:
        raise InputError({"samples": bad} if len(requests) > 1 else next(iter(bad.values())))
    resolved = [r for r in outcomes if isinstance(r, _Resolved)]  # all of them, none was bad
    now = utcnow()
    year = now.astimezone(ZoneInfo(zone) if isinstance(zone, str) else zone).year
    by_line: dict[int, list[int]] = {}
    for i, r in enumerate(resolved):
        by_line.setdefault(r.material.line_id, []).append(i)
    codes: dict[int, str] = {}
    for line_id, indexes in sorted(by_line.items()):
        line = session.get(ProgrammeLine, line_id)
        if line is None:  # not reached: material.line_id is a foreign key
            raise AttributeError(f"no programme line {line_id}")
        prefix = line.sample_prefix
        for i, number in zip(
            indexes, next_numbers(session, prefix, year, len(indexes)), strict=True
        ):
            codes[i] = format_code(prefix, year, number)
    samples = []
    for i, (req, r) in enumerate(zip(requests, resolved, strict=True)):
        # Related objects are set, not just their ids, so answering needs no further queries.
        sample = Sample(
            code=codes[i],
            line=r.material.line,
            material=r.material,
            lot=r.lot,
            owner=r.owner,
            parent=None,
            partitions=[],
            storage_location=req.storage_location,
            description=req.description,
            sampled_at=req.sampled_at,
            sampled_by=req.sampled_by.strip(),
            sampling_plan=req.sampling_plan.strip(),
            registered_at=now,
            registered_by_id=actor.id,
            analyses=[Analysis(method_id=m.id, method=m) for m in r.methods],
        )
        session.add(sample)
        samples.append(sample)
    session.flush()
    for sample in samples:
        after = audit.snapshot(sample) | {"analyses": [a.method.key for a in sample.analyses]}
        audit.record(session, actor, "sample.register", "sample", sample.code, None, after)
    return samples


def register_partitions(
    session: Session,
    actor: User,
    parent: Sample,
    count: int,
    storage_location: str = "",
    methods: list[str] | None = None,
) -> list[Sample]:
    """Sub-samples NTK-2026-000123-01, -02, ... that keep their parent, lot, material and owner."""
    require(actor, Capability.REGISTER_SAMPLES, N_("register partitions"))
    # Lock the parent (two requests never hand out the same partition number) and read it as the
    # previous holder left it: a sample cancelled meanwhile gets no partitions.
    session.scalar(
        select(Sample).where(Sample.id == parent.id).with_for_update().execution_options(populate_existing=True)
    )
    if parent.parent_id is not None:
        raise WorkflowError(N_("%(code)s is itself a partition; partition its parent", code=parent.code))
    if parent.state in ("cancelled", "rejected", "invalid"):
        raise WorkflowError(
            N_("%(code)s is %(state)s; it cannot be partitioned", code=parent.code, state=Text(parent.state))
        )
    if not 1 <= count <= 99:
        raise InputError("count", N_("give 1 to 99 partitions"))
    existing = session.scalar(select(func.count()).where(Sample.parent_id == parent.id)) or 0
    if existing + count > 99:
        raise InputError("count", N_("%(code)s has %(n)s partitions; at most 99", code=parent.code, n=existing))
    part_methods, problems = _find_methods(session, methods or [])
    if problems:
        raise InputError({"methods": problems})
    now = utcnow()
    received = parent.state != "registered"
    parts = []
    for k in range(existing + 1, existing + count + 1):
        part = Sample(
            code=f"{parent.code}-{k:02d}",
            line_id=parent.line_id,
            material_id=parent.material_id,
            lot_id=parent.lot_id,
            owner_org_id=parent.owner_org_id,
            parent_id=parent.id,
            state="received" if received else "registered",
            # Split from material the lab already holds: received with it, by whoever received it
            # (the receipt a certificate states, and what a result may not be measured before).
            received_at=(parent.received_at or now) if received else None,
            received_by_id=(parent.received_by_id or actor.id) if received else None,
            storage_location=storage_location or parent.storage_location,
            description=f"partition {k} of {parent.code}",
            registered_at=now,
            registered_by_id=actor.id,
        )
        part.analyses = [Analysis(method_id=m.id, method=m) for m in part_methods]
        session.add(part)
        parts.append(part)
    session.flush()
    for part in parts:
        # The tests it was split off for are part of what was decided (a sample's own snapshot
        # names none).
        after = audit.snapshot(part) | {"methods": [m.key for m in part_methods]}
        audit.record(session, actor, "sample.partition", "sample", part.code, None, after)
    return parts


def update_storage(session: Session, actor: User, sample: Sample, storage_location: str) -> Sample:
    require(actor, Capability.REGISTER_SAMPLES, N_("move samples"))
    at_most("storage_location", storage_location, STORAGE_MAX)
    before = audit.snapshot(sample)
    sample.storage_location = storage_location
    audit.record(
        session, actor, "sample.store", "sample", sample.code, before, audit.snapshot(sample)
    )
    return sample
