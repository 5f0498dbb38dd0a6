"""`make run` starts with a backlog of SIMULATED lots at every stage of the workflow. A
manufacturer trying the demo logs in to the certificates of the lots it bought from the pilot
lines (the lab shares them), not to an empty list; a buyer of plastics sees no textile ones."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ingest.store import open_store
from lims.cli import main
from lims.demo import DEMO_BUYERS, Demo, fill_lims
from lims.kernel.clock import frozen_at
from lims.kernel.models import Certificate, Installation, Lot
from tests.support.models import version_without_artifact
from tests.web.test_pages import log_in

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

NOW = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # the night the clocks go forward in the lab's zone


def test_each_demo_manufacturer_finds_the_certificates_of_the_lots_it_bought(app, seeded):
    with seeded.begin() as s:
        assert fill_lims(s, app.config["RECYCLAB"]) > 0
    with seeded() as s:
        by_buyer: dict[str, set[str]] = {buyer: set() for buyer in DEMO_BUYERS.values()}
        for cert in s.query(Certificate):
            by_buyer[DEMO_BUYERS[cert.line.key]].add(cert.number)
    assert by_buyer["polyvorm"], "the backlog has no certified plastics lot to share"
    for buyer, numbers in by_buyer.items():
        client = app.test_client()
        assert log_in(client, buyer).status_code == 302
        page = client.get("/certificates/").get_data(as_text=True)
        shown = {n for nums in by_buyer.values() for n in nums if n in page}
        assert shown == numbers, f"{buyer} sees {sorted(shown)}, bought {sorted(numbers)}"


def test_each_backlog_lot_has_its_own_process_data_and_the_history_ends_before_the_backlog(app, seeded):
    """A backlog lot's page charts its production window. Before, nothing wrote the backlog's
    process data: the window showed pieces of other simulated history lots, with gaps, and a
    prediction for the lot would have been made from them."""
    settings = app.config["RECYCLAB"]
    with frozen_at(NOW), seeded.begin() as s:
        fill_lims(s, settings)
    with seeded() as s:
        lots = list(s.scalars(select(Lot).options(selectinload(Lot.installation).selectinload(Installation.sensors))))
    assert lots
    store = open_store(settings)
    try:
        for lot in lots:
            readings = math.ceil((lot.production_end - lot.production_start).total_seconds() / 60)
            summary = store.window_summary(lot.installation.key, lot.production_start, lot.production_end)
            counts = {sensor.key: summary[sensor.key].count if sensor.key in summary else 0
                      for sensor in lot.installation.sensors}
            assert set(counts.values()) == {readings}, f"{lot.code}: {counts}, expected {readings} each"
    finally:
        store.close()
    with frozen_at(NOW):
        history = Demo(settings, web_port=0, broker_port=0, train_first_model=False).history_steps()[0]
    history_end = datetime.fromisoformat(history[history.index("--end") + 1]).replace(tzinfo=UTC)
    assert history_end <= min(lot.production_start for lot in lots)


def test_the_demos_first_model_page_shows_a_drift_report_over_the_backlog(app, client, seeded, tmp_path, monkeypatch):
    """The demo trains its first model, then checks its drift over the backlog's lots, so
    the model page shows what a report looks like from the start, not only the command."""
    settings = app.config["RECYCLAB"]
    with seeded.begin() as s:
        fill_lims(s, settings)
        s.add(version_without_artifact("grade-demo", ["A"], status="production"))
    steps = Demo(settings, web_port=0, broker_port=0, train_first_model=False).history_steps()
    after_training = steps[[args[0] for args in steps].index("train") + 1:]
    (drift,) = [args for args in after_training if args[:2] == ["model", "drift"]]
    monkeypatch.setenv("RECYCLAB_DATABASE_URL", str(settings.database_url))
    monkeypatch.setenv("RECYCLAB_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("RECYCLAB_TIMESERIES_BACKEND", "sqlite")
    result = CliRunner().invoke(main, drift)
    assert result.exit_code == 0, result.output
    with seeded() as s:
        backlog = len(s.scalars(select(Lot.id)).all())
    log_in(client, "engineer")
    page = client.get("/models/grade-demo").get_data(as_text=True)
    assert f"{backlog} lots" in page[page.index('id="drift"'):]


def test_a_step_after_training_that_fails_does_not_say_the_demo_has_no_model(app, seeded, monkeypatch):
    """Training promoted a model, then its drift check failed: the demo said `recyclab model`
    "ended without a production model" and "runs without a model", with one in production."""
    lines: list[str] = []
    demo = Demo(app.config["RECYCLAB"], web_port=0, broker_port=0, train_first_model=False, echo=lines.append)
    demo._env = demo.child_env("mqtt://127.0.0.1:1")
    monkeypatch.setattr(demo, "history_steps", lambda: [["model", "drift", "--version", "no-such-version"]])
    demo._first_model()
    assert lines[-1].startswith("first model: `recyclab model drift` failed"), lines
    assert "in production all the same" in lines[-1]
