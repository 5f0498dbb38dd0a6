"""InfluxDB line protocol on recyclab/v1/<installation>/lp.

The installation comes from the topic; the measurement (a sensor group or the installation
itself) and the tags are ignored; each field is one sensor. The timestamp (ns) is required:
a point without one could not be stored idempotently.
"""

from __future__ import annotations

import re

from ingest.decoders.base import Decoded, ts_ok

_TRUE = {"t", "T", "true", "True", "TRUE"}
_FALSE = {"f", "F", "false", "False", "FALSE"}
# Stricter than float()/int(), which also take "nan", "inf" and "1_000".
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_INT = re.compile(r"[+-]?\d+[iu]\Z")


class LineError(ValueError):
    def __init__(self, detail: str, reason: str = "malformed") -> None:
        super().__init__(detail)
        self.reason = reason


def decode_line_protocol(installation: str, payload: bytes) -> Decoded:
    out = Decoded()
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        out.error("malformed", f"line protocol must be UTF-8: {exc}", payload, installation)
        return out
    for line in text.split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            fields, ts = parse_line(line)
        except LineError as exc:
            out.error(exc.reason, str(exc), line, installation)
            continue
        for sensor, value in fields:
            out.readings.append((installation, sensor, ts, value))
    return out


def parse_line(line: str) -> tuple[list[tuple[str, object]], int]:
    """One line -> ([(field key, value)], timestamp ns)."""
    if "\\" in line or '"' in line:
        head, field_part, ts_part = _split_escaped(line)
    else:
        parts = line.split(" ")
        if len(parts) == 2:
            raise LineError("missing timestamp (ns) at the end of the line", "bad_timestamp")
        if len(parts) != 3:
            raise LineError("expected: measurement[,tags] fields timestamp")
        head, field_part, ts_part = parts
    if not head or head.startswith(","):
        raise LineError("missing measurement")
    if not ts_part:
        raise LineError("missing timestamp (ns) at the end of the line", "bad_timestamp")
    try:
        ts = int(ts_part)
    except ValueError:
        raise LineError(
            f"timestamp must be integer nanoseconds, not {ts_part!r}", "bad_timestamp"
        ) from None
    if not ts_ok(ts):
        raise LineError(f"timestamp {ts} outside 1970..2262", "bad_timestamp")
    return _parse_fields(field_part), ts


def _split_escaped(line: str) -> tuple[str, str, str]:
    """Split at unescaped spaces outside quoted field values (the general, slower path)."""
    sections: list[str] = []
    cur: list[str] = []
    i, n, in_quotes = 0, len(line), False
    while i < n:
        c = line[i]
        if c == "\\" and i + 1 < n:
            cur.append(line[i : i + 2])
            i += 2
            continue
        # In the field section a quote opens a string value only right after '='.
        if c == '"' and len(sections) == 1 and (in_quotes or (cur and cur[-1] == "=")):
            in_quotes = not in_quotes
        elif c == " " and not in_quotes:
            sections.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    if in_quotes:
        raise LineError("unterminated string field value")
    sections.append("".join(cur))
    if len(sections) == 2:
        raise LineError("missing timestamp (ns) at the end of the line", "bad_timestamp")
    if len(sections) != 3:
        raise LineError("expected: measurement[,tags] fields timestamp")
    return sections[0], sections[1], sections[2]


def _parse_fields(part: str) -> list[tuple[str, object]]:
    if "\\" not in part and '"' not in part:
        pairs = [p.partition("=") for p in part.split(",")]
        fields = []
        for key, eq, raw in pairs:
            if not key or not eq or not raw:
                raise LineError(f"bad field {key}{eq}{raw!r}")
            fields.append((key, _value(raw)))
        return fields
    fields = []
    i, n = 0, len(part)
    while i < n:
        key: list[str] = []
        while i < n and part[i] != "=":
            if part[i] == "\\" and i + 1 < n and part[i + 1] in " ,=":
                key.append(part[i + 1])
                i += 2
            else:
                if part[i] == ",":
                    raise LineError("field without '='")
                key.append(part[i])
                i += 1
        if i >= n or not key:
            raise LineError("bad field: expected key=value")
        i += 1
        if i < n and part[i] == '"':
            i += 1
            chars: list[str] = []
            while i < n and part[i] != '"':
                if part[i] == "\\" and i + 1 < n and part[i + 1] in '"\\':
                    chars.append(part[i + 1])
                    i += 2
                else:
                    chars.append(part[i])
                    i += 1
            if i >= n:
                raise LineError("unterminated string field value")
            i += 1
            value: object = "".join(chars)
        else:
            j = part.find(",", i)
            j = n if j < 0 else j
            value = _value(part[i:j])
            i = j
        fields.append(("".join(key), value))
        if i < n:
            if part[i] != ",":
                raise LineError("expected ',' between fields")
            i += 1
            if i >= n:
                raise LineError("trailing ',' after the last field")
    if not fields:
        raise LineError("no fields")
    return fields


def _value(raw: str) -> object:
    if _FLOAT.match(raw):
        return float(raw)
    if _INT.match(raw):
        try:
            return int(raw[:-1])
        except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
            raise LineError(f"integer field value of {len(raw) - 1} digits") from None
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise LineError(f"bad field value {raw!r}")
