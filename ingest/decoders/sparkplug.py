"""Sparkplug B (spBv1.0/<group>/<message type>/<edge node>[/<device>]).

No maintained Sparkplug library fits: pysparkplug and mqtt-spb-wrapper both pin paho-mqtt < 2,
which the ingester cannot use. So the Eclipse Tahu protobuf schema (sparkplug_b.proto) is
compiled with protoc into sparkplug_b_pb2 and run with the `protobuf` package; the session
rules (BIRTH alias tables, DATA by alias, sequence numbers, DEATH) are implemented here.

Mapping: an edge node's own metrics (NBIRTH/NDATA) are those of the installation whose
`sparkplug_node` is <group>/<edge node>, else of the installation named like the edge node
unless that installation names another node (edge node ids are unique only within a group, so
another site's gateway may carry an installation's name): such metrics are refused
(unmapped_node). A device's metrics (DBIRTH/DDATA) are those of the installation whose
`sparkplug_device` in the registry is <group>/<edge node>/<device>, and a device no installation
names is refused (unmapped_device): its metric names alone cannot tell which sensor they are,
as two machines behind one gateway send the same names. The sensor key is the metric name's
last path segment.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from ingest.decoders import sparkplug_b_pb2 as pb
from ingest.decoders.base import Decoded, ts_ok

log = logging.getLogger("recyclab.ingest")

NAMESPACE = "spBv1.0"
DATA_TYPES = {"NBIRTH", "NDATA", "NDEATH", "DBIRTH", "DDATA", "DDEATH"}
# The messages that carry process values alone, and those that also begin or end a session
# (its alias table and sequence numbers): every ingester must see the latter.
DATA_KINDS = ("NDATA", "DDATA")
SESSION_KINDS = ("NBIRTH", "NDEATH", "DBIRTH", "DDEATH")
# Session bookkeeping metrics, not process values.
_SKIP_NAMES = {"bdSeq"}
_SKIP_PREFIXES = ("Node Control/", "Device Control/", "Properties/", "Node Info/")
_SIGNED_BITS = {pb.Int8: 8, pb.Int16: 16, pb.Int32: 32, pb.Int64: 64}
REBIRTH_INTERVAL_S = 10.0
MAX_NODES = 10_000


def sparkplug_group(topic_filter: str) -> str | None:
    """The group level of a Sparkplug topic filter of every message of a group, or of every
    group ("spBv1.0/#" -> "+", "spBv1.0/plant/#" -> "plant"); None for any other filter."""
    parts = topic_filter.split("/")
    if parts[0] != NAMESPACE:
        return None
    if parts[1:] == ["#"]:
        return "+"
    if len(parts) == 3 and parts[2] == "#" and parts[1]:
        return parts[1]
    return None


def is_session_topic(topic: str) -> bool:
    parts = topic.split("/", 4)
    return len(parts) > 3 and parts[0] == NAMESPACE and parts[2] in SESSION_KINDS


def is_reserved(name: str) -> bool:
    """Sparkplug's own metrics (birth sequence, node control, properties) carry no sensor value."""
    return name in _SKIP_NAMES or name.startswith(_SKIP_PREFIXES)


@dataclass
class EdgeNodeState:
    aliases: dict[int, str] = field(default_factory=dict)
    seq: int | None = None
    rebirth_requested_at: float = 0.0
    # The bdSeq of the node's last NBIRTH: its NDEATH (the MQTT will) carries the same.
    bd_seq: int | None = None


