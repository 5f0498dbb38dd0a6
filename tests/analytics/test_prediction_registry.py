"""An installation's sensors and alarm limits are data (config/installations.toml): an engineer
changes them and the ingester reads them again on `kill -HUP`. A prediction counts a lot's time
beyond the alarm limits; one asked for through the API counted the limits its web process read
first, until that process restarted, while the pages (and any process started since) counted
the new ones: the same lot predicted two ways at once."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from types import SimpleNamespace

from analytics import predict
from ingest.store import open_store
from ingest.store.base import Point
from lims.kernel.settings import config_dir
from tests.lims.conftest import PP_LOT, ok
from tests.support.models import version_without_artifact

MELT_HIGH = 'key = "melt_temp_c"\nname = "Melt temperature"\nname_nl = "Smelttemperatuur"\nunit = "°C"\nrange = [0, 400]\nalarm_low = 185\nalarm_high = 270\n'


def test_a_changed_alarm_limit_counts_in_the_next_prediction_asked_by_the_api(
    app, lab, session_factory, monkeypatch, tmp_path
):
    config = tmp_path / "config"
    shutil.copytree(config_dir(), config)
    monkeypatch.setenv("RECYCLAB_CONFIG_DIR", str(config))
    with session_factory.begin() as s:
        mv = version_without_artifact("grade-registry", ["A", "B"], status="production")
        s.add(mv)
        s.flush()
        rows: list[dict] = []
        fake = SimpleNamespace(version_id=mv.id, version=mv.version,
                               predict_one=lambda row: rows.append(row) or predict.Outcome("A", {"A": 0.9, "B": 0.1}))
    monkeypatch.setattr(predict, "production_predictor", lambda session: fake)
    engineer = lab.as_("engineer")
    lot_id = ok(lab.as_("tech").post("/lots", json=PP_LOT), 201)["id"]
    start = datetime.fromisoformat(PP_LOT["production_start"])
    open_store(app.config["RECYCLAB"]).write(
        [Point("ntk-ext1", "melt_temp_c", start + timedelta(minutes=m), 250.0) for m in range(0, 480, 5)])
    beyond = "ntk-ext1:melt_temp_c:out_of_alarm"

    ok(engineer.post(f"/lots/{lot_id}/prediction", json={}), 201)
    assert rows[-1][beyond] == 0.0  # 250 °C is within 185..270
    # The engineer lowers the high alarm to 240 °C (and sends the ingester a HUP).
    installations = config / "installations.toml"
    text = installations.read_text()
    assert text.count(MELT_HIGH) >= 1
    installations.write_text(text.replace(MELT_HIGH, MELT_HIGH.replace("alarm_high = 270", "alarm_high = 240"), 1))
    ok(engineer.post(f"/lots/{lot_id}/prediction", json={}), 201)
    assert rows[-1][beyond] == 1.0
