"""Who may see what: a customer sees only its own organization's lots, samples and results.

Every query for those objects goes through these functions, so the rule lives in one place.
A foreign object is reported as not found, never as forbidden (that would confirm it exists).
"""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from lims.kernel.errors import Forbidden, NotFound
from lims.kernel.models import Analysis, Lot, Sample, User


def require_role(user: User, roles: tuple[str, ...], doing: str) -> None:
    if user.role not in roles:
        raise Forbidden(f"role {user.role!r} may not {doing} (needs {' or '.join(roles)})")


def scope_lots(stmt: Select, user: User) -> Select:
    return stmt.where(Lot.owner_org_id == user.organization_id) if user.is_customer else stmt


def scope_samples(stmt: Select, user: User) -> Select:
    return stmt.where(Sample.owner_org_id == user.organization_id) if user.is_customer else stmt


def scope_analyses(stmt: Select, user: User) -> Select:
    if not user.is_customer:
        return stmt
    return stmt.join(Sample, Sample.id == Analysis.sample_id).where(
        Sample.owner_org_id == user.organization_id
    )


def get_lot(session: Session, user: User, lot_id: int) -> Lot:
    lot = session.scalar(scope_lots(select(Lot).where(Lot.id == lot_id), user))
    if lot is None:
        raise NotFound(f"lot {lot_id} not found")
    return lot


def get_sample(
    session: Session, user: User, code: str, *, for_update: bool = False, options: tuple = ()
) -> Sample:
    stmt = scope_samples(select(Sample).where(Sample.code == code).options(*options), user)
    if for_update:
        # Changes to a sample and its analyses queue on the sample row; read what the
        # previous holder of the lock committed, not what this session saw before.
        stmt = stmt.with_for_update(of=Sample).execution_options(populate_existing=True)
    sample = session.scalar(stmt)
    if sample is None:
        raise NotFound(f"sample {code} not found")
    return sample


def get_analysis(session: Session, user: User, analysis_id: int, *, for_update: bool = False) -> Analysis:
    """With for_update, its sample is locked first (the order every change takes, so no
    deadlock) and the sample's analyses are read after the lock."""
    if not for_update:
        analysis = session.scalar(scope_analyses(select(Analysis).where(Analysis.id == analysis_id), user))
        if analysis is None:
            raise NotFound(f"analysis {analysis_id} not found")
        return analysis
    sample_id = session.scalar(
        scope_analyses(select(Analysis.sample_id).where(Analysis.id == analysis_id), user)
    )
    if sample_id is None:
        raise NotFound(f"analysis {analysis_id} not found")
    sample = session.scalar(
        select(Sample)
        .where(Sample.id == sample_id)
        .options(selectinload(Sample.analyses))
        .with_for_update(of=Sample)
        .execution_options(populate_existing=True)
    )
    for analysis in sample.analyses:
        # The loaded collection does not fill in the reverse side; without it the sample
        # (only weakly held by the session) would be read again.
        set_committed_value(analysis, "sample", sample)
    return next(a for a in sample.analyses if a.id == analysis_id)
