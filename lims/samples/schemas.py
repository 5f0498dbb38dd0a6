from __future__ import annotations

from marshmallow import Schema, fields, validate

from lims.kernel.models.sample import ANALYSIS_STATES, INPUT_STREAMS, SAMPLE_STATES
from lims.permissions import grade_released, result_released
from lims.samples.lot_search import LOT_SORTING
from lims.samples.registration import LOT_CODE, LOT_CODE_RULE
from lims.samples.results import reported
from lims.samples.sample_search import SAMPLE_SORTING
from lims.samples.workflow import without_workflow_notes
from lims.web.schemas import (
    LAB_RECORD,
    RESULT,
    Amount,
    Aware,
    ReaderSchema,
    ShownAnalyses,
    SortField,
    key_of,
    reader_reads_lab_records,
)


class LotSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    installation = key_of("installation.key")
    line = key_of("installation.line.key")
    material = key_of("material.key")
    owner = key_of("owner.key")
    production_start = fields.DateTime()
    production_end = fields.DateTime()
    input_stream = fields.String()
    source = fields.String()
    recycled_content_pct = Amount()
    created_at = fields.DateTime()


class LotCreateSchema(Schema):
    code = fields.String(
        required=True, validate=validate.Regexp(LOT_CODE, error=LOT_CODE_RULE)
    )
    installation = fields.String(required=True)
    material = fields.String(required=True)
    owner = fields.String(required=True, metadata={"description": "Owner organization key."})
    production_start = Aware(required=True)
    production_end = Aware(
        required=True, metadata={"description": "Exclusive: the window is [start, end)."}
    )
    input_stream = fields.String(required=True, validate=validate.OneOf(INPUT_STREAMS))
    source = fields.String(load_default="", validate=validate.Length(max=400))
    recycled_content_pct = Amount(required=True, validate=validate.Range(0, 100))


class LotQuerySchema(Schema):
    material = fields.String()
    installation = fields.String()
    line = fields.String()
    owner = fields.String()
    q = fields.String(metadata={"description": "Text in the lot code or source."})
    produced_from = Aware(metadata={"description": "Production start at or after."})
    produced_to = Aware(metadata={"description": "Production start before."})
    sort = SortField(LOT_SORTING)


class AnalysisSchema(ReaderSchema):
    """A customer reads the result once released (else null) and none of the LAB_RECORD fields."""

    released = staticmethod(result_released)

    id = fields.Integer()
    sample_id = key_of("sample.code")
    method = key_of("method.key")
    property = key_of("method.property")
    state = fields.String()
    value = fields.Method(
        "_value", metadata={"description": "Decimal string at the method's decimals.", **RESULT}
    )
    below_detection_limit = fields.Boolean(metadata=RESULT)
    result = fields.Method(
        "_result", metadata={"description": "As reported: '12.34' or '< 0.05'.", **RESULT}
    )
    unit = fields.String(allow_none=True, metadata=RESULT)
    uncertainty = fields.Method(
        "_uncertainty", metadata={"description": "Expanded uncertainty (k=2).", **RESULT}
    )
    evaluation = fields.String(
        allow_none=True,
        metadata={"description": "in_spec, warn or out_of_spec (computed).", **RESULT},
    )
    instrument = fields.String(metadata=LAB_RECORD)
    analyst = key_of("analyst.username", LAB_RECORD)
    measured_at = fields.DateTime(allow_none=True, metadata=RESULT)
    submitted_by = key_of("submitted_by.username", LAB_RECORD)
    submitted_at = fields.DateTime(allow_none=True, metadata=LAB_RECORD)
    verified_by = key_of("verified_by.username", LAB_RECORD)
    verified_at = fields.DateTime(allow_none=True, metadata=RESULT)
    retest_of = fields.Integer(attribute="retest_of_id", allow_none=True, metadata=LAB_RECORD)
    retract_reason = fields.String(metadata=LAB_RECORD)
    uncertainty_reason = fields.String(
        metadata={"description": "Why a U below the method's applies (empty: the method's U or more).", **RESULT}
    )
    entered_value = fields.String(
        allow_none=True, metadata={"description": "As entered, if converted.", **RESULT}
    )
    entered_unit = fields.String(
        allow_none=True, metadata={"description": "As entered, if converted.", **RESULT}
    )
    external_provider = key_of("external_provider.key", RESULT)
    external_report = fields.String(
        metadata={"description": "The external provider's report the result comes from.", **RESULT}
    )

    def _value(self, a) -> str | None:
        value = reported(a.value, a.method)
        return None if value is None else str(value)

    def _uncertainty(self, a) -> str | None:
        value = reported(a.uncertainty, a.method)
        return None if value is None else str(value)

    def _result(self, a) -> str | None:
        value = self._value(a)
        if value is None:
            return None
        return f"< {value}" if a.below_detection_limit else value


class OosSchema(Schema):
    """An out-of-specification investigation: opened by retesting a verified or out-of-spec result."""

    id = fields.Integer()
    original = fields.Integer(attribute="original_id")
    retest = fields.Integer(attribute="retest_id")
    original_state = fields.String()
    original_evaluation = fields.String(allow_none=True)
    reason = fields.String()
    opened_by = key_of("opened_by.username")
    opened_at = fields.DateTime()
    exclusion_reason = fields.String(
        metadata={"description": "Why the original is left off the certificate (empty: it is listed)."}
    )


