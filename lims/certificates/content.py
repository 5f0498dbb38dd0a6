"""The signed content of a certificate of analysis (ISO/IEC 17025:2017 7.8.2.1, 7.8.6, 7.8.8).

Built once at issue as plain JSON values, canonicalised (RFC 8785), hashed and signed; the PDF and
the JSON file are both drawn from the stored content, so they can never disagree.

The content's words are English. Each fixed text is a catalogue entry (N_) and each composed one
follows one of the templates below, so the PDF can print a certificate in its customer's language
(render_pdf reads a composed text back into its parts) while the signed content stays the same.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from lims.audit import service as audit
from lims.kernel.errors import N_, Text
from lims.kernel.models import Analysis, Lot, Organization, Sample, User
from lims.kernel.models.certificate import Certificate
from lims.kernel.models.sample import EN_15343_STREAM
from lims.samples import grading

SCHEMA = "recyclab-coa/1"
TITLE = N_("Certificate of Analysis")
REMARK = N_("The results relate only to the items tested.")
CUSTOMER_SUPPLIED = N_(
    "Input stream, source and recycled content are information supplied by the customer; the "
    "laboratory is not responsible for it."
)
END = N_("End of certificate")
DECISION_RULE_TEXT = {
    "simple": N_(
        "simple acceptance (ILAC-G8:09/2019, shared risk): a result conforms when the measured "
        "value lies within the limit; the measurement uncertainty is not deducted."
    ),
    "guard_band": N_(
        "guarded acceptance (ILAC-G8:09/2019, guard band w = U): a result conforms only when the "
        "measured value lies inside the limit by at least its expanded uncertainty U."
    ),
}
ROLE_TITLES = {"reviewer": N_("Reviewer (senior technician)"), "admin": N_("Laboratory administrator")}
NOT_RECORDED = N_("not recorded")
NOT_STATED = N_("not stated")
PLACE_OF_TESTING = N_("The laboratory's permanent facilities")
# The composed texts. A template's parts must be told apart by its fixed words.
SPECIFICATION = N_("%(lab)s grade specification for %(code)s")
NO_SPECIFICATION = N_("No grade specification applies to %(code)s; no statement of conformity is made.")
INCOMPLETE = N_("No statement of conformity with the %(name)s is made: the test plan is incomplete (%(missing)s).")
OFF_SPEC_OUT = N_(
    "The item does not conform to any grade of the %(name)s: the results marked 'out' fail the "
    "limits of its least strict grade under the decision rule."
)
OFF_SPEC = N_("The item does not conform to any grade of the %(name)s under the decision rule.")
CONFORMS = N_(
    "The item conforms to grade %(grade)s of the %(name)s: every result limited by grade "
    "%(grade)s meets its limit under the decision rule."
)
SPAN = N_("%(first)s to %(last)s")
SAMPLED_BY = N_("sampled by %(who)s")
AT_PLACE = N_("%(place)s, %(address)s")
OTHER_METHOD = N_(
    "measured by %(method)s, not by %(required)s as the grade specification requires: reported "
    "without a statement of conformity"
)
ORIGIN_NOTE = N_("%(standard)s: %(origin)s")
SMALLER_U = N_("U below the method's, because: %(reason)s")
CONVERTED = N_("entered as %(value)s %(unit)s, converted")
EXTERNAL = N_("result from external provider %(provider)s, report %(report)s")
RETESTED = N_("retest: earlier result %(value)s (%(was)s, %(evaluation)s, %(day)s) retested because: %(reason)s")
# What the lab writes as the item's description when nobody typed one.
LOT_DESCRIPTION = N_("Lot %(code)s: %(material)s")
SAMPLE_DESCRIPTION = N_("%(material)s, sample %(code)s")
WITHDRAWN_ON = N_("on %(day)s")
REPLACED_ON = N_("on %(day)s, replaced by %(number)s")
# How amending.reopen starts the internal reason of a certificate it withdraws: the public verify
# page tells such a withdrawal (a corrected revision is coming) from invalidated results by it.
AMENDMENT_PENDING = "amendment in progress: "
STATEMENTS = (NO_SPECIFICATION, INCOMPLETE, OFF_SPEC_OUT, OFF_SPEC, CONFORMS, SPECIFICATION)
NOTES = (OTHER_METHOD, ORIGIN_NOTE, SMALLER_U, CONVERTED, EXTERNAL, RETESTED)


def _num(value: Decimal | None, decimals: int | None = None) -> str | None:
    """A Decimal as plain text: rounded to the method's decimals, else without trailing zeros."""
    if value is None:
        return None
    if decimals is not None:
        return format(value.quantize(Decimal(1).scaleb(-decimals)), "f")
    return format(value.normalize(), "f")


