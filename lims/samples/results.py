"""Result values: unit check, parsing "< 0.05", rounding, uncertainty, spec evaluation.

Rounding: Decimal quantize to the method's decimals with ROUND_HALF_EVEN (no bias over many
results). The expanded uncertainty is rounded up (ROUND_UP) to the same decimals, so it is
never understated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.kernel.errors import InputError
from lims.kernel.models import GradeSpec, Method
from lims.samples import grading

_SUPERSCRIPTS = str.maketrans({"²": "2", "³": "3"})
# What the Numeric(18, 6) columns hold.
_LARGEST = Decimal(10) ** 12
_BELOW = re.compile(r"^\s*<\s*(?P<limit>\S+)\s*$")


def normalize_unit(unit: str) -> str:
    """Spelling only (g/cm³ = g/cm3, spaces); never a conversion: a different unit stays different."""
    return " ".join(unit.translate(_SUPERSCRIPTS).split())


@dataclass(frozen=True)
class Measured:
    value: Decimal
    below_detection_limit: bool
    uncertainty: Decimal | None


def _quantum(method: Method) -> Decimal:
    return Decimal(1).scaleb(-method.decimals)


def _decimal(raw: object, field: str) -> Decimal:
    if isinstance(raw, bool):
        raise InputError(field, "must be a number")
    try:
        value = Decimal(str(raw).strip().replace(",", "."))
    except InvalidOperation as exc:
        raise InputError(field, f"not a number: {raw!r}") from exc
    if not value.is_finite() or abs(value) >= _LARGEST:
        raise InputError(field, f"must be a finite number below {_LARGEST:.0e} in size")
    return value


def measure(
    method: Method, raw_value: object, unit: str, uncertainty: object | None = None
) -> Measured:
    """Check and normalise one entered result for a method; InputError names the field."""
    if normalize_unit(unit or "") != normalize_unit(method.unit):
        raise InputError("unit", f"expected '{method.unit}' for method {method.key}, got '{unit}'")
    q = _quantum(method)
    below = _BELOW.match(raw_value) if isinstance(raw_value, str) else None
    if below:
        limit = _decimal(below.group("limit"), "value")
        if limit <= 0:
            raise InputError("value", "a detection limit must be positive")
        if method.detection_limit is not None and limit < method.detection_limit:
            raise InputError(
                "value",
                f"< {limit} is under the method's detection limit {method.detection_limit}",
            )
        return Measured(limit.quantize(q, ROUND_UP), True, None)
    value = _decimal(raw_value, "value")
    if method.detection_limit is not None and value < method.detection_limit:
        return Measured(method.detection_limit.quantize(q, ROUND_UP), True, None)
    value = value.quantize(q, ROUND_HALF_EVEN)
    if uncertainty is not None:
        u = _decimal(uncertainty, "uncertainty")
        if u < 0:
            raise InputError("uncertainty", "must not be negative")
    elif method.uncertainty_abs is not None:
        u = method.uncertainty_abs
    else:
        u = abs(value) * method.uncertainty_rel_pct / 100
    return Measured(value, False, u.quantize(q, ROUND_UP))


def load_spec(session: Session, material_id: int) -> grading.Spec | None:
    spec = session.scalar(select(GradeSpec).where(GradeSpec.material_id == material_id))
    if spec is None:
        return None
    grades: dict[str, dict[str, grading.Limit]] = {}
    for limit in spec.limits:  # ordered by rank
        grades.setdefault(limit.grade, {})[limit.property] = grading.Limit(limit.min, limit.max)
    return grading.Spec(
        spec.decision_rule, tuple(grading.Grade(name, lims) for name, lims in grades.items())
    )


def reported(value: Decimal | None, method: Method) -> Decimal | None:
    """A stored value at the method's decimals (the column keeps 6; the report shows the method's)."""
    return None if value is None else value.quantize(_quantum(method))


def analysis_result(analysis) -> grading.Result:
    return grading.Result(
        reported(analysis.value, analysis.method),
        analysis.method.unit,
        reported(analysis.uncertainty, analysis.method),
        analysis.below_detection_limit,
    )


def as_result(method: Method, measured: Measured) -> grading.Result:
    return grading.Result(
        measured.value, method.unit, measured.uncertainty, measured.below_detection_limit
    )