class ResultSchema(Schema):
    value = fields.Raw(
        required=True,
        metadata={"description": "A number, or '< L' for a result below the detection limit L."},
    )
    unit = fields.String(required=True, metadata={"description": "Must be the method's unit."})
    uncertainty = fields.Raw(
        allow_none=True, metadata={"description": "Expanded (k=2); default from the method."}
    )
    uncertainty_reason = fields.String(
        load_default="",
        metadata={"description": "Required when U is below the method's: why it applies."},
    )
    instrument = fields.String(load_default="", validate=validate.Length(max=100))
    analyst = fields.String(metadata={"description": "Username; default: the submitter."})
    measured_at = Aware()
    external_provider = fields.String(
        load_default="",
        metadata={
            "description": "Key of the approved external provider that measured it; "
            "empty: measured by the lab."
        },
    )
    external_report = fields.String(
        load_default="",
        validate=validate.Length(max=100),
        metadata={"description": "The provider's report number; required with a provider."},
    )


class AnalysisQuerySchema(Schema):
    sample = fields.String(metadata={"description": "Sample ID."})
    state = fields.String(validate=validate.OneOf(ANALYSIS_STATES))
    method = fields.String()


class SampleSchema(ReaderSchema):
    """A customer reads the grade unless the sample's results were invalidated, and neither the
    storage location nor the lab's notes on cancelling, rejecting or invalidating it."""

    released = staticmethod(grade_released)

    sample_id = fields.String(attribute="code")
    line = key_of("line.key")
    material = key_of("material.key")
    lot = key_of("lot.code")
    owner = key_of("owner.key")
    parent = key_of("parent.code")
    state = fields.String()
    storage_location = fields.String(metadata=LAB_RECORD)
    description = fields.Method("_description")
    registered_at = fields.DateTime()
    received_at = fields.DateTime(allow_none=True)
    grade = fields.String(allow_none=True, metadata=RESULT)
    sampled_at = fields.DateTime(allow_none=True)
    sampled_by = fields.String()
    sampling_plan = fields.String()
    condition_on_receipt = fields.String()

    def _description(self, s) -> str:
        return s.description if reader_reads_lab_records() else without_workflow_notes(s.description)


class SampleDetailSchema(SampleSchema):
    grade_reasons = fields.Dict(allow_none=True, metadata=RESULT)
    graded_at = fields.DateTime(allow_none=True, metadata=RESULT)
    partitions = fields.Function(lambda s: [p.code for p in s.partitions])
    analyses = ShownAnalyses(fields.Nested(AnalysisSchema))


class SampleCreateSchema(Schema):
    lot = fields.String(metadata={"description": "Lot code; material and owner follow from it."})
    material = fields.String(metadata={"description": "Material key (when no lot)."})
    owner = fields.String(metadata={"description": "Owner organization key (when no lot)."})
    storage_location = fields.String(load_default="", validate=validate.Length(max=120))
    description = fields.String(load_default="", validate=validate.Length(max=400))
    methods = fields.List(
        fields.String(), metadata={"description": "Method keys; default: the material's test plan."}
    )
    sampled_at = Aware(metadata={"description": "When the sample was taken (printed as the sampling date)."})
    sampled_by = fields.String(
        load_default="",
        validate=validate.Length(max=120),
        metadata={"description": "Who took it (lab sampler); empty: sampled by the customer."},
    )
    sampling_plan = fields.String(
        load_default="",
        validate=validate.Length(max=400),
        metadata={"description": "The sampling plan and method used, stated on the certificate."},
    )


class BulkSampleSchema(Schema):
    samples = fields.List(
        fields.Nested(SampleCreateSchema), required=True, validate=validate.Length(1, 1000)
    )


class SampleListSchema(Schema):
    samples = fields.List(fields.Nested(SampleSchema))


class SampleQuerySchema(Schema):
    state = fields.String(validate=validate.OneOf(SAMPLE_STATES))
    material = fields.String()
    line = fields.String()
    lot = fields.String(metadata={"description": "Lot code."})
    owner = fields.String()
    q = fields.String(
        metadata={
            "description": "Text in the sample ID, description or storage location (a customer's: "
            "ID and description)."
        }
    )
    registered_from = Aware()
    registered_to = Aware()
    sort = SortField(SAMPLE_SORTING)


class ReceiveSchema(Schema):
    storage_location = fields.String(validate=validate.Length(max=120))
    condition = fields.String(
        load_default="",
        validate=validate.Length(max=400),
        metadata={"description": "Condition of the item on receipt (printed on the certificate)."},
    )


class StorageSchema(Schema):
    storage_location = fields.String(required=True, validate=validate.Length(max=120))


class PartitionSchema(Schema):
    count = fields.Integer(load_default=1, validate=validate.Range(1, 99))
    storage_location = fields.String(load_default="", validate=validate.Length(max=120))
    methods = fields.List(fields.String(), load_default=list)


class LabelQuerySchema(Schema):
    format = fields.String(load_default="png", validate=validate.OneOf(("png", "pdf")))


class ImportResultSchema(Schema):
    imported = fields.Integer()
    analyses = fields.List(fields.Nested(AnalysisSchema))
