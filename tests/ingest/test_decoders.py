"""Payload decoders: round trips for every format, and garbage never crashes a decoder."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from influxdb_client import Point as LPPoint
from influxdb_client import WritePrecision

import ingest.decoders as decoders
from ingest.decoders import Decoded, PayloadDecoder
from ingest.decoders import sparkplug_b_pb2 as pb
from ingest.decoders.json_payload import parse_ts
from ingest.decoders.sparkplug import is_reserved as sparkplug_reserved
from ingest.decoders.sparkplug import metric_value
from ingest.registry import Installation, Registry, RegistryError, load_registry

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
sensor_names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20
)
finite = st.floats(allow_nan=False, allow_infinity=False)
# Backslashes in names are ambiguous in line protocol itself; '#' starts a comment line.
lp_names = sensor_names.filter(lambda s: "\\" not in s and not s.startswith("#"))
ts_ms = st.integers(min_value=0, max_value=9_000_000_000_000)


def ns(dt: datetime) -> int:
    d = dt - EPOCH
    return (d.days * 86400 + d.seconds) * 10**9 + d.microseconds * 1000


# --- JSON ---------------------------------------------------------------------------------


@given(
    st.lists(
        st.tuples(ts_ms, st.dictionaries(sensor_names, finite, min_size=1, max_size=5)),
        min_size=1,
        max_size=5,
    ),
    st.booleans(),
    st.booleans(),
)
def test_json_round_trip_epoch_ms_or_rfc3339_single_or_list(readings, as_text, as_list):
    docs = []
    for ms, values in readings:
        ts = (EPOCH + timedelta(milliseconds=ms)).isoformat() if as_text else ms
        docs.append({"ts": ts, "seq": 1, "values": values})
    payload = orjson.dumps(docs if as_list or len(docs) > 1 else docs[0])
    out = PayloadDecoder().decode("recyclab/v1/inst-a/main", payload)
    assert out.errors == []
    expected = [("inst-a", k, ms * 10**6, v) for ms, values in readings for k, v in values.items()]
    assert out.readings == expected


def test_json_timestamps_in_all_accepted_forms():
    want = ns(datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC))
    assert parse_ts("2026-03-01T08:00:00.123456Z") == want
    assert parse_ts("2026-03-01T09:00:00.123456+01:00") == want
    assert parse_ts("2026-03-01T08:00:00.123456789Z") == want + 789
    assert parse_ts(want // 10**6) == want - 456_000
    assert parse_ts(1.5) == 1_500_000
    for bad in ("2026-03-01T08:00:00", "yesterday", None, True, [], -1, float("nan"), 10**20):
        assert parse_ts(bad) is None, bad


def test_json_bad_elements_are_errors_and_good_ones_kept():
    payload = orjson.dumps(
        [
            {"ts": 1000, "values": {"a": 1.0, "b": "high"}},
            {"ts": "not a time", "values": {"a": 2.0}},
            {"ts": 2000, "values": [1, 2]},
            42,
            {"ts": 3000, "values": {"a": None}},
        ]
    )
    out = PayloadDecoder().decode("recyclab/v1/x/main", payload)
    assert out.readings == [
        ("x", "a", 10**9, 1.0),
        ("x", "b", 10**9, "high"),
        ("x", "a", 3 * 10**9, None),
    ]
    assert [e.reason for e in out.errors] == ["bad_timestamp", "malformed", "malformed"]
    assert all(e.installation == "x" and e.excerpt for e in out.errors)


def test_json_sensor_given_twice_in_one_reading_keeps_both_values_for_the_store_to_judge():
    """A JSON object may hold a key twice; a parser keeps only the last. Both values go on,
    first first, as from line protocol: the store keeps the first, an equal second is a
    repeat and another one a conflicting_value reject, and no value vanishes unseen. A
    reading with its time (or its values) given twice is malformed: which one is meant?"""
    out = PayloadDecoder().decode("recyclab/v1/x/main", (
        b'[{"ts": 1000, "values": {"a": 1.5, "b": 2.0, "a" : 1.75}},'
        b' {"ts": 2000, "ts": 3000, "values": {"a": 3.0}},'
        b' {"ts": 4000, "note": "x\\":", "values": {"a": 4.0}}]'))
    assert out.readings == [
        ("x", "a", 10**9, 1.5), ("x", "b", 10**9, 2.0), ("x", "a", 10**9, 1.75),
        ("x", "a", 4 * 10**9, 4.0),
    ]
    assert [(e.reason, e.detail) for e in out.errors] == [
        ("malformed", "'ts' given twice in one reading")]


# --- line protocol --------------------------------------------------------------------------

lp_values = st.one_of(
    finite,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=10),
)


@given(
    measurement=lp_names,
    tags=st.dictionaries(lp_names, lp_names, max_size=3),
    fields=st.dictionaries(lp_names, lp_values, min_size=1, max_size=5),
    ts=st.integers(min_value=0, max_value=2**63 - 1),
)
def test_line_protocol_round_trip_with_the_influx_client_encoder(measurement, tags, fields, ts):
    p = LPPoint(measurement)
    for k, v in tags.items():
        p = p.tag(k, v)
    for k, v in fields.items():
        p = p.field(k, v)
    line = p.time(ts, WritePrecision.NS).to_line_protocol()
    out = PayloadDecoder().decode("recyclab/v1/inst-b/lp", line.encode())
    assert out.errors == []
    got = {sensor: value for _, sensor, _, value in out.readings}
    assert {r[2] for r in out.readings} == {ts}
    assert set(got) == set(fields)
    for k, v in fields.items():
        if isinstance(v, float):
            assert got[k] == v or math.isclose(got[k], v, rel_tol=1e-15)
        else:
            assert got[k] == v and type(got[k]) is type(v)


def test_line_protocol_bad_lines_are_errors_and_good_lines_kept():
    payload = (
        b"ext temp=1.5,rpm=300i 1700000000000000000\n"
        b"# a comment\n\n"
        b"ext temp=2.5\n"  # no timestamp
        b"ext temp=abc 1700000000000000001\n"
        b"ext temp=nan 1700000000000000001\n"
        b"ext,line=1 temp=3.5 1700000000000000002\n"
    )
    out = PayloadDecoder().decode("recyclab/v1/x/lp", payload)
    assert out.readings == [
        ("x", "temp", 1700000000000000000, 1.5),
        ("x", "rpm", 1700000000000000000, 300),
        ("x", "temp", 1700000000000000002, 3.5),
    ]
    assert [e.reason for e in out.errors] == ["bad_timestamp", "malformed", "malformed"]


# --- Sparkplug B -----------------------------------------------------------------------------


def spb(seq: int | None, metrics: list[dict], ts: int | None = 1_700_000_000_000) -> bytes:
    msg = pb.Payload()
    if ts is not None:
        msg.timestamp = ts
    if seq is not None:
        msg.seq = seq
    for m in metrics:
        metric = msg.metrics.add()
        for k, v in m.items():
            setattr(metric, k, v)
    return msg.SerializeToString()


def test_sparkplug_birth_alias_table_then_data_by_alias_and_death():
    d = PayloadDecoder()
    birth = spb(0, [
        {"name": "bdSeq", "datatype": pb.Int64, "long_value": 3},
        {"name": "Node Control/Rebirth", "datatype": pb.Boolean, "boolean_value": False},
        {"name": "Extruder/melt_temp_c", "alias": 1, "datatype": pb.Double, "double_value": 210.0},
        {"name": "screw_speed_rpm", "alias": 2, "datatype": pb.Int32, "int_value": 300},
    ])
    out = d.decode("spBv1.0/ntk/NBIRTH/ntk-ext1", birth)
    assert out.errors == []
    assert out.readings == [
        ("ntk-ext1", "melt_temp_c", 1_700_000_000_000 * 10**6, 210.0),
        ("ntk-ext1", "screw_speed_rpm", 1_700_000_000_000 * 10**6, 300),
    ]
    data = spb(1, [
        {"alias": 1, "datatype": pb.Double, "double_value": 211.5, "timestamp": 1_700_000_000_500},
        {"alias": 2, "datatype": pb.Int32, "int_value": 301},
        {"alias": 9, "datatype": pb.Double, "double_value": 1.0},
    ])
    out = d.decode("spBv1.0/ntk/NDATA/ntk-ext1", data)
    assert out.readings == [
        ("ntk-ext1", "melt_temp_c", 1_700_000_000_500 * 10**6, 211.5),
        ("ntk-ext1", "screw_speed_rpm", 1_700_000_000_000 * 10**6, 301),
    ]
    assert [e.reason for e in out.errors] == ["unknown_alias"]
    assert d.sparkplug.seq_gaps == 0
    # a device BIRTH adds aliases to the node's table; the device's values are those of the
    # installation mapped to it
    d.use(Registry({}, {"ntk-pump": Installation("ntk-pump", "ntk", "pump", "Pump",
                                                 sparkplug_device="ntk/ntk-ext1/pump1")}))
    dbirth = spb(2, [{"name": "pump/pressure_bar", "alias": 7, "datatype": pb.Float,
                      "float_value": 2.5}])
    assert d.decode("spBv1.0/ntk/DBIRTH/ntk-ext1/pump1", dbirth).readings[0][:2] == (
        "ntk-pump", "pressure_bar")
    ddata = spb(3, [{"alias": 7, "datatype": pb.Float, "float_value": 3.0}])
    assert d.decode("spBv1.0/ntk/DDATA/ntk-ext1/pump1", ddata).readings[0][3] == 3.0
    # a gap in seq is counted and a rebirth is wanted
    d.decode("spBv1.0/ntk/NDATA/ntk-ext1", spb(9, []))
    assert d.sparkplug.seq_gaps == 1 and ("ntk", "ntk-ext1") in d.sparkplug.rebirth_wanted
    # The will of an earlier session (another bdSeq), delivered after this session's BIRTH,
    # ends nothing: the live session's DATA by alias still decodes.
    stale_death = spb(None, [{"name": "bdSeq", "datatype": pb.Int64, "long_value": 2}])
    assert d.decode("spBv1.0/ntk/NDEATH/ntk-ext1", stale_death).readings == []
    out = d.decode("spBv1.0/ntk/NDATA/ntk-ext1", spb(10, [{"alias": 1, "double_value": 212.0}]))
    assert out.errors == [] and out.readings[0][1:] == ("melt_temp_c", 1_700_000_000_000 * 10**6, 212.0)
    # after this session's DEATH the aliases are gone until the next BIRTH
    death = spb(None, [{"name": "bdSeq", "datatype": pb.Int64, "long_value": 3}])
    assert d.decode("spBv1.0/ntk/NDEATH/ntk-ext1", death).readings == []
    out = d.decode("spBv1.0/ntk/NDATA/ntk-ext1", spb(0, [{"alias": 1, "double_value": 1.0}]))
    assert out.readings == [] and out.errors[0].reason == "unknown_alias"
    assert d.decode("spBv1.0/STATE/host", b"ONLINE") is None
    assert d.decode("spBv1.0/ntk/NCMD/ntk-ext1", b"") is None


def test_sparkplug_metric_without_timestamp_and_null_and_signed_ints():
    d = PayloadDecoder()
    out = d.decode("spBv1.0/g/NBIRTH/e", spb(0, [{"name": "a", "double_value": 1.0}], ts=None))
    assert [e.reason for e in out.errors] == ["bad_timestamp"]
    out = d.decode("spBv1.0/g/NDATA/e", spb(1, [{"name": "a", "is_null": True}]))
    assert out.readings[0][3] is None
    m = pb.Payload.Metric(datatype=pb.Int8, int_value=2**8 - 5)
    assert metric_value(m) == -5
    m = pb.Payload.Metric(datatype=pb.Int16, int_value=2**32 - 5)
    assert metric_value(m) == -5
    m = pb.Payload.Metric(datatype=pb.Int64, long_value=2**64 - 1)
    assert metric_value(m) == -1
    m = pb.Payload.Metric(datatype=pb.UInt32, int_value=2**32 - 1)
    assert metric_value(m) == 2**32 - 1


@given(
    # Sparkplug's own metrics (bdSeq, Node Control/...) are not sensor values and are skipped.
    st.lists(st.tuples(sensor_names.filter(lambda s: "/" not in s and not sparkplug_reserved(s)),
                       finite), min_size=1,
             max_size=8, unique_by=lambda t: t[0]),
    ts_ms,
    st.booleans(),
)
def test_sparkplug_round_trip_birth_then_data_by_alias(metrics, ms, by_device):
    """The edge node's own metrics, or those of a device the registry maps to "machine"."""
    d = PayloadDecoder()
    d.use(Registry({}, {"machine": Installation("machine", "l", "k", "M",
                                                sparkplug_device="g/edge/plc")}))
    birth_topic, data_topic, inst = (
        ("spBv1.0/g/DBIRTH/edge/plc", "spBv1.0/g/DDATA/edge/plc", "machine") if by_device
        else ("spBv1.0/g/NBIRTH/edge", "spBv1.0/g/NDATA/edge", "edge"))
    birth = spb(0, [{"name": n, "alias": i, "datatype": pb.Double, "double_value": v}
                    for i, (n, v) in enumerate(metrics)], ts=ms)
    data = spb(1, [{"alias": i, "datatype": pb.Double, "double_value": v + 1}
                   for i, (_, v) in enumerate(metrics)], ts=ms + 1)
    assert d.decode(birth_topic, birth).readings == [
        (inst, n, ms * 10**6, v) for n, v in metrics
    ]
    out = d.decode(data_topic, data)
    assert out.errors == []
    assert out.readings == [(inst, n, (ms + 1) * 10**6, v + 1) for n, v in metrics]


