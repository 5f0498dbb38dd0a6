"""Sample IDs and the audit chain under concurrent registration, results entered at once by two
ways in (PostgreSQL, real threads)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from lims.audit.service import verify_chain
from lims.kernel.models import Analysis, AuditEvent, Sample, User
from lims.permissions import get_analysis
from lims.samples import workflow
from lims.samples.registration import SampleRequest, register_samples
from tests.web.seed import in_spec_value, lot_with_samples
from tests.web.test_pages import csrf_token, log_in

THREADS, EACH = 8, 6


def test_ids_are_unique_and_gapless_under_concurrent_registration(seeded, session_factory):
    with session_factory() as s:
        tech_id = s.scalar(select(User.id).where(User.username == "tech"))
    start = threading.Barrier(THREADS)

    def worker(n: int) -> list[str]:
        start.wait(timeout=30)
        codes = []
        for i in range(EACH):
            # Mixed single and bulk registrations on both lines, each in its own transaction.
            material = "pp" if (n + i) % 2 else "cotton"
            requests = [SampleRequest(material=material, owner="polyvorm", methods=[])] * (1 + i % 3)
            with session_factory.begin() as session:
                tech = session.get(User, tech_id)
                codes += [s.code for s in register_samples(session, tech, requests)]
        return codes

    with ThreadPoolExecutor(THREADS) as pool:
        codes = [c for chunk in pool.map(worker, range(THREADS)) for c in chunk]

    assert len(codes) == len(set(codes)) == THREADS * sum(1 + i % 3 for i in range(EACH))
    with session_factory() as s:
        assert sorted(codes) == sorted(s.scalars(select(Sample.code)))
        for prefix in ("NTK", "DCTV"):
            numbers = sorted(int(c.rsplit("-", 1)[1]) for c in codes if c.startswith(prefix + "-"))
            assert numbers == list(range(1, len(numbers) + 1)), prefix
        report = verify_chain(s)
    assert report.ok, report
    assert report.events >= len(codes)


def test_a_result_entered_by_a_colleague_meanwhile_is_not_overwritten_by_the_sample_worksheet(client, seeded, session_factory):
    """Two technicians enter the same result at once, one by the API (or the method sheet) and
    one on the sample's worksheet page. The worksheet waits for the sample, as every other way in
    does, and then finds the result entered: never a second entry over the first."""
    code = lot_with_samples(session_factory, 1).sample_codes[0]
    with session_factory() as s:
        analysis = s.scalars(select(Analysis).join(Sample).where(Sample.code == code).order_by(Analysis.id)).first()
        analysis_id, unit, value = analysis.id, analysis.method.unit, in_spec_value(s, analysis)
    log_in(client, "tech")
    token = csrf_token(client, f"/lab/samples/{code}/worksheet")
    answers = []

    def worksheet() -> None:
        answers.append(client.post(f"/lab/samples/{code}/worksheet", data={
            "csrf_token": token, f"value-{analysis_id}": value, f"unit-{analysis_id}": unit,
            f"instrument-{analysis_id}": "the worksheet's"}))

    with session_factory() as colleague:
        tech2 = colleague.scalar(select(User).where(User.username == "tech2"))
        entered = get_analysis(colleague, tech2, analysis_id, for_update=True)
        workflow.submit(colleague, tech2, entered, value=value, unit=unit, instrument="the colleague's")
        racer = threading.Thread(target=worksheet)
        racer.start()
        time.sleep(0.5)
        colleague.commit()
    racer.join(timeout=30)
    (answer,) = answers
    assert answer.status_code == 422 and "only once" in answer.get_data(as_text=True), answer.status_code
    with session_factory() as s:
        assert s.get(Analysis, analysis_id).instrument == "the colleague's"
        submits = s.scalars(select(AuditEvent).where(
            AuditEvent.action == "analysis.submit", AuditEvent.entity_id == str(analysis_id))).all()
        assert len(submits) == 1
