"""Payload decoders: topic + bytes -> readings and per-part errors; they never raise on input.

recyclab/v1/<installation>/lp   InfluxDB line protocol
recyclab/v1/<installation>/<stream>   JSON
spBv1.0/<group>/<type>/<edge node>[/<device>]   Sparkplug B
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ingest.decoders.base import Decoded, DecodeError, Reading
from ingest.decoders.json_payload import decode_json
from ingest.decoders.line_protocol import decode_line_protocol
from ingest.decoders.sparkplug import NAMESPACE, AliasFile, SparkplugDecoder
from ingest.registry import Registry

TOPIC_ROOT = "recyclab/v1/"
MAX_ROUTES = 10_000  # topics remembered; a flood of one-off topics cannot grow memory

log = logging.getLogger(__name__)

__all__ = ["Decoded", "DecodeError", "PayloadDecoder", "Reading", "TOPIC_ROOT"]


class PayloadDecoder:
    """Routes a message to its decoder by topic. Holds Sparkplug session state: one per worker."""

    def __init__(self, sparkplug_aliases: Path | None = None, check_seq: bool = True) -> None:
        """sparkplug_aliases: the file that keeps Sparkplug alias tables across restarts;
        check_seq: whether this decoder sees every message of an edge node (see
        SparkplugDecoder)."""
        self.sparkplug = SparkplugDecoder(
            AliasFile(sparkplug_aliases) if sparkplug_aliases else None, check_seq)
        # topic -> (decoder, installation): the same few topics arrive again and again.
        self._routes: dict[str, tuple[Callable[[str, bytes], Decoded], str]] = {}

    def use(self, registry: Registry) -> None:
        """Map Sparkplug edge nodes and devices to installations by this registry from the next
        message on."""
        self.sparkplug.use(registry.sparkplug_devices, registry.sparkplug_nodes)

    def decode(self, topic: str, payload: bytes) -> Decoded | None:
        """Decoded readings and errors, or None when the topic carries no data for us.

        The decoders never raise on input; where one does (a bug, as a 1,010-deep JSON value
        and a 5,000-digit integer once were), its message becomes a reject and the error goes to
        the log. Raising would stop the ingester, and the message, never acknowledged, would
        stop it again after every restart."""
        try:
            return self._decode(topic, payload)
        except Exception as exc:
            log.exception("the decoder failed on a message on %s; recorded as a malformed reject", topic)
            out = Decoded()
            out.error("malformed", f"the decoder failed on this message ({type(exc).__name__}: {exc})", payload)
            return out

    def _decode(self, topic: str, payload: bytes) -> Decoded | None:
        route = self._routes.get(topic)
        if route is not None:
            return route[0](route[1], payload)
        if topic.startswith(TOPIC_ROOT):
            parts = topic.split("/")
            if len(parts) != 4 or not parts[2] or not parts[3]:
                out = Decoded()
                out.error("malformed", "topic must be recyclab/v1/<installation>/<stream>", topic)
                return out
            decoder = decode_line_protocol if parts[3] == "lp" else decode_json
            if len(self._routes) < MAX_ROUTES:
                self._routes[topic] = (decoder, parts[2])
            return decoder(parts[2], payload)
        if topic.startswith(NAMESPACE + "/"):
            return self.sparkplug.decode(topic, payload)
        return None
