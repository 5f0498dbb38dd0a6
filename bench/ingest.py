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
        [--private-broker] [--drain | --drain-only] [--ingesters N] [--backends influxdb,sqlite]

A Mosquitto with stock limits (like the one on 127.0.0.1:1883 on the CI machines) drops QoS 1
messages for any subscriber that falls behind a burst ("Outgoing messages are being dropped"
in its log); the bench then says so. --private-broker runs the same Mosquitto with the limits
of config/mosquitto.conf, which is what production uses.
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
from concurrent.futures import ThreadPoolExecutor
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
    # Stop when all arrived, or when nothing arrived for 5 s (the broker dropped the rest).
    seen, idle_since = -1, time.time()
    while state["n"] < expected and time.time() - idle_since < 5:
        if state["n"] != seen:
            seen, idle_since = state["n"], time.time()
        time.sleep(0.02)
    end_session = Properties(PacketTypes.DISCONNECT)
    end_session.SessionExpiryInterval = 0
    client.disconnect(properties=end_session)
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


# mosquitto_pub reads all of stdin at once and keeps what the broker has not acknowledged in
# a list it scans for every PUBACK: behind a slow subscriber, one 20,000-line file cost it
# over a core (quadratic). Chains of short files keep that list short.
PUB_CHUNK = 2_000


