"""The ingester's paho client: buffered reads give back exactly the bytes sent, however they
are split; its PUBLISH parser agrees with paho's own; one batched PUBACK write acknowledges
exactly the messages it names."""

from __future__ import annotations

import socket
import threading
import uuid

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt import _packet
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.mqtt_client import BufferedSocket, FastAckClient, parse_publish
from tests.ingest.support import Publisher, forget_session, wait_until


@settings(max_examples=60, deadline=None)
@given(
    chunks=st.lists(st.binary(min_size=1, max_size=70_000), min_size=1, max_size=6),
    read_sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=20),
)
def test_buffered_reads_return_the_stream_unchanged(chunks, read_sizes):
    left, right = socket.socketpair()
    sent = b"".join(chunks)

    def send_all() -> None:
        for chunk in chunks:
            left.sendall(chunk)

    writer = threading.Thread(target=send_all)
    writer.start()
    sock = BufferedSocket(right)
    got = bytearray()
    n = 0
    while len(got) < len(sent):
        data = sock.recv(read_sizes[n % len(read_sizes)])
        assert data, "end of stream before everything arrived"
        assert len(data) <= read_sizes[n % len(read_sizes)]
        got += data
        n += 1
    writer.join()
    assert bytes(got) == sent and sock.pending() == 0
    left.close()
    assert sock.recv(10) == b""  # end of stream still reaches paho
    right.close()


# What MQTT allows in a UTF-8 string (paho's property decoder enforces it; brokers do too)
def mqtt_text(max_size: int):
    return st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   max_size=max_size)


@st.composite
def publish_packets(draw):
    """(fixed-header byte, packet after the fixed header, v5) of a valid PUBLISH."""
    v5 = draw(st.booleans())
    qos = draw(st.sampled_from([0, 1]))
    topic = draw(st.text(min_size=1, max_size=40)).encode()
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += draw(st.integers(1, 65535)).to_bytes(2, "big")
    if v5:
        props = Properties(PacketTypes.PUBLISH)
        if draw(st.booleans()):
            props.ContentType = draw(mqtt_text(20))
        for key, value in draw(st.lists(st.tuples(mqtt_text(8), mqtt_text(300)), max_size=3)):
            props.UserProperty = (key, value)
        if draw(st.booleans()):
            props.MessageExpiryInterval = draw(st.integers(0, 2**32 - 1))
        body += props.pack()
    body += draw(st.binary(max_size=600))
    header = 0x30 | (qos << 1) | draw(st.sampled_from([0, 1]))  # retain flag either way
    return header, bytearray(body), v5


@settings(max_examples=300, deadline=None)
@given(publish_packets())
def test_publish_parser_agrees_with_paho(packet):
    header, body, v5 = packet
    ref = _packet.decode_publish(
        header, body, MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311
    )
    assert parse_publish(header, body, v5) == (ref.mid, ref.qos, ref.topic.decode(), ref.payload)


@settings(max_examples=300, deadline=None)
@given(publish_packets(), st.data())
def test_a_truncated_publish_is_malformed_never_a_crash(packet, data):
    header, body, v5 = packet
    cut = data.draw(st.integers(0, len(body)))
    try:
        mid, qos, topic, payload = parse_publish(header, body[:cut], v5)
    except MalformedPacket:
        return
    # Cut inside the payload only: everything before it parses as before.
    full = parse_publish(header, body, v5)
    assert (mid, qos, topic) == full[:3] and full[3].startswith(payload)


class Sink:
    def __init__(self) -> None:
        self.got: list[tuple[int, int, str, bytes]] = []

    def __call__(self, mid: int, qos: int, topic: str, payload: bytes) -> None:
        self.got.append((mid, qos, topic, payload))


def _frame(header: int, body: bytes) -> bytes:
    length, out = len(body), bytearray([header])
    while True:
        length, digit = length >> 7, length & 0x7F
        out.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(out) + body


