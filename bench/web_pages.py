"""Web page benchmark (not a test): server time per page with 100,000 samples in PostgreSQL.

Seeds a private PostgreSQL database with the reference data and demo users, then bulk-loads
(COPY) --samples samples, four per lot, each with its material's full test plan as analyses in
states that follow the sample (about a million analyses), some alarms, and a week of one-minute
process data for one installation in a private SQLite time-series store. Then it requests every
page type in-process through the Flask test client, logged in as the role that uses it, and
prints p50/p95 of the server time (routing, queries, rendering). Target: p95 <= 300 ms.

    .venv/bin/python bench/web_pages.py [--samples 100000] [--requests 30]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from ingest.store import Point, open_store  # noqa: E402
from lims.app import create_app  # noqa: E402
from lims.db import make_engine, make_session_factory  # noqa: E402
from lims.migrate import upgrade  # noqa: E402
from lims.models import Installation, Material, Organization, ProgrammeLine, User  # noqa: E402
from lims.seed import seed_all  # noqa: E402
from lims.settings import config_dir  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "RECYCLAB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PASSWORDS = {"tech": "demo-tech", "reviewer": "demo-reviewer", "engineer": "demo-engineer", "polyvorm": "demo-polyvorm"}
SAMPLES_PER_LOT = 4
# (share of samples, sample state, state of its analyses)
STATES = [
    (0.55, "certified", "verified"),
    (0.10, "verified", "verified"),
    (0.10, "to_be_verified", "submitted"),
    (0.15, "received", "unassigned"),
    (0.10, "registered", "unassigned"),
]
BASE = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _state_for(i: int, n: int) -> tuple[str, str]:
    edge = 0.0
    for share, sample_state, analysis_state in STATES:
        edge += share
        if i < edge * n:
            return sample_state, analysis_state
    return STATES[-1][1:]


def bulk_load(engine, n_samples: int) -> None:
    """Lots, samples and analyses by COPY; ids are assigned here so rows can refer to each other."""
    rng = random.Random(7)
    with make_session_factory(engine)() as s:
        users = {u.username: u.id for u in s.scalars(select(User))}
        customers = [o.id for o in s.scalars(select(Organization).where(Organization.kind == "customer"))]
        lines = {pl.id: pl.sample_prefix for pl in s.scalars(select(ProgrammeLine))}
        installations = {i.id: i.line_id for i in s.scalars(select(Installation))}
        materials = [
            (m.id, m.line_id, [(item.method_id, item.method.unit) for item in m.test_plan])
            for m in s.scalars(select(Material)) if m.test_plan
        ]
    by_line = {line: [inst for inst, ln in installations.items() if ln == line] for line in lines}
    tech, reviewer = users["tech"], users["reviewer"]
    n_lots = n_samples // SAMPLES_PER_LOT
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(
            "COPY lot (id, code, installation_id, material_id, owner_org_id, production_start,"
            " production_end, input_stream, source, recycled_content_pct, created_at) FROM STDIN"
        ) as copy:
            lots = []
            for k in range(n_lots):
                material_id, line_id, plan = materials[k % len(materials)]
                start = BASE + timedelta(hours=2 * k)
                lots.append((k + 1, material_id, line_id, plan, start))
                copy.write_row((
                    k + 1, f"BENCH-LOT-{k + 1:06d}", rng.choice(by_line[line_id]), material_id,
                    rng.choice(customers), start, start + timedelta(hours=2), "post-consumer", "", 90, start,
                ))
        sample_id = analysis_id = 0
        with cur.copy(
            "COPY sample (id, code, line_id, material_id, lot_id, owner_org_id, state, storage_location,"
            " description, registered_at, registered_by_id, received_at, grade, graded_at) FROM STDIN"
        ) as copy_samples:
            rows = []
            for lot_id, material_id, line_id, plan, start in lots:
                for _ in range(SAMPLES_PER_LOT):
                    sample_id += 1
                    state, analysis_state = _state_for(sample_id, n_samples)
                    done = start + timedelta(hours=3)
                    graded = state in ("verified", "certified")
                    copy_samples.write_row((
                        sample_id, f"{lines[line_id]}-2026-{sample_id:06d}", line_id, material_id, lot_id,
                        customers[0] if sample_id % 3 == 0 else customers[-1], state, "", "",
                        start, tech, None if state == "registered" else done,
                        rng.choice("AAB") if graded else None, done if graded else None,
                    ))
                    rows.append((sample_id, plan, analysis_state, done))
        with cur.copy(
            "COPY analysis (id, sample_id, method_id, state, value, below_detection_limit, unit,"
            " instrument, evaluation, submitted_by_id, submitted_at, verified_by_id, verified_at,"
            " retract_reason, created_at) FROM STDIN"
        ) as copy_analyses:
            for sid, plan, state, done in rows:
                for method_id, unit in plan:
                    analysis_id += 1
                    entered = state != "unassigned"
                    copy_analyses.write_row((
                        analysis_id, sid, method_id, state, round(rng.uniform(1, 50), 3) if entered else None,
                        False, unit if entered else None, "", "in_spec" if entered else None,
                        tech if entered else None, done if entered else None,
                        reviewer if state == "verified" else None, done if state == "verified" else None,
                        "", done,
                    ))
        with cur.copy(
            "COPY alarm_event (installation, sensor, kind, \"limit\", started_at, peak_value, ended_at) FROM STDIN"
        ) as copy_alarms:
            for k in range(2000):
                at = BASE + timedelta(minutes=37 * k)
                copy_alarms.write_row(("ntk-ext1", "melt_temp_c", "high", 270.0, at, 272.5, at + timedelta(minutes=3)))
        for table, last in (("lot", n_lots), ("sample", sample_id), ("analysis", analysis_id)):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {last})")
        cur.execute(
            "INSERT INTO sample_counter (prefix, year, last_value) SELECT sample_prefix, 2026, %s"
            " FROM programme_line ON CONFLICT (prefix, year) DO UPDATE SET last_value = excluded.last_value",
            (sample_id,),
        )
        cur.execute("ANALYZE")
        raw.commit()
        print(f"loaded {n_lots} lots, {sample_id} samples, {analysis_id} analyses, 2000 alarms")
    finally:
        raw.close()


def load_process_data(settings) -> None:
    """A week of one-minute points for every sensor of ntk-ext1, up to now."""
    store = open_store(settings)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with make_session_factory(make_engine(settings.database_url))() as s:
        sensors = [x.key for x in s.scalar(select(Installation).where(Installation.key == "ntk-ext1")).sensors]
    points = [
        Point("ntk-ext1", key, now - timedelta(minutes=m), 200 + (m % 50) / 5)
        for key in sensors for m in range(7 * 24 * 60, -1, -1)
    ]
    store.write(points)
    store.close()
    print(f"wrote {len(points)} process points (ntk-ext1, 7 days, 1 min)")


def login(app, username: str):
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"username": username, "password": PASSWORDS[username], "csrf_token": token})
    assert response.status_code == 302, f"login {username}: {response.status_code}"
    return client


def measure(client, path: str, requests: int) -> list[float]:
    for _ in range(2):  # warm-up: template compilation, caches
        client.get(path)
    times = []
    for _ in range(requests):
        t0 = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, f"{path}: {response.status_code}"
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
    parser.add_argument("--only", default="", help="time only the pages whose path contains this")
    args = parser.parse_args()

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"recyclab_bench_web_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    var_dir = Path(tempfile.mkdtemp(prefix="recyclab-bench-web-"))
    try:
        upgrade(url)
        engine = make_engine(url)
        with make_session_factory(engine).begin() as s:
            seed_all(s, config_dir())
        t0 = time.perf_counter()
        bulk_load(engine, args.samples)
        app = create_app(database_url=url, var_dir=var_dir, timeseries_sqlite_path=var_dir / "ts.db")
        load_process_data(app.config["RECYCLAB"])
        print(f"seeded in {time.perf_counter() - t0:.1f} s")

        mid = args.samples // 2
        with make_session_factory(engine)() as s:
            code, lot_id = s.execute(text("SELECT code, lot_id FROM sample WHERE id = :i"), {"i": mid}).one()
            received = s.scalar(text("SELECT code FROM sample WHERE state = 'received' ORDER BY id LIMIT 1"))
        pages = {
            "tech": [
                "/lab/samples", "/lab/samples?state=received", f"/lab/samples?q={code[:13]}",
                f"/lab/samples?before={mid}", f"/lab/samples/{code}", f"/lab/samples/{received}/worksheet",
                f"/lab/lots/{lot_id}", "/lab/lots/new", "/lab/receive", "/lab/import",
            ],
            "reviewer": ["/review/"],
            "polyvorm": ["/certificates/"],
            "engineer": [
                "/process/", "/process/live.json", "/process/installations/ntk-ext1?range=1h",
                "/process/installations/ntk-ext1?range=24h", "/process/installations/ntk-ext1?range=7d",
                f"/process/lots/{lot_id}", "/process/alarms", "/models/",
            ],
        }
        print(f"server time per page, {args.requests} requests each, {args.samples} samples in PostgreSQL:")
        worst = 0.0
        for username, paths in pages.items():
            client = login(app, username)
            for path in (p for p in paths if args.only in p):
                times = measure(client, path, args.requests)
                p95 = percentile(times, 95)
                worst = max(worst, p95)
                print(f"  {username:9s} {path:55s} p50 {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms")
        print(f"target p95 <= 300 ms on every page: {'met' if worst <= 300 else 'MISSED'} (worst p95 {worst:.1f} ms)")
        app.extensions["recyclab.engine"].dispose()
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
