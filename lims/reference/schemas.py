from __future__ import annotations

from marshmallow import Schema, fields

from lims.samples.results import as_written
from lims.web.schemas import LAB_RECORD, Amount, ReaderSchema, key_of


class LineSchema(Schema):
    key = fields.String()
    name = fields.String()
    name_nl = fields.String()
    sample_prefix = fields.String()


class SensorSchema(Schema):
    key = fields.String()
    name = fields.String()
    name_nl = fields.String()
    unit = fields.String()
    range_min = fields.Float()
    range_max = fields.Float()
    alarm_low = fields.Float(allow_none=True)
    alarm_high = fields.Float(allow_none=True)


class InstallationSchema(ReaderSchema):
    """A customer reads the installation (its certificates name it), not how the lab's process
    is instrumented and alarmed."""

    key = fields.String()
    line = key_of("line.key")
    kind = fields.String()
    name = fields.String()
    name_nl = fields.String()
    sensors = fields.List(fields.Nested(SensorSchema), metadata=LAB_RECORD)


class MethodSchema(Schema):
    key = fields.String()
    property = fields.String()
    name = fields.String()
    name_nl = fields.String()
    standard = fields.String()
    conditions = fields.String()
    conditions_nl = fields.String()
    unit = fields.String()
    decimals = fields.Integer()
    uncertainty_abs = Amount(allow_none=True)
    uncertainty_rel_pct = Amount(allow_none=True)
    detection_limit = Amount(allow_none=True)


class MaterialSchema(Schema):
    key = fields.String()
    code = fields.String()
    name = fields.String()
    name_nl = fields.String()
    line = key_of("line.key")
    test_plan = fields.Function(lambda m: [item.method.key for item in m.test_plan])


class LimitSchema(Schema):
    min = Amount(allow_none=True)
    max = Amount(allow_none=True)


class GradeSchema(Schema):
    grade = fields.String()
    limits = fields.Dict(keys=fields.String(), values=fields.Nested(LimitSchema))


class GradeSpecSchema(Schema):
    material = key_of("material.key")
    decision_rule = fields.String()
    grades = fields.Method("_grades")

    def _grades(self, spec) -> list[dict]:
        grades: dict[str, dict] = {}
        for limit in spec.limits:
            grades.setdefault(limit.grade, {})[limit.property] = {
                "min": as_written(limit.min),
                "max": as_written(limit.max),
            }
        return GradeSchema(many=True).dump(
            [{"grade": g, "limits": lims} for g, lims in grades.items()]
        )


class ReferenceQuerySchema(Schema):
    line = fields.String(metadata={"description": "Programme line key (ntk, dctv)."})
