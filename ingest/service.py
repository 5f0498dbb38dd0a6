"""The ingester: MQTT (paho 2.x) -> decode -> validate -> time-series store (or spool) -> ack.

Threads: paho's network thread only appends incoming messages to a deque (it never blocks);
a collector thread decodes and validates them into batches; a writer thread writes each batch
to the store (or the spool), records rejects and alarms in the LIMS database and then
acknowledges the batch's messages in arrival order (manual acks).
A message is acknowledged only once its values are durable (store write returned, or the
spool's fsync), so a crash or restart anywhere makes the broker redeliver, and idempotent
writes turn the redelivery into a no-op.

The in-memory queue holds at most receive_maximum messages: at that depth the network thread
stops reading the socket until the collector has caught up, and TCP holds the broker back
(which keeps the rest queued in our session). The broker's own flow control (MQTT 5 Receive
Maximum) cannot be relied on for this: Mosquitto 2.0 sends its whole queue after the first
acknowledgement.

Sparkplug B session state (aliases, seq) lives in this process; with a shared subscription
every member subscribes to the BIRTH and DEATH messages itself (IngestConfig.subscriptions),
so it can read whichever DATA the broker hands it.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import ssl
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest.alarms import Changes
from ingest.decoders import PayloadDecoder
from ingest.decoders.sparkplug import (
    DATA_KINDS,
    NAMESPACE,
    SESSION_KINDS,
    is_session_topic,
    rebirth_command,
    sparkplug_group,
)
from ingest.heartbeat import Heartbeat
from ingest.mqtt_client import FastAckClient
from ingest.records import LimsRecorder, LimsUnavailable, Refused
from ingest.registry import RegistryError, load_registry
from ingest.spool import Spool
from ingest.status import IngestStatus, StatusWriter
from ingest.store.base import (
    Conflicts,
    Row,
    StoreError,
    StoreUnavailable,
    TimeSeriesStore,
    from_ns,
)
from ingest.validate import Reject, Validator, count_by_reason, keyed
from lims.kernel.clock import utcnow

log = logging.getLogger("recyclab.ingest")

TOPICS = ("recyclab/v1/+/+", f"{NAMESPACE}/#")
# A member leaving a shared subscription has drained it when nothing came for LEAVE_QUIET_S.
LEAVE_QUIET_S, LEAVE_TIMEOUT_S = 0.5, 20.0
# Published (QoS 1, payload: client id) by a stopping ingester; outside what it subscribes to.
STOPPED_TOPIC = "recyclab/ingest/stopped"
# Every ack and every store call releases the GIL around a syscall; retaking it waits for
# whichever thread holds it to be forced off, after this interval (CPython default 5 ms).
SWITCH_INTERVAL_S = 0.001
# Incoming item: (connection generation, mid, qos, topic, payload, arrival epoch seconds)
Item = tuple[int, int, int, str, bytes, float]
# A row the store did not take: (row, reject reason, detail)
Refusal = tuple[Row, str, str]


@dataclass
class IngestConfig:
    broker_url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    client_id: str = "recyclab-ingest"
    shared_group: str | None = None
    mqtt_version: str = "5"  # "5" or "3.1.1"
    topics: tuple[str, ...] = TOPICS
    # Under backlog, 20k-value batches drained ~30 % faster than 5k on the 2-core bench box;
    # under light load linger_s ends a batch long before.
    batch_values: int = 20_000
    linger_s: float = 0.05
    receive_maximum: int = 10_000
    session_expiry_s: int = 7 * 24 * 3600
    keepalive_s: int = 30
    spool_path: Path = Path("var/ingest-spool.db")
    spool_max_values: int = 20_000_000
    spool_max_bytes: int = 1 << 30
    status_path: Path = Path("var/ingest-status.json")
    status_interval_s: float = 1.0
    retry_max_s: float = 5.0
    # A store write that has not returned by then counts as failed and the batch is spooled
    # (the write may still land later: writes are idempotent).
    store_timeout_s: float = 5.0
    # Records the LIMS database refuses even one by one; default: next to the status file.
    dead_letter_path: Path | None = None
    # The Sparkplug edge nodes' alias tables, kept across restarts; default: next to the spool.
    sparkplug_aliases_path: Path | None = None
    # Read again on request_reload() (SIGHUP); default: the config dir's installations.toml.
    registry_path: Path | None = None
    # How often the ongoing alarm events are read: one opened by another ingester of the
    # shared group, on readings this one did not get, is ended by this one's readings only
    # once it knows of it (ingest.alarms.AlarmTracker.adopt).
    alarm_refresh_s: float = 5.0

    def subscriptions(self) -> list[str]:
        """In a shared group, Sparkplug DATA is shared out among the members, but every member
        gets each BIRTH and DEATH itself: DATA comes by the aliases a BIRTH announced, to
        whichever member the broker hands it."""
        if not self.shared_group:
            return list(self.topics)
        subscriptions = []
        for t in self.topics:
            group = sparkplug_group(t)
            if group is None:
                subscriptions.append(f"$share/{self.shared_group}/{t}")
                continue
            subscriptions += [f"$share/{self.shared_group}/{NAMESPACE}/{group}/{kind}/#"
                              for kind in DATA_KINDS]
            subscriptions += [f"{NAMESPACE}/{group}/{kind}/#" for kind in SESSION_KINDS]
        return subscriptions


@dataclass
class Batch:
    items: list[Item] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    watched: list[Row] = field(default_factory=list)  # rows of sensors with alarm limits
    # (len(rows) after a message, its topic) per message with rows: a store reject names it
    row_topics: list[tuple[int, str]] = field(default_factory=list)
    first_ts: list[int] = field(default_factory=list)  # per message, for latency
    installations: set[str] = field(default_factory=set)
    alarms: Changes = field(default_factory=Changes)
    # Sparkplug alias tables its BIRTH/DEATH messages changed, saved just before its acks.
    alias_tables: dict = field(default_factory=dict)
    durable: bool = False


class Ingester:
    def __init__(
        self,
        config: IngestConfig,
        store: TimeSeriesStore,
        recorder: LimsRecorder,
        validator: Validator,
    ) -> None:
        self.config = config
        self.store = store
        self.recorder = recorder
        self.validator = validator
        self.decoder = PayloadDecoder(
            config.sparkplug_aliases_path
            or config.spool_path.with_name(f"{config.spool_path.stem}.sparkplug-aliases.db"),
            # a member of a shared group gets its share of an edge node's sequence numbers
            check_seq=not config.shared_group)
        self.decoder.use(validator.registry)
        self.spool = Spool(config.spool_path, config.spool_max_values, config.spool_max_bytes)
        self.dead_letter_path = (config.dead_letter_path
                                 or config.status_path.with_name("ingest-dead-letter.jsonl"))
        self.status = IngestStatus()
        # Store writes run here, so that a write that hangs can be given up on (timeout).
        self._store_pool = ThreadPoolExecutor(1, thread_name_prefix="ingest-store")
        self._inflight: Future | None = None
        # Arrival time of the first message of each batch collected and not yet acknowledged,
        # oldest first: the status's lag is the age of the oldest unacknowledged message.
        self._pending: deque[float] = deque()
        # Neither store nor spool takes the batch: no acks, and the socket is not read.
        self._blocked = False
        self._recording_since: float | None = None  # monotonic; a LIMS write in progress
        self._queue: deque[Item] = deque()
        # Collector -> writer; two batches in hand is enough to overlap decoding and writing.
        self._handoff: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._reload_wanted = threading.Event()
        self.failed = False
        self._gen = 0  # bumped per connection: mids from an older connection are not acked
        self._next_store_try = 0.0
        self._next_alarm_refresh = time.monotonic() + config.alarm_refresh_s
        self._store_backoff = 0.0
        self._alone = False  # no other ingester was running at the last heartbeat
        self.client = self._make_client()

    # --- MQTT (network thread) -------------------------------------------------------------

    def _make_client(self) -> FastAckClient:
        cfg = self.config
        v5 = cfg.mqtt_version == "5"
        client = FastAckClient(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
        )
        client.manual_ack_set(True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password or None)
        if urlsplit(cfg.broker_url).scheme == "mqtts":
            client.tls_set(ca_certs=cfg.ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.message_sink = self._on_publish
        client.may_read = self._has_room
        return client

    def _on_connect(self, client, _userdata, flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            log.warning("event=mqtt_connect_refused reason=%s", reason_code)
            return
        self._gen += 1
        self.status.broker_connected = True
        log.info("event=mqtt_connected session_present=%s", flags.session_present)
        if self.config.mqtt_version == "5":
            client.subscribe([(t, SubscribeOptions(qos=1)) for t in self.config.subscriptions()])
        else:
            client.subscribe([(t, 1) for t in self.config.subscriptions()])

    def _on_connect_fail(self, _client, _userdata) -> None:
        # paho retries (1 s, then up to 30 s apart); without this line the log said nothing
        # while it did, as if connected to a mistyped or stopped broker.
        log.warning("event=mqtt_connect_failed broker=%s action=retry", self.config.broker_url)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        self.status.broker_connected = False
        if not self._stop.is_set():
            log.warning("event=mqtt_disconnected reason=%s", reason_code)

    def _has_room(self) -> bool:
        return len(self._queue) < self.config.receive_maximum and not self._blocked

    def _on_publish(self, mid: int, qos: int, topic: str, payload: bytes) -> None:
        self._queue.append((self._gen, mid, qos, topic, payload, time.time()))
        if not self._wake.is_set():
            self._wake.set()

    def connect(self) -> None:
        cfg = self.config
        parts = urlsplit(cfg.broker_url)
        tls = parts.scheme == "mqtts"
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"broker URL must be mqtt:// or mqtts://, not {cfg.broker_url!r}")
        port = parts.port or (8883 if tls else 1883)
        if cfg.mqtt_version == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = cfg.session_expiry_s
            props.ReceiveMaximum = cfg.receive_maximum
            self.client.connect_async(parts.hostname, port, cfg.keepalive_s, clean_start=False,
                                      properties=props)
        else:
            self.client.connect_async(parts.hostname, port, cfg.keepalive_s)
        self.client.loop_start()

    # --- worker ----------------------------------------------------------------------------

    def run(self) -> None:
        """Run until stop(). The caller's thread decodes and validates (collector); a writer
        thread stores, records and acks, so decoding the next batch overlaps the store's I/O."""
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        status_writer = StatusWriter(self.status, self.config.status_path,
                                     self.config.status_interval_s, self._refresh_status)
        status_writer.start()
        # Members of a shared subscription write the same series, each a part of its points;
        # an ingester outside one may be told by its heartbeat that no other ingester runs.
        self.store.set_sole_writer(False)
        heartbeat = Heartbeat(self.status, self.recorder.sessions, self.config.client_id,
                              self.config.status_interval_s,
                              None if self.config.shared_group else self._peers_seen)
        heartbeat.start()
        writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        writer.start()
        self.connect()
        batch = None
        try:
            while not self._stop.is_set():
                if self._reload_wanted.is_set():
                    self._reload_registry()
                batch = self._collect()
                while batch is not None and not self._stop.is_set():
                    try:
                        self._handoff.put(batch, timeout=0.2)
                        batch = None
                    except queue.Full:  # writer is retrying: back pressure, no acks meanwhile
                        pass
                self._request_rebirths()
            if self.config.shared_group and not self.failed:
                self._leave_group(batch)
        finally:
            self._stop.set()
            while writer.is_alive():
                try:
                    self._handoff.put(None, timeout=0.2)
                    break
                except queue.Full:  # the writer drops a batch it cannot store once stopping
                    continue
            writer.join(30)
            self._flush_acks()
            self.client.disconnect()
            self.client.loop_stop()
            status_writer.stop()
            heartbeat.stop()
            self._store_pool.shutdown(wait=False)
            self.spool.close()
            if self.decoder.sparkplug.alias_file is not None:
                self.decoder.sparkplug.alias_file.close()
        if self.failed:
            raise RuntimeError("the ingest writer failed; see the log")

    def _peers_seen(self, alone: bool) -> None:
        if alone != self._alone:
            log.info("event=%s", "sole_writer" if alone else "other_writers action=read_first")
            self._alone = alone
        self.store.set_sole_writer(alone)

    def _leave_group(self, pending: Batch | None) -> None:
        """Leave the shared subscription without stranding messages: unsubscribe, so the broker
        sends this member nothing new, then store and ack what it had sent already. Mosquitto
        keeps routing to a stopped member's persistent session, and what waits there would
        only be delivered when this client id comes back."""
        self.client.unsubscribe(self.config.subscriptions())
        deadline = time.monotonic() + LEAVE_TIMEOUT_S
        last_seen, batch = time.monotonic(), pending
        while not self.failed and time.monotonic() < deadline:
            batch = batch or self._collect()
            if batch is None:
                if time.monotonic() - last_seen >= LEAVE_QUIET_S:
                    return
                continue
            try:
                self._handoff.put(batch, timeout=0.2)
            except queue.Full:
                continue
            batch, last_seen = None, time.monotonic()

    def _write_loop(self) -> None:
        try:
            self._write_batches()
        except Exception:
            # Whatever was not acknowledged is redelivered; a supervisor restarts us.
            log.exception("event=writer_failed action=stop")
            self.failed = True
            self.stop()

    def _write_batches(self) -> None:
        while True:
            try:
                batch = self._handoff.get(timeout=0.2)
            except queue.Empty:
                batch = False
            if batch is None:
                return
            if batch:
                while not self._finish(batch):
                    if self._stop.wait(0.5):
                        return  # not durable: unacked, the broker redelivers after restart
                    if len(self.spool):
                        self._replay()
            if len(self.spool):
                self._replay()
            self._refresh_alarms()

    def _refresh_alarms(self) -> None:
        now = time.monotonic()
        if now < self._next_alarm_refresh:
            return
        self._next_alarm_refresh = now + self.config.alarm_refresh_s
        try:
            self.recorder.refresh_alarms()
        except LimsUnavailable:
            pass  # recording tells when the database is away; the next refresh tries again

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def request_reload(self) -> None:
        """Read the registry again before the next batch (safe from a signal handler)."""
        self._reload_wanted.set()
        self._wake.set()

    def _reload_registry(self) -> None:
        """Between two batches, in the collector: every message is checked against one
        registry, nothing is in flight, and the broker session goes on untouched. A registry
        that does not load leaves the one in use."""
        self._reload_wanted.clear()
        try:
            registry = load_registry(self.config.registry_path)
        except RegistryError as exc:
            log.error("event=registry_reload_failed error=%s action=keep_previous", exc)
            return
        self.validator.use(registry)
        self.decoder.use(registry)
        self.recorder.tracker.use(registry)
        synced = self.recorder.sync_registry(registry)
        log.info("event=registry_reloaded installations=%d sensors=%d lims_synced=%s",
                 len(registry.installations),
                 sum(len(i.sensors) for i in registry.installations.values()),
                 "yes" if synced else "no")

    def _collect(self) -> Batch | None:
        """Up to batch_values values, waiting at most linger_s after the first message."""
        q = self._queue
        if not q:
            self._wake.wait(0.2)
            self._wake.clear()
            if not q:
                return None
        batch = Batch()
        deadline = time.monotonic() + self.config.linger_s
        received_at = utcnow()
        decode, check = self.decoder.decode, self.validator.check
        limit = self.config.batch_values
        while len(batch.rows) < limit:
            if not q:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.wait(remaining)
                self._wake.clear()
                continue
            item = q.popleft()
            batch.items.append(item)
            decoded = decode(item[3], item[4])
            if decoded is None:
                batch.first_ts.append(-1)
                continue
            rows, rejects, watched = check(item[3], decoded, received_at)
            batch.rows.extend(rows)
            if rows:
                batch.row_topics.append((len(batch.rows), item[3]))
            if rejects and item[2]:
                # A QoS 1 message the broker sends again keeps its packet id (MQTT 4.4), and a
                # device sending the same bad bytes again most likely gets another one. A
                # BIRTH reaches every member of a shared group, each with its own packet id.
                shared = self.config.shared_group and is_session_topic(item[3])
                rejects = keyed(rejects, item[3], item[4], "" if shared else str(item[1]))
            batch.rejects.extend(rejects)
            batch.watched.extend(watched)
            if decoded.readings:
                batch.first_ts.append(decoded.readings[0][2])
                batch.installations.add(decoded.readings[0][0])
            else:
                batch.first_ts.append(-1)
        batch.alarms = self.recorder.tracker.observe(batch.watched, received_at)
        batch.alias_tables = self.decoder.sparkplug.take_unsaved()
        self._pending.append(batch.items[0][5])
        return batch

    def _finish(self, batch: Batch) -> bool:
        """Make the batch durable, record rejects/alarms, ack. False: retry later (no ack)."""
        if not batch.durable:
            if not self._make_durable(batch):
                return False
            batch.durable = True
        if not self._record(batch.rejects, batch.alarms):
            return False
        if self.decoder.sparkplug.alias_file is not None:
            self.decoder.sparkplug.alias_file.save(batch.alias_tables)
        self._ack(batch)
        return True

    def _record(self, rejects: list[Reject], alarms: Changes) -> bool:
        """Rejects and alarms into the LIMS database; what it refuses into the dead-letter
        file. False when neither could take them (the caller retries)."""
        self._recording_since = time.monotonic()
        try:
            refused = self.recorder.record(rejects, alarms)
        except LimsUnavailable as exc:
            if self.status.lims_available:
                log.warning("event=lims_db_unavailable error=%s action=retry", exc)
            self.status.lims_available = False
            return False
        finally:
            self._recording_since = None
        if not self.status.lims_available:
            log.info("event=lims_db_available")
        self.status.lims_available = True
        return not refused or self._dead_letter(refused)

    def _dead_letter(self, refused: list[Refused]) -> bool:
        now = utcnow().isoformat()
        text = "".join(
            json.dumps({"at": now, "kind": r.kind, "error": r.error, "record": r.record},
                       default=str) + "\n"
            for r in refused
        )
        path = self.dead_letter_path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            log.error("event=dead_letter_failed path=%s error=%s action=retry", path, exc)
            return False
        log.error("event=dead_lettered records=%d path=%s error=%s", len(refused), path,
                  refused[0].error.splitlines()[0] if refused[0].error else "")
        self.status.dead_letters += len(refused)
        return True

    def _make_durable(self, batch: Batch) -> bool:
        if self._store_or_spool(batch):
            if self._blocked:
                log.info("event=batch_durable_again action=resume")
                self._blocked = False
            return True
        if not self._blocked:
            stats = self.spool.stats()
            if stats.disk_full:
                log.error("event=disk_full error=%r action=stop_acking_pause_reading", stats.error)
            elif stats.error:
                log.error("event=spool_unwritable error=%r action=stop_acking_pause_reading",
                          stats.error)
            else:
                log.warning("event=spool_full values=%d action=stop_acking", stats.values)
            self._blocked = True
        return False

    def _store_or_spool(self, batch: Batch) -> bool:
        rows = batch.rows
        if not rows:
            return True
        if not len(self.spool) and time.monotonic() >= self._next_store_try:
            try:
                refused, added = self._store_write(rows)
            except StoreUnavailable as exc:
                self._store_failed(exc)
            else:
                self._store_ok()
                self.status.values_stored += added
                batch.rejects.extend(self._store_rejects(refused, batch))
                return True
        if self.spool.append(rows):
            self.status.values_spooled += len(rows)
            return True
        return False

    def _store_write(self, rows: list[Row], retry: bool = False) -> tuple[list[Refusal], int]:
        """Write rows; returns the rows the store did not take, with the reject reason and
        detail (values conflicting with a stored point, and rows the store refused), and
        how many values the write added. A refused write is split in halves until only the
        refused rows are left: a store may refuse a whole request for one bad row or for its
        size (InfluxDB's HTTP 413), or store all other rows and say so only in one error
        (InfluxDB's "partial write"); rewriting stored rows is harmless, and such a retry
        (`retry`) counts every row it is not refused as added, as the refused write may have
        added them. Raises StoreUnavailable, also when a write has not returned within
        store_timeout_s."""
        try:
            conflicts = self._timed_write(rows)
        except StoreUnavailable:
            raise
        except StoreError as exc:
            if len(rows) == 1:
                return [(rows[0], "store_rejected", str(exc))], 0
        else:
            refused: list[Refusal] = [
                (row, "conflicting_value", f"holds {kept!r} already, which is kept")
                for row, kept in conflicts]
            return refused, len(rows) - len(refused) if retry else conflicts.added
        mid = len(rows) // 2
        first, first_added = self._store_write(rows[:mid], True)
        second, second_added = self._store_write(rows[mid:], True)
        return first + second, first_added + second_added

    def _timed_write(self, rows: list[Row]) -> Conflicts:
        inflight = self._inflight
        if inflight is not None and not inflight.done():
            raise StoreUnavailable("an earlier write has not returned yet")
        self._inflight = self._store_pool.submit(self.store.write_rows, rows)
        try:
            return self._inflight.result(self.config.store_timeout_s)
        except TimeoutError:
            raise StoreUnavailable(
                f"no answer within {self.config.store_timeout_s:g} s"
            ) from None

    def _store_rejects(self, refused: list[Refusal], batch: Batch | None = None) -> list[Reject]:
        """Keyed by the row, which a redelivered batch brings again. Each names the topic of
        the message its row came in; a row replayed from the spool, which keeps no topics,
        names "(spool)"."""
        if not refused:
            return []
        topics: dict[Row, str] = {}
        start = 0
        for end, topic in batch.row_topics if batch is not None else ():
            for row in batch.rows[start:end]:
                topics.setdefault(row, topic)
            start = end
        now = utcnow()
        rejects = []
        for row, reason, detail in refused:
            inst, sensor, ts, v = row
            at = from_ns(ts).isoformat().replace("+00:00", "Z")
            reject = Reject(topics.get(row, "(spool)"), inst, sensor, reason, detail[:400],
                            f"{sensor}={v!r} at {at}", now)
            rejects += keyed([reject], "(store)", inst, sensor, str(ts), repr(v))
        return rejects

    def _store_ok(self) -> None:
        if not self.status.store_available:
            log.info("event=store_available")
        self.status.store_available = True
        self.status.last_store_write_at = time.time()
        self._store_backoff = 0.0

    def _store_failed(self, exc: Exception) -> None:
        if self.status.store_available:
            log.warning("event=store_unavailable error=%s action=spool", exc)
        self.status.store_available = False
        self._store_backoff = min(max(self._store_backoff * 2, 0.25), self.config.retry_max_s)
        self._next_store_try = time.monotonic() + self._store_backoff

    def _replay(self) -> None:
        """Write spooled batches to the store, oldest first, merged into writes as large as
        a live batch, for at most ~0.2 s per call."""
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline and time.monotonic() >= self._next_store_try:
            oldest = self.spool.oldest(self.config.batch_values)
            if oldest is None:
                return
            through_id, rows = oldest
            try:
                refused, _ = self._store_write(rows)  # counted as spooled
            except StoreUnavailable as exc:
                self._store_failed(exc)
                return
            self._store_ok()
            if refused:
                rejects = self._store_rejects(refused)
                if not self._record(rejects, Changes()):
                    return  # the batch stays spooled and is written again later
                self.status.add_rejects(count_by_reason(rejects))
            if not self.spool.remove(through_id):
                return
            if not len(self.spool):
                log.info("event=spool_replayed")

    def _ack(self, batch: Batch) -> None:
        gen = self._gen
        # A message from an older connection is redelivered on the new one (same session),
        # and its mid may already name another message there.
        self.client.ack_many([mid for item_gen, mid, qos, *_ in batch.items
                              if qos and item_gen == gen])
        self._pending.popleft()
        st = self.status
        st.last_ack_at = time.time()
        st.messages += len(batch.items)
        st.add_rejects(count_by_reason(batch.rejects))
        now_ns = time.time_ns()
        st.latencies_ms.extend((now_ns - ts) / 1e6 for ts in batch.first_ts if ts >= 0)
        if batch.items:
            arrived = datetime.fromtimestamp(batch.items[-1][5], UTC).isoformat()
            for inst in batch.installations:
                st.last_message[inst] = arrived

    def _flush_acks(self) -> None:
        """Before disconnecting, make sure the broker has taken our last PUBACKs. It handles
        a client's packets in order, so the PUBACK of a publish sent after them says so.
        Closing a socket that still holds unread incoming messages resets the connection,
        and the broker may drop what it had not read yet: those messages would come again."""
        if not self.status.broker_connected:
            return
        try:
            info = self.client.publish(STOPPED_TOPIC, self.config.client_id.encode(), qos=1)
            info.wait_for_publish(2.0)
        except (RuntimeError, ValueError) as exc:  # gone meanwhile: the broker redelivers
            log.info("event=ack_flush_skipped reason=%s", exc)

    def _request_rebirths(self) -> None:
        """Ask Sparkplug edge nodes whose aliases or seq we lost to publish a new BIRTH."""
        wanted = self.decoder.sparkplug.rebirth_wanted
        while wanted:
            group, edge = wanted.pop()
            self.client.publish(f"{NAMESPACE}/{group}/NCMD/{edge}",
                                rebirth_command(time.time_ns() // 1_000_000), qos=0)

    def _refresh_status(self) -> None:
        """Called by the status writer before each snapshot, from the writer's and the
        queue's state as they are now: the figures move even while the writer is stuck."""
        st, q = self.status, self._queue
        st.queue_depth = len(q) + self._handoff.qsize()
        st.reading_paused = not self._has_room()
        try:
            oldest = self._pending[0] if self._pending else q[0][5]
        except IndexError:  # emptied meanwhile
            oldest = None
        st.queue_age_s = 0.0 if oldest is None else max(0.0, time.time() - oldest)
        spool = self.spool.stats()
        st.spool = spool.as_dict()
        st.disk_full = spool.disk_full
        st.sparkplug_seq_gaps = self.decoder.sparkplug.seq_gaps
        since = self._recording_since
        if since is not None and time.monotonic() - since > self.config.store_timeout_s:
            st.lims_available = False  # a database that takes this long is not available
