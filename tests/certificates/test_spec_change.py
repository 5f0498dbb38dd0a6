"""The lab tightens a grade specification (config/grade_specs.toml, then `recyclab seed`). A
sample verified before kept the grade of the old limits, and its certificate then printed the
new limits beside that grade. Now the change grades the verified samples again (audited), and a
certificate, also a revision of one issued before the change, states the grade of the limits
it prints."""

from __future__ import annotations

from sqlalchemy import select

from lims.kernel.models import AuditEvent
from lims.kernel.settings import config_dir
from lims.seed import seed_grade_specs
from tests.certificates.conftest import ok
from tests.certificates.support import PP_GRADE_A

A_MFR = "mfr = { min = 8, max = 16 }"  # PP grade A in config/grade_specs.toml


def _tighten_pp_grade_a_mfr(tmp_path, session_factory) -> None:
    text = (config_dir() / "grade_specs.toml").read_text(encoding="utf-8")
    assert text.count(A_MFR) == 1
    path = tmp_path / "grade_specs.toml"
    path.write_text(text.replace(A_MFR, "mfr = { min = 8, max = 11 }"), encoding="utf-8")
    with session_factory.begin() as session:
        seed_grade_specs(session, path)


def _mfr_limit(cert: dict) -> dict:
    return next(r for r in cert["content"]["results"] if r["property"] == "mfr")["limit"]


def test_a_tightened_specification_regrades_verified_samples_and_certificates_state_its_grade(lab, tmp_path):
    reviewer = lab.as_("reviewer")
    lab.lot("L-SPEC")
    certified = lab.verified_sample("L-SPEC")  # MFR 12.00: grade A under A's 8..16
    before = ok(reviewer.post("/certificates", json={"sample": certified}), 201)
    assert before["grade"] == "A" and _mfr_limit(before) == {"grade": "A", "min": "8", "max": "16"}
    verified = lab.verified_sample("L-SPEC")
    assert PP_GRADE_A["mfr"] == "12.00" and ok(reviewer.get(f"/samples/{verified}"))["grade"] == "A"

    _tighten_pp_grade_a_mfr(tmp_path, lab.session_factory)  # A now needs MFR 8..11: 12.00 is B

    assert ok(reviewer.get(f"/samples/{verified}"))["grade"] == "B"
    with lab.session_factory() as session:
        regraded = session.scalars(select(AuditEvent).where(AuditEvent.action == "sample.regrade")).all()
    assert [(e.entity_id, e.before["grade"], e.after["grade"]) for e in regraded] == [(verified, "A", "B")]
    cert = ok(reviewer.post("/certificates", json={"sample": verified}), 201)
    assert cert["grade"] == "B" and _mfr_limit(cert) == {"grade": "B", "min": "4", "max": "25"}

    # The certificate issued before the change stands as issued; its sample keeps that grade
    # until the certificate is amended, whose revision prints the new limits and their grade.
    assert ok(reviewer.get(f"/samples/{certified}"))["grade"] == "A"
    revision = ok(reviewer.post(f"/certificates/{before['id']}/amend", json={"reason": "customer address corrected"}), 201)
    assert revision["grade"] == "B" and _mfr_limit(revision) == {"grade": "B", "min": "4", "max": "25"}
