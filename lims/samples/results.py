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

from lims.kernel.errors import N_, InputError
from lims.kernel.models import Analysis, GradeSpec, Method, Organization, TestPlanItem
from lims.samples import grading

_SUPERSCRIPTS = str.maketrans({"²": "2", "³": "3"})
# What the Numeric(18, 6) columns hold.
_LARGEST = Decimal(10) ** 12
_LARGEST_TEXT = f"{_LARGEST:.0e}"
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)(?:[eE][+-]?[0-9]+)?")
_BELOW = re.compile(r"^\s*<\s*(?P<limit>\S+)\s*$")
# One to three digits, a point or a comma, three digits: "1.420" is 1420 to a Dutch reader and
# 1.42 to an English one ("1,420" the other way round).
_GROUPED = re.compile(r"[+-]?[1-9][0-9]{0,2}(?P<sign>[.,])[0-9]{3}")


def normalize_unit(unit: str) -> str:
    """Spelling only (g/cm³ = g/cm3, spaces); never a conversion: a different unit stays different."""
    return " ".join(unit.translate(_SUPERSCRIPTS).split())


@dataclass(frozen=True)
class Measured:
    value: Decimal
    below_detection_limit: bool
    uncertainty: Decimal | None
    uncertainty_reason: str = ""
    # What was typed, when it was converted to the method's unit.
    entered_value: str | None = None
    entered_unit: str | None = None


def _quantum(method: Method) -> Decimal:
    return Decimal(1).scaleb(-method.decimals)


def number(raw: object, field: str) -> Decimal:
    """An entered number: ASCII digits with a decimal point or comma, and an exponent as
    instruments export it (1.5E-3). Decimal() alone would also read "1_2" and full-width or
    other scripts' digits ("１２") as 12: typed or pasted so, they are an entry error."""
    if isinstance(raw, bool):
        raise InputError(field, N_("must be a number"))
    text = str(raw).strip()
    if not _NUMBER.fullmatch(text):
        raise InputError(
            field, N_("not a number: %(raw)s (write digits 0-9 with a decimal point or comma, e.g. 12.5)", raw=repr(raw))
        )
    try:
        value = Decimal(text.replace(",", "."))
    except InvalidOperation:  # an exponent beyond what Decimal holds (1e99999999999999999999)
        value = Decimal("Infinity")
    if not value.is_finite() or abs(value) >= _LARGEST:
        raise InputError(field, N_("must be a finite number below %(largest)s in size", largest=_LARGEST_TEXT))
    return value


def _factor(method: Method, unit: str) -> Decimal | None:
    """None for the method's own unit, the factor for a convertible one; else InputError."""
    given = normalize_unit(unit or "")
    if given == normalize_unit(method.unit):
        return None
    conversions = method.conversions or {}
    if given in conversions:
        return Decimal(conversions[given])
    if not conversions:
        raise InputError(
            "unit",
            N_("expected '%(expected)s' for method %(method)s, got '%(unit)s'", expected=method.unit, method=method.key, unit=unit),
        )
    raise InputError(
        "unit",
        N_(
            "expected '%(expected)s' or %(others)s for method %(method)s, got '%(unit)s'",
            expected=method.unit, others=", ".join(f"'{u}'" for u in conversions), method=method.key, unit=unit,
        ),
    )


def _check_plausible(method: Method, value: Decimal, shown: str) -> None:
    lo, hi = method.plausible_min, method.plausible_max
    if (lo is not None and value < lo) or (hi is not None and value > hi) or (
        value < 0 and method.detection_limit is not None
    ):
        raise InputError(
            "value",
            N_(
                "%(shown)s is not a plausible result of method %(method)s (plausible: %(lo)s to "
                "%(hi)s %(unit)s); check the entry",
                shown=shown, method=method.key, unit=method.unit,
                lo=_plain(lo) if lo is not None else "-inf",
                hi=_plain(hi) if hi is not None else "inf",
            ),
        )


def _check_unambiguous(method: Method, raw: object, factor: Decimal | None) -> None:
    """A number a thousands separator could have written is refused when both readings are
    plausible results of the method: read as a fraction and rounded to the method's decimals,
    1420 MPa typed "1.420" would be stored as 1 MPa. Where the method's plausible range rules
    the thousands out (an MFR of 15.745), the number is a fraction."""
    grouped = _GROUPED.fullmatch(raw.strip()) if isinstance(raw, str) else None
    if grouped is None or method.plausible_max is None:
        return
    thousands = Decimal(grouped.group().replace(grouped["sign"], ""))
    lo, hi = method.plausible_min, method.plausible_max
    if thousands * (factor or 1) > hi or (lo is not None and thousands * (factor or 1) < lo):
        return
    raise InputError(
        "value",
        N_(
            "%(raw)s: is the %(sign)s a decimal sign or a thousands separator? Write the number "
            "without a thousands separator (e.g. %(thousands)s)",
            raw=grouped.group(), sign=repr(grouped["sign"]), thousands=thousands,
        ),
    )


