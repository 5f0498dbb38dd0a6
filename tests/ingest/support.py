"""Helpers for the ingest tests: a private registry, publishers, a private Mosquitto, the
ingester as a thread or as a `recyclab ingest` subprocess, and polling with a deadline."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.registry import Registry, load_registry
from lims.kernel.settings import PROJECT_ROOT, config_dir
from tests.support.influx import free_port

VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", PROJECT_ROOT / ".venv")) / "bin"
T0_MS = 1_780_000_000_000  # 2026-05-28: far from other tests' data


def wait_until(cond: Callable[[], object], timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = cond()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def private_config(tmp_path: Path) -> tuple[Path, str, Registry]:
    """A config dir with one uniquely named installation, so tests sharing a broker never
    consume each other's messages. Sensors: temp_c [0, 400] alarm high 250, low 100;
    pressure_bar [0, 600]."""
    inst = f"t{uuid.uuid4().hex[:10]}"
    cdir = tmp_path / "config"
    cdir.mkdir()
    shutil.copy(config_dir() / "defaults.toml", cdir / "defaults.toml")
    (cdir / "installations.toml").write_text(
        f"""
[[line]]
key = "ntk"
name = "test line"
sample_prefix = "NTK"

[[installation]]
key = "{inst}"
line = "ntk"
kind = "extrusion"
name = "test installation"

[[installation.sensor]]
key = "temp_c"
name = "temperature"
unit = "°C"
range = [0, 400]
alarm_low = 100
alarm_high = 250

[[installation.sensor]]
key = "pressure_bar"
name = "pressure"
unit = "bar"
range = [0, 600]
"""
    )
    return cdir, inst, load_registry(cdir / "installations.toml")


def json_message(seq: int, values: dict[str, object]) -> bytes:
    """One reading per message with a timestamp unique to seq (1 ms apart)."""
    return orjson.dumps({"ts": T0_MS + seq, "seq": seq, "values": values})


class Publisher:
    """QoS 1 publisher with a persistent session: survives broker restarts without loss."""

    def __init__(self, host: str, port: int, ca_file: Path | None = None,
                 auth: tuple[str, str] | None = None) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv5,
        )
        if ca_file:
            self.client.tls_set(ca_certs=str(ca_file))
        if auth:
            self.client.username_pw_set(*auth)
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(1000)
        self.client.reconnect_delay_set(0.2, 2)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect(host, port, keepalive=10, clean_start=False, properties=props)
        self.published = 0
        self.acked = 0
        # Counted in on_publish: a publish made while disconnected reports NO_CONN in its
        # MessageInfo yet is kept and sent after the reconnect.
        self.client.on_publish = self._on_publish
        self.client.loop_start()

    def _on_publish(self, *_args) -> None:
        self.acked += 1

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        assert info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN), info.rc
        self.published += 1

    def wait_all_acked(self, timeout: float) -> None:
        wait_until(lambda: self.acked >= self.published, timeout,
                   "the broker to acknowledge every publish")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class PrivateMosquitto:
    """A mosquitto started by the test on a free port, configured from config/mosquitto.conf
    (same queue limits and persistence) with a temporary persistence dir and anonymous access."""

    def __init__(self, workdir: Path, listener_options: str = "",
                 password_file: Path | None = None) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = "127.0.0.1"
        self.process: subprocess.Popen | None = None
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(
            derive_test_config(self.port, self.dir / "persist", password_file) + listener_options
        )

    def start(self) -> PrivateMosquitto:
        (self.dir / "persist").mkdir(exist_ok=True)
        log = open(self.dir / "mosquitto.log", "ab")
        self.process = subprocess.Popen(
            [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(self.conf)],
            stdout=log, stderr=subprocess.STDOUT,
        )
        wait_until(self._accepting, 10, "private mosquitto to listen")
        return self

    def _accepting(self) -> bool:
        import socket

        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """Graceful stop (SIGTERM): mosquitto writes its persistence file on the way out."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def derive_test_config(port: int, persistence_dir: Path, password_file: Path | None = None) -> str:
    """config/mosquitto.conf with the listener, persistence location and auth made private
    (anonymous unless a password file is given). Listener options may be appended."""
    out = []
    for line in (PROJECT_ROOT / "config" / "mosquitto.conf").read_text().splitlines():
        key = line.split(" ", 1)[0]
        if key == "listener":
            line = f"listener {port} 127.0.0.1"
        elif key == "persistence_location":
            line = f"persistence_location {persistence_dir}/"
        elif key == "allow_anonymous":
            line = f"allow_anonymous {'false' if password_file else 'true'}"
        elif key == "password_file":
            if not password_file:
                continue
            line = f"password_file {password_file}"
        elif key in ("log_dest", "log_type"):
            continue
        out.append(line)
    # Run as the test's own user: started as root, mosquitto would switch to user
    # "mosquitto", who cannot write the test's temporary persistence directory.
    out.append(f"user {getpass.getuser()}")
    out.append("log_dest stderr\nlog_type error\nlog_type warning")
    # the listener goes last, so that options appended by the caller apply to it
    listener = next(line for line in out if line.startswith("listener "))
    out.remove(listener)
    out.append(listener)
    return "\n".join(out) + "\n"


def forget_session(broker_url: str, client_id: str) -> None:
    """End a persistent session, so a shared broker does not keep queueing for a test client."""
    parts = urlsplit(broker_url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.connect(parts.hostname, parts.port, clean_start=True)  # expiry 0: gone on disconnect
    client.disconnect()


class IngesterThread:
    """The ingester in this process (fast start; the subprocess variant is for kill tests).
    On exit its broker session is ended unless the test resumes it (keep_session)."""

    def __init__(self, ingester, keep_session: bool = False) -> None:
        self.ingester = ingester
        self.keep_session = keep_session
        self.thread = threading.Thread(target=ingester.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        wait_until(lambda: self.ingester.status.broker_connected, 10, "ingester to connect")
        time.sleep(0.3)  # subscription acknowledged
        return self.ingester

    def __exit__(self, *exc) -> None:
        self.ingester.stop()
        self.thread.join(20)
        assert not self.thread.is_alive(), "ingester did not stop"
        if not self.keep_session:
            forget_session(self.ingester.config.broker_url, self.ingester.config.client_id)


def ingester_env(config_dir: Path, tmp_path: Path, database_url: str) -> dict[str, str]:
    """The environment of a `recyclab ingest` child: the test's registry and LIMS database,
    a SQLite time-series file and the var dir (status file) under tmp_path."""
    return {
        "RECYCLAB_CONFIG_DIR": str(config_dir),
        "RECYCLAB_VAR_DIR": str(tmp_path / "var"),
        "RECYCLAB_DATABASE_URL": database_url,
        "RECYCLAB_TIMESERIES_BACKEND": "sqlite",
        "RECYCLAB_TIMESERIES_SQLITE_PATH": str(tmp_path / "timeseries.db"),
    }


class IngesterProcess:
    """`recyclab ingest` as a child process (so the test can SIGKILL it)."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args, self.env, self.log_path = args, env, log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> IngesterProcess:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [str(VENV_BIN / "recyclab"), "ingest", *self.args],
            env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
        )
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
