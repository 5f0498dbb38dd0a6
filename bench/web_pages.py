"""Web page benchmark (not a test): server time per page with 100,000 samples in PostgreSQL.

Seeds a private PostgreSQL database with the LIMS API benchmark's bulk load (bench/lims_api.py:
reference data, demo users, --samples samples in lots of 100, ten results each), 2,000 alarms,
and a week of one-minute process data for one installation in a private SQLite time-series
store. Then it requests every page type in-process through the Flask test client, logged in as
the role that uses it, and prints p50/p95 of the server time (routing, queries, rendering).
Target: p95 <= 300 ms.

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
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, text  # noqa: E402

from bench.lims_api import seed_bulk  # noqa: E402
from bench.stats import percentile  # noqa: E402
from ingest.store import Point, open_store  # noqa: E402
from lims.app import create_app  # noqa: E402
from lims.kernel.db import make_engine, make_session_factory  # noqa: E402
from lims.kernel.models import Installation  # noqa: E402
from tests.support.postgres import private_database  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "RECYCLAB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


PASSWORDS = {"admin": "demo-admin", "tech": "demo-tech", "reviewer": "demo-reviewer", "engineer": "demo-engineer", "polyvorm": "demo-polyvorm"}


def load_alarms(engine, count: int = 2000) -> None:
    raw = engine.raw_connection()
    try:
        with raw.cursor().copy(
            'COPY alarm_event (installation, sensor, kind, "limit", started_at, peak_value, last_beyond_at, ended_at)'
            " FROM STDIN"
        ) as copy:
            base = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
            for k in range(count):
                at = base + timedelta(minutes=37 * k)
                copy.write_row(("ntk-ext1", "melt_temp_c", "high", 270.0, at, 272.5, at + timedelta(minutes=2),
                                at + timedelta(minutes=3)))
        raw.commit()
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

    var_dir = Path(tempfile.mkdtemp(prefix="recyclab-bench-web-"))
    with private_database(PG_ADMIN_URL, "recyclab_bench_web") as url:
        t0 = time.perf_counter()
        seed_bulk(url, args.samples, random.Random(7))
        engine = make_engine(url)
        load_alarms(engine)
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
                "/lots/", "/lots/?grade=A", "/lots/?agreement=differs", "/lots/?page=5",
                "/lab/worksheets", "/lab/worksheets/mfr_230_2_16", "/account/tokens",
                # sorted by a column header, and the next page in that order
                "/lab/samples?sort=sample_id", f"/lab/samples?sort=-storage_location&before={mid}",
                "/lab/samples?state=received&sort=state", "/lots/?sort=code&page=5",
            ],
            "admin": ["/admin/users", "/admin/tokens", "/admin/audit/", "/admin/audit/?action=sample.receive"],
            "reviewer": ["/review/"],
            "polyvorm": ["/certificates/", "/certificates/?sort=number"],
            "engineer": [
                "/process/", "/process/live.json", "/process/installations/ntk-ext1?range=1h",
                "/process/installations/ntk-ext1?range=24h", "/process/installations/ntk-ext1?range=7d",
                # the charts' series, one request per page (a store.aggregate of ~10,000 points
                # per sensor for 7 d), and one chart's CSV export
                "/process/installations/ntk-ext1/series?range=1h",
                "/process/installations/ntk-ext1/series?range=24h",
                "/process/installations/ntk-ext1/series?range=7d",
                "/process/installations/ntk-ext1/charts/melt_temp_c/csv?range=7d",
                f"/process/lots/{lot_id}", "/process/alarms", "/models/", "/lots/",
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
                print(f"  {username:9s} {path:66s} p50 {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms")
        print(f"target p95 <= 300 ms on every page: {'met' if worst <= 300 else 'MISSED'} (worst p95 {worst:.1f} ms)")
        app.extensions["recyclab.engine"].dispose()
        engine.dispose()


if __name__ == "__main__":
    main()