def _plain(value: Decimal) -> Decimal:
    """Without trailing zeros or an exponent (0.500000 -> 0.5, 2E+3 -> 2000)."""
    return Decimal(format(value.normalize(), "f"))


def method_uncertainty(method: Method, value: Decimal) -> Decimal:
    """The method's expanded uncertainty at this value, rounded up to the method's decimals."""
    u = method.uncertainty_abs
    if u is None:
        if method.uncertainty_rel_pct is None:
            raise TypeError(f"method {method.key} has neither an absolute nor a relative uncertainty")
        u = abs(value) * method.uncertainty_rel_pct / 100
    return u.quantize(_quantum(method), ROUND_UP)


def accepted_range(method: Method, limit: grading.Limit, rule: str) -> tuple[float | None, float | None]:
    """The results of this method that meet the limit under the decision rule, as a range of
    values (None = open): the limit itself under simple; under guard_band the limit narrowed by
    the method's expanded uncertainty at the value (a relative U solved for the value where
    v - U(v) = min or v + U(v) = max). For a model that grades predicted values, not for
    grading: U's rounding up to the method's decimals, at most one last digit, is left out,
    and so are results below the detection limit."""
    if rule not in grading.DECISION_RULES:
        raise ValueError(f"unknown decision rule {rule!r}")
    lo = None if limit.min is None else float(limit.min)
    hi = None if limit.max is None else float(limit.max)
    if rule == "simple":
        return lo, hi
    if method.uncertainty_abs is not None:
        u = float(method.uncertainty_abs)
        return (None if lo is None else lo + u), (None if hi is None else hi - u)
    if method.uncertainty_rel_pct is None:
        raise TypeError(f"method {method.key} has neither an absolute nor a relative uncertainty")
    r = float(method.uncertainty_rel_pct) / 100
    # |v| * r widens a negative value's interval the other way round.
    low = None if lo is None else (lo / (1 - r) if lo >= 0 else lo / (1 + r))
    high = None if hi is None else (hi / (1 + r) if hi >= 0 else hi / (1 - r))
    return low, high


def _check_uncertainty_sensible(method: Method, value: Decimal, u: Decimal, floor: Decimal) -> None:
    """An expanded U wider than the whole range a real result of the method lies in (its
    plausible range) says nothing about the result: a slipped exponent or a value typed in the
    wrong cell (1e11 on a density of 0.95). Where the range is open on a side, the bound is ten
    times the value's size, or the method's own U if larger (a value near zero)."""
    lo, hi = method.plausible_min, method.plausible_max
    if lo is not None and hi is not None:
        largest = hi - lo
        why = N_(
            "U = %(u)s is wider than the whole plausible range of method %(method)s (%(lo)s to %(hi)s "
            "%(unit)s, %(largest)s %(unit)s): check the entry",
            u=u, method=method.key, lo=_plain(lo), hi=_plain(hi), largest=_plain(largest), unit=method.unit,
        )
    else:
        largest = 10 * max(abs(value), floor)
        why = N_(
            "U = %(u)s is more than ten times the result (at most %(largest)s %(unit)s): check the entry",
            u=u, largest=_plain(largest), unit=method.unit,
        )
    if u > max(largest, floor):
        raise InputError("uncertainty", why)


