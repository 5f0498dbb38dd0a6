"""Production as deployed, without containers: two web processes and two ingesters, each with its
own var dir, against one PostgreSQL, one Mosquitto (a shared subscription) and one InfluxDB.

Nothing travels between them through files: a certificate issued on web A verifies on web B
(the same signing key file, given to both), a model trained by A's CLI predicts on B after A's
var dir is gone, both ingesters show on B's dashboard, and stopping one loses no value.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lims.people import accounts as auth
from lims.samples import registration
from tests.certificates import support
from tests.ingest.support import Publisher, wait_until
from tests.support.influx import free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.mqtt, pytest.mark.influx]

T0 = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)  # the published values: far from other tests' data
VALUES = 600


class Processes(ExitStack):
    def start(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> subprocess.Popen:
        log = open(log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the stack
        self.callback(log.close)
        proc = subprocess.Popen([sys.executable, "-m", "lims.cli", *args], env=env, stdout=log, stderr=log)
        self.callback(_end, proc)
        return proc


def _end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# What a web process does for a prediction, with the newest registered version instead of the
# production one, run in a process of B's (its settings, its var dir).
PREDICT_WITH_LATEST_VERSION = """
import sys
from analytics import model_registry
from analytics.predict import load_predictor, predict_lot
from ingest.registry import load_registry
from ingest.store import open_store
from lims.kernel.db import make_engine, make_session_factory
from lims.kernel.models import Lot
from lims.kernel.settings import load_settings

settings = load_settings()
sessions = make_session_factory(make_engine(settings.database_url))
with sessions.begin() as s:
    version = model_registry.list_versions(s)[0]
    predictor = load_predictor(version)
    lot = s.get(Lot, int(sys.argv[1]))
    p = predict_lot(s, open_store(settings), load_registry(), lot, predictor=predictor, actor=None, who="scale-out test")
    print("predicted", p.predicted_grade, "by", version.version)