# Every date and time a certificate shows (PDF, JSON file, verify page) is in the lab's zone,
# named in the content as dates.time_zone; certificates issued before that field existed were
# dated in the default zone.
DEFAULT_ZONE = "Europe/Amsterdam"


def time_zone(content: dict[str, Any]) -> ZoneInfo:
    return ZoneInfo(content["dates"].get("time_zone", DEFAULT_ZONE))


def _local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).isoformat()


def day(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return moment.astimezone(tz).date().isoformat() if moment else None


def _span(moments: list[datetime], tz: ZoneInfo) -> tuple[str | None, str | None]:
    days = sorted(d for d in (day(m, tz) for m in moments) if d)
    return (days[0], days[-1]) if days else (None, None)


def _sampler(sample: Sample) -> str:
    return Text(SAMPLED_BY, who=sample.sampled_by) if sample.sampled_by else N_("sampled by the customer")


def _per_sample(samples: list[Sample], text) -> str:
    """One text when every sample says the same, else each sample's."""
    texts = [text(s) for s in samples]
    if len(set(texts)) == 1:
        return texts[0]
    return "; ".join(f"{s.code}: {t}" for s, t in zip(samples, texts, strict=True))


def _limit_dict(grade: str, limit: grading.Limit) -> dict[str, str | None]:
    return {"grade": grade, "min": _num(limit.min), "max": _num(limit.max)}


def reported(samples: list[Sample]) -> list[tuple[Sample, Analysis]]:
    """The results a certificate reports: the verified analyses (a retest's retracted original
    is not reported), sample by sample."""
    return [(s, a) for s in samples for a in s.analyses if a.state == "verified"]


def worst_grade(spec: grading.Spec | None, grades: list[str | None]) -> str:
    if spec is None:
        return "ungraded"
    if grading.NOT_GRADED in grades:
        return grading.NOT_GRADED
    order = [g.name for g in spec.grades] + [grading.OFF_SPEC]
    known = [g for g in grades if g in order]
    return max(known, key=order.index) if known else grading.OFF_SPEC


def _conformity(
    spec: grading.Spec | None,
    grade: str,
    material_code: str,
    lab: str,
    results: list[dict[str, Any]],
    samples: list[Sample],
) -> dict[str, Any]:
    name = Text(SPECIFICATION, lab=lab, code=material_code)
    if spec is None:
        return {
            "specification": N_("none"),
            "decision_rule": None,
            "decision_rule_text": N_("not applicable"),
            "grade": N_("ungraded"),
            "statement": Text(NO_SPECIFICATION, code=material_code),
        }
    rule = spec.decision_rule
    if grade == grading.NOT_GRADED:
        missing = "; ".join(
            f"{s.code}: {(s.grade_reasons or {}).get('_', grading.NOT_GRADED)}"
            for s in samples
            if s.grade == grading.NOT_GRADED
        )
        statement = Text(INCOMPLETE, name=name, missing=missing)
    elif grade == grading.OFF_SPEC:
        failed = any(r["conformity"] == "out" for r in results)
        statement = Text(OFF_SPEC_OUT if failed else OFF_SPEC, name=name)
    else:
        statement = Text(CONFORMS, grade=grade, name=name)
    return {
        "specification": name,
        "decision_rule": rule,
        "decision_rule_text": DECISION_RULE_TEXT[rule],
        "grade": grade,
        "statement": statement,
    }


def _limit_for(
    spec: grading.Spec | None, grade: str, method
) -> tuple[tuple[str, grading.Limit] | None, str | None]:
    """The limit a result is judged against, or None with the reason why none is."""
    if spec is None:
        return None, None
    if not spec.counts(method.property, method.key):
        return None, Text(OTHER_METHOD, method=method.key, required=spec.methods[method.property])
    if grade == grading.NOT_GRADED:
        return None, None
    awarded = next((g for g in spec.grades if g.name == grade), None)
    if awarded is not None:
        limit = awarded.limits.get(method.property)
        return ((grade, limit) if limit is not None else None), None
    return grading.envelope(spec, method.property), None


def _retests(analysis: Analysis, method, tz: ZoneInfo) -> list[dict[str, Any]]:
    """ISO/IEC 17025 7.8.8/7.5: the earlier results of a retested property (OOS investigations),
    oldest first, unless a reviewer recorded why one is excluded."""
    history = []
    earlier = analysis.retest_of
    while earlier is not None:
        oos = earlier.oos
        if oos is not None and not oos.exclusion_reason:
            history.append(
                {
                    "value": _num(earlier.value, method.decimals),
                    "below_detection_limit": earlier.below_detection_limit,
                    "uncertainty": _num(earlier.uncertainty, method.decimals),
                    "measured_on": day(earlier.measured_at, tz),
                    "was": oos.original_state,
                    "evaluation": oos.original_evaluation,
                    "retest_reason": oos.reason,
                }
            )
        earlier = earlier.retest_of
    return history[::-1]


ORIGIN_NOTES = {
    "adapted": N_("standard method used outside its scope (adapted), validated by the laboratory"),
    "in-house": N_("in-house method, validated by the laboratory"),
}


def _result_entry(
    sample: Sample, analysis: Analysis, spec: grading.Spec | None, grade: str, tz: ZoneInfo
) -> dict[str, Any]:
    method = analysis.method
    found, no_limit = _limit_for(spec, grade, method)
    conformity, evaluation = "n/a", None
    # A limit is only found when there is a specification.
    if found is not None and spec is not None:
        if analysis.value is None:
            # Certificates report verified results, and those hold a value.
            raise TypeError(f"analysis {analysis.id} has no result")
        check = grading.check(
            grading.Result(
                analysis.value,
                analysis.unit or "",
                analysis.uncertainty,
                analysis.below_detection_limit,
            ),
            found[1],
            spec.decision_rule,
        )
        conformity, evaluation = ("in" if check.accepted else "out"), check.evaluation
    notes: list[str] = []
    if method.origin in ORIGIN_NOTES:
        notes.append(Text(ORIGIN_NOTE, standard=method.standard, origin=ORIGIN_NOTES[method.origin]))
    if no_limit:
        notes.append(no_limit)
    if analysis.uncertainty_reason:
        notes.append(Text(SMALLER_U, reason=analysis.uncertainty_reason))
    if analysis.entered_unit:
        notes.append(Text(CONVERTED, value=analysis.entered_value, unit=analysis.entered_unit))
    provider = analysis.external_provider
    if provider is not None:
        notes.append(Text(EXTERNAL, provider=provider.name, report=analysis.external_report))
    retests = _retests(analysis, method, tz)
    for r in retests:
        shown = ("< " if r["below_detection_limit"] else "") + str(r["value"])
        notes.append(
            Text(
                RETESTED, value=shown, was=r["was"], evaluation=r["evaluation"] or N_("not evaluated"),
                day=r["measured_on"], reason=r["retest_reason"],
            )
        )
    return {
        "sample": sample.code,
        "property": method.property,
        "property_name": method.name,
        "method": {
            "key": method.key,
            "name": method.name,
            "standard": method.standard,
            "conditions": method.conditions,
            "origin": method.origin,
        },
        "value": _num(analysis.value, method.decimals),
        "below_detection_limit": analysis.below_detection_limit,
        "unit": analysis.unit or method.unit,
        "uncertainty": _num(analysis.uncertainty, method.decimals),
        "uncertainty_reason": analysis.uncertainty_reason or None,
        "entered": {"value": analysis.entered_value, "unit": analysis.entered_unit}
        if analysis.entered_unit
        else None,
        "coverage_factor": 2,
        # 7.8.2.1 p): results from external providers are identified as such.
        "external_provider": None
        if provider is None
        else {"name": provider.name, "address": provider.address, "report": analysis.external_report},
        "measured_on": day(analysis.measured_at, tz),
        "limit": _limit_dict(*found) if found else None,
        "evaluation": evaluation,
        "conformity": conformity,
        "retests": retests,
        "notes": notes,
    }


def build_content(
    *,
    kind: str,
    number: str,
    revision: int,
    issued_at: datetime,
    lab: Organization | None,
    lab_name: str,
    owner: Organization,
    samples: list[Sample],
    lot: Lot | None,
    spec: grading.Spec | None,
    grade: str,
    authorised_by: User,
    tz: ZoneInfo,
    deviations: list[str],
    replaces: Certificate | None,
    change_reason: str,
    description: str,
    key_id: str,
) -> dict[str, Any]:
    """Every item of ISO/IEC 17025:2017 7.8.2.1 (and 7.8.6, 7.8.8) as plain JSON values; a
    revision names the certificate it replaces and the reason for the change."""
    replaced = None
    if replaces is not None:
        if replaces.withdrawn_at is None:
            # Not reached: only a withdrawn certificate is replaced (issuing.lock_withdrawn).
            raise AttributeError(f"certificate {replaces.number} is replaced but was not withdrawn")
        replaced = {
            "number": replaces.number,
            "withdrawn_at": _local(replaces.withdrawn_at, tz),
            "reason": change_reason,
        }
    material = samples[0].material
    shown = reported(samples)
    test_start, test_end = _span([a.measured_at for _, a in shown if a.measured_at], tz)
    sampled_from, sampled_to = _span([s.sampled_at for s in samples if s.sampled_at], tz)
    received_from, received_to = _span([s.received_at for s in samples if s.received_at], tz)

    results = [_result_entry(s, a, spec, grade, tz) for s, a in shown]

    def span_text(a: str | None, b: str | None) -> str:
        return NOT_RECORDED if a is None else a if a == b else Text(SPAN, first=a, last=b)

    return {
        "schema": SCHEMA,
        "title": TITLE,
        "number": number,
        "revision": revision,
        "replaces": replaced,
        "issued_at": _local(issued_at, tz),
        "laboratory": {
            "name": lab.name if lab else lab_name,
            "address": lab.address if lab else "",
            # 7.8.2.1 c): every method runs in the lab itself, none at a customer's site.
            "place_of_testing": Text(AT_PLACE, place=PLACE_OF_TESTING, address=lab.address)
            if lab and lab.address
            else PLACE_OF_TESTING,
        },
        "customer": {"name": owner.name, "address": owner.address},
        "item": {
            "kind": kind,
            "description": description,
            "material": {"key": material.key, "code": material.code, "name": material.name},
            "line": material.line.name,
            "samples": [{"code": s.code, "description": s.description} for s in samples],
            "lot": None
            if lot is None
            else {
                "code": lot.code,
                "installation": lot.installation.name,
                "production_start": lot.production_start.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                "production_end": lot.production_end.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            },
            "input_stream": EN_15343_STREAM.get(lot.input_stream, lot.input_stream) if lot else None,
            "source": lot.source if lot and lot.source else None,
            "recycled_content_pct": _num(lot.recycled_content_pct) if lot else None,
            # 7.8.2.2: what the customer told us, which the lab cannot vouch for, is marked.
            "customer_supplied": ["input_stream", "source", "recycled_content_pct"] if lot else [],
            "customer_supplied_note": CUSTOMER_SUPPLIED if lot else None,
            "sampling": _per_sample(samples, _sampler),
            # 7.8.2.1 k): stated when the samples were taken by a plan; None when none was given.
            "sampling_plan": _per_sample(samples, lambda s: s.sampling_plan or NOT_STATED)
            if any(s.sampling_plan for s in samples)
            else None,
            "condition": _per_sample(
                samples, lambda s: s.condition_on_receipt or N_("not recorded at receipt")
            ),
        },
        "dates": {
            "sampling": span_text(sampled_from, sampled_to),
            "receipt": span_text(received_from, received_to),
            "testing_start": test_start or NOT_RECORDED,
            "testing_end": test_end or NOT_RECORDED,
            "issue": day(issued_at, tz),
            "time_zone": tz.key,
        },
        "results": results,
        "conformity": _conformity(
            spec, grade, material.code, lab.name if lab else lab_name, results, samples
        ),
        "remark": REMARK,
        "deviations": deviations,
        "authorised_by": {
            "name": authorised_by.full_name.strip(),
            "role": ROLE_TITLES.get(authorised_by.role, authorised_by.role),
        },
        "end": END,
        # Inside the signed part: which of the lab's published keys verifies it.
        "key_id": key_id,
    }



def audit_view(cert: Certificate) -> dict[str, Any]:
    # The signed content is large and kept in the row itself; the trail records its hash.
    view = audit.snapshot(cert)
    for key in ("content", "search_text", "signature"):
        view.pop(key, None)
    return view
