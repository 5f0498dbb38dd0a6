"""paho's MQTT client with two costs taken out of its hot path, for the ingester.

paho 2.x reads every packet with one select() and three or four recv() calls (command byte,
each remaining-length byte, body), and sends every PUBACK as its own socket write plus a
wake-up byte to its network thread. At ~10,000 messages/s of 20 values those syscalls, each
retaking the GIL, were most of the ingester's CPU. `FastAckClient`:

- reads the socket 64 KiB at a time and serves paho's small reads from that buffer. The buffer
  is announced through `pending()`, the hook paho already uses for bytes an SSL socket holds,
  so paho's loop reads on without waiting in select() while whole packets are buffered;
- acknowledges a batch of messages with one write: the PUBACKs, each the 4-byte form that both
  MQTT 3.1.1 and 5 accept for success without properties, queued as one outgoing packet.

Both lean on paho internals (`_create_socket`, `_packet_queue`, the `pending()` check in its
loop), so pyproject pins paho-mqtt to the minor versions they were read from; the ingest
integration and fault tests go through this client and fail if a paho release changes them.
"""

from __future__ import annotations

import struct

import paho.mqtt.client as mqtt

READ_SIZE = 1 << 16
# Packets read in one go while the buffer holds data, before paho's loop gets to write (acks)
# and check keepalive again.
READ_BURST = 256
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

    def pending(self) -> int:
        held = len(self._buf) - self._pos
        inner = getattr(self._sock, "pending", None)  # an SSL socket's decrypted bytes
        return max(held, 0) + (inner() if inner else 0)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class FastAckClient(mqtt.Client):
    def _create_socket(self):
        return BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        sock = self._sock
        for _ in range(READ_BURST):
            rc = super().loop_read(max_packets)
            if rc or self._sock is not sock or not sock.pending():
                break
        return rc

    def ack_many(self, mids: list[int]) -> None:
        """PUBACK these QoS 1 messages (manual-ack mode) in one write, in the given order."""
        if mids:
            packet = struct.pack(f"!{len(mids)}I", *[_PUBACK_HEAD | mid for mid in mids])
            self._packet_queue(PUBACK, packet, 0, 0)
