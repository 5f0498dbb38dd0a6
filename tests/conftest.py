"""Test harness: real PostgreSQL, Mosquitto, InfluxDB and Chromium.

Each pytest run gets a private PostgreSQL database (dropped at the end) and a private InfluxDB;
every test gets clean tables. With CI=true a service that cannot be reached fails the run;
elsewhere the tests that need it are skipped with the reason.

`pytest --now 2026-10-24T23:30:00+00:00` (or RECYCLAB_TEST_NOW) starts the system's clock at
that moment for the whole run: the suite must pass at any hour, also at a DST change.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from lims.kernel import clock
from lims.kernel.db import Base, make_engine, make_session_factory
from lims.kernel.migrate import upgrade
from tests.support.influx import PrivateInfluxd, V2WriteProxy
from tests.support.postgres import private_database

PG_ADMIN_URL = os.environ.get(
    "RECYCLAB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MQTT_HOST = os.environ.get("RECYCLAB_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("RECYCLAB_TEST_MQTT_PORT", "1883"))
CHROMIUM = os.environ.get("RECYCLAB_TEST_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def service_missing(what: str) -> None:
    """Fail under CI, skip elsewhere: a missing service is never a silent pass."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: a missing service is a failure)", pytrace=False)
    pytest.skip(what)


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


# --- the clock ----------------------------------------------------------------------------


def pytest_addoption(parser):
    parser.addoption(
        "--now",
        default=os.environ.get("RECYCLAB_TEST_NOW") or None,
        help="ISO 8601 moment with a UTC offset at which the system clock starts for this run"
        " (default: $RECYCLAB_TEST_NOW, else the real time)",
    )


def parse_now(raw: str) -> datetime:
    moment = datetime.fromisoformat(raw)
    if moment.tzinfo is None:
        raise pytest.UsageError(f"--now/RECYCLAB_TEST_NOW needs a UTC offset: {raw!r}")
    return moment


_suite_clock = contextlib.ExitStack()


def pytest_configure(config):
    """Set before collection, so a module-level "now" in a test file sees the run's clock."""
    raw = config.getoption("--now")
    if raw:
        _suite_clock.enter_context(clock.running_from(parse_now(raw)))


def pytest_unconfigure(config):
    _suite_clock.close()


# --- databases --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_database():
    """A private, migrated PostgreSQL database for this pytest run; dropped at the end."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means the service is missing
        service_missing(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    finally:
        admin.dispose()
    with private_database(PG_ADMIN_URL, f"recyclab_test_{os.getpid()}") as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def _truncate_all(url: str) -> None:
    """Empty every table. The database is private to this run, so a connection some test
    left inside a transaction is ended rather than allowed to block TRUNCATE's lock."""
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND state <> 'idle'"
            )
        )
        conn.execute(text("SET LOCAL lock_timeout = '20s'"))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def database_url(request, tmp_path):
    """A clean database for one test: PostgreSQL unless parametrized with "sqlite"."""
    backend = getattr(request, "param", "postgres")
    if backend == "sqlite":
        path = tmp_path / "lims.kernel.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    # Emptied before each test rather than after: the run's database is dropped at its end.
    url = request.getfixturevalue("pg_database")
    _truncate_all(url)
    yield url


@pytest.fixture
def app_settings() -> dict[str, object]:
    """Settings a test module gives its app on top of the defaults (override the fixture)."""
    return {}


@pytest.fixture
def app(database_url, tmp_path, app_settings):
    from lims.app import create_app
    from lims.certificates import signing
    from lims.kernel.clock import utcnow
    from lims.kernel.settings import load_settings

    # The lab's signing key is made explicitly, as `recyclab keys create` does: never on first use.
    signing.create_key(
        tmp_path / "var" / "keys" / signing.DEFAULT_KEY_NAME, utcnow(), load_settings().lab_name
    )
    app = create_app(
        database_url=database_url,
        var_dir=tmp_path / "var",
        timeseries_sqlite_path=tmp_path / "var" / "timeseries.db",
        secret_key="test-secret",
        **app_settings,
    )
    app.config["TESTING"] = True
    yield app
    app.extensions["recyclab.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def session_factory(database_url):
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def live_server(app):
    """The app over real HTTP on a free loopback port."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


# --- MQTT ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Broker:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


@pytest.fixture(scope="session")
def mqtt_broker() -> Broker:
    if not _tcp_open(MQTT_HOST, MQTT_PORT):
        service_missing(f"Mosquitto not reachable at {MQTT_HOST}:{MQTT_PORT}")
    return Broker(MQTT_HOST, MQTT_PORT)


# --- InfluxDB -----------------------------------------------------------------------------


@dataclass
class Influx:
    url: str  # for influxdb-client: the v2-write proxy
    query_url: str  # InfluxQL /query endpoint
    org: str
    token: str
    bucket: str
    server: PrivateInfluxd


@pytest.fixture(scope="session")
def influx_server(tmp_path_factory):
    if not shutil.which("influxd") and not Path("/usr/bin/influxd").exists():
        service_missing("influxd not installed (Debian package influxdb; make test installs it)")
    server = PrivateInfluxd(tmp_path_factory.mktemp("influxd"))
    try:
        server.start()
    except RuntimeError as exc:
        service_missing(str(exc))
    proxy = V2WriteProxy(server.url).start()
    yield server, proxy
    proxy.stop()
    server.stop()


@pytest.fixture
def influxdb(influx_server) -> Influx:
    """A fresh InfluxDB database (bucket) per test."""
    server, proxy = influx_server
    bucket = f"t_{uuid.uuid4().hex[:10]}"
    server.create_database(bucket)
    yield Influx(
        url=proxy.url,
        query_url=f"{server.url}/query",
        org="recyclab",
        token="test-token",
        bucket=bucket,
        server=server,
    )
    if server.process is not None:
        server.drop_database(bucket)


# --- browser ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        service_missing(f"Chromium not found at {CHROMIUM} (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture
def browser_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def artifacts_dir() -> Path:
    """Screenshots and rendered files for a person to look at after the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
