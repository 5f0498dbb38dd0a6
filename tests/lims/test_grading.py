"""Grading and result rules as pure functions (no database)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from lims.kernel.errors import InputError
from lims.kernel.models import Method
from lims.samples.grading import Grade, Limit, Result, Spec, check, grade_sample
from lims.samples.results import accepted_range, as_result, measure, normalize_unit

D = Decimal
SPEC = Spec(
    "guard_band",
    (
        Grade("A", {"mfr": Limit(D(8), D(16)), "ash": Limit(max=D("1.0"))}),
        Grade("B", {"mfr": Limit(D(4), D(25)), "ash": Limit(max=D("2.0"))}),
    ),
)


def test_best_grade_whose_every_limit_is_met():
    results = {"mfr": Result(D("12.00"), "g/10 min", D("0.60")), "ash": Result(D("1.20"), "%", D("0.05"))}
    outcome = grade_sample(SPEC, results)
    assert outcome.grade == "B"
    assert outcome.reasons["ash"].startswith("1.20 ± 0.05 %; fails A: 1.20 is above max 1.0; meets B")
    assert "meets A" in outcome.reasons["mfr"]


def test_guard_band_refuses_what_simple_acceptance_takes():
    results = {"mfr": Result(D("15.80"), "g/10 min", D("0.79")), "ash": Result(D("0.50"), "%", D("0.05"))}
    assert grade_sample(SPEC, results).grade == "B"
    assert grade_sample(Spec("simple", SPEC.grades), results).grade == "A"


def test_missing_result_is_not_graded_and_every_grade_failed_is_off_spec():
    missing = grade_sample(SPEC, {"mfr": Result(D(10), "g/10 min", D("0.5"))})
    assert (missing.grade, missing.reasons) == ("not graded", {"_": "not graded: missing ash"})
    worst = grade_sample(SPEC, {"mfr": Result(D(30), "", D(1)), "ash": Result(D("0.1"), "", D("0.05"))})
    assert worst.grade == "off-spec" and "fails B: 30 is above max 25" in worst.reasons["mfr"]


def test_below_detection_limit_results():
    assert check(Result(D("0.05"), below_detection_limit=True), Limit(max=D(1)), "guard_band").accepted
    low = check(Result(D("0.5"), below_detection_limit=True), Limit(min=D(1)), "simple")
    assert (low.evaluation, low.accepted) == ("out_of_spec", False)
    unsure = check(Result(D("2"), below_detection_limit=True), Limit(max=D(1)), "simple")
    assert (unsure.evaluation, unsure.accepted) == ("warn", False)


decimals = st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False, allow_infinity=False)


@given(value=decimals, u=st.decimals(min_value=0, max_value=50, places=3), lo=decimals, width=st.decimals(min_value=0, max_value=500, places=2))
def test_guard_band_is_never_more_lenient_than_simple(value, u, lo, width):
    limit = Limit(lo, lo + width)
    result = Result(value, "", u)
    guarded, simple = check(result, limit, "guard_band"), check(result, limit, "simple")
    assert not guarded.accepted or simple.accepted
    assert guarded.evaluation == simple.evaluation  # the evaluation does not depend on the rule
    if guarded.accepted:
        assert lo <= value - u and value + u <= lo + width


def _method(**kw) -> Method:
    base = dict(key="ash_3451", property="ash", unit="%", decimals=2, uncertainty_abs=D("0.05"),
                uncertainty_rel_pct=None, detection_limit=D("0.05"))
    return Method(**(base | kw))


def test_rounding_is_half_even_and_uncertainty_rounds_up():
    m = _method(uncertainty_abs=None, uncertainty_rel_pct=D(5))
    assert measure(m, "2.345", "%").value == D("2.34")
    assert measure(m, "2.355", "%").value == D("2.36")
    assert measure(m, 2.5, "%").uncertainty == D("0.13")  # 0.125 rounded up


def test_units_are_checked_not_converted():
    assert normalize_unit("kJ/m²") == normalize_unit("kJ/m2")
    m = _method(unit="g/cm3", key="density_1183", decimals=3)
    try:
        measure(m, "905", "kg/m3")
    except InputError as exc:
        assert exc.errors == {"unit": ["expected 'g/cm3' for method density_1183, got 'kg/m3'"]}
    else:
        raise AssertionError("a result in kg/m3 was accepted for a g/cm3 method")


@given(st.text(max_size=12))
def test_any_text_value_is_a_number_or_an_input_error(raw):
    try:
        measured = measure(_method(), raw, "%")
    except InputError as exc:
        assert set(exc.errors) <= {"value", "uncertainty"}
    else:
        assert measured.value.is_finite()


def test_detection_limit():
    m = _method()
    assert measure(m, "< 0.05", "%").below_detection_limit
    below = measure(m, "0.02", "%")
    assert below.below_detection_limit and below.value == D("0.05")
    try:
        measure(m, "<0.01", "%")
    except InputError as exc:
        assert "detection limit 0.05" in exc.errors["value"][0]
    else:
        raise AssertionError("a limit under the method's detection limit was accepted")


@given(
    value=st.decimals(min_value=-500, max_value=500, places=3),
    decimals_=st.integers(0, 3),
    absolute=st.booleans(),
    u=st.decimals(min_value=0, max_value=20, places=2),
    lo=st.one_of(st.none(), st.decimals(min_value=-300, max_value=300, places=2)),
    width=st.one_of(st.none(), st.decimals(min_value=0, max_value=300, places=2)),
    rule=st.sampled_from(["simple", "guard_band"]),
)
def test_the_accepted_range_is_where_check_accepts(value, decimals_, absolute, u, lo, width, rule):
    """What a grade model integrates over: away from its ends (the rounding of the value and of
    U), a result inside the accepted range meets the limit and one outside does not."""
    limit = Limit(lo, None if width is None else (lo or 0) + width)
    method = _method(unit="u", decimals=decimals_, detection_limit=None,
                     uncertainty_abs=u if absolute else None, uncertainty_rel_pct=None if absolute else u)
    low, high = accepted_range(method, limit, rule)
    accepted = check(as_result(method, measure(method, str(value), "u")), limit, rule).accepted
    margin = 2 * float(Decimal(1).scaleb(-decimals_))
    v = float(value)
    if (low is None or v >= low + margin) and (high is None or v <= high - margin):
        assert accepted
    if (low is not None and v < low - margin) or (high is not None and v > high + margin):
        assert not accepted
