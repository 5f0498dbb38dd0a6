"""The installation page's chart series and their CSV export: downsampled in the store to a
bounded number of points, whatever the range and the data rate."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from ingest.store import Point, open_store
from lims.kernel.clock import utcnow
from lims.process.charts import CHART_BUCKETS
from tests.web import seed
from tests.web.test_pages import log_in

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)

SERIES = "/process/installations/ntk-ext1/series"
URL = "/process/installations/ntk-ext1/charts/melt_temp_c"


@pytest.fixture
def week_of_data(app, session_factory):
    """A week of melt temperatures, one a minute (the demo's rate), and the last hour each second."""
    seed.seed_reference(session_factory)
    now = utcnow().replace(microsecond=0)
    store = open_store(app.config["RECYCLAB"])
    store.write([Point("ntk-ext1", "melt_temp_c", now - timedelta(minutes=m), 200.0 + m % 50)
                 for m in range(60, 7 * 24 * 60)])
    store.write([Point("ntk-ext1", "melt_temp_c", now - timedelta(seconds=s), 230.0 + s % 7)
                 for s in range(1, 3600)])
    store.close()
    return now


def test_every_range_is_downsampled_to_a_bounded_number_of_points(client, week_of_data):
    log_in(client, "engineer")
    for chosen in ("1h", "24h", "7d"):
        page = client.get(f"{SERIES}?range={chosen}").get_json()
        data = page["sensors"]["melt_temp_c"] | {"start": page["start"], "end": page["end"]}
        assert page["sensors"]["zone1_temp_c"]["t"] == []  # no data, but a chart all the same
        assert 100 < len(data["t"]) <= CHART_BUCKETS + 1, chosen
        assert len(data["t"]) == len(data["mean"]) == len(data["min"]) == len(data["max"])
        assert data["t"] == sorted(data["t"]) and data["start"] <= data["t"][0] < data["t"][-1] <= data["end"]
        assert all(lo <= m <= hi for lo, m, hi in zip(data["min"], data["mean"], data["max"], strict=True))
        assert data["limits"] == {"low": 185.0, "high": 270.0}
    assert client.get("/process/installations/ntk-ext1/charts/no_such_sensor/csv?range=1h").status_code == 404
    assert client.get("/process/installations/no_such_line/series?range=1h").status_code == 404


def test_csv_export_is_the_shown_range_as_the_chart_draws_it(client, week_of_data):
    log_in(client, "engineer")
    now = week_of_data
    start, end = now - timedelta(hours=30), now - timedelta(hours=6)
    shown = {"range": "custom", "start": start.isoformat().replace("+00:00", "Z"),
             "end": end.isoformat().replace("+00:00", "Z")}
    page = client.get(SERIES, query_string=shown).get_json()
    data = page["sensors"]["melt_temp_c"] | {"every_s": page["every_s"]}
    response = client.get(f"{URL}/csv", query_string=shown)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="ntk-ext1_melt_temp_c_')
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == len(data["t"]) <= CHART_BUCKETS + 1
    assert float(rows[0]["bucket_seconds"]) == data["every_s"] == 24 * 3600 / CHART_BUCKETS
    assert [float(r["mean"]) for r in rows] == data["mean"]
    assert sum(int(r["count"]) for r in rows) == 24 * 60
    assert rows[0]["bucket_start_utc"] >= start.isoformat() and rows[-1]["bucket_start_utc"] < end.isoformat()
    wrong = client.get(f"{URL}/csv", query_string={"range": "custom", "start": "yesterday", "end": shown["end"]})
    assert wrong.status_code == 422 and "start" in wrong.get_data(as_text=True)
    # Excel set to Dutch put each comma-separated row in one column (the import side already
    # took its semicolons and decimal commas); the page links this variant beside the other.
    dutch = client.get(f"{URL}/csv", query_string=shown | {"sep": "semicolon"}).get_data(as_text=True)
    assert dutch.startswith("\ufeff")
    nl_rows = list(csv.DictReader(io.StringIO(dutch.lstrip("\ufeff")), delimiter=";"))
    assert [float(r["mean"].replace(",", ".")) for r in nl_rows] == data["mean"]
    assert "," in nl_rows[0]["mean"] and "." not in nl_rows[0]["mean"]
    page_html = client.get("/process/installations/ntk-ext1?range=24h").get_data(as_text=True)
    assert 'data-csv="semicolon"' in page_html and "sep=semicolon" in page_html


def test_csv_export_gives_every_value_exactly(app, client, session_factory):
    """A bucket of one reading: its min, max and mean are that reading, digit for digit, as
    the store holds it; six significant digits made 1234567.25 into 1.23457e+06."""
    seed.seed_reference(session_factory)
    now = utcnow().replace(microsecond=0)
    store = open_store(app.config["RECYCLAB"])
    store.write([Point("ntk-ext1", "zone1_temp_c", now - timedelta(minutes=10), 212.34567),
                 Point("ntk-ext1", "zone1_temp_c", now - timedelta(minutes=5), 1234567.25)])
    store.close()
    log_in(client, "engineer")
    response = client.get("/process/installations/ntk-ext1/charts/zone1_temp_c/csv?range=1h")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["min"], r["mean"], r["max"]) for r in rows] == [
        ("212.34567", "212.34567", "212.34567"), ("1234567.25", "1234567.25", "1234567.25")]


def test_a_chart_of_any_year_the_page_takes_is_drawn_empty_not_an_error(client, week_of_data):
    """The store holds 1677 to 2262 (64-bit nanoseconds); the range fields take 1000 to 9000."""
    log_in(client, "engineer")
    for start, end in (("8000-01-01T00:00Z", "8000-01-02T00:00Z"),
                       ("1000-01-02T00:00Z", "1000-01-03T00:00Z")):
        shown = {"range": "custom", "start": start, "end": end}
        page = client.get(SERIES, query_string=shown)
        assert page.status_code == 200 and page.get_json()["sensors"]["melt_temp_c"]["t"] == []
        csv_rows = client.get(f"{URL}/csv", query_string=shown).get_data(as_text=True).splitlines()
        assert csv_rows == ["bucket_start_utc,bucket_seconds,mean,min,max,count"]
