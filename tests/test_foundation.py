"""The harness is real: each service the system uses answers a real round trip."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select, text

from lims.kernel.clock import utcnow
from lims.kernel.models import Organization
from lims.kernel.settings import PROJECT_ROOT, load_settings

BOTH = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)


@BOTH
def test_a_row_written_is_read_back_with_utc_time(session_factory):
    with session_factory.begin() as s:
        s.add(Organization(key="acme", name="Acme Compounds B.V.", kind="customer"))
    with session_factory() as s:
        org = s.scalar(select(Organization).where(Organization.key == "acme"))
    assert org.name == "Acme Compounds B.V."
    assert org.created_at.tzinfo is not None
    assert abs(org.created_at - utcnow()) < timedelta(minutes=1)


def test_postgres_is_the_default_test_database(database_url):
    assert database_url.startswith("postgresql")


def test_postgres_plans_the_labs_short_queries_without_jit(session_factory):
    """A customer's lookup of one lot among 100,000 certificates (bench/certificates.py, target
    p95 30 ms) spent ~600 ms of its 700 with PostgreSQL compiling the query (JIT, switched on by
    the cost estimate of its eager joins). The LIMS's queries are short: its connections run
    without JIT."""
    with session_factory() as s:
        assert s.scalar(text("SHOW jit")) == "off"


@BOTH
def test_healthz_answers_when_the_database_answers(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_is_unreachable(tmp_path):
    from lims.app import create_app

    app = create_app(
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1",
        var_dir=tmp_path,
    )
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json()["database"] == "unreachable"


def test_openapi_document_is_served(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    assert resp.get_json()["info"]["title"] == "Recyclab API"


def test_environment_overrides_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("RECYCLAB_DATABASE_URL", "postgresql+psycopg://db.example/recyclab")
    monkeypatch.setenv("RECYCLAB_WEB_PORT", "9123")
    monkeypatch.setenv("RECYCLAB_VAR_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.database_url == "postgresql+psycopg://db.example/recyclab"
    assert settings.web_port == 9123
    assert settings.timeseries_sqlite_path == tmp_path / "timeseries.db"
    assert "secret_key" not in settings.public_dict()


def test_cli_migrates_and_seeds_idempotently(tmp_path):
    env = {**os.environ, "RECYCLAB_VAR_DIR": str(tmp_path)}
    recyclab = [sys.executable, "-m", "lims.cli"]
    for args in (["db", "upgrade"], ["seed"]):
        subprocess.run(recyclab + args, env=env, check=True, capture_output=True, timeout=120)
    again = subprocess.run(
        recyclab + ["seed"], env=env, check=True, capture_output=True, text=True, timeout=120
    )
    assert "organizations=0" in again.stdout
    assert (tmp_path / "recyclab.db").exists()


def test_mosquitto_delivers_a_qos1_message(mqtt_broker):
    topic = f"recyclab/test/{uuid.uuid4().hex}"
    received: queue.Queue = queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-sub-{uuid.uuid4().hex[:8]}")
    sub.on_message = lambda c, u, msg: received.put((msg.topic, msg.payload, msg.qos))
    subscribed = queue.Queue()
    sub.on_subscribe = lambda c, u, mid, rc, props: subscribed.put(rc)
    sub.connect(mqtt_broker.host, mqtt_broker.port)
    sub.loop_start()
    try:
        sub.subscribe(topic, qos=1)
        subscribed.get(timeout=10)
        pub = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-pub-{uuid.uuid4().hex[:8]}"
        )
        pub.connect(mqtt_broker.host, mqtt_broker.port)
        pub.loop_start()
        info = pub.publish(topic, b'{"values": {"melt_temp_c": 212.4}}', qos=1)
        info.wait_for_publish(timeout=10)
        assert info.is_published()
        pub.loop_stop()
        pub.disconnect()
        assert received.get(timeout=10) == (topic, b'{"values": {"melt_temp_c": 212.4}}', 1)
    finally:
        sub.loop_stop()
        sub.disconnect()


def test_influxdb_client_writes_and_influxql_reads(influxdb):
    import json

    from influxdb_client import InfluxDBClient, Point
    from influxdb_client.client.write_api import SYNCHRONOUS

    t0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    with InfluxDBClient(url=influxdb.url, token=influxdb.token, org=influxdb.org) as client:
        write = client.write_api(write_options=SYNCHRONOUS)
        write.write(
            bucket=influxdb.bucket,
            record=[
                Point("ntk-ext1")
                .tag("sensor", "melt_temp_c")
                .field("value", 210.0 + i)
                .time(t0 + timedelta(seconds=i))
                for i in range(5)
            ],
        )
    q = urllib.parse.urlencode(
        {"db": influxdb.bucket, "q": 'SELECT mean("value"), count("value") FROM "ntk-ext1"'}
    )
    with urllib.request.urlopen(f"{influxdb.query_url}?{q}", timeout=10) as resp:
        series = json.load(resp)["results"][0]["series"][0]
    assert series["values"][0][1:] == [212.0, 5]


def test_chromium_loads_a_page_from_the_app(live_server, browser_page, artifacts_dir):
    browser_page.goto(f"{live_server}/healthz")
    assert '"status":"ok"' in browser_page.content().replace(" ", "")
    browser_page.screenshot(path=str(artifacts_dir / "foundation-healthz.png"))


def test_docker_compose_file_parses_and_demands_its_secrets():
    compose = Path("/usr/bin/docker-compose")
    if not compose.exists():
        pytest.fail("docker-compose (Debian package) missing; make test installs it")
    secrets = [
        "POSTGRES_PASSWORD",
        "RECYCLAB_SECRET_KEY",
        "INFLUX_ADMIN_PASSWORD",
        "INFLUX_TOKEN",
        "MQTT_INGEST_PASSWORD",
        "RECYCLAB_PUBLIC_URL",
    ]
    base_env = {k: v for k, v in os.environ.items() if k not in secrets}

    def config(env):
        return subprocess.run(
            [str(compose), "-f", str(PROJECT_ROOT / "docker-compose.yml"), "config", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=PROJECT_ROOT,
            env=env,
        )

    without = config(base_env)
    assert without.returncode != 0 and "set in .env" in without.stderr
    ok = config({**base_env, **{k: "placeholder" for k in secrets}})
    assert ok.returncode == 0, ok.stderr


def test_docker_compose_runs_two_web_workers_and_two_ingesters_sharing_state_explicitly():
    """Every web worker gets the signing key as a secret file and the public URL; the two
    ingesters split one shared subscription, each with its own session and spool volume; a
    job makes the drift report daily."""
    import yaml

    spec = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    webs = [services["web-1"], services["web-2"]]
    for web in webs:
        assert web["secrets"][0] == "certificate_signing_key" and "healthcheck" in web
        assert web["environment"]["RECYCLAB_SIGNING_KEY_FILE"] == "/run/secrets/certificate_signing_key"
        assert web["environment"]["RECYCLAB_PROXY_HOPS"] == "1"  # the client, not the proxy, is counted
        assert web["environment"]["RECYCLAB_PUBLIC_URL"].startswith("${RECYCLAB_PUBLIC_URL:?")
        assert "volumes" not in web  # nothing of a web worker's own disk is shared state
    assert spec["secrets"]["certificate_signing_key"]["file"]
    commands = [services[name]["command"] for name in ("ingest-1", "ingest-2")]
    assert len({c[c.index("--client-id") + 1] for c in commands}) == 2
    assert {c[c.index("--shared-group") + 1] for c in commands} == {"recyclab-ingest"}
    volumes = [services[name]["volumes"][0] for name in ("ingest-1", "ingest-2")]
    assert len(set(volumes)) == 2 and "healthcheck" in services["ingest-1"]
    # The model page's drift report is kept recent by a job, not by someone remembering to run it.
    assert services["drift"]["command"][:3] == ["recyclab", "model", "drift"] and "--every" in services["drift"]["command"]


def test_every_web_worker_reads_the_labs_whole_key_set_not_only_its_key():
    """The key set beside the key file (every key the lab signed with, its validity period and
    PDF-signing certificate) must reach each worker too: without it a worker publishes only the
    current key, with a certificate of its own making (not the one `recyclab keys list`
    fingerprints), and after a rotation refuses every certificate the old key signed."""
    import yaml

    from lims.certificates import signing

    spec = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    for name in ("web-1", "web-2"):
        web = spec["services"][name]
        key_file = Path(web["environment"]["RECYCLAB_SIGNING_KEY_FILE"])
        mounted = {}
        for secret in web["secrets"]:
            source = secret if isinstance(secret, str) else secret["source"]
            target = source if isinstance(secret, str) else secret.get("target", source)
            mounted[Path("/run/secrets") / target] = PROJECT_ROOT / spec["secrets"][source]["file"]
        assert mounted.get(key_file) == PROJECT_ROOT / "secrets" / signing.DEFAULT_KEY_NAME, name
        assert mounted.get(signing.keyring_path(key_file)) == PROJECT_ROOT / "secrets" / signing.KEYRING_NAME, name


def test_migrations_have_one_head():
    from alembic.script import ScriptDirectory

    from lims.kernel.migrate import alembic_config

    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"several Alembic heads, add a merge migration: {heads}"


@pytest.mark.parametrize("schema", ["none", "behind"])
def test_healthz_is_503_while_the_database_lacks_this_versions_migrations(tmp_path, schema):
    """The database answers but the app cannot work on it (a new image started before `recyclab
    db upgrade`): logins and the verify page answer 503, so /healthz may not say ok."""
    from sqlalchemy import create_engine, text

    from lims.app import create_app
    from lims.kernel.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'lims.db'}"
    if schema == "behind":
        upgrade(url)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0023_security2_sliding_throttle'"))
        engine.dispose()
    resp = create_app(database_url=url, var_dir=tmp_path).test_client().get("/healthz")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["database"] == "ok" and body["schema"] == "not upgraded"
    assert "recyclab db upgrade" in body["detail"]
