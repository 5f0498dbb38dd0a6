"""Sample IDs and the audit chain under concurrent registration (PostgreSQL, real threads)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from lims.audit.service import verify_chain
from lims.kernel.models import Sample, User
from lims.samples.registration import SampleRequest, register_samples

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
