"""Ingest throughput benchmark (not a test).

Publishes a load through a real Mosquitto (QoS 1, from `bulk_publisher` processes that
take little CPU) and prints, from one run:
  1. raw delivery rate to a bare paho subscriber (messages/s, values/s): stock paho, one
     callback per message, no work done with it,
  2. the ingester's end-to-end stored values/s into InfluxDB and into SQLite,
  3. p50/p99 publish-to-stored latency (device timestamp = publish time),
  4. the ingester's peak RSS (VmHWM),
  5. how fast a restarted ingester replays the spool an outage left (small batches).

The ingester runs as its own process (`python -m ingest`) exactly as in production, with
QoS 1, manual acks after the store write, and the LIMS database on a temporary SQLite file.
For InfluxDB the bench starts a private Debian influxd behind the test v2-write proxy
(tests/support/influx.py). Targets: >= 200,000 values/s end to end, >= 50 % of the raw
delivery rate, RSS <= 200 MB.

    .venv/bin/python bench/ingest.py [--messages 40000] [--values 20] [--publishers 2]
        [--private-broker [--broker-autosave changes=N|seconds=N]] [--drain | --drain-only]
        [--ingesters N] [--backends influxdb,sqlite] [--replay-only]

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
import select
import signal
import socket
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
from lims.kernel.migrate import upgrade  # noqa: E402
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


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return data


def bulk_publisher(host: str, port: int, topic: str, count: int, values: int, rate: float,
                   ready: mp.Event, go: mp.Event, out: mp.Queue, window: int = 1000) -> None:
    """QoS 1 load generator on a bare socket (MQTT 3.1.1), as fast as it can or at `rate`
    messages/s. Flat out, the PUBLISH packets are built before the clock starts (timestamps
    unique, 1 µs apart, but set then); paced, each is built when due, stamped with the time
    it is sent, for the latency measurement. Packets go many to a send() with at most
    `window` unacknowledged, PUBACKs are read in bulk. mosquitto_pub spent ~25 µs of CPU per
    message in syscalls (a third of this 2-core machine at the rates measured here) and paho
    publishers far more, which the ingester under test would lose; publishers of real
    installations run on their own machines."""
    body = ",".join(f'"s{v:02d}":{100.0 + v * 1.5}' for v in range(values)).encode()
    head = len(topic).to_bytes(2, "big") + topic.encode()
    last_us = 0

    def packet(seq: int) -> bytes:
        nonlocal last_us
        now_us = time.time_ns() // 1000
        last_us = now_us if now_us > last_us else last_us + 1
        payload = b'{"ts":%d.%03d,"seq":%d,"values":{%s}}' % (
            last_us // 1000, last_us % 1000, seq, body)
        rest = head + (seq % 65535 + 1).to_bytes(2, "big") + payload
        return b"\x32" + _varint(len(rest)) + rest

    prebuilt = [] if rate else [packet(seq) for seq in range(count)]
    sock = socket.create_connection((host, port))
    client_id = f"bench-pub-{uuid.uuid4().hex[:8]}".encode()
    connect = b"\x00\x04MQTT\x04\x02\x00\x00" + len(client_id).to_bytes(2, "big") + client_id
    sock.sendall(b"\x10" + _varint(len(connect)) + connect)
    if _recv_exact(sock, 4)[3] != 0:
        raise ConnectionError("broker refused the bench publisher")
    ready.set()
    go.wait(60)
    start = time.time()
    sent = acked = 0
    pending = b""
    while acked < count:
        due = min(count, int((time.time() - start) * rate) + 1) if rate else count
        n = min(due - sent, window - (sent - acked), 200)
        if n > 0:
            chunk = prebuilt[sent:sent + n] if prebuilt else [packet(q) for q in range(sent, sent + n)]
            sock.sendall(b"".join(chunk))
            sent += n
            continue
        # Wait for PUBACKs, or (paced) until the next message is due.
        waiting_for_time = rate and sent < count and sent - acked < window
        if not select.select([sock], [], [], 0.002 if waiting_for_time else None)[0]:
            continue
        pending += sock.recv(65536)  # PUBACKs: 4 bytes each in MQTT 3.1.1
        whole = len(pending) // 4 * 4
        if pending[:whole:4].count(b"\x40") != whole // 4:
            raise ConnectionError(f"expected only PUBACKs from the broker: {pending[:16]!r}")
        acked += whole // 4
        pending = pending[whole:]
    end = time.time()
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()
    out.put((start, end))


def run_bulk_publishers(args, topics: list[str], messages: int | None = None, rate: float = 0.0
                        ) -> tuple[float, float]:
    """The load (default: all of it, flat out), one publisher process per topic, started
    together; `rate` is messages/s over all of them."""
    per = (messages or args.messages) // len(topics)
    out: mp.Queue = mp.Queue()
    go = mp.Event()
    readies = [mp.Event() for _ in topics]
    procs = [mp.Process(target=bulk_publisher,
                        args=(args.host, args.port, t, per, args.values, rate / len(topics), r,
                              go, out))
             for t, r in zip(topics, readies, strict=True)]
    for p in procs:
        p.start()
    for r in readies:
        if not r.wait(60):
            raise RuntimeError("a bench publisher did not connect")
    go.set()
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
    start, _ = run_bulk_publishers(args, topics)
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
    # Every message is queued for the offline session: this rate carries the broker's
    # persistence cost (a changes-based autosave rewrites the whole queue per save).
    pub_start, pub_end = run_bulk_publishers(args, topics)
    go.set()
    n, start, last = out.get(timeout=600)
    sub.join()
    seconds = max(last - start, 1e-9)
    return {"messages": n, "msg_s": n / seconds, "values_s": n * args.values / seconds,
            "seconds": seconds, "queue_msg_s": total / max(pub_end - pub_start, 1e-9)}


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
        start, _ = run_bulk_publishers(args, topics)
        states, end = wait_stored(ings, total_values, args.values)
        seconds = end - start
        result = {"values": sum(s["values_stored_total"] for s in states),
                  "values_s": total_values / seconds, "seconds": seconds}
        # Latency below saturation: half the measured rate; enough messages to fill each
        # ingester's latency window (its last 20,000 messages) with this phase only.
        paced_rate = 0.5 * result["values_s"] / args.values
        paced = 20_000 * args.ingesters // len(topics) * len(topics)
        run_bulk_publishers(args, topics, paced, paced_rate)
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
        run_bulk_publishers(args, topics)
        total_values = (args.messages // len(topics)) * len(topics) * args.values
        start = ing.start()
        _, end = wait_stored([ing], total_values, args.values)
        return {"values_s": total_values / (end - start), "seconds": end - start,
                "rss_mb": rss_peak_mb(ing.proc.pid)}
    finally:
        ing.stop()
        ing.forget_session()


def measure_replay(args, backend: str, topics: list[str], work: Path, env: dict,
                   index: int) -> dict:
    """A spool left by an outage (args.replay_batches small batches, as a slow stream spools
    them), found by a restarted ingester: the time from its broker connection to an empty
    spool, writing spooled batches merged up to args.batch_values values per store write."""
    from ingest.spool import Spool

    ing = IngesterProcess(args, backend, topics, work, env, index=index)
    spool = Spool(work / f"spool-{backend}-{index}.db")
    start_ns = time.time_ns() - 3600 * 10**9
    insts = [t.split("/")[2] for t in topics]
    per_batch = args.replay_values
    for b in range(args.replay_batches):
        ts = start_ns + b * 10**9
        spool.append([(insts[b % len(insts)], f"s{v:02d}", ts, float(b)) for v in range(per_batch)])
    spool.close()
    total = args.replay_batches * per_batch
    try:
        start = ing.start()
        while (s := read_status(ing.status_file)) is None or s["spool"]["batches"]:
            if ing.proc.poll() is not None or time.time() - start > 600:
                raise RuntimeError(f"the spool was not replayed; see {ing.log}")
            time.sleep(0.02)
        end = time.time()
        return {"values_s": total / (end - start), "seconds": end - start, "values": total}
    finally:
        ing.stop()
        ing.forget_session()


def replay(args, topics: list[str], work: Path, env: dict) -> None:
    merged = args.batch_values
    for backend in args.backends.split(","):
        with backend_env(backend, env):
            for index, values in enumerate((merged, 1)):
                args.batch_values = values
                r = measure_replay(args, backend, topics, work, env, index=200 + index)
                how = (f"merged up to {values:,} values per write" if values > 1
                       else "one spooled batch per write (before 2026-12-03)")
                print(f"spool replay into {backend}, {args.replay_batches:,} batches of"
                      f" {args.replay_values} values, {how}: {r['values_s']:,.0f} values/s"
                      f" ({r['values']:,} values in {r['seconds']:.2f} s)")
    args.batch_values = merged


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
    ap.add_argument("--broker-autosave", metavar="changes=N|seconds=N", default=None,
                    help="the private broker's persistence autosave instead of"
                         " config/mosquitto.conf's: after every N changes (changes=1 loses"
                         " nothing in a crash) or every N seconds (seconds=60: what a crash"
                         " loses is up to a minute of queued messages)")
    ap.add_argument("--drain", action="store_true",
                    help="also: queue the whole load first, then time the consumers draining it"
                         " (private mosquitto with config/mosquitto.conf limits, one ingester)")
    ap.add_argument("--drain-only", action="store_true",
                    help="only the drain measurement (implies --drain): a quick profiling run")
    ap.add_argument("--replay-only", action="store_true",
                    help="only the spool replay measurement: a restarted ingester finds the"
                         " small batches an outage spooled and writes them to the store")
    ap.add_argument("--replay-batches", type=int, default=5000)
    ap.add_argument("--replay-values", type=int, default=4, help="values per spooled batch")
    args = ap.parse_args()
    args.drain = args.drain or args.drain_only

    run = uuid.uuid4().hex[:6]
    installations = [f"bench-{run}-p{i}" for i in range(args.publishers)]
    topics = [f"recyclab/v1/{inst}/main" for inst in installations]
    with tempfile.TemporaryDirectory(prefix="recyclab-bench-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        if args.private_broker:
            args.host, args.port = stack.enter_context(
                private_broker(work / "mosquitto", args.broker_autosave))
        cdir = work / "config"
        write_registry(cdir, installations, args.values)
        lims_url = f"sqlite:///{work / 'lims.kernel.db'}"
        upgrade(lims_url)
        env = {"RECYCLAB_CONFIG_DIR": str(cdir), "RECYCLAB_DATABASE_URL": lims_url,
               "RECYCLAB_VAR_DIR": str(work / "var"),
               "RECYCLAB_TIMESERIES_SQLITE_PATH": str(work / "timeseries.db")}
        autosave = f" (autosave {args.broker_autosave})" if args.broker_autosave else ""
        print(f"load: {args.messages} messages x {args.values} values = "
              f"{args.messages * args.values} values, {args.publishers} publishers, QoS 1, "
              f"broker {args.host}:{args.port}{autosave}, {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f}")
        # The machine may be shared: each backend is compared with a raw run just before it.
        if args.replay_only:
            replay(args, topics, work, env)
            return
        for backend in [] if args.drain_only else args.backends.split(","):
            raw = measure_raw(args, topics)
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
                  f" paced publishers): p50 {r['p50']} ms, p99 {r['p99']} ms")
        if args.drain:
            drain(args, topics, work, env)
        replay(args, topics, work, env)


@contextlib.contextmanager
def private_broker(workdir: Path, autosave: str | None = None):
    from tests.ingest.support import PrivateMosquitto

    extra = ""
    if autosave:
        kind, _, n = autosave.partition("=")
        extra = (f"autosave_on_changes {'true' if kind == 'changes' else 'false'}\n"
                 f"autosave_interval {int(n)}\n")
    broker = PrivateMosquitto(workdir, extra).start()
    try:
        yield broker.host, broker.port
    finally:
        broker.stop()


def drain(args, topics: list[str], work: Path, env: dict) -> None:
    with private_broker(work / "mosquitto-drain", args.broker_autosave) as (args.host, args.port):
        for backend in args.backends.split(","):
            raw = measure_raw_drain(args, topics)
            print(f"drain of {args.messages} queued messages (private mosquitto, project limits):"
                  f" queued for the offline subscriber at {raw['queue_msg_s']:,.0f} msg/s;"
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
