"""Ingest throughput benchmark (not a test).

Publishes a load through a real Mosquitto and prints, from one run:
  1. raw delivery rate to a bare paho subscriber (messages/s, values/s),
  2. the ingester's end-to-end stored values/s into InfluxDB and into SQLite,
  3. p50/p99 publish-to-stored latency (device timestamp = publish time),
  4. the ingester's peak RSS (VmHWM).

The ingester runs as its own process (`python -m ingest`) exactly as in production, with
QoS 1, manual acks after the store write, and the LIMS database on a temporary SQLite file.
For InfluxDB the bench starts a private Debian influxd behind the test v2-write proxy
(tests/support/influx.py). Targets: >= 200,000 values/s end to end, >= 50 % of the raw
delivery rate, RSS <= 200 MB.

    .venv/bin/python bench/ingest.py [--messages 40000] [--values 20] [--publishers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from ingest.status import read_status  # noqa: E402
from lims.migrate import upgrade  # noqa: E402
from tests.support.influx import PrivateInfluxd, V2WriteProxy  # noqa: E402


def write_registry(cdir: Path, installations: list[str], values: int) -> None:
    cdir.mkdir(parents=True, exist_ok=True)
    (cdir / "defaults.toml").write_text((ROOT / "config" / "defaults.toml").read_text())
    parts = ['[[line]]\nkey = "ntk"\nname = "bench"\nsample_prefix = "NTK"\n']
    for inst in installations:
        parts.append(f'[[installation]]\nkey = "{inst}"\nline = "ntk"\nkind = "bench"\nname = "b"\n')
        for v in range(values):
            parts.append(
                f'[[installation.sensor]]\nkey = "s{v:02d}"\nname = "s"\nunit = "1"\n'
                f"range = [-1e9, 1e9]\n"
            )
    (cdir / "installations.toml").write_text("\n".join(parts))


def publisher(
    host: str, port: int, topic: str, count: int, values: int, rate: float, out: mp.Queue
) -> None:
    """QoS 1 publisher, as fast as it can or at `rate` messages/s; timestamps are publish
    times in µs, strictly increasing."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:8]}",
                         protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(2000)
    client.max_queued_messages_set(0)
    acked = [0]
    client.on_publish = lambda *_: acked.__setitem__(0, acked[0] + 1)
    client.connect(host, port, keepalive=30)
    client.loop_start()
    body = ",".join(f'"s{v:02d}":{100.0 + v * 1.5}' for v in range(values))
    suffix = (',"values":{' + body + "}}").encode()
    last_us = 0
    start = time.time()
    for seq in range(count):
        if rate:
            delay = start + seq / rate - time.time()
            if delay > 0:
                time.sleep(delay)
        now_us = time.time_ns() // 1000
        last_us = now_us if now_us > last_us else last_us + 1
        # {"ts": epoch ms with µs fraction, "seq": n, "values": {...}}
        payload = b'{"ts":%d.%03d,"seq":%d' % (last_us // 1000, last_us % 1000, seq) + suffix
        client.publish(topic, payload, qos=1)
    while acked[0] < count:
        time.sleep(0.01)
    end = time.time()
    client.disconnect()
    client.loop_stop()
    out.put((start, end))


def bare_subscriber(host: str, port: int, topics: list[str], expected: int, out: mp.Queue,
                    ready: mp.Event, go: mp.Event | None = None) -> None:
    """Counts QoS 1 messages. With `go`: first only sets up a persistent session, then waits
    for `go` (messages queued meanwhile) and drains the queue."""
    state = {"n": 0, "first": 0.0, "last": 0.0}

    def on_message(_c, _u, _m) -> None:
        now = time.time()
        if not state["n"]:
            state["first"] = now
        state["n"] += 1
        state["last"] = now

    client_id = f"bench-raw-{uuid.uuid4().hex[:8]}"

    def connect() -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv5)
        client.on_message = on_message
        client.on_subscribe = lambda *_: ready.set()
        props = Properties(PacketTypes.CONNECT)
        props.ReceiveMaximum = 65535  # the same flow-control window the ingester asks for
        props.SessionExpiryInterval = 3600
        client.connect(host, port, keepalive=30, clean_start=False, properties=props)
        return client

    client = connect()
    client.subscribe([(t, 1) for t in topics])
    client.loop_start()
    start = 0.0
    if go is not None:
        ready.wait(10)
        client.disconnect()
        client.loop_stop()
        go.wait(600)
        start = time.time()
        client = connect()
        client.loop_start()
    deadline = time.time() + 300
    while state["n"] < expected and time.time() < deadline:
        time.sleep(0.02)
    client.disconnect()
    client.loop_stop()
    out.put((state["n"], start or state["first"], state["last"]))