@settings(max_examples=40, deadline=None)
@given(
    stream=st.lists(st.one_of(publish_packets(), st.just("pingresp")), min_size=1, max_size=60),
    chunk_sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=10),
    v5=st.booleans(),
)
def test_a_stream_of_packets_reaches_the_sink_in_order_however_it_is_cut(stream, chunk_sizes,
                                                                          v5):
    """Whole packets come out of the read-ahead buffer in one piece; a packet cut by the end
    of what has arrived is finished by paho's own reader; other packets go to paho."""
    wire, expected = b"", []
    for item in stream:
        if item == "pingresp":
            wire += _frame(0xD0, b"")
            continue
        header, body, packet_v5 = item
        if packet_v5 != v5:
            continue  # properties are there or not by the connection's protocol
        wire += _frame(header, bytes(body))
        expected.append(parse_publish(header, body, v5))
    left, right = socket.socketpair()
    right.setblocking(False)
    client = FastAckClient(CallbackAPIVersion.VERSION2, client_id="t",
                           protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
    client.manual_ack_set(True)
    client.message_sink = sink = Sink()
    client._sock = BufferedSocket(right)
    pos, n = 0, 0
    while pos < len(wire):
        size = chunk_sizes[n % len(chunk_sizes)]
        left.sendall(wire[pos:pos + size])
        pos, n = pos + size, n + 1
        assert client.loop_read() == mqtt.MQTT_ERR_SUCCESS
    for _ in range(len(stream) + 1):  # whatever is still buffered
        client.loop_read()
    assert sink.got == expected
    left.close()
    right.close()


def _close(client: FastAckClient, gone: threading.Event, topic: str) -> None:
    """Disconnect once the broker has taken our acks. It handles a client's packets in order,
    so the PUBACK for a publish sent after them says so; closing without that could lose
    them (a socket closed with unread incoming data is reset, and the broker may drop what
    it had not read yet)."""
    client.publish(f"{topic}/sync", b"", qos=1).wait_for_publish(10)
    client.disconnect()
    assert gone.wait(10)
    client.loop_stop()


def _connect(host, port, client_id, received, ready, gone):
    client = FastAckClient(CallbackAPIVersion.VERSION2, client_id=client_id,
                           protocol=mqtt.MQTTv5)
    client.manual_ack_set(True)
    client.on_message = lambda _c, _u, msg: received.append((msg.mid, msg.payload))
    client.on_subscribe = lambda *_: ready.set()
    client.on_disconnect = lambda *_: gone.set()
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 600
    client.connect(host, port, keepalive=10, clean_start=False, properties=props)
    client.loop_start()
    return client


@pytest.mark.mqtt
def test_batched_acks_release_exactly_the_acknowledged_messages(mqtt_broker):
    topic = f"test/fastack/{uuid.uuid4().hex[:8]}"
    client_id = f"fastack-{uuid.uuid4().hex[:8]}"
    received: list[tuple[int, bytes]] = []
    ready, gone = threading.Event(), threading.Event()
    client = _connect(mqtt_broker.host, mqtt_broker.port, client_id, received, ready, gone)
    client.subscribe(topic, qos=1)
    assert ready.wait(10)
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    try:
        for n in range(400):
            pub.publish(topic, b"m%d" % n)
        pub.wait_all_acked(20)
        # Ack in batches of whatever has arrived, keeping the last 30 unacknowledged.
        acked = 0
        while acked < 370:
            wait_until(lambda a=acked: len(received) > a, 20, "more messages")
            upto = min(len(received), 370)
            client.ack_many([mid for mid, _ in received[acked:upto]])
            acked = upto
        wait_until(lambda: len(received) == 400, 20, "all 400 messages")
        assert [p for _, p in received] == [b"m%d" % n for n in range(400)]
        _close(client, gone, topic)

        # Same session again: only the 30 unacknowledged messages come back.
        again: list[tuple[int, bytes]] = []
        gone.clear()
        client = _connect(mqtt_broker.host, mqtt_broker.port, client_id, again, ready, gone)
        wait_until(lambda: len(again) >= 30, 20, "the unacknowledged messages")

        client.ack_many([mid for mid, _ in again])
        threading.Event().wait(1.0)  # nothing else may follow
        assert sorted(p for _, p in again) == sorted(b"m%d" % n for n in range(370, 400))
        _close(client, gone, topic)
    finally:
        pub.close()
        forget_session(f"mqtt://{mqtt_broker.host}:{mqtt_broker.port}", client_id)
