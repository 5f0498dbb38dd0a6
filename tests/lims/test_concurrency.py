"""Sample IDs and the audit chain under concurrent registration, results entered at once by two
ways in (PostgreSQL, real threads)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from lims.audit.service import verify_chain
from lims.kernel.errors import WorkflowError
from lims.kernel.models import Analysis, AuditEvent, Sample, User
from lims.permissions import get_analysis
from lims.samples import workflow
from lims.samples.registration import SampleRequest, register_samples
from tests.support.postgres import wait_for_lock_waiters
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


def _first_analysis(session_factory) -> tuple[str, int, str, str]:
    """A fresh sample's code, and its first analysis: id, unit and an in-spec value."""
    code = lot_with_samples(session_factory, 1).sample_codes[0]
    with session_factory() as s:
        analysis = s.scalars(select(Analysis).join(Sample).where(Sample.code == code).order_by(Analysis.id)).first()
        return code, analysis.id, analysis.method.unit, in_spec_value(s, analysis)


def _race_a_colleague(
    session_factory, url: str, analysis_id: int, unit: str, value: str, racer, started: threading.Event | None = None
) -> None:
    """tech2 enters the result and holds the sample; `racer` runs meanwhile (once `started` is
    set, when given), and tech2 commits once the racer waits for the sample."""
    with session_factory() as colleague:
        tech2 = colleague.scalar(select(User).where(User.username == "tech2"))
        entered = get_analysis(colleague, tech2, analysis_id, for_update=True)
        workflow.submit(colleague, tech2, entered, value=value, unit=unit, instrument="the colleague's")
        thread = threading.Thread(target=racer)
        thread.start()
        assert started is None or started.wait(timeout=30)
        wait_for_lock_waiters(url, 1, "the other way in to wait for the sample")
        colleague.commit()
    thread.join(timeout=30)


def _only_the_colleagues_result(session_factory, analysis_id: int) -> None:
    with session_factory() as s:
        assert s.get(Analysis, analysis_id).instrument == "the colleague's"
        submits = s.scalars(select(AuditEvent).where(
            AuditEvent.action == "analysis.submit", AuditEvent.entity_id == str(analysis_id))).all()
        assert len(submits) == 1


def test_a_result_entered_by_a_colleague_meanwhile_is_not_overwritten_by_the_sample_worksheet(
    client, seeded, session_factory, database_url
):
    """Two technicians enter the same result at once, one by the API (or the method sheet) and
    one on the sample's worksheet page. The worksheet waits for the sample, as every other way in
    does, and then finds the result entered: never a second entry over the first."""
    code, analysis_id, unit, value = _first_analysis(session_factory)
    log_in(client, "tech")
    token = csrf_token(client, f"/lab/samples/{code}/worksheet")
    answers = []

    def worksheet() -> None:
        answers.append(client.post(f"/lab/samples/{code}/worksheet", data={
            "csrf_token": token, f"value-{analysis_id}": value, f"unit-{analysis_id}": unit,
            f"instrument-{analysis_id}": "the worksheet's"}))

    _race_a_colleague(session_factory, database_url, analysis_id, unit, value, worksheet)
    (answer,) = answers
    assert answer.status_code == 422 and "only once" in answer.get_data(as_text=True), answer.status_code
    _only_the_colleagues_result(session_factory, analysis_id)


def test_a_result_entered_by_a_direct_service_call_waits_for_the_sample_as_well(seeded, session_factory, database_url):
    """A script (or any new way in) that reads an analysis without locking anything and calls
    workflow.submit: the service itself queues on the sample, then finds the colleague's result,
    and enters nothing over it."""
    _, analysis_id, unit, value = _first_analysis(session_factory)
    outcome: list[object] = []
    read = threading.Event()

    def script() -> None:
        with session_factory() as s:
            tech = s.scalar(select(User).where(User.username == "tech"))
            unlocked = get_analysis(s, tech, analysis_id)
            read.set()
            try:
                workflow.submit(s, tech, unlocked, value=value, unit=unit, instrument="the script's")
                s.commit()
                outcome.append("entered")
            except WorkflowError as exc:
                outcome.append(exc.message)

    _race_a_colleague(session_factory, database_url, analysis_id, unit, value, script, read)
    (answer,) = outcome
    assert "only once" in str(answer), answer
    _only_the_colleagues_result(session_factory, analysis_id)