def run_bulk_publishers(args, topics: list[str], work: Path) -> tuple[float, float]:
    """The full load with C publishers (mosquitto_pub -l, QoS 1; per topic one after another
    over chunks of the load), so the publishers take little CPU from the consumers being
    measured. Timestamps are unique (1 µs apart) but set when the load is generated: latency
    is measured in the paced phase."""
    per = args.messages // len(topics)
    body = ",".join(f'"s{v:02d}":{100.0 + v * 1.5}' for v in range(args.values)).encode()
    chains = []
    for n, topic in enumerate(topics):
        base_us = time.time_ns() // 1000
        paths = []
        for first in range(0, per, PUB_CHUNK):
            path = work / f"load-{n}-{first}.jsonl"
            with open(path, "wb") as fh:
                for seq in range(first, min(first + PUB_CHUNK, per)):
                    us = base_us + seq
                    fh.write(b'{"ts":%d.%03d,"seq":%d,"values":{%s}}\n'
                             % (us // 1000, us % 1000, seq, body))
            paths.append(path)
        chains.append((topic, paths))

    def publish_chain(topic: str, paths: list[Path]) -> None:
        for path in paths:
            with open(path, "rb") as stdin:
                subprocess.run(["mosquitto_pub", "-h", args.host, "-p", str(args.port), "-V", "5",
                                "-q", "1", "-M", "1000", "-t", topic, "-l"],
                               stdin=stdin, check=True, timeout=600)

    start = time.time()
    with ThreadPoolExecutor(len(chains)) as pool:
        for done in [pool.submit(publish_chain, t, p) for t, p in chains]:
            done.result()
    return start, time.time()


def measure_raw(args, topics: list[str], work: Path) -> dict[str, float]:
    out: mp.Queue = mp.Queue()
    ready = mp.Event()
    total = (args.messages // len(topics)) * len(topics)
    sub = mp.Process(target=bare_subscriber, args=(args.host, args.port, topics, total, out, ready))
    sub.start()
    ready.wait(10)
    start, _ = run_bulk_publishers(args, topics, work)
    n, first, last = out.get(timeout=600)
    sub.join()
    seconds = max(last - start, 1e-9)
    return {"messages": n, "msg_s": n / seconds, "values_s": n * args.values / seconds,
            "seconds": seconds}


def measure_raw_drain(args, topics: list[str], work: Path) -> dict[str, float]:
    out: mp.Queue = mp.Queue()
    ready, go = mp.Event(), mp.Event()
    total = (args.messages // len(topics)) * len(topics)
    sub = mp.Process(target=bare_subscriber,
                     args=(args.host, args.port, topics, total, out, ready, go))
    sub.start()
    ready.wait(10)
    time.sleep(0.5)  # disconnected, session kept
    run_bulk_publishers(args, topics, work)
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

    def __init__(self, args, backend: str, topics: list[str], work: Path, env: dict,
                 index: int = 0, shared_group: str | None = None) -> None:
        self.status_file = work / f"status-{backend}-{index}.json"
        self.cmd = [
            sys.executable, "-m", "ingest", "--broker-url", f"mqtt://{args.host}:{args.port}",
            "--client-id", f"bench-ingest-{uuid.uuid4().hex[:8]}", "--receive-maximum", "65535",
            "--batch-values", str(args.batch_values), "--status-interval-ms", "100",
            "--status-file", str(self.status_file),
            "--spool-file", str(work / f"spool-{backend}-{index}.db"),
        ]
        if shared_group:
            self.cmd += ["--shared-group", shared_group]
        for t in topics:
            self.cmd += ["--topic", t]
        self.env = {**os.environ, **env, "RECYCLAB_TIMESERIES_BACKEND": backend}
        self.log = work / f"ingester-{backend}-{index}.log"
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

    def forget_session(self) -> None:
        """End the broker session, so the broker stops queueing for this bench client."""
        from tests.ingest.support import forget_session

        forget_session(self.cmd[self.cmd.index("--broker-url") + 1],
                       self.cmd[self.cmd.index("--client-id") + 1])


def wait_stored(ings: list[IngesterProcess], total_values: int, values: int
                ) -> tuple[list[dict], float]:
    """Poll the status files until the ingesters together stored total_values."""
    last, last_change = -1, time.time()
    while True:
        states = [read_status(i.status_file) or {} for i in ings]
        stored = sum(s.get("values_stored_total", 0) for s in states)
        if stored >= total_values:
            return states, time.time()
        rejects = sum(s.get("rejects_total", 0) for s in states)
        if rejects:
            raise RuntimeError(f"rejects: {[s.get('rejects_by_reason') for s in states]}")
        if stored != last:
            last, last_change = stored, time.time()
        if time.time() - last_change > 15 or any(i.proc.poll() is not None for i in ings):
            raise RuntimeError(
                f"stored {stored} of {total_values} values and no progress for 15 s: the broker"
                " dropped messages (its queue limits; try --private-broker)"
            )
        time.sleep(0.02)


def worst(states: list[dict], pct: str) -> float:
    return max(s["latency_ms"][pct] or 0.0 for s in states)


def measure_e2e(args, backend: str, topics: list[str], work: Path, env: dict[str, str]) -> dict:
    group = f"bench-{uuid.uuid4().hex[:6]}" if args.ingesters > 1 else None
    ings = [IngesterProcess(args, backend, topics, work, env, i, group)
            for i in range(args.ingesters)]
    try:
        for ing in ings:
            ing.start()
        time.sleep(0.5)  # subscriptions acknowledged
        total_values = (args.messages // len(topics)) * len(topics) * args.values
        start, _ = run_bulk_publishers(args, topics, work)
        states, end = wait_stored(ings, total_values, args.values)
        seconds = end - start
        result = {"values": sum(s["values_stored_total"] for s in states),
                  "values_s": total_values / seconds, "seconds": seconds}
        # Latency below saturation: half the measured rate; enough messages to fill each
        # ingester's latency window (its last 20,000 messages) with this phase only.
        paced_rate = 0.5 * result["values_s"] / args.values
        paced = 20_000 * args.ingesters // len(topics) * len(topics)
        run_publishers(args, topics, paced, paced_rate)
        states, _ = wait_stored(ings, total_values + paced * args.values, args.values)
        result.update(p50=worst(states, "p50"), p99=worst(states, "p99"), paced_msg_s=paced_rate,
                      rss_mb=max(rss_peak_mb(i.proc.pid) for i in ings))
        return result
    finally:
        for ing in ings:
            ing.stop()
            ing.forget_session()


def measure_e2e_drain(args, backend: str, topics: list[str], work: Path, env: dict) -> dict:
    """Messages queued in the broker while the ingester is away, then drained."""
    ing = IngesterProcess(args, backend, topics, work, env, index=99)
    try:
        ing.start()
        time.sleep(0.5)
        ing.stop()
        run_bulk_publishers(args, topics, work)
        total_values = (args.messages // len(topics)) * len(topics) * args.values
        start = ing.start()
        _, end = wait_stored([ing], total_values, args.values)
        return {"values_s": total_values / (end - start), "seconds": end - start,
                "rss_mb": rss_peak_mb(ing.proc.pid)}
    finally:
        ing.stop()
        ing.forget_session()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--messages", type=int, default=40_000)
    ap.add_argument("--values", type=int, default=20, help="values per message")
    ap.add_argument("--publishers", type=int, default=2)
    ap.add_argument("--batch-values", type=int, default=20_000)
    ap.add_argument("--ingesters", type=int, default=1,
                    help="ingester processes sharing the stream (MQTT 5 shared subscription)")
    ap.add_argument("--backends", default="influxdb,sqlite")
    ap.add_argument("--private-broker", action="store_true",
                    help="run against a private mosquitto configured from config/mosquitto.conf"
                         " instead of --host/--port (whose default limits drop QoS 1 messages"
                         " for a subscriber more than 1000 messages behind)")
    ap.add_argument("--drain", action="store_true",
                    help="also: queue the whole load first, then time the consumers draining it"
                         " (private mosquitto with config/mosquitto.conf limits, one ingester)")
    ap.add_argument("--drain-only", action="store_true",
                    help="only the drain measurement (implies --drain): a quick profiling run")
    args = ap.parse_args()
    args.drain = args.drain or args.drain_only

    run = uuid.uuid4().hex[:6]
    installations = [f"bench-{run}-p{i}" for i in range(args.publishers)]
    topics = [f"recyclab/v1/{inst}/main" for inst in installations]
    with tempfile.TemporaryDirectory(prefix="recyclab-bench-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        if args.private_broker:
            args.host, args.port = stack.enter_context(private_broker(work / "mosquitto"))
        cdir = work / "config"
        write_registry(cdir, installations, args.values)
        lims_url = f"sqlite:///{work / 'lims.db'}"
        upgrade(lims_url)
        env = {"RECYCLAB_CONFIG_DIR": str(cdir), "RECYCLAB_DATABASE_URL": lims_url,
               "RECYCLAB_VAR_DIR": str(work / "var"),
               "RECYCLAB_TIMESERIES_SQLITE_PATH": str(work / "timeseries.db")}
        print(f"load: {args.messages} messages x {args.values} values = "
              f"{args.messages * args.values} values, {args.publishers} publishers, QoS 1, "
              f"broker {args.host}:{args.port}, {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f}")
        # The machine may be shared: each backend is compared with a raw run just before it.
        for backend in [] if args.drain_only else args.backends.split(","):
            raw = measure_raw(args, topics, work)
            print(f"raw delivery to a bare paho subscriber: {raw['msg_s']:,.0f} msg/s, "
                  f"{raw['values_s']:,.0f} values/s ({raw['messages']} messages in "
                  f"{raw['seconds']:.2f} s)")
            sent = args.messages // len(topics) * len(topics)
            if raw["messages"] < sent:
                print(f"  the broker dropped {sent - raw['messages']} of {sent} messages for the"
                      " bare subscriber (queue limits): use --private-broker")
            with backend_env(backend, env):
                r = measure_e2e(args, backend, topics, work, env)
            print(f"end to end into {backend} ({args.ingesters} ingester process(es)): "
                  f"{r['values_s']:,.0f} values/s stored ({r['values']} values in "
                  f"{r['seconds']:.2f} s, {100 * r['values_s'] / raw['values_s']:.0f} % of raw), "
                  f"ingester peak RSS {r['rss_mb']:.0f} MB")
            print(f"  publish-to-stored latency at {r['paced_msg_s']:,.0f} msg/s (half that rate,"
                  f" paho publishers): p50 {r['p50']} ms, p99 {r['p99']} ms")
        if args.drain:
            drain(args, topics, work, env)


@contextlib.contextmanager
def private_broker(workdir: Path):
    from tests.ingest.support import PrivateMosquitto

    broker = PrivateMosquitto(workdir).start()
    try:
        yield broker.host, broker.port
    finally:
        broker.stop()


def drain(args, topics: list[str], work: Path, env: dict) -> None:
    with private_broker(work / "mosquitto-drain") as (args.host, args.port):
        for backend in args.backends.split(","):
            raw = measure_raw_drain(args, topics, work)
            print(f"drain of {args.messages} queued messages (private mosquitto, project limits):"
                  f" bare paho subscriber {raw['msg_s']:,.0f} msg/s,"
                  f" {raw['values_s']:,.0f} values/s")
            with backend_env(backend, env):
                r = measure_e2e_drain(args, backend, topics, work, env)
            print(f"  ingester into {backend}: {r['values_s']:,.0f} values/s stored "
                  f"({100 * r['values_s'] / raw['values_s']:.0f} % of raw drain), "
                  f"peak RSS {r['rss_mb']:.0f} MB")


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
