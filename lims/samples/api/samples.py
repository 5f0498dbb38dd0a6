"""Samples: registration (single, bulk, partitions), lifecycle transitions, labels."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView
from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import joinedload, selectinload

from lims.kernel.db import LIKE_ESCAPE, contains_pattern
from lims.kernel.models import Analysis, Lot, Material, Organization, ProgrammeLine, Sample, User
from lims.permissions import get_sample, reads_lab_records, scope_samples
from lims.samples import labels, workflow
from lims.samples import registration as sample_service
from lims.samples.lot_search import key_id as _key_id
from lims.samples.sample_search import SAMPLE_SORTING
from lims.samples.schemas import (
    BulkSampleSchema,
    LabelQuerySchema,
    PartitionSchema,
    ReceiveSchema,
    SampleCreateSchema,
    SampleDetailSchema,
    SampleListSchema,
    SampleQuerySchema,
    SampleSchema,
    StorageSchema,
)
from lims.web.api_blueprint import blueprint, page
from lims.web.auth import require_user
from lims.web.i18n import lab_zone
from lims.web.request_db import db
from lims.web.schemas import ReasonSchema

blp = blueprint("samples", "/samples", "Samples from registration to certification.")
BLUEPRINTS = (blp,)

# What the list and detail pages show, loaded up front (no query per row).
LIST_LOAD = (selectinload(Sample.lot), selectinload(Sample.parent))
DETAIL_LOAD = (
    *LIST_LOAD,
    selectinload(Sample.partitions),
    selectinload(Sample.analyses).options(
        joinedload(Analysis.analyst), joinedload(Analysis.submitted_by), joinedload(Analysis.verified_by)
    ),
)


# What the text filter searches; migration 0007 indexes exactly this expression (trigrams).
_SPACE = literal_column("' '")
SEARCH_TEXT = Sample.code.concat(_SPACE).concat(Sample.description).concat(_SPACE).concat(
    Sample.storage_location
)
# A customer searches only what it reads: not the storage location, nor the lab's notes after
# the description (workflow.without_workflow_notes).
CUSTOMER_SEARCH_TEXT = Sample.code.concat(_SPACE).concat(workflow.description_without_notes())


def sample_query(args: dict, user: User):
    stmt = SAMPLE_SORTING.apply(select(Sample).options(*LIST_LOAD), user, args.get("sort"))
    if "state" in args:
        stmt = stmt.where(Sample.state == args["state"])
    if "material" in args:
        stmt = stmt.where(Sample.material_id == _key_id(Material, args["material"]))
    if "line" in args:
        stmt = stmt.where(Sample.line_id == _key_id(ProgrammeLine, args["line"]))
    if "lot" in args:
        # Lot codes are the producer's, in its case; two that differ in case only are both found.
        lots = select(Lot.id).where(func.upper(Lot.code) == args["lot"].strip().upper())
        stmt = stmt.where(Sample.lot_id.in_(lots))
    if "owner" in args:
        stmt = stmt.where(Sample.owner_org_id == _key_id(Organization, args["owner"]))
    if "q" in args:
        text = SEARCH_TEXT if reads_lab_records(user) else CUSTOMER_SEARCH_TEXT
        stmt = stmt.where(text.ilike(contains_pattern(args["q"]), escape=LIKE_ESCAPE))
    if "registered_from" in args:
        stmt = stmt.where(Sample.registered_at >= args["registered_from"])
    if "registered_to" in args:
        stmt = stmt.where(Sample.registered_at < args["registered_to"])
    return stmt


def load_sample(code: str, *, for_update: bool = False) -> Sample:
    """The caller's view of one sample (404 when it is not theirs), with its analyses."""
    return get_sample(db(), require_user(), code, for_update=for_update, options=DETAIL_LOAD)


def _request(data: dict) -> sample_service.SampleRequest:
    return sample_service.SampleRequest(**data)


@blp.route("")
class Samples(MethodView):
    @blp.arguments(SampleQuerySchema, location="query")
    @blp.response(200, SampleSchema(many=True))
    @blp.paginate()
    def get(self, args: dict, pagination_parameters):
        user = require_user()
        return page(scope_samples(sample_query(args, user), user), pagination_parameters)

    @blp.arguments(SampleCreateSchema)
    @blp.response(201, SampleDetailSchema)
    def post(self, data: dict):
        (sample,) = sample_service.register_samples(db(), require_user(), [_request(data)], zone=lab_zone())
        return sample


@blp.route("/bulk", methods=["POST"])
@blp.arguments(BulkSampleSchema)
@blp.response(201, SampleListSchema)
def bulk(data: dict):
    """Register many samples in one request: all of them, or (on any error) none."""
    requests = [_request(item) for item in data["samples"]]
    return {"samples": sample_service.register_samples(db(), require_user(), requests, zone=lab_zone())}


@blp.route("/<code>")
@blp.response(200, SampleDetailSchema)
def detail(code: str):
    return load_sample(code)


@blp.route("/<code>/receive", methods=["POST"])
@blp.arguments(ReceiveSchema)
@blp.response(200, SampleDetailSchema)
def receive(data: dict, code: str):
    return workflow.receive(
        db(),
        require_user(),
        load_sample(code, for_update=True),
        data.get("storage_location"),
        data["condition"],
    )


@blp.route("/<code>/cancel", methods=["POST"])
@blp.arguments(ReasonSchema)
@blp.response(200, SampleDetailSchema)
def cancel(data: dict, code: str):
    return workflow.cancel(db(), require_user(), load_sample(code, for_update=True), data["reason"])


@blp.route("/<code>/reject", methods=["POST"])
@blp.arguments(ReasonSchema)
@blp.response(200, SampleDetailSchema)
def reject(data: dict, code: str):
    return workflow.reject(db(), require_user(), load_sample(code, for_update=True), data["reason"])


@blp.route("/<code>/storage", methods=["PUT"])
@blp.arguments(StorageSchema)
@blp.response(200, SampleDetailSchema)
def storage(data: dict, code: str):
    return sample_service.update_storage(
        db(), require_user(), load_sample(code, for_update=True), data["storage_location"]
    )


@blp.route("/<code>/partitions", methods=["POST"])
@blp.arguments(PartitionSchema)
@blp.response(201, SampleListSchema)
def partitions(data: dict, code: str):
    parent = load_sample(code)
    parts = sample_service.register_partitions(
        db(), require_user(), parent, data["count"], data["storage_location"], data["methods"]
    )
    return {"samples": parts}


@blp.route("/<code>/label")
@blp.arguments(LabelQuerySchema, location="query")
@blp.response(200, content_type="image/png", description="PNG (default) or PDF label.")
def label(args: dict, code: str):
    sample = load_sample(code)
    lines = labels.label_lines(require_user(), sample)
    if args["format"] == "pdf":
        return Response(labels.to_pdf(sample.code, lines), mimetype="application/pdf")
    return Response(labels.to_png(sample.code, lines), mimetype="image/png")
