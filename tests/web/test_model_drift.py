"""Feature drift on the model pages: `recyclab model drift` stores the report it prints, and
the model's page shows the latest one (when, over which window, how many lots, PSI per
feature) so a process engineer looking at the production model sees that the process has
moved away from what it was trained on; the list shows each version's latest drift level."""

from __future__ import annotations

import os
import re
import signal

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from analytics.cli import model_group
from lims.kernel.models.analytics import ModelDriftReport
from tests.ingest.support import wait_until
from tests.support.models import version_without_artifact
from tests.support.queries import statements_run
from tests.test_scale_out import Processes
from tests.web import seed
from tests.web.test_pages import log_in

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)

# The seeded lots (tests.web.seed) have 90 % recycled content and a 2-hour window. Trained on
# 10 % of lots above 50 % recycled content, every recent lot above it is a major shift; trained
# on 3 % of windows of 3 h or more, all recent windows under 3 h is a moderate one (PSI 0.17).
# The melt temperature has no recent values: the store has no process data.
MELT = "ntk-ext1:melt_temp_c:mean"
REFERENCE = {
    "recycled_content": {"edges": [50.0], "shares": [0.9, 0.1]},
    "window_hours": {"edges": [3.0], "shares": [0.97, 0.03]},
    MELT: {"edges": [230.0], "shares": [0.5, 0.5]},
}


def _version(session_factory, version: str, status: str = "production", **fields: object) -> None:
    with session_factory.begin() as s:
        s.add(version_without_artifact(version, ["A", "B"], status=status, features=list(REFERENCE),
                                       reference=REFERENCE, **fields))