def test_sparkplug_two_devices_of_one_edge_node_with_the_same_metric_never_share_a_series(
        tmp_path):
    """A gateway (edge node) serving two machines (devices) that both send temp_c: each
    device's values go to the installation the registry maps that device to, and a device
    the registry does not map is refused by name, never stored under the edge node."""
    ns = 1_700_000_000_000 * 10**6

    def birth_and_data(d: PayloadDecoder, device: str, value: float):
        out = d.decode(f"spBv1.0/site/DBIRTH/gw/{device}", spb(
            None, [{"name": "Zone/temp_c", "alias": 1, "datatype": pb.Double,
                    "double_value": value}]))
        data = d.decode(f"spBv1.0/site/DDATA/gw/{device}", spb(
            None, [{"alias": 1, "datatype": pb.Double, "double_value": value + 1}],
            ts=1_700_000_000_001))
        return out.readings + data.readings, out.errors + data.errors

    unmapped = PayloadDecoder()
    for device, value in [("plc-a", 200.0), ("plc-b", 100.0)]:
        readings, errors = birth_and_data(unmapped, device, value)
        assert readings == []
        assert [(e.reason, e.installation, e.sensor) for e in errors] == [
            ("unmapped_device", None, "temp_c")] * 2
        assert f"site/gw/{device}" in errors[0].detail

    toml = tmp_path / "installations.toml"
    toml.write_text(
        '[[line]]\nkey = "l"\nname = "L"\nsample_prefix = "L"\n'
        + "".join(
            f'[[installation]]\nkey = "{key}"\nline = "l"\nkind = "k"\nname = "{key}"\n'
            f'sparkplug_device = "site/gw/{device}"\n'
            f'[[installation.sensor]]\nkey = "temp_c"\nname = "T"\nunit = "C"\n'
            f"range = [0, 400]\n"
            for key, device in [("ext-a", "plc-a"), ("ext-b", "plc-b")]))
    mapped = PayloadDecoder()
    mapped.use(load_registry(toml))
    for device, inst, value in [("plc-a", "ext-a", 200.0), ("plc-b", "ext-b", 100.0)]:
        assert birth_and_data(mapped, device, value) == (
            [(inst, "temp_c", ns, value), (inst, "temp_c", ns + 10**6, value + 1)], [])
    readings, errors = birth_and_data(mapped, "plc-c", 50.0)
    assert readings == [] and {e.reason for e in errors} == {"unmapped_device"}
    # the edge node's own metrics still name the installation called like the edge node
    assert mapped.decode("spBv1.0/site/NBIRTH/gw", spb(
        0, [{"name": "temp_c", "double_value": 1.0}])).readings == [("gw", "temp_c", ns, 1.0)]
    # one device for two installations, or an address that is no device, is refused at load
    text = toml.read_text()
    for wrong, message in [("site/gw/plc-a", "name the same sparkplug_device"),
                           ("site/gw", "must be <group>/<edge node>/<device>")]:
        toml.write_text(text.replace("site/gw/plc-b", wrong))
        with pytest.raises(RegistryError, match=message):
            load_registry(toml)