def measure(
    method: Method,
    raw_value: object,
    unit: str,
    uncertainty: object | None = None,
    uncertainty_reason: str = "",
) -> Measured:
    """Check and normalise one entered result for a method; InputError names the field.

    The method's uncertainty is the floor of the decision rule: a smaller entered U is taken
    only with a documented reason (kept and shown with the result)."""
    factor = _factor(method, unit)
    entered = {}
    if factor is not None:
        entered = {"entered_value": str(raw_value).strip()[:40], "entered_unit": normalize_unit(unit)}
    q = _quantum(method)
    below = _BELOW.match(raw_value) if isinstance(raw_value, str) else None
    if below:
        if method.detection_limit is None:
            # Grading reads "< L" as 0 to L: meaningless for a method that reports every value
            # (a density), wrong for one whose values may be negative (colour a*).
            raise InputError(
                "value",
                N_("method %(method)s has no detection limit: give the measured value", method=method.key),
            )
        limit = number(below.group("limit"), "value") * (factor or 1)
        # The limit stands in for the value: the same checks, or "< 5000" goes where 5000 may not.
        _check_unambiguous(method, below.group("limit"), factor)
        _check_plausible(method, limit, f"{raw_value} {unit}".strip())
        if limit <= 0:
            raise InputError("value", N_("a detection limit must be positive"))
        if limit < method.detection_limit:
            raise InputError(
                "value",
                N_(
                    "< %(limit)s is under the method's detection limit %(dl)s",
                    limit=limit, dl=_plain(method.detection_limit),
                ),
            )
        return Measured(limit.quantize(q, ROUND_UP), True, None, **entered)
    value = number(raw_value, "value") * (factor or 1)
    _check_unambiguous(method, raw_value, factor)
    _check_plausible(method, value, f"{raw_value} {unit}".strip())
    if method.detection_limit is not None and value < method.detection_limit:
        return Measured(method.detection_limit.quantize(q, ROUND_UP), True, None, **entered)
    value = value.quantize(q, ROUND_HALF_EVEN)
    floor = method_uncertainty(method, value)
    reason = (uncertainty_reason or "").strip()
    if uncertainty is None:
        return Measured(value, False, floor, **entered)
    u = number(uncertainty, "uncertainty") * (factor or 1)
    if u <= 0:
        # No measurement is exact; a zero U would take the decision rule's guard band away.
        raise InputError("uncertainty", N_("give an expanded uncertainty greater than zero"))
    u = u.quantize(q, ROUND_UP)
    _check_uncertainty_sensible(method, value, u, floor)
    if u < floor and not reason:
        raise InputError(
            "uncertainty_reason",
            N_(
                "U = %(u)s is below the method's %(floor)s %(unit)s: document why it applies "
                "(e.g. the validation or repeatability study)",
                u=u, floor=floor, unit=method.unit,
            ),
        )
    if len(reason) > 400:
        raise InputError("uncertainty_reason", N_("at most 400 characters"))
    return Measured(value, False, u, reason if u < floor else "", **entered)


def external_provider(session: Session, key: str, report: str) -> Organization | None:
    """The approved external provider a transcribed result comes from (ISO/IEC 17025 6.6 and
    7.8.2.1 p); None when the lab measured it. Its report is required, so the transcription can
    be checked against it at verification."""
    key, report = key.strip(), report.strip()
    if not key:
        if report:
            raise InputError("external_provider", N_("name the external provider of this report"))
        return None
    provider = session.scalar(select(Organization).where(Organization.key == key))
    if provider is None or provider.kind != "provider":
        raise InputError("external_provider", N_("%(key)s is not an approved external provider", key=key))
    if not report:
        raise InputError("external_report", N_("give the external provider's report number"))
    if len(report) > 100:
        raise InputError("external_report", N_("at most %(n)s characters", n=100))
    return provider


def as_written(limit: Decimal | None) -> Decimal | None:
    """A limit as the specification writes it (0.95), not with the six decimals its column
    keeps (0.950000): the worksheet flag, the grade reasons and the API quote it."""
    if limit is None:
        return None
    return limit.quantize(Decimal(1)) if limit == limit.to_integral_value() else limit.normalize()


def load_spec(session: Session, material_id: int) -> grading.Spec | None:
    spec = session.scalar(select(GradeSpec).where(GradeSpec.material_id == material_id))
    if spec is None:
        return None
    grades: dict[str, dict[str, grading.Limit]] = {}
    for limit in spec.limits:  # ordered by rank
        grades.setdefault(limit.grade, {})[limit.property] = grading.Limit(as_written(limit.min), as_written(limit.max))
    # The limits apply to the methods of the material's test plan (the seed checks that it has
    # one for every limited property).
    planned = session.execute(
        select(Method.property, Method.key)
        .join(TestPlanItem, TestPlanItem.method_id == Method.id)
        .where(TestPlanItem.material_id == material_id)
        .order_by(TestPlanItem.position)
    ).all()
    methods: dict[str, str] = {}
    for prop, key in planned:
        methods.setdefault(prop, key)
    return grading.Spec(
        spec.decision_rule,
        tuple(grading.Grade(name, lims) for name, lims in grades.items()),
        methods,
    )


def reported(value: Decimal | None, method: Method) -> Decimal | None:
    """A stored value at the method's decimals (the column keeps 6; the report shows the method's)."""
    return None if value is None else value.quantize(_quantum(method))


def analysis_result(analysis: Analysis) -> grading.Result:
    value = reported(analysis.value, analysis.method)
    if value is None:
        # Only submitted results are graded, and submitting stores a value.
        raise TypeError(f"analysis {analysis.id} has no result")
    return grading.Result(
        value,
        analysis.method.unit,
        reported(analysis.uncertainty, analysis.method),
        analysis.below_detection_limit,
    )


def as_result(method: Method, measured: Measured) -> grading.Result:
    return grading.Result(
        measured.value, method.unit, measured.uncertainty, measured.below_detection_limit
    )
