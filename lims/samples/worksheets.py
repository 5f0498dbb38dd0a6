"""Worksheets by method (SENAITE's worksheet): every open analysis of one method across the
samples in the lab, so a technician at one instrument enters a whole run on one sheet.

Samples registered but not yet received are on the sheet too, with the reason they cannot take
a result, so nobody measures them and then finds the entry refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, contains_eager

from lims.kernel.errors import N_, NotFound, Text
from lims.kernel.models import Analysis, Method, Sample, User
from lims.permissions import scope_samples
from lims.samples import grading, workflow
from lims.samples.results import load_spec

# The sample states in which results are entered, as the workflow guards them.
TAKE_RESULTS = workflow.SAMPLE_ACTIONS["enter_results"][1]
# Samples whose open analyses a worksheet lists: those taking results, and those registered but
# not yet received (shown with the reason they take none yet).
ON_SHEET = ("registered", *TAKE_RESULTS)
MAX_ROWS = 100


def _plain(value: Decimal | None) -> Decimal | None:
    """12.500000 -> 12.5 (limits are stored with six decimals)."""
    return None if value is None else Decimal(format(value.normalize(), "f"))


def limit_text(limit: grading.Limit) -> Text:
    """A page shows it with the reader's decimal sign (a Text keeps the numbers)."""
    low, high = _plain(limit.min), _plain(limit.max)
    if low is not None and high is not None:
        return N_("%(low)s – %(high)s", low=low, high=high)
    return N_("≥ %(low)s", low=low) if low is not None else N_("≤ %(high)s", high=high)


def grade_limits(spec: grading.Spec | None, prop: str) -> list[tuple[str, str]]:
    """Every grade's limit on a property, best grade first: [("A", "10 – 20"), ("B", "≥ 5")]."""
    if spec is None:
        return []
    return [(g.name, limit_text(g.limits[prop])) for g in spec.grades if prop in g.limits]


def open_methods(session: Session, user: User) -> list[tuple[Method, int, int]]:
    """Methods with open analyses: (method, on received samples, on samples not yet received)."""
    ready = func.sum(case((Sample.state.in_(TAKE_RESULTS), 1), else_=0))
    stmt = scope_samples(
        select(Analysis.method_id, ready, func.count())
        .join(Sample, Sample.id == Analysis.sample_id)
        .where(Analysis.state == "unassigned", Sample.state.in_(ON_SHEET))
        .group_by(Analysis.method_id),
        user,
    )
    counts = {method_id: (int(r or 0), n - int(r or 0)) for method_id, r, n in session.execute(stmt)}
    methods = session.scalars(select(Method).where(Method.id.in_(list(counts))).order_by(Method.name)).all()
    return [(m, *counts[m.id]) for m in methods]


@dataclass(frozen=True)
class Sheet:
    method: Method
    analyses: list[Analysis]  # received samples first, oldest first
    limits: dict[int, list[tuple[str, str]]]  # material id -> every grade's limit
    truncated: bool


def sheet(session: Session, user: User, method_key: str) -> Sheet:
    method = session.scalar(select(Method).where(Method.key == method_key))
    if method is None:
        raise NotFound(N_("method %(key)s not found", key=repr(method_key)))
    stmt = scope_samples(
        select(Analysis)
        .join(Analysis.sample)
        .options(contains_eager(Analysis.sample))
        .where(Analysis.method_id == method.id, Analysis.state == "unassigned", Sample.state.in_(ON_SHEET))
        .order_by(Sample.state == "registered", Sample.received_at, Sample.id)
        .limit(MAX_ROWS + 1),
        user,
    )
    rows = list(session.scalars(stmt))
    materials = {a.sample.material_id for a in rows}
    limits = {m: grade_limits(load_spec(session, m), method.property) for m in materials}
    return Sheet(method, rows[:MAX_ROWS], limits, len(rows) > MAX_ROWS)
