"""paho's MQTT client with three costs taken out of its hot path and a read gate, for the
ingester.

paho 2.x reads every packet with one select() and three or four recv() calls (command byte,
each remaining-length byte, body), builds an MQTT 5 `Properties` object and an `MQTTMessage`
for every PUBLISH (the first alone was 40 % of its CPU per message), and sends every PUBACK
as its own socket write plus a wake-up byte to its network thread. At ~10,000 messages/s
those costs were most of the ingester's CPU. `FastAckClient`:

- reads the socket 64 KiB at a time. A packet wholly in that buffer is taken from it in one
  piece (`next_frame`); paho's own byte-by-byte reader runs only for a packet cut by the end
  of the buffer, served from the buffer too. The buffer is announced through `pending()`, the
  hook paho already uses for bytes an SSL socket holds, so paho's loop reads on without
  waiting in select() while packets are buffered;
- hands each PUBLISH straight to `message_sink(mid, qos, topic, payload)`, parsed by
  `parse_publish` (which skips the properties: the ingester uses none, and without a
  TopicAliasMaximum in CONNECT the broker may not send topic aliases). Without a sink, or for
  QoS 2 or automatic acks, paho's own path runs;
- stops reading while `may_read()` says the consumer has no room (TCP then holds the broker
  back). Mosquitto 2.0 honours a client's Receive Maximum only until the first PUBACK, then
  sends its whole queue, so the broker's flow control cannot bound our memory;
- acknowledges a batch of messages with one write: the PUBACKs, each the 4-byte form that both
  MQTT 3.1.1 and 5 accept for success without properties, queued as one outgoing packet.

All of this leans on paho internals (`_create_socket`, `_packet_read`, `_in_packet`,
`_handle_publish`, `_packet_queue`, `_last_bytes_received`, the `pending()` check in its
loop), so pyproject pins paho-mqtt to the minor versions they were read from; the ingest
integration and fault tests go through this client and fail if a paho release changes them.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.exception import MalformedPacket

READ_SIZE = 1 << 16
# Packets read in one go while the buffer holds data, before paho's loop gets to write (acks)
# and check keepalive again.
READ_BURST = 256
PAUSE_S = 0.005  # while the consumer has no room: how long one loop pass waits
PUBACK = 0x40
_PUBACK_HEAD = (PUBACK << 24) | (2 << 16)  # fixed header: PUBACK, remaining length 2


class BufferedSocket:
    """A socket whose recv() is served from a 64 KiB read-ahead buffer; all else delegated."""

    __slots__ = ("_sock", "_buf", "_pos")

    def __init__(self, sock) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            buf = self._sock.recv(READ_SIZE)  # BlockingIOError etc. reach paho as before
            if not buf:
                return buf  # end of stream
            self._buf, pos = buf, 0
        end = pos + bufsize
        self._pos = end
        return buf[pos:end]

    def next_frame(self) -> tuple[int, bytes] | None:
        """(fixed-header byte, rest of the packet) of the next packet if the buffer (topped up
        from the socket without blocking) holds all of it; else None, consuming nothing."""
        buf, pos = self._buf, self._pos
        for attempt in range(2):
            n = len(buf)
            i, length, shift = pos + 1, 0, 0
            while i < n and shift <= 21:
                byte = buf[i]
                i += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    if i + length <= n:
                        self._pos = i + length
                        return buf[pos], buf[i:i + length]
                    break
                shift += 7
            if attempt or shift > 21:  # a bad length is left to paho's reader to report
                return None
            try:
                more = self._sock.recv(READ_SIZE)
            except OSError:  # nothing yet, SSL wants more, or a socket error paho will meet
                return None
            if not more:
                return None
            buf, pos = buf[pos:] + more, 0
            self._buf, self._pos = buf, 0
        return None

    def pending(self) -> int:
        held = len(self._buf) - self._pos
        inner = getattr(self._sock, "pending", None)  # an SSL socket's decrypted bytes
        return max(held, 0) + (inner() if inner else 0)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


def parse_publish(header: int, packet: bytes | bytearray, v5: bool) -> tuple[int, int, str, bytes]:
    """(mid, qos, topic, payload) of a PUBLISH: fixed-header byte and the rest of the packet."""
    qos = (header >> 1) & 3
    try:
        end = 2 + int.from_bytes(packet[0:2], "big")
        if end > len(packet):
            raise MalformedPacket("topic longer than the packet")
        topic = packet[2:end].decode()
        mid = 0
        if qos:
            mid = int.from_bytes(packet[end:end + 2], "big")
            end += 2
        if v5:  # properties: a variable byte integer length, then that many bytes
            length = shift = 0
            while True:
                byte = packet[end]
                end += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    break
                shift += 7
                if shift > 21:
                    raise MalformedPacket("property length longer than four bytes")
            end += length
        if end > len(packet):
            raise MalformedPacket("PUBLISH shorter than its headers")
    except (IndexError, UnicodeDecodeError) as exc:
        raise MalformedPacket(str(exc)) from exc
    return mid, qos, topic, bytes(packet[end:])


class FastAckClient(mqtt.Client):
    message_sink: Callable[[int, int, str, bytes], None] | None = None
    may_read: Callable[[], bool] | None = None

    def _packet_read(self) -> mqtt.MQTTErrorCode:
        sock = self._sock
        if self._in_packet["command"] or not isinstance(sock, BufferedSocket):
            return super()._packet_read()  # in the middle of a packet paho started
        frame = sock.next_frame()
        if frame is None:
            return super()._packet_read()
        header, body = frame
        with self._msgtime_mutex:
            self._last_bytes_received = mqtt.time_func()
        sink = self.message_sink
        if (header & 0xF0) == mqtt.PUBLISH and sink and (header & 0x06) != 0x04 and self._manual_ack:
            try:
                message = parse_publish(header, body, self._protocol == mqtt.MQTTv5)
            except MalformedPacket as exc:  # as paho's reader does: drop the connection
                self._easy_log(mqtt.MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
                return mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL
            sink(*message)
            return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        # Any other packet: hand paho the whole of it, as if its reader had just finished.
        self._in_packet = {"command": header, "have_remaining": 1, "remaining_count": [],
                           "remaining_mult": 1, "remaining_length": len(body),
                           "packet": bytearray(body), "to_process": 0, "pos": 0}
        return super()._packet_read()

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        sink = self.message_sink
        header = self._in_packet["command"]
        if sink is None or (header & 0x06) == 0x04 or not self._manual_ack:  # QoS 2: paho
            return super()._handle_publish()
        sink(*parse_publish(header, self._in_packet["packet"], self._protocol == mqtt.MQTTv5))
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

    def _create_socket(self):
        return BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        sock, may_read = self._sock, self.may_read
        rc = mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        for _ in range(READ_BURST):
            if may_read is not None and not may_read():
                time.sleep(PAUSE_S)  # paho's loop goes on to write acks and keep alive
                break
            rc = super().loop_read(max_packets)
            if rc or self._sock is not sock or not sock.pending():
                break
        return rc

    def ack_many(self, mids: list[int]) -> None:
        """PUBACK these QoS 1 messages (manual-ack mode) in one write, in the given order."""
        if mids:
            packet = struct.pack(f"!{len(mids)}I", *[_PUBACK_HEAD | mid for mid in mids])
            self._packet_queue(PUBACK, packet, 0, 0)
