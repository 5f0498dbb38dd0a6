"""Grading and result rules as pure functions (no database)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from lims.kernel.errors import InputError
from lims.kernel.models import Method
from lims.samples.grading import (
    OFF_SPEC,
    Grade,
    Limit,
    Result,
    Spec,
    check,
    grade_sample,
    held_back_by,
    reach,
)
from lims.samples.results import accepted_range, as_result, measure, normalize_unit, number

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


def test_held_back_by_names_what_fails_the_next_better_grade_as_grading_decided():
    # mfr 15.80 ± 0.79 is inside A's 8..16 but its interval crosses 16: the guard band fails A.
    results = {"mfr": Result(D("15.80"), "g/10 min", D("0.79")), "ash": Result(D("1.20"), "%", D("0.05"))}
    assert grade_sample(SPEC, results).grade == "B"
    assert held_back_by(SPEC, results, "B") == ("A", ["mfr", "ash"])
    assert held_back_by(Spec("simple", SPEC.grades), results, "B") == ("A", ["ash"])
    worst = {"mfr": Result(D(30), "g/10 min", D(1)), "ash": Result(D("0.50"), "%", D("0.05"))}
    assert grade_sample(SPEC, worst).grade == OFF_SPEC and held_back_by(SPEC, worst, OFF_SPEC) == ("B", ["mfr"])
    assert held_back_by(SPEC, results, "A") == (None, [])
    assert held_back_by(SPEC, {}, "not graded") == (None, [])


def test_reach_is_the_best_grade_one_result_allows_under_the_decision_rule():
    near_a = Result(D("15.80"), "g/10 min", D("0.79"))  # inside A's 8..16, U crosses 16
    assert (reach(SPEC, "mfr", near_a).grade, reach(SPEC, "mfr", near_a).label) == ("B", "B only")
    assert str(reach(SPEC, "mfr", near_a).why) == "grade A: 15.80 ± 0.79 crosses max 16 (guard band)"
    simple = reach(Spec("simple", SPEC.grades), "mfr", near_a)
    assert (simple.grade, simple.best, simple.flag) == ("A", True, "in_spec")
    off = reach(SPEC, "mfr", Result(D(30), "g/10 min", D(1)))
    assert (off.label, off.flag, str(off.why)) == ("off-spec", "out_of_spec", "grade B: 30 is above max 25")
    assert reach(SPEC, "density", Result(D("0.9"))) is None
    # One rule with held_back_by: the grade a result allows is never one it holds a sample back from.
    results = {"mfr": near_a, "ash": Result(D("0.50"), "%", D("0.05"))}
    assert held_back_by(SPEC, results, "B") == ("A", ["mfr"])


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


# Digits, signs, separators and look-alikes: what a typed or exported number is made of.
number_like = st.text(alphabet=st.sampled_from("0123456789.,-+eE_ \u00a0１２٣۴\u2212"), max_size=10)


@given(st.one_of(number_like, st.text(max_size=10)))
def test_a_number_is_plain_ascii_decimal_notation_or_refused_naming_the_field(raw):
    """Python's Decimal() also reads "1_2" and "１２" (full-width) or "٣" (Arabic-Indic) as
    numbers: typed or pasted so, they are an entry error, not 12."""
    try:
        parsed = number(raw, "uncertainty")
    except InputError as exc:
        assert set(exc.errors) == {"uncertainty"}
    else:
        text = raw.strip()
        assert text.isascii() and "_" not in text
        assert parsed == Decimal(text.replace(",", "."))


def test_underscores_and_other_digits_are_refused_naming_the_field():
    m = _method()
    for raw in ("1_2", "１２", "٣", "1\u00a0000", "1 000", "inf", "NaN"):
        for field, args in (("value", (raw, "%")), ("uncertainty", ("1.2", "%", raw))):
            try:
                measure(m, *args)
            except InputError as exc:
                assert set(exc.errors) == {field}, (raw, exc.errors)
            else:
                raise AssertionError(f"{raw!r} was read as a number for {field}")
    assert measure(m, "1,25", "%").value == D("1.25")  # the Dutch decimal comma
    assert measure(m, "1.5E-1", "%").value == D("0.15")  # as instruments export it
    assert measure(m, 2.5, "%").value == D("2.50")  # a JSON number


def test_an_uncertainty_wider_than_any_plausible_result_is_refused_naming_it():
    """U = 1e11 on a density of 0.95 (a slipped exponent, a value typed in the wrong cell) was
    stored and printed: an interval wider than the whole range a real result lies in says
    nothing about the result, so it is an entry error."""
    density = _method(unit="g/cm3", key="density_1183", decimals=3, uncertainty_abs=D("0.002"),
                      detection_limit=None, plausible_min=D("0.5"), plausible_max=D("2.5"))
    for u in ("1e11", "2.001", 1000):
        try:
            measure(density, "0.95", "g/cm3", u)
        except InputError as exc:
            (message,) = exc.errors["uncertainty"]
            assert set(exc.errors) == {"uncertainty"} and "plausible" in message and "2 g/cm3" in message, message
        else:
            raise AssertionError(f"U = {u} was accepted on a density of 0.95")
    assert measure(density, "0.95", "g/cm3", "2").uncertainty == D("2.000")  # as wide as the range
    # A method whose plausible range is open on one side: at most ten times the value's size.
    open_ended = _method(uncertainty_abs=D("0.05"), detection_limit=None, plausible_min=D(0), plausible_max=None)
    assert measure(open_ended, "3", "%", "30").uncertainty == D("30.00")
    try:
        measure(open_ended, "3", "%", "30.01")
    except InputError as exc:
        assert set(exc.errors) == {"uncertainty"}
    else:
        raise AssertionError("U = 30.01 was accepted on a value of 3 with no plausible maximum")
    assert measure(open_ended, "0", "%", "0.5").uncertainty == D("0.50")  # ten times the method's own U


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



def test_a_result_below_a_detection_limit_is_checked_as_a_value_is():
    """"< L" passed the checks a value meets: an MFR "< 5000" (plausible to 2000) was stored, so
    was "< 1,000" as "< 1.00" (one reading of 1000, which would meet a maximum of 2), and a "<"
    on a density, whose method has no detection limit (and a colour a*, whose values may be
    negative, where grading reads "< L" as 0 to L)."""
    mfr = _method(key="mfr_230_2_16", unit="g/10 min", detection_limit=D("0.1"), plausible_min=D(0), plausible_max=D(2000))
    density = _method(key="density_1183", unit="g/cm3", decimals=3, detection_limit=None,
                      plausible_min=D("0.5"), plausible_max=D("2.5"))
    for method, raw, unit, said in (
        (mfr, "< 5000", "g/10 min", "not a plausible result"),
        (mfr, "< 1,000", "g/10 min", "thousands separator"),
        (density, "< 0.9", "g/cm3", "no detection limit"),
    ):
        try:
            measure(method, raw, unit)
        except InputError as exc:
            assert said in str(exc.errors["value"][0]), exc.errors
        else:
            raise AssertionError(f"{raw} {unit} was accepted for {method.key}")
    assert measure(mfr, "< 1,0", "g/10 min").value == D("1.00")

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