def test_an_edge_node_of_another_group_named_like_an_installation_is_not_that_installation(tmp_path):
    """Sparkplug edge node ids are unique only within their group: a second site's gateway
    called "ext-a" sent its own metrics into installation ext-a. An installation that names
    its edge node (sparkplug_node = "<group>/<edge node>") takes node metrics from it alone."""
    ns = 1_700_000_000_000 * 10**6
    toml = tmp_path / "installations.toml"
    toml.write_text(
        '[[line]]\nkey = "l"\nname = "L"\nsample_prefix = "L"\n'
        + "".join(
            f'[[installation]]\nkey = "{key}"\nline = "l"\nkind = "k"\nname = "{key}"\n{extra}'
            f'[[installation.sensor]]\nkey = "temp_c"\nname = "T"\nunit = "C"\nrange = [0, 400]\n'
            for key, extra in [("ext-a", 'sparkplug_node = "plant/ext-a"\n'),
                               ("ext-b", 'sparkplug_node = "plant/gw-7"\n'), ("ext-c", "")]))
    d = PayloadDecoder()
    d.use(load_registry(toml))

    def node_birth(group: str, edge: str) -> Decoded:
        return d.decode(f"spBv1.0/{group}/NBIRTH/{edge}", spb(0, [{"name": "temp_c", "double_value": 1.0}]))

    assert node_birth("plant", "ext-a").readings == [("ext-a", "temp_c", ns, 1.0)]
    assert node_birth("plant", "gw-7").readings == [("ext-b", "temp_c", ns, 1.0)]
    for group, edge in [("other-site", "ext-a"), ("plant", "ext-b")]:
        out = node_birth(group, edge)
        assert out.readings == []
        assert [(e.reason, e.installation, e.sensor) for e in out.errors] == [("unmapped_node", None, "temp_c")]
        assert f"{group}/{edge}" in out.errors[0].detail
    # an installation that names no edge node keeps the node called like it, in any group
    assert node_birth("anywhere", "ext-c").readings == [("ext-c", "temp_c", ns, 1.0)]
    text = toml.read_text()
    for wrong, message in [("plant/ext-a", "name the same sparkplug_node"),
                           ("plant/gw-7/plc", "must be <group>/<edge node>")]:
        toml.write_text(text.replace("plant/gw-7", wrong))
        with pytest.raises(RegistryError, match=message):
            load_registry(toml)


