"""JSON readings: {"ts": RFC 3339 or epoch ms, "seq": n, "values": {sensor: value}} or a list."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import orjson

from ingest.decoders.base import Decoded, excerpt, ts_ok

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# RFC 3339 with up to nanosecond fractions (datetime.fromisoformat stops at microseconds).
_RFC3339 = re.compile(
    r"(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)\Z"
)


def parse_ts(raw: object) -> int | None:
    """Epoch milliseconds (int or float) or an RFC 3339 string with an offset -> ns, else None."""
    kind = type(raw)  # not isinstance: a bool is no timestamp
    if kind is float:
        us = raw * 1000
        if us - us != 0.0:  # NaN or infinite, also once scaled (1e308 ms is a finite float)
            return None
        ns = round(us) * 1000
    elif kind is int:
        ns = raw * 1_000_000
    elif kind is str:
        m = _RFC3339.match(raw)
        if not m:
            return None
        base, frac, offset = m.groups()
        try:
            dt = datetime.fromisoformat(base + ("+00:00" if offset in "Zz" else offset))
        except ValueError:
            return None
        delta = dt - _EPOCH
        ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000
        if frac:
            ns += int(frac.ljust(9, "0"))
    else:
        return None
    return ns if ts_ok(ns) else None


def decode_json(installation: str, payload: bytes) -> Decoded:
    out = Decoded()
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        out.error("malformed", f"not JSON: {exc}", payload, installation)
        return out
    items = doc if isinstance(doc, list) else [doc]
    readings = out.readings
    for item in items:
        if not isinstance(item, dict):
            out.error("malformed", "a reading must be a JSON object", _dump(item), installation)
            continue
        values = item.get("values")
        if not isinstance(values, dict):
            out.error("malformed", "'values' must be an object of sensor: value", _dump(item),
                      installation)
            continue
        ts = parse_ts(item.get("ts"))
        if ts is None:
            out.error("bad_timestamp", "'ts' must be RFC 3339 with offset or epoch milliseconds",
                      _dump(item), installation)
            continue
        readings.extend([(installation, sensor, ts, value) for sensor, value in values.items()])
    return out


def _dump(item: object) -> str:
    try:
        return excerpt(orjson.dumps(item))
    except TypeError:
        return excerpt(repr(item))