"""


def _http(method: str, url: str, token: str | None = None, body: object = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _up(url: str) -> bool:
    try:
        return _http("GET", f"{url}/healthz")[0] == 200
    except OSError:
        return False


def test_two_web_processes_and_two_ingesters_share_everything_through_the_services(
    database_url, session_factory, mqtt_broker, influxdb, tmp_path: Path, monkeypatch
):
    from argon2 import PasswordHasher, profiles

    monkeypatch.setattr("lims.people.accounts._hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))
    with session_factory.begin() as s:
        support.seed_reference(s)
        for username, role in (("tech", "technician"), ("reviewer", "reviewer"), ("engineer", "engineer")):
            support.make_user(s, username, role, "ntk")
        tokens = {u: auth.create_token(s, support.user(s, u), support.user(s, u), "scale-out")[1]
                  for u in ("reviewer", "engineer")}

    key_file = tmp_path / "secrets" / "certificate-signing-key.pem"  # mounted into every web process
    key_file.parent.mkdir()
    key_file.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    group, stream = f"recyclab-ingest-{uuid.uuid4().hex[:8]}", f"s{uuid.uuid4().hex[:8]}"
    topic = f"recyclab/v1/ntk-ext1/{stream}"

    def env(var: str) -> dict[str, str]:
        (tmp_path / var).mkdir()
        return {
            **os.environ,
            "RECYCLAB_VAR_DIR": str(tmp_path / var),
            "RECYCLAB_DATABASE_URL": database_url,
            "RECYCLAB_BROKER_URL": mqtt_broker.url,
            "RECYCLAB_TIMESERIES_BACKEND": "influxdb",
            "RECYCLAB_INFLUX_URL": influxdb.url,
            "RECYCLAB_INFLUX_TOKEN": influxdb.token,
            "RECYCLAB_INFLUX_ORG": influxdb.org,
            "RECYCLAB_INFLUX_BUCKET": influxdb.bucket,
            "RECYCLAB_SECRET_KEY": "scale-out-test-secret-" + "k" * 40,
            "RECYCLAB_PUBLIC_URL": "https://lims.example.test",
            "RECYCLAB_SIGNING_KEY_FILE": str(key_file),
        }

    envs = {name: env(name) for name in ("web-a", "web-b", "ingest-a", "ingest-b")}
    ports = {"web-a": free_port(), "web-b": free_port()}
    web = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    with Processes() as procs:
        for name, port in ports.items():
            procs.start(name, ["web", "--host", "127.0.0.1", "--port", str(port), "--threads", "4"],
                        envs[name], tmp_path)
        ingesters = {
            name: procs.start(name, ["ingest", "--client-id", f"{name}-{group}", "--shared-group", group,
                                     "--topic", topic, "--status-interval-ms", "250"], envs[name], tmp_path)
            for name in ("ingest-a", "ingest-b")
        }
        # Meanwhile, this process prepares what A certifies and trains on.
        with session_factory.begin() as s:
            support.make_lot(s, support.user(s, "tech"), "L-EXT1-2026-0900")
            sample = support.verified_sample(s, support.user(s, "tech"), support.user(s, "reviewer"),
                                             support.lot_by_code(s, "L-EXT1-2026-0900")).code
        train = subprocess.run(
            f"{sys.executable} -m lims.cli simulate --offline --lots 45 --step 600 --installations ntk-ext1"
            f" --start 2026-01-05T00:00:00 --manifest {tmp_path / 'lots.jsonl'}"
            f" && {sys.executable} -m lims.cli train --manifest {tmp_path / 'lots.jsonl'} --max-iter 15",
            shell=True, env=envs["web-a"], capture_output=True, text=True, timeout=300,
        )
        assert train.returncode == 0, train.stdout + train.stderr
        for url in web.values():
            wait_until(lambda url=url: _up(url), 60, f"{url} to answer /healthz")

        # --- a certificate issued on A verifies on B ----------------------------------------------
        status, body = _http("POST", f"{web['web-a']}/api/v1/certificates", tokens["reviewer"], {"sample": sample})
        assert status == 201, body
        cert = json.loads(body)
        status, signed = _http("GET", f"{web['web-a']}/api/v1/certificates/{cert['id']}.json", tokens["reviewer"])
        assert status == 200
        status, body = _http("GET", f"{web['web-b']}/api/v1/public/certificates/{cert['number']}?hash={cert['content_hash']}")
        assert status == 200 and json.loads(body)["hash_matches"] is True
        req = urllib.request.Request(f"{web['web-b']}/api/v1/public/certificates/verify", data=signed,
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=60) as resp:
            verdict = json.loads(resp.read())
        assert verdict["valid"] and verdict["signature_valid"], verdict

        # --- a model trained by A predicts on B, with A's var dir gone ----------------------------
        for path in sorted((tmp_path / "web-a").rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        record = json.loads((tmp_path / "lots.jsonl").read_text().splitlines()[0])["window"]
        with session_factory.begin() as s:
            lot = registration.create_lot(
                s, support.user(s, "tech"), code="L-EXT1-2026-0901", installation=record["installation"],
                material=record["material"], owner="polyvorm",
                production_start=datetime.fromisoformat(record["start"]),
                production_end=datetime.fromisoformat(record["end"]),
                input_stream=record["input_stream"], recycled_content_pct=Decimal(str(record["recycled_content"])),
            )
            lot_id = lot.id
        # 45 lots train a model too weak to beat the baselines, so it is registered but never
        # served; what B must share is its artifact. B's process (own var dir, A's gone) loads it
        # from the database, hash checked, and predicts the lot with it.
        status, body = _http("POST", f"{web['web-b']}/api/v1/lots/{lot_id}/prediction", tokens["engineer"], {})
        assert status >= 400 and b"production" in body, body
        on_b = subprocess.run(
            [sys.executable, "-c", PREDICT_WITH_LATEST_VERSION, str(lot_id)],
            env=envs["web-b"], capture_output=True, text=True, timeout=120,
        )
        assert on_b.returncode == 0, on_b.stdout + on_b.stderr
        assert on_b.stdout.strip().startswith("predicted "), on_b.stdout

        # --- both ingesters on B's dashboard; stopping one loses no value ---------------------------
        def both_running() -> bool:
            _, body = _http("GET", f"{web['web-b']}/api/v1/ingest/status", tokens["engineer"])
            states = {i["ingester"]: i["state"] for i in json.loads(body)["ingesters"]}
            return states == {f"ingest-a-{group}": "running", f"ingest-b-{group}": "running"}

        wait_until(both_running, 60, "both ingesters to report to web B")
        publisher = Publisher(mqtt_broker.host, mqtt_broker.port)
        try:
            for seq in range(VALUES):
                if seq == VALUES // 2:
                    publisher.wait_all_acked(30)
                    ingesters["ingest-b"].send_signal(signal.SIGTERM)
                ts = T0 + timedelta(seconds=seq)
                payload = {"ts": int(ts.timestamp() * 1000), "values": {"melt_temp_c": 200.0 + seq % 50}}
                publisher.publish(topic, orjson.dumps(payload))
            publisher.wait_all_acked(30)
        finally:
            publisher.close()
        assert ingesters["ingest-b"].wait(30) == 0

        from ingest.store.influx_store import InfluxStore

        store = InfluxStore(influxdb.url, influxdb.token, influxdb.org, influxdb.bucket)
        try:
            def stored() -> int:
                return len(store.raw("ntk-ext1", "melt_temp_c", T0, T0 + timedelta(seconds=VALUES)))

            wait_until(lambda: stored() == VALUES, 30, f"all {VALUES} values in InfluxDB (not {stored()})")
        finally:
            store.close()
        status, body = _http("GET", f"{web['web-b']}/api/v1/ingest/status", tokens["engineer"])
        by_id = {i["ingester"]: i for i in json.loads(body)["ingesters"]}
        assert by_id[f"ingest-b-{group}"]["state"] == "stopped"
        assert by_id[f"ingest-a-{group}"]["state"] == "running"
        stored = sum(i["counters"]["values_stored_total"] + i["counters"]["values_spooled_total"]
                     for i in by_id.values())
        assert stored >= VALUES
        status, dashboard = _http("GET", f"{web['web-b']}/process/", tokens["engineer"])
        assert status == 200
        assert f'data-ingester="ingest-a-{group}"'.encode() in dashboard
        assert f'data-ingester="ingest-b-{group}"'.encode() in dashboard