def test_a_result_verified_by_a_direct_service_call_while_a_colleague_retracts_it_stays_retracted(
    seeded, session_factory, database_url
):
    """The reviewer retracts a submitted result (holding its sample) while a script verifies it
    through workflow.verify without locking anything. The service queues on the sample, finds
    the result retracted and verifies nothing: never a retracted result marked verified."""
    _, analysis_id, unit, value = _first_analysis(session_factory)
    with session_factory.begin() as s:
        tech = s.scalar(select(User).where(User.username == "tech"))
        workflow.submit(s, tech, get_analysis(s, tech, analysis_id), value=value, unit=unit)
    outcome: list[object] = []
    read = threading.Event()

    def script() -> None:
        with session_factory() as s:
            admin = s.scalar(select(User).where(User.username == "admin"))
            unlocked = get_analysis(s, admin, analysis_id)
            read.set()
            try:
                workflow.verify(s, admin, unlocked)
                s.commit()
                outcome.append("verified")
            except WorkflowError as exc:
                outcome.append(exc.message)

    with session_factory() as colleague:
        reviewer = colleague.scalar(select(User).where(User.username == "reviewer"))
        held = get_analysis(colleague, reviewer, analysis_id, for_update=True)
        workflow.retract(colleague, reviewer, held, "drift on the balance")
        thread = threading.Thread(target=script)
        thread.start()
        assert read.wait(timeout=30)
        wait_for_lock_waiters(database_url, 1, "the script to wait for the sample")
        colleague.commit()
    thread.join(timeout=30)
    assert outcome and outcome != ["verified"], outcome
    with session_factory() as s:
        analysis = s.get(Analysis, analysis_id)
        assert (analysis.state, analysis.verified_by_id) == ("retracted", None)


def test_two_instrument_files_naming_the_same_samples_in_opposite_order_both_import(
    seeded, session_factory, database_url
):
    """The MFR run lists S1 then S2, the DSC run S2 then S1, and two technicians import them at
    the same moment while a colleague holds S1. Taking the samples row by row, each import would
    hold one sample and wait for the other's: a deadlock, one file refused with a database error.
    Both wait their turn and go in."""
    from lims.kernel.models import Method
    from lims.samples.imports import import_results

    first, second = lot_with_samples(session_factory, 2).sample_codes
    with session_factory() as s:
        units = dict(s.execute(select(Method.key, Method.unit).where(Method.key.in_(["mfr_230_2_16", "ash_3451"]))).all())

    def csv(method: str, value: str, codes: list[str]) -> str:
        return "sample_id,method,value,unit\n" + "".join(f"{c},{method},{value},{units[method]}\n" for c in codes)

    outcome: dict[str, object] = {}

    def importer(name: str, text: str) -> None:
        with session_factory() as s:
            try:
                import_results(s, s.scalar(select(User).where(User.username == name)), text)
                s.commit()
                outcome[name] = "imported"
            except Exception as exc:  # noqa: BLE001 - the refusal is what the test reports
                outcome[name] = repr(exc)[:300]

    with session_factory() as colleague:
        colleague.scalar(select(Sample).where(Sample.code == first).with_for_update())
        mfr = threading.Thread(target=importer, args=("tech", csv("mfr_230_2_16", "12.00", [first, second])))
        mfr.start()
        wait_for_lock_waiters(database_url, 1, "the MFR import to wait for S1")
        ash = threading.Thread(target=importer, args=("tech2", csv("ash_3451", "0.40", [second, first])))
        ash.start()
        wait_for_lock_waiters(database_url, 2, "the ash import to wait as well")
        colleague.commit()
    mfr.join(timeout=60)
    ash.join(timeout=60)
    assert outcome == {"tech": "imported", "tech2": "imported"}, outcome


def test_an_import_and_a_review_over_samples_of_both_lines_both_finish(client, seeded, session_factory, database_url):
    """The import locked its samples in code order, the review queue in id order: sample
    codes sort DCTV before NTK whatever their ids, so an import holding a DCTV sample while the
    reviewer held an older NTK one deadlocked, and PostgreSQL failed one of them."""
    from datetime import timedelta
    from decimal import Decimal

    from lims.kernel.clock import utcnow
    from lims.kernel.models import Method
    from lims.samples import registration
    from lims.samples.imports import import_results

    ntk = lot_with_samples(session_factory, 1).sample_codes[0]
    with session_factory.begin() as s:
        tech = s.scalar(select(User).where(User.username == "tech"))
        end = utcnow() - timedelta(hours=1)
        lot = registration.create_lot(
            s, tech, code="LOT-DCTV-1", installation="dctv-tear1", material="cotton", owner="vezelwerk",
            production_start=end - timedelta(hours=2), production_end=end, input_stream="post-consumer",
            recycled_content_pct=Decimal("100"))
        for sample in register_samples(s, tech, [SampleRequest(lot=lot.code)] * 2):
            workflow.receive(s, tech, sample)
    with session_factory.begin() as s:
        tech = s.scalar(select(User).where(User.username == "tech"))
        samples = sorted(s.scalars(select(Sample)), key=lambda x: x.id)
        assert [x.code.split("-")[0] for x in samples] == ["NTK", "DCTV", "DCTV"]  # code order: 2, 3, 1
        reviewed = []
        for sample, method in [(samples[0], "ash_3451"), (samples[1], "cotton_content_1833")]:
            analysis = next(a for a in sample.analyses if a.method.key == method)
            workflow.submit(s, tech, analysis, value=in_spec_value(s, analysis), unit=analysis.method.unit)
            reviewed.append(analysis.id)
        units = dict(s.execute(select(Method.key, Method.unit).where(Method.key.in_(["mfr_230_2_16", "fibre_length"]))).all())
        codes = [x.code for x in samples]
    assert codes[0] == ntk
    csv = "sample_id,method,value,unit\n" + "".join(
        f"{code},{method},{value},{units[method]}\n"
        for code, method, value in [(codes[1], "fibre_length", "20"), (codes[2], "fibre_length", "20"),
                                    (codes[0], "mfr_230_2_16", "12.00")])
    outcome: dict[str, object] = {}

    def importer() -> None:
        with session_factory() as s:
            try:
                import_results(s, s.scalar(select(User).where(User.username == "tech2")), csv)
                s.commit()
                outcome["import"] = "imported"
            except Exception as exc:  # noqa: BLE001 - the refusal is what the test reports
                outcome["import"] = repr(exc)[:300]

    log_in(client, "reviewer")
    token = csrf_token(client, "/review/")

    def reviewer() -> None:
        outcome["review"] = client.post("/review/verify", data={"analysis": reviewed, "csrf_token": token}).status_code

    with session_factory() as colleague:
        colleague.scalar(select(Sample).where(Sample.code == codes[2]).with_for_update())
        first = threading.Thread(target=importer)
        first.start()
        wait_for_lock_waiters(database_url, 1, "the import to hold what comes before the colleague's sample")
        second = threading.Thread(target=reviewer)
        second.start()
        wait_for_lock_waiters(database_url, 2, "the reviewer to hold what comes before the import's sample")
        colleague.commit()
    first.join(timeout=60)
    second.join(timeout=60)
    assert outcome == {"import": "imported", "review": 302}, outcome


