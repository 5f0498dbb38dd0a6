"""LIMS API latency benchmark (not a test; `make test` does not run it).

Seeds a PostgreSQL database with N samples (default 100,000) carrying 10 results each
(1,000,000 analyses; samples whose test plan has fewer than 10 methods carry the retracted
originals of retests) by COPY, then measures through the Flask app (test client, in-process,
so HTTP parsing is not included) the p50/p95 latency of:

  - the sample list page, filtered (state+material, line+state, lot, owner+material, text);
  - the sample detail page;
  - registering one sample (with its test plan's analyses);
  - entering one result.

Targets: p95 list <= 100 ms, detail <= 30 ms, writes <= 50 ms.

    .venv/bin/python bench/lims_api.py [--database-url URL] [--samples N] [--iterations K] [--reset]

The database is created when missing and seeded once; a later run with the same --samples
reuses it (use --reset to start over). Seeding bypasses the service layer, so the bulk-loaded
rows have no audit events; the measured writes go through the API and do write them.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lims.app import create_app  # noqa: E402
from lims.kernel.db import make_engine, make_session_factory  # noqa: E402
from lims.kernel.migrate import upgrade  # noqa: E402
from lims.kernel.models import (  # noqa: E402
    Installation,
    Material,
    Organization,
    ProgrammeLine,
    Sample,
    TestPlanItem,
    User,
)
from lims.kernel.settings import config_dir  # noqa: E402
from lims.people.accounts import create_token  # noqa: E402
from lims.seed import seed_all  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://root@127.0.0.1:5432/recyclab_bench"
RESULTS_PER_SAMPLE = 10
SAMPLES_PER_LOT = 100
# Material mix of the lab's work (keys from config/materials.toml) and their installations.
MIX = [("pp", 0.45, "ntk-ext1"), ("pe-hd", 0.2, "ntk-ext1"), ("pe-ld", 0.1, "ntk-ext1"),
       ("pet", 0.1, "ntk-ext2"), ("po-mix", 0.05, "ntk-ext1"), ("cotton", 0.05, "dctv-tear1"),
       ("pes-co", 0.05, "dctv-tear1")]
STATES = [("verified", 0.55), ("certified", 0.1), ("to_be_verified", 0.15), ("received", 0.15),
          ("registered", 0.05)]
# Plausible recyclate values per property: (mean, standard deviation).
VALUES = {
    "mfr": (10, 4), "density": (0.93, 0.02), "ash": (1.0, 0.5), "moisture": (0.05, 0.02),
    "tensile_modulus": (1200, 200), "tensile_strength": (20, 4), "elongation_at_break": (300, 100),
    "charpy_notched": (5, 1.5), "dsc_tm": (163, 3), "pe_in_pp": (6, 3),
    "filter_pressure_value": (2, 1), "intrinsic_viscosity": (0.78, 0.03), "colour_l": (65, 8),
    "colour_a": (-1, 1), "colour_b": (3, 2), "cotton_content": (90, 5),
    "polyester_content": (60, 8), "mean_fibre_length": (18, 4), "fabric_tensile_strength": (500, 80),
}
# Colour a* and b* may be negative; no other property can (the API refuses a negative one).
SIGNED = {"colour_a", "colour_b"}


def draw(rng: random.Random, prop: str) -> float:
    """A plausible value of the property: its normal, drawn again where it fell below zero."""
    mean, sd = VALUES[prop]
    while (value := rng.gauss(mean, sd)) < 0 and prop not in SIGNED:
        pass
    return value


def ensure_database(url: str, reset: bool) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database})
        if exists and reset:
            conn.execute(text(f'DROP DATABASE "{parsed.database}" WITH (FORCE)'))
            exists = False
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def seed_bulk(url: str, n_samples: int, rng: random.Random) -> None:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions.begin() as s:
        seed_all(s, config_dir())
    with sessions() as s:
        orgs = [o.id for o in s.scalars(select(Organization).where(Organization.kind == "customer"))]
        users = {u.username: u.id for u in s.scalars(select(User))}
        materials = {m.key: m for m in s.scalars(select(Material))}
        plans = {
            key: [(item.method.id, item.method.property, item.method.decimals, item.method.unit)
                  for item in s.scalars(select(TestPlanItem).where(TestPlanItem.material_id == m.id))]
            for key, m in materials.items()
        }
        installations = {i.key: i.id for i in s.scalars(select(Installation))}
        prefixes = {line.id: line.sample_prefix for line in s.scalars(select(ProgrammeLine))}

    year = datetime.now(UTC).year
    t0 = datetime(year, 1, 1, tzinfo=UTC)
    staff = [users["tech"], users["tech2"]]
    n_lots = max(1, n_samples // SAMPLES_PER_LOT)
    lots = []
    for lot_id in range(1, n_lots + 1):
        key, _, inst = rng.choices(MIX, weights=[w for _, w, _ in MIX])[0]
        start = t0 + timedelta(hours=8 * lot_id)
        lots.append((lot_id, f"B-{inst}-{lot_id:05d}", installations[inst], materials[key].id,
                     rng.choice(orgs), start, start + timedelta(hours=8), "post-consumer",
                     "bench", Decimal(100), start, users["engineer"], key))
    counters: dict[str, int] = {}
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(
            "COPY lot (id, code, installation_id, material_id, owner_org_id, production_start, "
            "production_end, input_stream, source, recycled_content_pct, created_at, created_by_id) FROM STDIN"
        ) as copy:
            for row in lots:
                copy.write_row(row[:-1])
        analysis_id = 0
        with cur.copy(
            "COPY sample (id, code, line_id, material_id, lot_id, owner_org_id, state, storage_location, "
            "description, registered_at, registered_by_id, received_at, grade, graded_at) FROM STDIN"
        ) as copy:
            for sample_id in range(1, n_samples + 1):
                lot = lots[(sample_id - 1) // SAMPLES_PER_LOT % n_lots]
                material = materials[lot[-1]]
                prefix = prefixes[material.line_id]
                counters[prefix] = counters.get(prefix, 0) + 1
                state = rng.choices(STATES, weights=[w for _, w in STATES])[0][0]
                at = lot[5] + timedelta(minutes=sample_id % 480)
                graded = state in ("verified", "certified")
                copy.write_row((
                    sample_id, f"{prefix}-{year}-{counters[prefix]:06d}", material.line_id, material.id,
                    lot[0], lot[4], state, f"Rack {sample_id % 40}", "", at, rng.choice(staff),
                    None if state == "registered" else at, rng.choice("ABC") if graded else None,
                    at if graded else None,
                ))
        with cur.copy(
            "COPY analysis (id, sample_id, method_id, state, retest_of_id, value, below_detection_limit, "
            "uncertainty, unit, instrument, analyst_id, measured_at, evaluation, submitted_by_id, "
            "submitted_at, verified_by_id, verified_at, retract_reason, created_at) FROM STDIN"
        ) as copy:
            rng_state = rng.random
            for sample_id in range(1, n_samples + 1):
                lot = lots[(sample_id - 1) // SAMPLES_PER_LOT % n_lots]
                plan = plans[lot[-1]]
                at = lot[5]
                # The plan, then retracted originals of retests up to 10 results a sample.
                rows = [(m, False) for m in plan] + [
                    (plan[i % len(plan)], True) for i in range(RESULTS_PER_SAMPLE - len(plan))
                ]
                for (method_id, prop, decimals, unit), retracted in rows:
                    analysis_id += 1
                    value = Decimal(draw(rng, prop)).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_EVEN)
                    verified = not retracted and rng_state() < 0.7
                    copy.write_row((
                        analysis_id, sample_id, method_id,
                        "retracted" if retracted else ("verified" if verified else "submitted"),
                        None, value, False, abs(value) / 20, unit, "BENCH-1", staff[0], at,
                        "in_spec", staff[0], at, users["reviewer"] if verified else None,
                        at if verified else None, "retest: bench" if retracted else "", at,
                    ))
        for table, last in (("lot", n_lots), ("sample", n_samples), ("analysis", analysis_id)):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {last})")
        for prefix, last in counters.items():
            cur.execute(
                "INSERT INTO sample_counter (prefix, year, last_value) VALUES (%s, %s, %s)",
                (prefix, year, last),
            )
        raw.commit()
        # As autovacuum would after a bulk load: statistics and the visibility map (index-only counts).
        raw.driver_connection.autocommit = True
        cur.execute("VACUUM ANALYZE")
    finally:
        raw.close()
    engine.dispose()
    print(f"seeded {n_lots} lots, {n_samples} samples, {analysis_id} results in "
          f"{time.perf_counter() - started:.1f} s (COPY)")


def percentiles(ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return f"p50 {q[49]:7.2f} ms   p95 {q[94]:7.2f} ms   (n={len(ms)})"


def timed(call: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        call()
        out.append((time.perf_counter() - t) * 1000)
    return out


def measure(url: str, iterations: int, rng: random.Random) -> dict[str, list[float]]:
    app = create_app(database_url=url)
    sessions = app.extensions["recyclab.sessions"]
    with sessions.begin() as s:
        tech = s.scalar(select(User).where(User.username == "tech"))
        _, token = create_token(s, tech, tech, "bench")
        codes = list(s.scalars(select(Sample.code).order_by(func.random()).limit(2000)))
        lot_codes = list(s.scalars(text("SELECT code FROM lot ORDER BY random() LIMIT 200")))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    api = "/api/v1"

    def get(path: str, **query) -> None:
        r = client.get(api + path, headers=headers, query_string=query)
        assert r.status_code == 200, (path, r.status_code, r.get_data(as_text=True)[:300])

    def post(path: str, body: dict, status: int = 200) -> dict:
        r = client.post(api + path, headers=headers, json=body)
        assert r.status_code == status, (path, r.status_code, r.get_data(as_text=True)[:300])
        return r.get_json()

    filters = [
        {"state": "verified", "material": "pp"},
        {"line": "ntk", "state": "to_be_verified"},
        {"lot": "LOT"},
        {"owner": "polyvorm", "material": "pe-hd"},
        {"q": "Q"},
    ]

    def list_page() -> None:
        query = dict(rng.choice(filters))
        if "lot" in query:
            query["lot"] = rng.choice(lot_codes)
        if "q" in query:  # a piece of a sample ID, as typed from a label
            query["q"] = f"{rng.randint(0, 9999):04d}"
        get("/samples", page=rng.randint(1, 5), page_size=50, **query)

    # Samples with open analyses for the result entries, registered and received untimed.
    open_analyses: list[tuple[int, str, str]] = []
    for _ in range(max(1, iterations // 8) + 1):
        sample = post("/samples", {"lot": rng.choice(lot_codes)}, 201)
        post(f"/samples/{sample['sample_id']}/receive", {})
        open_analyses += [(a["id"], a["method"], a["property"]) for a in sample["analyses"]]
    rng.shuffle(open_analyses)
    with sessions() as s:
        units = dict(s.execute(text("SELECT key, unit FROM method")).all())

    def enter_result() -> None:
        analysis_id, method, prop = open_analyses.pop()
        post(f"/analyses/{analysis_id}/result", {"value": f"{draw(rng, prop):.3f}", "unit": units[method]})

    for _ in range(20):  # warm-up: connections, caches
        list_page()
        get(f"/samples/{rng.choice(codes)}")
    return {
        "sample list page (filtered, 50 rows)": timed(list_page, iterations),
        "sample detail": timed(lambda: get(f"/samples/{rng.choice(codes)}"), iterations),
        "register one sample": timed(lambda: post("/samples", {"lot": rng.choice(lot_codes)}, 201), iterations),
        "enter one result": timed(enter_result, min(iterations, len(open_analyses))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--reset", action="store_true", help="drop and recreate the database")
    args = parser.parse_args()
    rng = random.Random(20261130)

    ensure_database(args.database_url, args.reset)
    upgrade(args.database_url, "heads")
    engine = make_engine(args.database_url)
    with engine.connect() as conn:
        have = conn.scalar(text("SELECT count(*) FROM sample"))
    engine.dispose()
    if have == 0:
        seed_bulk(args.database_url, args.samples, rng)
    elif have < args.samples:
        raise SystemExit(f"the database has {have} samples, fewer than asked for; use --reset")
    else:
        print(f"reusing the {have} samples in {make_url(args.database_url).database}")

    engine = make_engine(args.database_url)
    with engine.connect() as conn:
        n_samples = conn.scalar(text("SELECT count(*) FROM sample"))
        n_results = conn.scalar(text("SELECT count(*) FROM analysis"))
    engine.dispose()
    print(f"database: {n_samples} samples, {n_results} results; {args.iterations} requests per measurement")
    targets = {"sample list page (filtered, 50 rows)": 100, "sample detail": 30,
               "register one sample": 50, "enter one result": 50}
    for name, ms in measure(args.database_url, args.iterations, rng).items():
        p95 = statistics.quantiles(ms, n=100, method="inclusive")[94]
        verdict = "ok" if p95 <= targets[name] else "OVER TARGET"
        print(f"{name:38s} {percentiles(ms)}   target p95 <= {targets[name]} ms: {verdict}")


if __name__ == "__main__":
    main()
