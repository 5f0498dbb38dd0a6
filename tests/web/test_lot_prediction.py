"""A process engineer opens a lot that came in from the pilot line (no prediction yet), asks
the production model for its grade on the lot's page, and reads what to act on: each grade's
probability, the lab properties predicted with their intervals and the limits at risk, and the
process readings that moved the prediction, named as on the dashboard."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from threadpoolctl import threadpool_limits

from analytics import predict
from analytics.cli import model_group, simulate_command, train_command
from analytics.features import lot_features
from analytics.simulator import lims_entry
from analytics.simulator.dataset import lot_rows
from analytics.simulator.physics import PilotPlant
from ingest.registry import load_registry
from ingest.store import open_store
from lims.kernel.clock import utcnow
from lims.kernel.models import User
from lims.kernel.models.analytics import Prediction
from lims.kernel.models.process import IngesterHeartbeat
from lims.people.accounts import create_token
from tests.support.api_client import Caller
from tests.web.test_pages import csrf_token, log_in

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _tearing_lot_in_store(app, seed: int, start: datetime):
    """One more lot of the tearing line, its process data written to the store."""
    plant = PilotPlant({"dctv-tear1": load_registry().installations["dctv-tear1"]}, seed=seed,
                       start=start)
    lot = next(plant.lots(1))
    store = open_store(app.config["RECYCLAB"])
    try:
        store.write_rows(lot_rows(lot))
    finally:
        store.close()
    return lot


def _pilot_lot(app, seeded) -> int:
    """A tearing-line lot entered as the simulator enters lots (so without a prediction)."""
    lot = _tearing_lot_in_store(app, 9, datetime(2025, 6, 1, tzinfo=UTC))
    with seeded.begin() as s:
        return lims_entry.create_lot(s, lims_entry.Actors(), lot).id


def _production_model(tmp_path, database_url, monkeypatch) -> None:
    monkeypatch.setenv("RECYCLAB_DATABASE_URL", database_url)
    monkeypatch.setenv("RECYCLAB_VAR_DIR", str(tmp_path / "var"))
    manifest = tmp_path / "lots.jsonl"
    runner = CliRunner()
    made = runner.invoke(simulate_command, ["--offline", "--lots", "160", "--seed", "4", "--start", "2025-03-03",
                                            "--installations", "ntk-ext2,dctv-tear1", "--manifest", str(manifest)])
    assert made.exit_code == 0, made.output
    with threadpool_limits(limits=1, user_api="openmp"):  # the test machines' cores are shared
        trained = runner.invoke(train_command, ["--manifest", str(manifest), "--promote", "--max-iter", "40"])
    assert trained.exit_code == 0, trained.output


def test_an_engineer_asks_for_a_lots_grade_on_its_page_and_reads_why(app, client, seeded, tmp_path, database_url,
                                                                      monkeypatch):
    lot_id = _pilot_lot(app, seeded)
    log_in(client, "engineer")
    page = client.get(f"/process/lots/{lot_id}").get_data(as_text=True)
    assert "No prediction yet." in page and "Predict now" in page

    refused = client.post(f"/models/lots/{lot_id}/predict", data={"csrf_token": csrf_token(client, f"/process/lots/{lot_id}")})
    assert refused.status_code == 302
    assert "No prediction: no production grade model" in client.get(refused.headers["Location"]).get_data(as_text=True)

    _production_model(tmp_path, database_url, monkeypatch)
    # Its figures are figures on simulated lots, and its pages say so (the brief: a simulated
    # figure says so where it is shown); before, only a demo model's free-text note did.
    listing = client.get("/models/").get_data(as_text=True)
    version = re.search(r'href="/models/(grade-[^"]+)"', listing).group(1)
    assert re.search(rf'{version}</a>\s*<span class="badge simulated"', listing)
    data = re.search(r'data-testid="simulated-training">(.*?)</dd>', client.get(f"/models/{version}").get_data(as_text=True), re.S)
    assert data and re.search(r"SIMULATED</span> (\d+) of the \1 lots come from the pilot-line simulator", data.group(1))
    asked = client.post(f"/models/lots/{lot_id}/predict", data={"csrf_token": csrf_token(client, f"/process/lots/{lot_id}")})
    assert asked.status_code == 302 and asked.headers["Location"].endswith(f"/process/lots/{lot_id}")
    page = client.get(asked.headers["Location"]).get_data(as_text=True)
    card = page[page.index('id="prediction"'):page.index("Process data in the production window")]
    assert re.search(r"Predicted grade: (A|B|C|off-spec)\.", page)
    assert "Predict again now" in card
    bars = card[card.index('class="probabilities"'):]
    shares = [float(x) for x in re.findall(r'<td class="num">([\d.]+)\s*%</td>', bars[:bars.index("</table>")])]
    assert len(shares) >= 2 and abs(sum(shares) - 100) < 2, shares
    # Properties by their method's name and unit, not the model's keys.
    assert "Mean fibre length" in card or "Fibre length" in card, card
    assert "mean_fibre_length" not in card and "dctv-tear1:" not in card
    # Readings by the sensor's name and the statistic, against the material's median.
    assert re.search(r"(Tearing drum speed|Feed rate|Mean fibre length \(inline monitor\)|Drum motor load), "
                     r"(mean|spread \(std\)|minimum|maximum|trend \(slope\)|share beyond the alarm limits)", card), card

    # Each reading's effect in signed percentage points, not as a share of something.
    assert "Effect (pp)" in card and re.search(r'<td class="num nowrap">[+-]\d+\.\d</td></tr>', card), card

    # `make run` keeps the LIMS in SQLite, where the ingester writes its heartbeat every few
    # seconds. One landing while the model works must not cost the prediction: before, the
    # page read in a savepoint and SQLite refused the savepoint's write ("database is locked",
    # a 503 answered as JSON) because another writer had committed since its read.
    def features_while_the_ingester_beats(*args, **kwargs):
        row = lot_features(*args, **kwargs)
        with seeded.begin() as other:
            other.add(IngesterHeartbeat(ingester="beating", host="here", pid=1, started_at=utcnow(),
                                        heartbeat_at=utcnow(), interval_s=5.0, state="running", counters={}))
        return row

    monkeypatch.setattr(predict, "lot_features", features_while_the_ingester_beats)
    again = client.post(f"/models/lots/{lot_id}/predict", data={"csrf_token": csrf_token(client, f"/process/lots/{lot_id}")})
    assert again.status_code == 302, again.get_data(as_text=True)
    with seeded() as s:
        assert s.scalar(select(func.count()).select_from(Prediction).where(Prediction.lot_id == lot_id)) == 2


def test_who_may_not_predict_gets_no_button_and_no_prediction(app, client, seeded):
    lot_id = _pilot_lot(app, seeded)
    log_in(client, "polyvorm")
    assert client.post(f"/models/lots/{lot_id}/predict",
                       data={"csrf_token": csrf_token(client, "/certificates/")}).status_code == 403



def test_a_lot_the_line_sends_is_predicted_at_once_and_open_lots_when_a_model_is_promoted(
    app, client, seeded, tmp_path, database_url, monkeypatch
):
    """Only a lot registered on the lot form was given the model's grade: a lot the pilot line
    sent through the API (or the simulator) had none until someone pressed "Predict now", and
    the lots that came in before the first model was promoted never had one. In the demo every
    lot's predicted grade was "–"."""
    before_the_model = _pilot_lot(app, seeded)
    _production_model(tmp_path, database_url, monkeypatch)

    lot = _tearing_lot_in_store(app, 11, datetime(2025, 7, 1, tzinfo=UTC))
    with seeded.begin() as s:
        engineer = s.scalar(select(User).where(User.username == "engineer"))
        _, token = create_token(s, engineer, engineer, "pilot line MES")
    line = Caller(client, "engineer", token)
    sent = line.post("/lots", json={
        "code": "TEAR1-API-0001", "installation": "dctv-tear1", "material": lot.plan.material, "owner": "ntk",
        "production_start": lot.plan.start.isoformat(), "production_end": lot.plan.end.isoformat(),
        "input_stream": lot.plan.input_stream, "recycled_content_pct": str(lot.plan.recycled_content)})
    assert sent.status_code == 201, sent.get_data(as_text=True)
    predicted = line.get(f"/lots/{sent.get_json()['id']}/prediction")
    assert predicted.status_code == 200 and predicted.get_json()["predicted_grade"] in ("A", "B", "C", "off-spec")

    asked = CliRunner().invoke(model_group, ["predict"])
    assert asked.exit_code == 0, asked.output
    assert re.search(r"1 of 1 open lots predicted by grade-", asked.output), asked.output
    with seeded() as s:
        assert s.scalar(select(func.count()).select_from(Prediction).where(Prediction.lot_id == before_the_model)) == 1
    again = CliRunner().invoke(model_group, ["predict"])
    assert "0 of 0 open lots predicted" in again.output, again.output