class AliasFile:
    """The alias table of each edge node's last BIRTH, in a SQLite file.

    An edge node sends its BIRTH once and then DATA by alias for as long as its session
    lasts. DATA it sends while the ingester is away waits in the ingester's broker session,
    and after a restart arrives before any new BIRTH: without the aliases kept here it could
    only be rejected. The file is opened when first needed; a file that cannot be written
    costs only this, so it is logged, not raised.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._failing = False

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("CREATE TABLE IF NOT EXISTS alias (grp TEXT NOT NULL, edge TEXT NOT NULL,"
                         " alias INTEGER NOT NULL, name TEXT NOT NULL,"
                         " PRIMARY KEY (grp, edge, alias))")
            self._conn = conn
        return self._conn

    def load(self) -> dict[tuple[str, str], dict[int, str]]:
        tables: dict[tuple[str, str], dict[int, str]] = {}
        if not self.path.exists():
            return tables
        try:
            for grp, edge, alias, name in self._open().execute(
                    "SELECT grp, edge, alias, name FROM alias"):
                tables.setdefault((grp, edge), {})[alias] = name
        except (sqlite3.Error, OSError) as exc:
            log.error("event=sparkplug_aliases_unreadable path=%s error=%s", self.path, exc)
        return tables

    def save(self, tables: dict[tuple[str, str], dict[int, str]]) -> None:
        """Replace the tables of these edge nodes, in one transaction."""
        if not tables:
            return
        try:
            conn = self._open()
            with conn:
                for key, aliases in tables.items():
                    conn.execute("DELETE FROM alias WHERE grp = ? AND edge = ?", key)
                    conn.executemany("INSERT INTO alias VALUES (?, ?, ?, ?)",
                                     [(*key, alias, name) for alias, name in aliases.items()])
        except (sqlite3.Error, OSError) as exc:
            if not self._failing:
                log.error("event=sparkplug_aliases_unwritable path=%s error=%s", self.path, exc)
            self._failing = True
            return
        self._failing = False

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class SparkplugDecoder:
    """Stateful: alias tables and sequence numbers per edge node. Used by one thread.
    With an alias file, the alias tables outlast the process (sequence numbers need not:
    the first message after a start is never a gap)."""

    def __init__(self, alias_file: AliasFile | None = None, check_seq: bool = True) -> None:
        """check_seq: a gap in an edge node's sequence numbers is a lost message, for which
        the node is asked to rebirth. False where this decoder gets only a share of the
        node's messages (a member of a shared group): there a gap is another member's share."""
        self.check_seq = check_seq
        self.nodes: dict[tuple[str, str], EdgeNodeState] = {}
        self.seq_gaps = 0
        # (group, edge node) that should be asked for a rebirth (NCMD Node Control/Rebirth).
        self.rebirth_wanted: set[tuple[str, str]] = set()
        self.alias_file = alias_file
        # (group, edge node, device) -> installation key, from the registry (use()).
        self.devices: dict[tuple[str, str, str], str] = {}
        # (group, edge node) -> installation key, and the installations that name their node.
        self.node_installations: dict[tuple[str, str], str] = {}
        self.named_nodes: set[str] = set()
        # Tables changed by BIRTH or DEATH messages not yet acknowledged: the file is written
        # just before they are, so that after a restart it holds the tables as of the last
        # acknowledged message, where the broker's redelivery starts.
        self.unsaved: dict[tuple[str, str], dict[int, str]] = {}
        if alias_file is not None:
            for key, aliases in list(alias_file.load().items())[:MAX_NODES]:
                self.nodes[key] = EdgeNodeState(aliases)

    def use(self, devices: dict[tuple[str, str, str], str], nodes: dict[tuple[str, str], str]) -> None:
        """Map devices and edge nodes to installations this way from the next message on."""
        self.devices = devices
        self.node_installations = nodes
        self.named_nodes = set(nodes.values())

    def decode(self, topic: str, payload: bytes) -> Decoded | None:
        """None for Sparkplug topics that carry no data for us (STATE, NCMD, DCMD)."""
        parts = topic.split("/")
        if len(parts) < 4 or parts[2] not in DATA_TYPES:
            return None
        _, group, kind, edge = parts[:4]
        out = Decoded()
        device_level = kind[0] == "D"
        if (device_level and len(parts) != 5) or (not device_level and len(parts) != 4):
            out.error("malformed", f"bad Sparkplug topic for {kind}", topic, edge)
            return out
        try:
            msg = pb.Payload.FromString(payload)
        except Exception as exc:  # noqa: BLE001 - protobuf raises several types on garbage
            out.error("malformed", f"not a Sparkplug B payload: {exc}", payload, edge)
            return out
        key = (group, edge)
        node = self.nodes.get(key)
        if node is None:
            node = EdgeNodeState()
            # Topic names come from the network: cap the state they can make us keep.
            if len(self.nodes) < MAX_NODES:
                self.nodes[key] = node
        if kind == "NDEATH":
            # An NDEATH with another bdSeq than the last NBIRTH's is the will of an earlier
            # session, which the broker sends only once that connection has timed out, so it
            # can come after the node has reconnected and sent its new BIRTH: it ends nothing
            # (Sparkplug 3.0, the host checks bdSeq).
            death = _bd_seq(msg)
            if death is not None and node.bd_seq is not None and death != node.bd_seq:
                return out
            # The node's aliases die with its session; DATA before the next BIRTH is unusable.
            node.aliases, node.seq = {}, None
            self._keep_aliases(key, node)
            return out
        if kind == "NBIRTH":
            node.aliases = {}
            node.seq = msg.seq if msg.HasField("seq") else None
            node.bd_seq = _bd_seq(msg)
        else:
            self._check_seq(key, node, msg)
        if kind.endswith("BIRTH"):
            for m in msg.metrics:
                if m.HasField("alias") and m.name and isinstance(m.name, str):
                    node.aliases[m.alias] = m.name
            self._keep_aliases(key, node)
        if kind == "DDEATH":
            return out
        if device_level:
            installation = self.devices.get((group, edge, parts[4]))
        else:
            installation = self.node_installations.get(key)
            if installation is None and edge not in self.named_nodes:
                installation = edge
        self._readings(key, node, installation, device_level, "/".join(parts[1:2] + parts[3:]), msg, out)
        return out

    def _keep_aliases(self, key: tuple[str, str], node: EdgeNodeState) -> None:
        if self.alias_file is not None and self.nodes.get(key) is node:
            self.unsaved[key] = dict(node.aliases)

    def take_unsaved(self) -> dict[tuple[str, str], dict[int, str]]:
        """The alias tables changed since the last call, for the alias file."""
        unsaved, self.unsaved = self.unsaved, {}
        return unsaved

    def _check_seq(self, key: tuple[str, str], node: EdgeNodeState, msg: pb.Payload) -> None:
        if not msg.HasField("seq"):
            return
        if self.check_seq and node.seq is not None and msg.seq != (node.seq + 1) % 256:
            self.seq_gaps += 1
            self._want_rebirth(key, node)
        node.seq = msg.seq

    def _want_rebirth(self, key: tuple[str, str], node: EdgeNodeState) -> None:
        if key not in self.nodes:
            return
        now = time.monotonic()
        if now - node.rebirth_requested_at >= REBIRTH_INTERVAL_S:
            node.rebirth_requested_at = now
            self.rebirth_wanted.add(key)

    def _readings(
        self, key: tuple[str, str], node: EdgeNodeState, installation: str | None, device_level: bool,
        source: str, msg: pb.Payload, out: Decoded,
    ) -> None:
        """installation: None for an edge node or device no installation is mapped to; source:
        the edge node or device, <group>/<edge node>[/<device>]."""
        payload_ts = msg.timestamp if msg.HasField("timestamp") else None
        for m in msg.metrics:
            name = m.name
            if not name and m.HasField("alias"):
                name = node.aliases.get(m.alias, "")
                if not name:
                    out.error("unknown_alias", f"alias {m.alias} not in the last BIRTH of {source}",
                              f"alias={m.alias}", installation)
                    self._want_rebirth(key, node)
                    continue
            if not name:
                out.error("malformed", "metric with neither name nor alias", str(m), installation)
                continue
            if not isinstance(name, str):  # protobuf hands over a name that is not UTF-8 as bytes
                out.error("malformed", "metric name is not UTF-8", name, installation)
                continue
            if is_reserved(name):
                continue
            sensor = name.rsplit("/", 1)[-1]
            if installation is None and device_level:
                out.error("unmapped_device", f"Sparkplug device {source} is the"
                          " sparkplug_device of no installation in the registry", name,
                          None, sensor)
                continue
            if installation is None:
                out.error("unmapped_node", f"Sparkplug edge node {source} is the sparkplug_node"
                          f" of no installation, and installation {key[1]} names another",
                          name, None, sensor)
                continue
            ms = m.timestamp if m.HasField("timestamp") else payload_ts
            ts = ms * 1_000_000 if ms is not None else -1
            if not ts_ok(ts):
                out.error("bad_timestamp", "metric and payload have no valid timestamp",
                          f"{name} timestamp={ms}", installation, sensor)
                continue
            out.readings.append((installation, sensor, ts, metric_value(m)))


def _bd_seq(msg: pb.Payload) -> int | None:
    """The birth/death sequence number an NBIRTH or NDEATH carries, if any."""
    for m in msg.metrics:
        if m.name == "bdSeq":
            value = metric_value(m)
            return value if isinstance(value, int) else None
    return None


def metric_value(m: pb.Payload.Metric) -> object:
    """The metric's value as a Python object; validation rejects what is not a number."""
    if m.is_null:
        return None
    which = m.WhichOneof("value")
    if which == "int_value" or which == "long_value":
        v = getattr(m, which)
        bits = _SIGNED_BITS.get(m.datatype)
        if bits is not None:
            # Signed types travel as unsigned two's complement, in their own width or widened
            # to the 32/64-bit carrier depending on the sender.
            carrier = 32 if which == "int_value" else 64
            if bits < carrier and (1 << (bits - 1)) <= v < (1 << bits):
                v -= 1 << bits
            elif v >= 1 << (carrier - 1):
                v -= 1 << carrier
        return v
    if which in ("float_value", "double_value", "boolean_value", "string_value"):
        return getattr(m, which)
    if which is None:
        return None
    return f"<{which}>"


def rebirth_command(now_ms: int) -> bytes:
    """NCMD payload asking an edge node to publish its BIRTH again (after an alias/seq gap)."""
    msg = pb.Payload(timestamp=now_ms)
    metric = msg.metrics.add()
    metric.name = "Node Control/Rebirth"
    metric.datatype = pb.Boolean
    metric.boolean_value = True
    return msg.SerializeToString()
