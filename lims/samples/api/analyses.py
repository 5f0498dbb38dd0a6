"""Analyses and their results: enter, verify (four eyes), retract, retest."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from lims.kernel.errors import NotFound
from lims.kernel.models import Analysis, Method, Sample
from lims.permissions import get_analysis, scope_analyses
from lims.samples import workflow
from lims.samples.schemas import AnalysisQuerySchema, AnalysisSchema, OosSchema, ResultSchema
from lims.web.api_blueprint import blueprint, page
from lims.web.auth import require_user
from lims.web.request_db import db
from lims.web.schemas import ReasonSchema

blp = blueprint("analyses", "/analyses", "One method on one sample, with its result.")
BLUEPRINTS = (blp,)

LOAD = (
    selectinload(Analysis.sample),
    joinedload(Analysis.analyst),
    joinedload(Analysis.submitted_by),
    joinedload(Analysis.verified_by),
)


def _analysis(analysis_id: int) -> Analysis:
    return get_analysis(db(), require_user(), analysis_id, for_update=True)


@blp.route("")
@blp.arguments(AnalysisQuerySchema, location="query")
@blp.response(200, AnalysisSchema(many=True))
@blp.paginate()
def analyses(args: dict, pagination_parameters):
    stmt = scope_analyses(select(Analysis).options(*LOAD).order_by(Analysis.id), require_user())
    if "sample" in args:
        stmt = stmt.where(
            Analysis.sample_id
            == select(Sample.id).where(Sample.code == args["sample"].strip().upper()).scalar_subquery()
        )
    if "state" in args:
        stmt = stmt.where(Analysis.state == args["state"])
    if "method" in args:
        stmt = stmt.where(
            Analysis.method_id
            == select(Method.id).where(Method.key == args["method"]).scalar_subquery()
        )
    return page(stmt, pagination_parameters)


@blp.route("/<int:analysis_id>")
@blp.response(200, AnalysisSchema)
def analysis(analysis_id: int):
    return get_analysis(db(), require_user(), analysis_id)


@blp.route("/<int:analysis_id>/result", methods=["POST"])
@blp.arguments(ResultSchema)
@blp.response(200, AnalysisSchema)
def enter_result(data: dict, analysis_id: int):
    return workflow.submit(
        db(),
        require_user(),
        _analysis(analysis_id),
        value=data["value"],
        unit=data["unit"],
        uncertainty=data.get("uncertainty"),
        uncertainty_reason=data["uncertainty_reason"],
        instrument=data["instrument"],
        analyst=workflow.analyst_named(db(), require_user(), data.get("analyst") or ""),
        measured_at=data.get("measured_at"),
        provider=data["external_provider"],
        provider_report=data["external_report"],
    )


@blp.route("/<int:analysis_id>/verify", methods=["POST"])
@blp.response(200, AnalysisSchema)
def verify(analysis_id: int):
    return workflow.verify(db(), require_user(), _analysis(analysis_id))


@blp.route("/<int:analysis_id>/retract", methods=["POST"])
@blp.arguments(ReasonSchema)
@blp.response(200, AnalysisSchema, description="The new analysis that replaces the retracted one.")
def retract(data: dict, analysis_id: int):
    return workflow.retract(db(), require_user(), _analysis(analysis_id), data["reason"])


@blp.route("/<int:analysis_id>/retest", methods=["POST"])
@blp.arguments(ReasonSchema)
@blp.response(200, AnalysisSchema, description="The new analysis; the original is kept, retracted.")
def retest(data: dict, analysis_id: int):
    return workflow.retest(db(), require_user(), _analysis(analysis_id), data["reason"])


@blp.route("/<int:analysis_id>/oos")
@blp.response(200, OosSchema)
def oos(analysis_id: int):
    """The out-of-specification investigation opened when this result was retested."""
    found = get_analysis(db(), require_user(), analysis_id).oos
    if found is None:
        raise NotFound(f"analysis {analysis_id} has no out-of-specification investigation")
    return found


@blp.route("/<int:analysis_id>/oos/exclusion", methods=["POST"])
@blp.arguments(ReasonSchema)
@blp.response(200, OosSchema)
def exclude_from_history(data: dict, analysis_id: int):
    """A reviewer records why this investigated result is left off the certificate."""
    return workflow.exclude_retest_history(db(), require_user(), _analysis(analysis_id), data["reason"])