def test_a_sample_cancelled_while_a_colleague_partitions_it_gets_no_partitions(lab, database_url):
    """Partitioning read the sample (registered), checked it, and only then waited for it: a
    colleague's cancel that went first left a cancelled sample with fresh partitions, which could
    then be received, tested and certified on their own. The check now reads the sample after
    the wait, and the partitioning is refused with why."""
    from sqlalchemy import create_engine, text

    from tests.lims.conftest import ok, register

    tech = lab.as_("tech")
    code = register(tech, receive=False)["sample_id"]
    lab.as_("reviewer")  # its token made before the threads start
    answers: dict[str, object] = {}

    def post(username: str, path: str, body: dict) -> None:
        response = lab.as_(username).post(path, json=body)
        answers[path.rsplit("/", 1)[1]] = (response.status_code, response.get_json())

    cancelling = threading.Thread(target=post, args=("tech", f"/samples/{code}/cancel", {"reason": "bag torn"}))
    partitioning = threading.Thread(target=post, args=("reviewer", f"/samples/{code}/partitions", {"count": 2}))
    holder = create_engine(database_url)
    with holder.connect() as hold:
        hold.execute(text("SELECT id FROM sample WHERE code = :code FOR UPDATE"), {"code": code})
        cancelling.start()
        wait_for_lock_waiters(database_url, 1, "the cancel to wait for the sample")
        partitioning.start()
        wait_for_lock_waiters(database_url, 2, "the partitioning to wait as well")
        hold.rollback()
    cancelling.join(60)
    partitioning.join(60)
    holder.dispose()
    assert answers["cancel"][0] == 200, answers
    status, body = answers["partitions"]
    assert status == 409 and "cancelled" in body["message"], answers
    assert ok(tech.get(f"/samples/{code}"))["partitions"] == []


def test_two_moves_of_one_sample_at_once_each_audit_where_it_really_was(lab, database_url, session_factory):
    """Moving a sample read it without waiting for it: two colleagues moving it at once both
    recorded its first shelf as where it came from, so the audit trail lost the stay between
    (the chain of custody read "Shelf A1 -> B2", "Shelf A1 -> C3")."""
    from sqlalchemy import create_engine, text

    from tests.lims.conftest import register

    code = register(lab.as_("tech"), storage_location="Shelf A1")["sample_id"]
    lab.as_("tech2")  # its token made before the threads start
    answers: list[int] = []

    def move(username: str, shelf: str) -> None:
        answers.append(lab.as_(username).put(f"/samples/{code}/storage", json={"storage_location": shelf}).status_code)

    holder = create_engine(database_url)
    with holder.connect() as hold:
        hold.execute(text("SELECT id FROM sample WHERE code = :code FOR UPDATE"), {"code": code})
        first = threading.Thread(target=move, args=("tech", "Shelf B2"))
        first.start()
        wait_for_lock_waiters(database_url, 1, "the first move to wait for the sample")
        second = threading.Thread(target=move, args=("tech2", "Shelf C3"))
        second.start()
        wait_for_lock_waiters(database_url, 2, "the second move to wait as well")
        hold.rollback()
    first.join(60)
    second.join(60)
    holder.dispose()
    assert answers == [200, 200], answers
    with session_factory() as s:
        moves = [(e.before["storage_location"], e.after["storage_location"]) for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action == "sample.store", AuditEvent.entity_id == code)
            .order_by(AuditEvent.seq))]
    assert len(moves) == 2 and moves[0][0] == "Shelf A1" and moves[1][0] == moves[0][1], moves
