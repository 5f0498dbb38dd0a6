"""Finding lots: by code or source text, installation, material, owner, line, production date,
lab grade and how the model's predicted grade compares with it.

The lab grade of a lot is the grade of its most recently graded sample that gives it one
(GIVES_LAB_GRADE); the predicted grade is the lot's latest prediction. Both are correlated
subqueries of the one statement, so a filter on them runs in the database before the page is
cut, and a page of lots costs one query however many lots it shows (plus one for the sample
counts and one for the predictions shown).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, ScalarSelect, Select, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from lims.kernel.db import LIKE_ESCAPE, contains_pattern
from lims.kernel.models import (
    Installation,
    Lot,
    Material,
    Organization,
    ProgrammeLine,
    Sample,
    User,
)
from lims.kernel.models.analytics import Prediction
from lims.permissions import scope_lots
from lims.samples import grading
from lims.sorting import Sorting

# predicted vs lab grade
AGREEMENTS = ("agrees", "differs", "awaiting_lab", "no_prediction")
# Samples in these states no longer speak for the lot: they are not counted.
NOT_COUNTED = ("cancelled", "rejected", "invalid")
# A sample that gives its lot a lab grade: a top-level sample graded by its specification
# (not "not graded" for want of a result, nor "ungraded") whose results still stand. The lot
# list, the model's training labels and its agreement with the lab all read the lab grade so.
GIVES_LAB_GRADE = and_(
    Sample.grade.is_not(None), Sample.grade.not_in(grading.NO_GRADE), Sample.parent_id.is_(None),
    Sample.state.not_in(NOT_COUNTED),
)


LOT_SORTING = Sorting(
    columns={"code": Lot.code, "production_start": Lot.production_start},
    tiebreak=Lot.id,
    default="-production_start",
)


def key_id(model, key: str):
    return select(model.id).where(model.key == key).scalar_subquery()


def lot_query(args: dict, user: User) -> Select:
    """The user's lots matching the API's and the list page's filters (keys as in LotQuerySchema),
    in the order `sort` asks for (LOT_SORTING)."""
    stmt = LOT_SORTING.apply(scope_lots(select(Lot), user), user, args.get("sort"))
    if args.get("material"):
        stmt = stmt.where(Lot.material_id == key_id(Material, args["material"]))
    if args.get("installation"):
        stmt = stmt.where(Lot.installation_id == key_id(Installation, args["installation"]))
    if args.get("line"):
        line_installations = select(Installation.id).where(
            Installation.line_id == key_id(ProgrammeLine, args["line"])
        )
        stmt = stmt.where(Lot.installation_id.in_(line_installations))
    if args.get("owner"):
        stmt = stmt.where(Lot.owner_org_id == key_id(Organization, args["owner"]))
    if args.get("q"):
        like = contains_pattern(args["q"])
        stmt = stmt.where(or_(Lot.code.ilike(like, escape=LIKE_ESCAPE), Lot.source.ilike(like, escape=LIKE_ESCAPE)))
    if args.get("produced_from"):
        stmt = stmt.where(Lot.production_start >= args["produced_from"])
    if args.get("produced_to"):
        stmt = stmt.where(Lot.production_start < args["produced_to"])
    return stmt


def lab_grade_of(lot_id: ColumnElement[int] | InstrumentedAttribute[int]) -> ScalarSelect[str]:
    """The lab grade of the lot whose id is `lot_id`, a column of the enclosing query."""
    return (
        select(Sample.grade)
        .where(Sample.lot_id == lot_id, GIVES_LAB_GRADE)
        .order_by(Sample.graded_at.desc(), Sample.id.desc())
        .limit(1)
        .correlate_except(Sample)
        .scalar_subquery()
    )


LAB_GRADE = lab_grade_of(Lot.id).label("lab_grade")


def _latest_prediction(column):
    return (
        select(column)
        .where(Prediction.lot_id == Lot.id)
        .order_by(Prediction.id.desc())
        .limit(1)
        .correlate(Lot)
        .scalar_subquery()
    )


PREDICTED_GRADE = _latest_prediction(Prediction.predicted_grade).label("predicted_grade")
LATEST_PREDICTION = _latest_prediction(Prediction.id).label("latest_prediction")


@dataclass(frozen=True)
class LotRow:
    lot: Lot
    lab_grade: str | None
    # The lot's latest prediction, shown with its model version, the grade's probability and
    # whether the lot lay outside the model's training range.
    prediction: Prediction | None
    samples: int

    @property
    def predicted_grade(self) -> str | None:
        return self.prediction.predicted_grade if self.prediction is not None else None

    @property
    def agrees(self) -> bool | None:
        if self.lab_grade is None or self.predicted_grade is None:
            return None
        return self.lab_grade == self.predicted_grade


@dataclass(frozen=True)
class LotFilter:
    q: str | None = None
    installation: str | None = None
    material: str | None = None
    grade: str | None = None
    agreement: str | None = None
    sort: str | None = None
    produced_from: datetime | None = None
    produced_to: datetime | None = None


def search(session: Session, user: User, f: LotFilter, page: int, per_page: int) -> tuple[list[LotRow], bool]:
    """One page (1-based) of lots, in the filter's order, and whether a next page exists
    (read one row past the page instead of counting every match)."""
    stmt = lot_query(
        {"q": f.q, "installation": f.installation, "material": f.material, "sort": f.sort,
         "produced_from": f.produced_from, "produced_to": f.produced_to},
        user,
    ).add_columns(LAB_GRADE, LATEST_PREDICTION)
    if f.grade:
        stmt = stmt.where(func.upper(LAB_GRADE.element) == f.grade.upper())
    lab, predicted = LAB_GRADE.element, PREDICTED_GRADE.element
    if f.agreement == "agrees":
        stmt = stmt.where(lab == predicted)
    elif f.agreement == "differs":
        stmt = stmt.where(and_(lab.is_not(None), predicted.is_not(None), lab != predicted))
    elif f.agreement == "awaiting_lab":
        stmt = stmt.where(and_(lab.is_(None), predicted.is_not(None)))
    elif f.agreement == "no_prediction":
        stmt = stmt.where(predicted.is_(None))
    found = session.execute(stmt.limit(per_page + 1).offset((page - 1) * per_page)).all()
    shown = found[:per_page]
    counts: dict[int | None, int] = dict(
        session.execute(
            select(Sample.lot_id, func.count())
            .where(Sample.lot_id.in_([r[0].id for r in shown]), Sample.parent_id.is_(None),
                   Sample.state.not_in(NOT_COUNTED))
            .group_by(Sample.lot_id)
        ).tuples().all()
    ) if shown else {}
    prediction_ids = [p for _lot, _grade, p in shown if p is not None]
    predictions = {
        p.id: p for p in session.scalars(select(Prediction).where(Prediction.id.in_(prediction_ids)))
    } if prediction_ids else {}
    rows = [LotRow(lot, lab_grade, predictions.get(p), counts.get(lot.id, 0)) for lot, lab_grade, p in shown]
    return rows, len(found) > per_page
