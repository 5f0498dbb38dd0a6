"""Grading and result evaluation: pure functions over plain values (no database).

A result is checked against a limit under a decision rule (ISO/IEC 17025 7.8.6, ILAC G8):
- simple: the measured value is compared with the limit;
- guard_band: acceptance needs the whole interval value ± U (U = expanded uncertainty) inside
  the limit, so a result within U of a limit is not accepted.
A result within U of a limit is shown as "warn" under either rule. A below-detection-limit
result "< L" means the true value lies in [0, L): it meets a maximum when L <= max, fails a
minimum when L <= min, and is indeterminate (warn, not accepted) otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from lims.kernel.errors import N_, Text

DECISION_RULES = ("simple", "guard_band")
OFF_SPEC = "off-spec"
# A test plan without a result for every limited property: no grade, not a failing one.
NOT_GRADED = "not graded"
# A material without a grade specification.
UNGRADED = "ungraded"
# What a sample's grade column may hold that is no grade of any specification.
NO_GRADE = (NOT_GRADED, UNGRADED)


def grade_name(grade: str | None) -> str:
    """A grade as a reader sees it: a grade's own name (A, B) in every language; off-spec, the
    word stored for failing them all, in the reader's (a Text, said in the page's language)."""
    return N_("off-spec") if grade == OFF_SPEC else grade or ""


@dataclass(frozen=True)
class Limit:
    min: Decimal | None = None
    max: Decimal | None = None

    def text(self) -> Text:
        if self.min is not None and self.max is not None:
            return N_("%(min)s..%(max)s", min=self.min, max=self.max)
        return N_("min %(min)s", min=self.min) if self.min is not None else N_("max %(max)s", max=self.max)

    def __str__(self) -> str:
        return str(self.text())


@dataclass(frozen=True)
class Grade:
    name: str
    limits: dict[str, Limit]


@dataclass(frozen=True)
class Spec:
    decision_rule: str
    grades: tuple[Grade, ...]  # best first
    # property -> the method whose results the limits apply to; a result by another method of
    # the same property (another temperature, another load) is reported without conformity.
    methods: dict[str, str] = field(default_factory=dict)

    def counts(self, prop: str, method_key: str) -> bool:
        named = self.methods.get(prop)
        return named is None or named == method_key

    def limited(self) -> list[str]:
        """Every property some grade limits, in the order the specification lists them."""
        return list(dict.fromkeys(p for g in self.grades for p in g.limits))


@dataclass(frozen=True)
class Result:
    value: Decimal
    unit: str = ""
    uncertainty: Decimal | None = None
    below_detection_limit: bool = False

    def __str__(self) -> str:
        unit = "" if self.unit in ("", "1") else f" {self.unit}"
        if self.below_detection_limit:
            return f"< {self.value}{unit}"
        if self.uncertainty:
            return f"{self.value} ± {self.uncertainty}{unit}"
        return f"{self.value}{unit}"


@dataclass(frozen=True)
class Check:
    evaluation: str  # in_spec | warn | out_of_spec
    accepted: bool
    why: Text  # the worksheet's flag says it in the reader's language


@dataclass(frozen=True)
class GradeOutcome:
    grade: str
    reasons: dict[str, str] = field(default_factory=dict)


def check(result: Result, limit: Limit, rule: str) -> Check:
    """One result against one limit under a decision rule."""
    if rule not in DECISION_RULES:
        raise ValueError(f"unknown decision rule {rule!r}")
    v, u = result.value, result.uncertainty or Decimal(0)
    if result.below_detection_limit:
        if limit.min is not None and v <= limit.min:
            return Check("out_of_spec", False, N_("< %(value)s is below min %(min)s", value=v, min=limit.min))
        if (limit.min is not None and limit.min > 0) or (limit.max is not None and v > limit.max):
            return Check("warn", False, N_("< %(value)s cannot show conformity with %(limit)s", value=v, limit=limit.text()))
        return Check("in_spec", True, N_("< %(value)s is within %(limit)s", value=v, limit=limit.text()))
    if limit.min is not None and v < limit.min:
        return Check("out_of_spec", False, N_("%(value)s is below min %(min)s", value=v, min=limit.min))
    if limit.max is not None and v > limit.max:
        return Check("out_of_spec", False, N_("%(value)s is above max %(max)s", value=v, max=limit.max))
    near_min = limit.min is not None and v - u < limit.min
    near_max = limit.max is not None and v + u > limit.max
    if near_min or near_max:
        side = N_("min %(min)s", min=limit.min) if near_min else N_("max %(max)s", max=limit.max)
        if rule == "guard_band":
            return Check("warn", False, N_("%(value)s ± %(u)s crosses %(side)s (guard band)", value=v, u=u, side=side))
        return Check(
            "warn", True,
            N_("%(value)s is within %(limit)s but within U %(u)s of %(side)s", value=v, limit=limit.text(), u=u, side=side),
        )
    return Check("in_spec", True, N_("%(value)s is within %(limit)s", value=v, limit=limit.text()))


def envelope(spec: Spec, prop: str) -> tuple[str, Limit] | None:
    """The least strict grade that limits a property: failing it means off-spec."""
    for grade in reversed(spec.grades):
        if prop in grade.limits:
            return grade.name, grade.limits[prop]
    return None


def evaluate(spec: Spec, prop: str, result: Result) -> tuple[str | None, Text]:
    """in_spec / warn / out_of_spec of one result against the specification's envelope."""
    found = envelope(spec, prop)
    if found is None:
        return None, N_("no limit on %(property)s", property=prop)
    grade, limit = found
    c = check(result, limit, spec.decision_rule)
    return c.evaluation, N_("grade %(grade)s: %(why)s", grade=grade, why=c.why)