# --- garbage -------------------------------------------------------------------------------

topics = st.sampled_from(
    [
        "recyclab/v1/inst/main",
        "recyclab/v1/inst/lp",
        "recyclab/v1/inst",
        "recyclab/v1//lp",
        "spBv1.0/g/NBIRTH/e",
        "spBv1.0/g/NDATA/e",
        "spBv1.0/g/DDATA/e/d",
        "spBv1.0/g/DDATA/e",
        "spBv1.0/g",
        "other/topic",
    ]
)


@settings(max_examples=300)
@given(topics, st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_garbage_never_crashes_any_decoder(topic, payload):
    out = PayloadDecoder().decode(topic, payload)
    if out is not None:
        for _, sensor, ts, _ in out.readings:
            assert isinstance(sensor, str) and 0 <= ts < 2**63
        for e in out.errors:
            assert e.reason and len(e.excerpt) <= 200


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | finite | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["ts", "values", "seq", "x"]), children, max_size=4),
    max_leaves=12,
))
def test_json_shaped_garbage_never_crashes(doc):
    try:
        payload = orjson.dumps(doc)
    except TypeError:  # integers beyond 64 bits
        return
    PayloadDecoder().decode("recyclab/v1/inst/main", payload)


def test_a_decoder_that_raises_makes_its_message_a_reject_not_a_stopped_ingester(monkeypatch, caplog):
    """Decoders must not raise on input, yet four did (a 1e308 time, a name not UTF-8, a
    5,000-digit integer, a 1,010-deep JSON value), and each stopped the ingester again after
    every restart. A decoder bug still to be found costs its message only: a reject saying what
    failed, the traceback in the log, and the next message decodes as ever."""
    real = decoders.decode_line_protocol

    def buggy(installation: str, payload: bytes) -> Decoded:
        if b"trips" in payload:
            raise IndexError("a bug still to be found")
        return real(installation, payload)

    monkeypatch.setattr(decoders, "decode_line_protocol", buggy)
    decoder = PayloadDecoder()
    with caplog.at_level("ERROR", logger="ingest.decoders"):
        out = decoder.decode("recyclab/v1/ext/lp", b"ext trips=1 1780000000000000000")
    assert out is not None and out.readings == []
    (error,) = out.errors
    assert error.reason == "malformed" and "IndexError: a bug still to be found" in error.detail
    assert error.excerpt == "ext trips=1 1780000000000000000"
    assert "IndexError" in caplog.text
    fine = decoder.decode("recyclab/v1/ext/lp", b"ext pressure_bar=1.5 1780000000000000000")
    assert fine is not None and fine.errors == [] and len(fine.readings) == 1
