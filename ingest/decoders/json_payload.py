"""JSON readings: {"ts": RFC 3339 or epoch ms, "seq": n, "values": {sensor: value}} or a list."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import orjson

from ingest.decoders.base import Decoded, excerpt, ts_ok

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# RFC 3339 with up to nanosecond fractions (datetime.fromisoformat stops at microseconds).
_RFC3339 = re.compile(
    r"(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)\Z"
)

# Every key of a JSON text is followed by a colon, after its closing quote and maybe
# whitespace; a string may hold either too, so each count is at least the number of keys.
_KEY_END = re.compile(rb'"\s*:')


class _Pairs(dict):
    """A JSON object that holds a key more than once: the dict keeps the last value of each
    (as every JSON parser does), `pairs` every key and value in order."""

    def __init__(self, pairs: list[tuple[str, object]]) -> None:
        super().__init__(pairs)
        self.pairs = pairs


def _object(pairs: list[tuple[str, object]]) -> dict:
    return _Pairs(pairs) if len({k for k, _ in pairs}) < len(pairs) else dict(pairs)


def _reading_keys(items: list) -> int:
    """The keys of the readings and of their values objects (deeper objects not counted)."""
    n = 0
    for item in items:
        if type(item) is dict:
            n += len(item)
            values = item.get("values")
            if type(values) is dict:
                n += len(values)
    return n


def _load(payload: bytes) -> object:
    """orjson's document, unless the text has more keys than it (a key given twice in one
    object, of which orjson keeps the last): then the stdlib parser's, every pair kept. The
    keys are counted by colons first (epoch ms times hold none in strings), then by quoted
    keys; both cheaper than parsing again."""
    doc = orjson.loads(payload)
    kept = _reading_keys(doc if type(doc) is list else [doc])
    if payload.count(b":") > kept and len(_KEY_END.findall(payload)) > kept:
        doc = json.loads(payload, object_pairs_hook=_object)
    return doc


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
        doc = _load(payload)
    except orjson.JSONDecodeError as exc:
        out.error("malformed", f"not JSON: {exc}", payload, installation)
        return out
    except RecursionError:
        # orjson takes 1,024 levels, the stdlib parser (a key given twice) fewer than
        # Python's recursion limit; raised out of the collector, this would stop the ingester.
        out.error("malformed", "JSON nested too deeply", payload, installation)
        return out
    items = doc if isinstance(doc, list) else [doc]
    readings = out.readings
    for item in items:
        if not isinstance(item, dict):
            out.error("malformed", "a reading must be a JSON object", _dump(item), installation)
            continue
        if isinstance(item, _Pairs):
            twice = next((k for k in ("ts", "values")
                          if sum(k == key for key, _ in item.pairs) > 1), None)
            if twice:
                out.error("malformed", f"{twice!r} given twice in one reading", _dump(item),
                          installation)
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
        # A sensor given twice: both values, first first; the store keeps the first.
        pairs = values.pairs if isinstance(values, _Pairs) else values.items()
        readings.extend([(installation, sensor, ts, value) for sensor, value in pairs])
    return out


def _dump(item: object) -> str:
    try:
        return excerpt(orjson.dumps(item))
    except TypeError:
        return excerpt(repr(item))