def grade_sample(spec: Spec, results: dict[str, Result]) -> GradeOutcome:
    """The best grade whose every limit is met under the decision rule, else off-spec,
    with a reason for each limited property; "not graded" while a limited property has no
    result (by the specification's method)."""
    missing = [p for p in spec.limited() if p not in results]
    if missing:
        named = ", ".join(f"{p} (by {spec.methods[p]})" if p in spec.methods else p for p in missing)
        return GradeOutcome(NOT_GRADED, {"_": f"not graded: missing {named}"})
    notes: dict[str, list[str]] = {}
    awarded = OFF_SPEC
    for grade in spec.grades:
        met = True
        for prop, limit in grade.limits.items():
            result = results.get(prop)
            if result is None:
                notes.setdefault(prop, []).append(f"fails {grade.name}: no result")
                met = False
                continue
            c = check(result, limit, spec.decision_rule)
            verb = "meets" if c.accepted else "fails"
            notes.setdefault(prop, []).append(f"{verb} {grade.name}: {c.why}")
            met = met and c.accepted
        if met:
            awarded = grade.name
            break
    reasons = {}
    for prop, lines in notes.items():
        shown = str(results[prop]) if prop in results else "no result"
        reasons[prop] = f"{shown}; " + "; ".join(lines)
    return GradeOutcome(awarded, reasons)


def meets(spec: Spec, grade: Grade, prop: str, result: Result | None) -> bool:
    """Whether a property's result leaves `grade` open under the decision rule: the grade does
    not limit the property, or the result is accepted against its limit."""
    limit = grade.limits.get(prop)
    if limit is None:
        return True
    return result is not None and check(result, limit, spec.decision_rule).accepted


@dataclass(frozen=True)
class Reach:
    """What one result means for the sample's grade: the best grade it still allows."""
    grade: str  # a grade name, or OFF_SPEC
    best: bool  # the specification's best grade: the result costs nothing
    why: Text

    @property
    def label(self) -> str:
        if self.grade == OFF_SPEC:
            return grade_name(OFF_SPEC)
        return self.grade if self.best else N_("%(grade)s only", grade=self.grade)

    @property
    def flag(self) -> str:
        """The evaluation badge's colour: costs nothing, costs a grade, fails every grade."""
        if self.grade == OFF_SPEC:
            return "out_of_spec"
        return "in_spec" if self.best else "warn"


def reach(spec: Spec, prop: str, result: Result) -> Reach | None:
    """The best grade one result leaves open (as grade_sample and held_back_by judge it), with
    why: the limit of the next better grade it fails, or the best one's it meets. None for a
    property no grade limits."""
    if envelope(spec, prop) is None:
        return None
    for i, grade in enumerate(spec.grades):
        if meets(spec, grade, prop, result):
            why = _why(spec, spec.grades[i - 1] if i else grade, prop, result)
            return Reach(grade.name, i == 0, why)
    return Reach(OFF_SPEC, False, _why(spec, spec.grades[-1], prop, result))


def _why(spec: Spec, grade: Grade, prop: str, result: Result) -> Text:
    limit = grade.limits.get(prop)
    if limit is None:
        return N_("no limit on %(property)s", property=prop)
    return N_("grade %(grade)s: %(why)s", grade=grade.name, why=check(result, limit, spec.decision_rule).why)


def held_back_by(spec: Spec, results: dict[str, Result], grade: str) -> tuple[str | None, list[str]]:
    """Why a sample has `grade` and not a better one: the next better grade (the least strict
    one for off-spec) and the properties whose results fail it under the decision rule, as
    grade_sample found them. (None, []) for the best grade or one the specification does not
    name (not graded)."""
    names = [g.name for g in spec.grades]
    if grade == OFF_SPEC and spec.grades:
        better = spec.grades[-1]
    elif grade in names[1:]:
        better = spec.grades[names.index(grade) - 1]
    else:
        return None, []
    failing = [prop for prop in better.limits if not meets(spec, better, prop, results.get(prop))]
    return better.name, failing