def run_publishers(
    args, topics: list[str], messages: int | None = None, rate: float = 0.0
) -> tuple[float, float]:
    out: mp.Queue = mp.Queue()
    per = (messages or args.messages) // len(topics)
    procs = [
        mp.Process(target=publisher,
                   args=(args.host, args.port, t, per, args.values, rate / len(topics), out))
        for t in topics
    ]
    for p in procs:
        p.start()
    times = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return min(t[0] for t in times), max(t[1] for t in times)


def measure_raw(args, topics: list[str]) -> dict[str, float]:
    out: mp.Queue = mp.Queue()
    ready = mp.Event()
    total = (args.messages // len(topics)) * len(topics)
    sub = mp.Process(target=bare_subscriber, args=(args.host, args.port, topics, total, out, ready))
    sub.start()
    ready.wait(10)
    start, _ = run_publishers(args, topics)
    n, first, last = out.get(timeout=600)
    sub.join()
    seconds = max(last - start, 1e-9)
    return {"messages": n, "msg_s": n / seconds, "values_s": n * args.values / seconds,
            "seconds": seconds}


def measure_raw_drain(args, topics: list[str]) -> dict[str, float]:
    out: mp.Queue = mp.Queue()
    ready, go = mp.Event(), mp.Event()
    total = (args.messages // len(topics)) * len(topics)
    sub = mp.Process(target=bare_subscriber,
                     args=(args.host, args.port, topics, total, out, ready, go))
    sub.start()
    ready.wait(10)
    time.sleep(0.5)  # disconnected, session kept
    run_publishers(args, topics)
    go.set()
    n, start, last = out.get(timeout=600)
    sub.join()
    seconds = max(last - start, 1e-9)
    return {"messages": n, "msg_s": n / seconds, "values_s": n * args.values / seconds,
            "seconds": seconds}


def rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class IngesterProcess:
    """`python -m ingest` with a fixed client id, so a restart resumes its broker session."""

    def __init__(self, args, backend: str, topics: list[str], work: Path, env: dict) -> None:
        self.status_file = work / f"status-{backend}.json"
        self.cmd = [
            sys.executable, "-m", "ingest", "--broker-url", f"mqtt://{args.host}:{args.port}",
            "--client-id", f"bench-ingest-{uuid.uuid4().hex[:8]}", "--receive-maximum", "65535",
            "--batch-values", str(args.batch_values), "--status-interval-ms", "100",
            "--status-file", str(self.status_file),
            "--spool-file", str(work / f"spool-{backend}.db"),
        ]
        for t in topics:
            self.cmd += ["--topic", t]
        self.env = {**os.environ, **env, "RECYCLAB_TIMESERIES_BACKEND": backend}
        self.log = work / f"ingester-{backend}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        """Start and wait for the broker connection; returns the time it connected."""
        self.status_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.time() + 30
        while not ((s := read_status(self.status_file)) and s["broker_connected"]):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"ingester did not start; see {self.log}")
            time.sleep(0.02)
        return time.time()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_stored(ing: IngesterProcess, total_values: int, values: int) -> tuple[dict, float]:
    deadline = time.time() + 600
    while True:
        s = read_status(ing.status_file)
        if s and s["values_stored_total"] >= total_values:
            return s, time.time()
        messages_done = s and s["messages_total"] >= total_values // values
        if messages_done and s["rejects_total"]:
            raise RuntimeError(f"rejects: {s['rejects_by_reason']}")
        if time.time() > deadline or ing.proc.poll() is not None:
            raise RuntimeError(f"stored {s and s['values_stored_total']} of {total_values}")
        time.sleep(0.02)


def measure_e2e(args, backend: str, topics: list[str], work: Path, env: dict[str, str]) -> dict:
    ing = IngesterProcess(args, backend, topics, work, env)
    try:
        ing.start()
        time.sleep(0.5)  # subscriptions acknowledged
        total_values = (args.messages // len(topics)) * len(topics) * args.values
        start, _ = run_publishers(args, topics)
        s, end = wait_stored(ing, total_values, args.values)
        seconds = end - start
        result = {"values": s["values_stored_total"], "values_s": total_values / seconds,
                  "seconds": seconds, "sat_p50": s["latency_ms"]["p50"],
                  "sat_p99": s["latency_ms"]["p99"], "rejects": s["rejects_total"]}
        # Latency below saturation: half the measured rate; enough messages to fill the
        # ingester's latency window (its last 20,000 messages) with this phase only.
        paced_rate = 0.5 * result["values_s"] / args.values
        paced = 20_000 // len(topics) * len(topics)
        run_publishers(args, topics, paced, paced_rate)
        s, _ = wait_stored(ing, total_values + paced * args.values, args.values)
        result.update(p50=s["latency_ms"]["p50"], p99=s["latency_ms"]["p99"],
                      paced_msg_s=paced_rate, rss_mb=rss_peak_mb(ing.proc.pid))
        return result
    finally:
        ing.stop()


def measure_e2e_drain(args, backend: str, topics: list[str], work: Path, env: dict) -> dict:
    """Messages queued in the broker while the ingester is away, then drained."""
    ing = IngesterProcess(args, backend, topics, work, env)
    try:
        ing.start()
        time.sleep(0.5)
        ing.stop()
        run_publishers(args, topics)
        total_values = (args.messages // len(topics)) * len(topics) * args.values
        start = ing.start()
        s, end = wait_stored(ing, total_values, args.values)
        return {"values_s": total_values / (end - start), "seconds": end - start,
                "rss_mb": rss_peak_mb(ing.proc.pid)}
    finally:
        ing.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--messages", type=int, default=40_000)
    ap.add_argument("--values", type=int, default=20, help="values per message")
    ap.add_argument("--publishers", type=int, default=2)
    ap.add_argument("--batch-values", type=int, default=5000)
    ap.add_argument("--backends", default="influxdb,sqlite")
    ap.add_argument("--drain", action="store_true",
                    help="also: queue the whole load first, then time the consumers draining it"
                         " (private mosquitto with config/mosquitto.conf limits)")
    args = ap.parse_args()

    run = uuid.uuid4().hex[:6]
    installations = [f"bench-{run}-p{i}" for i in range(args.publishers)]
    topics = [f"recyclab/v1/{inst}/main" for inst in installations]
    with tempfile.TemporaryDirectory(prefix="recyclab-bench-") as tmp:
        work = Path(tmp)
        cdir = work / "config"
        write_registry(cdir, installations, args.values)
        lims_url = f"sqlite:///{work / 'lims.db'}"
        upgrade(lims_url)
        env = {"RECYCLAB_CONFIG_DIR": str(cdir), "RECYCLAB_DATABASE_URL": lims_url,
               "RECYCLAB_VAR_DIR": str(work / "var"),
               "RECYCLAB_TIMESERIES_SQLITE_PATH": str(work / "timeseries.db")}
        print(f"load: {args.messages} messages x {args.values} values = "
              f"{args.messages * args.values} values, {args.publishers} publishers, QoS 1, "
              f"broker {args.host}:{args.port}, {os.cpu_count()} cores")
        raw = measure_raw(args, topics)
        print(f"raw delivery to a bare paho subscriber: {raw['msg_s']:,.0f} msg/s, "
              f"{raw['values_s']:,.0f} values/s ({raw['messages']} messages in "
              f"{raw['seconds']:.2f} s)")
        for backend in args.backends.split(","):
            with backend_env(backend, env):
                r = measure_e2e(args, backend, topics, work, env)
            print(f"end to end into {backend}: {r['values_s']:,.0f} values/s stored "
                  f"({r['values']} values in {r['seconds']:.2f} s, "
                  f"{100 * r['values_s'] / raw['values_s']:.0f} % of raw), "
                  f"ingester peak RSS {r['rss_mb']:.0f} MB, rejects {r['rejects']}")
            print(f"  publish-to-stored latency at {r['paced_msg_s']:,.0f} msg/s (half that rate):"
                  f" p50 {r['p50']} ms, p99 {r['p99']} ms; at full load: p50 {r['sat_p50']} ms,"
                  f" p99 {r['sat_p99']} ms")
        if args.drain:
            drain(args, topics, work, env)


def drain(args, topics: list[str], work: Path, env: dict) -> None:
    from tests.ingest.support import PrivateMosquitto

    broker = PrivateMosquitto(work / "mosquitto").start()
    args.host, args.port = broker.host, broker.port
    try:
        raw = measure_raw_drain(args, topics)
        print(f"drain of {args.messages} queued messages (private mosquitto, project limits):"
              f" bare paho subscriber {raw['msg_s']:,.0f} msg/s, {raw['values_s']:,.0f} values/s")
        for backend in args.backends.split(","):
            with backend_env(backend, env):
                r = measure_e2e_drain(args, backend, topics, work, env)
            print(f"  ingester into {backend}: {r['values_s']:,.0f} values/s stored "
                  f"({100 * r['values_s'] / raw['values_s']:.0f} % of raw drain), "
                  f"peak RSS {r['rss_mb']:.0f} MB")
    finally:
        broker.stop()


@contextlib.contextmanager
def backend_env(backend: str, env: dict):
    """For InfluxDB: a private Debian influxd behind the test v2-write proxy."""
    if backend != "influxdb":
        yield
        return
    influxd = PrivateInfluxd().start()
    proxy = V2WriteProxy(influxd.url).start()
    try:
        influxd.create_database("bench")
        env.update(RECYCLAB_INFLUX_URL=proxy.url, RECYCLAB_INFLUX_BUCKET="bench",
                   RECYCLAB_INFLUX_TOKEN="bench")
        yield
    finally:
        proxy.stop()
        influxd.cleanup()


if __name__ == "__main__":
    main()
