"""Payload decoders: topic + bytes -> readings and per-part errors; they never raise on input.

recyclab/v1/<installation>/lp   InfluxDB line protocol
recyclab/v1/<installation>/<stream>   JSON
spBv1.0/<group>/<type>/<edge node>[/<device>]   Sparkplug B
"""

from __future__ import annotations

from ingest.decoders.base import Decoded, DecodeError, Reading
from ingest.decoders.json_payload import decode_json
from ingest.decoders.line_protocol import decode_line_protocol
from ingest.decoders.sparkplug import NAMESPACE, SparkplugDecoder

TOPIC_ROOT = "recyclab/v1/"

__all__ = ["Decoded", "DecodeError", "PayloadDecoder", "Reading", "TOPIC_ROOT"]


class PayloadDecoder:
    """Routes a message to its decoder by topic. Holds Sparkplug session state: one per worker."""

    def __init__(self) -> None:
        self.sparkplug = SparkplugDecoder()

    def decode(self, topic: str, payload: bytes) -> Decoded | None:
        """Decoded readings and errors, or None when the topic carries no data for us."""
        if topic.startswith(TOPIC_ROOT):
            parts = topic.split("/")
            if len(parts) != 4 or not parts[2] or not parts[3]:
                out = Decoded()
                out.error("malformed", "topic must be recyclab/v1/<installation>/<stream>", topic)
                return out
            if parts[3] == "lp":
                return decode_line_protocol(parts[2], payload)
            return decode_json(parts[2], payload)
        if topic.startswith(NAMESPACE + "/"):
            return self.sparkplug.decode(topic, payload)
        return None
