"""Certificate benchmark (not a test), on a private PostgreSQL database.

Prints, from one run:
  1. certificates issued per second on one core: each one is a full issue (content per
     ISO/IEC 17025 7.8.2.1, RFC 8785 canonical JSON, sha256, Ed25519 signature, the PDF rendered
     and PAdES-signed, rows and audit event, committed) plus its PDF download and its JSON file,
     for samples already verified;
  2. p50/p95 latency of a manufacturer looking up certificates by lot number, with --count
     certificates in the table: through the API (GET /api/v1/certificates?lot=..., bearer token,
     in-process test client) and as the bare database query.

The --count rows are bulk-inserted (COPY) into the certificate table directly, each a real signed
certificate (the content of an issued one with its own number and lot, hashed and signed), four per
lot. Targets: >= 20 certificates/s, lookup p95 <= 30 ms.

    .venv/bin/python bench/certificates.py [--count 100000] [--issue 150] [--lookups 400]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, text  # noqa: E402

from bench.stats import percentile  # noqa: E402
from lims.app import create_app  # noqa: E402
from lims.certificates import (  # noqa: E402
    issuing,
    public,
    search,
    signing,  # noqa: E402
)
from lims.kernel.clock import utcnow  # noqa: E402
from lims.kernel.db import make_engine, make_session_factory  # noqa: E402
from lims.kernel.models import Lot, Organization, Sample  # noqa: E402
from lims.kernel.models.certificate import Certificate  # noqa: E402
from lims.people import accounts as auth  # noqa: E402
from lims.samples import registration as samples  # noqa: E402
from lims.samples import workflow  # noqa: E402
from tests.certificates import support  # noqa: E402
from tests.support.postgres import private_database  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "RECYCLAB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CERTS_PER_LOT = 4


def pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def prepare(sessions, issue: int) -> list[str]:
    """Reference data, users, one lot and `issue` verified PP samples (not timed)."""
    with sessions.begin() as s:
        support.seed_reference(s)
        support.make_user(s, "tech", "technician", "ntk", "Tim Jansen")
        support.make_user(s, "reviewer", "reviewer", "ntk", "Ruud Visser")
        support.make_user(s, "polyvorm", "customer", "polyvorm", "Pieter Mulder")
        support.make_lot(s, support.user(s, "tech"), "BENCH-ISSUE")
    codes = []
    batch = 50
    for start in range(0, issue, batch):
        with sessions.begin() as s:
            tech, reviewer = support.user(s, "tech"), support.user(s, "reviewer")
            made = samples.register_samples(
                s, tech, [samples.SampleRequest(lot="BENCH-ISSUE") for _ in range(min(batch, issue - start))]
            )
            for sample in made:
                workflow.receive(s, tech, sample)
                for analysis in list(sample.analyses):
                    value = support.PP_GRADE_A[analysis.method.property]
                    workflow.submit(s, tech, analysis, value=value, unit=analysis.method.unit)
                for analysis in list(sample.analyses):
                    workflow.verify(s, reviewer, analysis)
                codes.append(sample.code)
    return codes


def bench_issue(sessions, issuer, settings, codes: list[str]) -> dict:
    """Issue one certificate per sample, each in its own committed transaction, with its files."""
    phases = {"issue": 0.0, "pdf": 0.0, "json": 0.0}
    pdf_bytes = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for code in codes:
        t0 = time.perf_counter()
        with sessions.begin() as s:
            sample = s.scalar(select(Sample).where(Sample.code == code))
            cert = issuing.issue_for_sample(s, issuer, support.user(s, "reviewer"), sample)
        t1 = time.perf_counter()
        pdf_bytes += len(public.pdf_file(cert, settings))
        t2 = time.perf_counter()
        public.json_file(cert)
        t3 = time.perf_counter()
        phases["issue"] += t1 - t0
        phases["pdf"] += t2 - t1
        phases["json"] += t3 - t2
    elapsed = time.perf_counter() - start
    return {
        "rate": len(codes) / elapsed,
        "cpu_ms": (time.process_time() - cpu_start) / len(codes) * 1000,
        "ms": {k: v / len(codes) * 1000 for k, v in phases.items()},
        "pdf_kb": pdf_bytes / len(codes) / 1024,
        "last": cert,
    }


def bulk_insert(engine, template: Certificate, private_key, count: int) -> dict[str, int]:
    """`count` signed certificates, CERTS_PER_LOT per lot, by COPY. Returns lot code -> owner id."""
    n_lots = (count + CERTS_PER_LOT - 1) // CERTS_PER_LOT
    base = datetime(2026, 1, 1, tzinfo=UTC)
    canonical = template.content
    with engine.begin() as conn:
        ids = conn.execute(
            select(Lot.installation_id, Lot.material_id, Lot.owner_org_id).where(Lot.code == "BENCH-ISSUE")
        ).one()
        orgs = conn.execute(select(Organization.id).where(Organization.kind == "customer")).scalars().all()
        first_lot = conn.execute(text("SELECT coalesce(max(id), 0) + 1 FROM lot")).scalar_one()
    lot_codes = [f"BL-{i:07d}" for i in range(n_lots)]
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(
            "COPY lot (id, code, installation_id, material_id, owner_org_id, production_start, "
            "production_end, input_stream, source, recycled_content_pct, created_at) FROM STDIN"
        ) as copy:
            for i, code in enumerate(lot_codes):
                start = base + timedelta(hours=8 * i)
                copy.write_row(
                    (first_lot + i, code, ids.installation_id, ids.material_id, orgs[i % len(orgs)],
                     start, start + timedelta(hours=8), "post-consumer", "bench", 100, start)
                )
        cur.execute("SELECT setval(pg_get_serial_sequence('lot', 'id'), (SELECT max(id) FROM lot))")
        key_id = signing.key_id(private_key.public_key())
        with cur.copy(
            "COPY certificate (number, series, revision, kind, owner_org_id, lot_id, material_id, "
            "line_id, grade, issued_at, issued_by_id, content, content_hash, signature, key_id, status, "
            "withdrawn_reason, search_text) FROM STDIN"
        ) as copy:
            for i in range(count):
                lot = i // CERTS_PER_LOT
                number = f"NTK-COA-2025-{i:06d}"
                content = canonical.replace(template.number, number).replace("BENCH-ISSUE", lot_codes[lot])
                body = content.encode()
                copy.write_row(
                    (number, number, 0, "sample", orgs[lot % len(orgs)], first_lot + lot, template.material_id,
                     template.line_id, "ABC"[i % 3], base + timedelta(hours=8 * lot + 1, minutes=i % CERTS_PER_LOT),
                     template.issued_by_id, content, signing.content_hash(body), signing.sign(private_key, body),
                     key_id, "valid", "", f"{number} {lot_codes[lot]} pp".lower())
                )
        cur.execute("ANALYZE lot")
        cur.execute("ANALYZE certificate")
        raw.commit()
    finally:
        raw.close()
    return {code: orgs[i % len(orgs)] for i, code in enumerate(lot_codes)}


def bench_lookup(app, sessions, lot_owners: dict[str, int], lookups: int) -> tuple[list[float], list[float]]:
    """A customer looks up its own lots (each has CERTS_PER_LOT certificates)."""
    with sessions.begin() as s:
        customer = support.user(s, "polyvorm")
        _, token = auth.create_token(s, customer, customer, "bench")
        lot_codes = [code for code, owner in lot_owners.items() if owner == customer.organization_id]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(7)
    api_ms, db_ms = [], []
    for _ in range(20):  # warm-up: connection pool, caches
        client.get("/api/v1/certificates", query_string={"lot": rng.choice(lot_codes)}, headers=headers)
    for _ in range(lookups):
        lot = rng.choice(lot_codes)
        t0 = time.perf_counter()
        response = client.get("/api/v1/certificates", query_string={"lot": lot}, headers=headers)
        api_ms.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200 and len(response.get_json()) == CERTS_PER_LOT
    with sessions() as s:
        customer = support.user(s, "polyvorm")
        for _ in range(lookups):
            lot = rng.choice(lot_codes)
            t0 = time.perf_counter()
            found = s.scalars(search.search_statement(customer, search.Query(lot=lot)).limit(50)).all()
            db_ms.append((time.perf_counter() - t0) * 1000)
            assert len(found) == CERTS_PER_LOT
            s.expunge_all()
    return api_ms, db_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="certificates in the table for lookups")
    parser.add_argument("--issue", type=int, default=150, help="certificates to issue for the rate")
    parser.add_argument("--lookups", type=int, default=400)
    args = parser.parse_args()
    pin_to_one_core()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    var_dir = Path(tempfile.mkdtemp(prefix="recyclab-bench-"))
    with private_database(PG_ADMIN_URL, "recyclab_bench") as url:
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        app = create_app(database_url=url, var_dir=var_dir)
        settings = app.config["RECYCLAB"]
        signing.create_key(signing.key_path(settings), utcnow(), settings.lab_name)
        issuer = issuing.Issuer.from_settings(settings)

        t0 = time.perf_counter()
        codes = prepare(sessions, args.issue + 1)
        print(f"prepared {len(codes)} verified samples in {time.perf_counter() - t0:.1f} s")
        bench_issue(sessions, issuer, settings, codes[:1])  # warm-up: imports, font metrics
        issued = bench_issue(sessions, issuer, settings, codes[1:])
        rate, template = issued["rate"], issued["last"]
        per = ", ".join(f"{k} {v:.1f} ms" for k, v in issued["ms"].items())
        print(f"issue: {rate:.1f} certificates/s on one core (PDF + JSON + signature, committed); "
              f"per certificate: {per} (this process's CPU {issued['cpu_ms']:.1f} ms); "
              f"PDF {issued['pdf_kb']:.1f} kB")

        t0 = time.perf_counter()
        lot_owners = bulk_insert(engine, template, issuer.private_key, args.count)
        with sessions() as s:
            total = s.scalar(text("SELECT count(*) FROM certificate"))
        print(f"bulk-inserted {args.count} certificates over {len(lot_owners)} lots in "
              f"{time.perf_counter() - t0:.1f} s ({total} in the table)")

        api_ms, db_ms = bench_lookup(app, sessions, lot_owners, args.lookups)
        print(f"lookup by lot number, {total} certificates, {args.lookups} lookups: "
              f"API p50 {statistics.median(api_ms):.1f} ms, p95 {percentile(api_ms, 95):.1f} ms; "
              f"query p50 {statistics.median(db_ms):.2f} ms, p95 {percentile(db_ms, 95):.2f} ms")
        ok_rate = rate >= 20
        ok_lookup = percentile(api_ms, 95) <= 30
        print(f"targets: >= 20 certificates/s {'met' if ok_rate else 'MISSED'}; "
              f"lookup p95 <= 30 ms {'met' if ok_lookup else 'MISSED'}")
        app.extensions["recyclab.engine"].dispose()
        engine.dispose()


if __name__ == "__main__":
    main()