def _drift(database_url, tmp_path, monkeypatch, *args: str):
    monkeypatch.setenv("RECYCLAB_DATABASE_URL", database_url)
    monkeypatch.setenv("RECYCLAB_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("RECYCLAB_TIMESERIES_BACKEND", "sqlite")
    result = CliRunner().invoke(model_group, ["drift", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _drift_section(page: str) -> str:
    return page[page.index('id="drift"'):].split("</section>")[0]


def test_an_engineer_runs_model_drift_then_reads_the_report_on_the_model_page(
    client, seeded, database_url, tmp_path, monkeypatch
):
    for _ in range(2):
        seed.lot_with_samples(seeded, 1)
    _version(seeded, "grade-drift", metrics={"training_data": {"lots": 40, "simulated_lots": 40}})

    printed = _drift(database_url, tmp_path, monkeypatch, "--days", "2")
    assert "model grade-drift: 2 recent lots" in printed  # the output it always printed

    with seeded() as s:
        (report,) = s.scalars(select(ModelDriftReport)).all()
        assert (report.model_version.version, report.lots, report.level) == ("grade-drift", 2, "major")
    log_in(client, "engineer")
    page = client.get("/models/grade-drift").get_data(as_text=True)
    drift = _drift_section(page)
    for when in (report.computed_at, report.since, report.until):
        assert f'<time datetime="{when.isoformat()}">' in drift
    assert "2 lots" in drift
    svg = drift[drift.index("<svg"):drift.index("</svg>")]
    assert 'aria-label="Population stability index per feature' in svg
    # Largest first, each with its level in words, and the two thresholds drawn.
    bars = re.findall(r'<g class="drift-row ([\w-]+)"><title>([^<]+)</title>', svg)
    assert [title for _level, title in bars] == [
        "recycled content (recycled_content)", "production window length (h) (window_hours)",
        f"Melt temperature, mean ({MELT})"]
    # Named as the lot page names the readings, not by the raw keys `recyclab model drift` prints.
    assert re.findall(r'<text x="[\d.]+" y="[\d.]+" text-anchor="end">([^<]+)</text>', svg) == [
        "recycled content", "production window length (h)", "Melt temperature, mean"]
    labels = re.findall(r'<text class="level"[^>]*>([^<]+)</text>', svg)
    assert labels == ["major shift", "moderate shift", "no recent values"]
    assert [level for level, _ in bars] == ["major", "moderate", "no-data"]
    assert re.findall(r'<line class="(?:moderate|major)-line"[^>]*><title>PSI ([\d.]+)', svg) == ["0.1", "0.25"]
    assert "recyclab model drift --version grade-drift" in drift
    assert "<script" not in drift
    assert 'data-testid="simulated-training"' in page  # the page still says its figures are on SIMULATED lots

    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "nl-NL,nl;q=0.9"
    dutch = _drift_section(client.get("/models/grade-drift").get_data(as_text=True))
    assert "Drift van de kenmerken" in dutch and "2 partijen" in dutch
    assert re.findall(r'<text class="level"[^>]*>([^<]+)</text>', dutch) == [
        "grote verschuiving", "matige verschuiving", "geen recente waarden"]
    assert "Smelttemperatuur, " in dutch
    client.environ_base.pop("HTTP_ACCEPT_LANGUAGE")

    listed = client.get("/models/").get_data(as_text=True)
    row = re.search(r"<tr><td><a [^>]*>grade-drift</a>.*?</tr>", listed, re.S).group(0)
    assert "major shift" in row


def test_a_window_without_lots_says_so_on_both_pages_rather_than_stable(
    client, seeded, database_url, tmp_path, monkeypatch
):
    """No lot ended in the window: every feature is "no data" and none is above 0.1, which
    the pages must not read as a stable process."""
    _version(seeded, "grade-idle")

    printed = _drift(database_url, tmp_path, monkeypatch, "--days", "1")
    assert "model grade-idle: 0 recent lots" in printed

    with seeded() as s:
        (report,) = s.scalars(select(ModelDriftReport)).all()
    assert (report.lots, report.level) == (0, "no lots")
    log_in(client, "engineer")
    drift = _drift_section(client.get("/models/grade-idle").get_data(as_text=True))
    assert "No lots in the window" in drift and "<svg" not in drift
    assert "stable" not in drift.lower()
    listed = client.get("/models/").get_data(as_text=True)
    row = re.search(r"<tr><td><a [^>]*>grade-idle</a>.*?</tr>", listed, re.S).group(0)
    assert "no lots in the window" in row and "stable" not in row


def test_the_model_list_shows_each_versions_drift_level_at_a_fixed_cost(
    app, client, seeded, database_url, tmp_path, monkeypatch
):
    seed.lot_with_samples(seeded, 1)
    _version(seeded, "grade-1")
    _drift(database_url, tmp_path, monkeypatch, "--days", "1")
    log_in(client, "engineer")
    with statements_run(app) as statements:
        assert client.get("/models/").status_code == 200
    one = len(statements)

    for i in (2, 3, 4):
        _version(seeded, f"grade-{i}", status="candidate")
        _drift(database_url, tmp_path, monkeypatch, "--days", "1", "--version", f"grade-{i}")
        _drift(database_url, tmp_path, monkeypatch, "--days", "1", "--version", f"grade-{i}")
    _version(seeded, "grade-5", status="candidate")  # never checked
    with statements_run(app) as statements:
        page = client.get("/models/").get_data(as_text=True)
    assert len(statements) == one
    rows = dict(re.findall(r"<tr><td><a [^>]*>(grade-\d)</a>.*?data-drift=\"([\w ]+)\"", page, re.S))
    assert rows == {"grade-1": "major", "grade-2": "major", "grade-3": "major", "grade-4": "major",
                    "grade-5": "none"}


def test_drift_of_a_version_that_does_not_exist_is_named_in_one_line(seeded, database_url, tmp_path, monkeypatch):
    """The page's command with a mistyped version ended in a traceback (RegistryError) and
    stored nothing; it names the version, as `recyclab model promote` does."""
    _version(seeded, "grade-real")
    monkeypatch.setenv("RECYCLAB_DATABASE_URL", database_url)
    monkeypatch.setenv("RECYCLAB_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("RECYCLAB_TIMESERIES_BACKEND", "sqlite")
    result = CliRunner().invoke(model_group, ["drift", "--version", "grade-typo"])
    assert result.exit_code == 1 and result.output == "Error: no model version 'grade-typo'\n", result.output
    with seeded() as s:
        assert s.scalars(select(ModelDriftReport)).all() == []


def test_drift_runs_as_a_scheduled_job_and_outlives_a_run_without_a_model(seeded, database_url, tmp_path):
    """`model drift --every` keeps the model page's report recent, as a scheduled job does. A
    report that cannot be made (here: no production model yet) is said and tried again at the
    next interval, not the end of the job; SIGTERM ends it cleanly."""
    seed.lot_with_samples(seeded, 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECYCLAB_")}
    env.update(RECYCLAB_DATABASE_URL=database_url, RECYCLAB_VAR_DIR=str(tmp_path / "var"),
               RECYCLAB_TIMESERIES_BACKEND="sqlite")

    def reports() -> int:
        with seeded() as s:
            return len(s.scalars(select(ModelDriftReport)).all())

    with Processes() as procs:
        job = procs.start("drift", ["model", "drift", "--days", "2", "--every", "1s"], env, tmp_path)
        log = tmp_path / "drift.log"
        wait_until(lambda: "no drift report this time" in log.read_text(), 60, "a run without a model")
        assert job.poll() is None, log.read_text()
        _version(seeded, "grade-scheduled")
        wait_until(lambda: reports() >= 2, 60, "two scheduled reports")
        job.send_signal(signal.SIGTERM)
        assert job.wait(20) == 0, log.read_text()
    printed = log.read_text()
    assert "Traceback" not in printed
    assert "model grade-scheduled: 1 recent lots" in printed
    assert re.search(r"next drift report at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", printed)


@pytest.mark.parametrize("every", ["0s", "soon", "24", "400d"])
def test_a_drift_interval_it_cannot_keep_is_refused_in_one_line(every, seeded, database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("RECYCLAB_DATABASE_URL", database_url)
    result = CliRunner().invoke(model_group, ["drift", "--every", every])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "Invalid value for '--every'" in result.output, result.output
