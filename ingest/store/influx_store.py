"""InfluxDB store: influxdb-client v2 write API for writes, InfluxQL on /query for reads.

Reads use the 1.x-compatible /query endpoint (InfluxQL), which InfluxDB 1.8+, 2.x (DBRP
mapping) and 3.x all answer, so one implementation serves every server generation.
Layout: measurement = installation, tag sensor, field value. A point is identified by
measurement + tag set + timestamp in InfluxDB, so rewriting a point overwrites it: idempotent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from itertools import repeat

import orjson
import urllib3
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from ingest.store.base import (
    Bucket,
    Point,
    Row,
    SensorSummary,
    StoreError,
    StoreUnavailable,
    every_ns,
    from_ns,
    point_rows,
    to_ns,
)

# Lines per HTTP request: large enough to amortise the request, small enough that a request
# stays well under server body limits and a retry after a failure is cheap.
WRITE_BATCH_LINES = 20_000
# A write of more than 2 x MIN_SPLIT_LINES lines goes out as WRITE_CONCURRENCY requests at
# once: the server works on them in parallel, where one request at a time left it (and us,
# waiting for it) a third idle. Points are idempotent, so when one part fails the caller
# simply writes the whole batch again.
WRITE_CONCURRENCY = 2
MIN_SPLIT_LINES = 2_500


def _escape_measurement(name: str) -> str:
    return name.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def _escape_tag(value: str) -> str:
    return (
        value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")
    )


def _ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class InfluxStore:
    def __init__(
        self,
        url: str,
        token: str,
        org: str,
        bucket: str,
        query_url: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.bucket, self.org = bucket, org
        self._client = InfluxDBClient(
            url=url, token=token or "unused", org=org, timeout=int(timeout_s * 1000), retries=False
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._query_url = query_url or url.rstrip("/") + "/query"
        self._ping_url = self._query_url.rsplit("/", 1)[0] + "/ping"
        self._headers = {"Authorization": f"Token {token}"} if token else {}
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(total=timeout_s), retries=False, maxsize=4
        )
        self._prefix: dict[tuple[str, str], bytes] = {}
        self._pool = ThreadPoolExecutor(WRITE_CONCURRENCY, thread_name_prefix="influx-write")

    # --- writes ------------------------------------------------------------------------------

    def write(self, points: Sequence[Point]) -> None:
        self.write_rows(point_rows(points))

    def write_rows(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        parts = max(1, min(WRITE_CONCURRENCY, len(rows) // MIN_SPLIT_LINES))
        size = min(-(-len(rows) // parts), WRITE_BATCH_LINES)
        chunks = [rows[i : i + size] for i in range(0, len(rows), size)]
        if len(chunks) == 1:
            self._write_chunk(chunks[0])
            return
        # Every part finishes (or fails) before the first error is raised.
        failures = [f.exception() for f in [self._pool.submit(self._write_chunk, c) for c in chunks]]
        for exc in failures:
            if exc is not None:
                raise exc

    def _write_chunk(self, rows: Sequence[Row]) -> None:
        self._post(self._lines(rows))

    def _lines(self, rows: Sequence[Row]) -> bytes:
        """Line protocol, one line per row. orjson formats all values and timestamps in one
        call each (shortest round-trip digits, which InfluxDB parses back exactly); per-row
        f-strings with repr() cost a third more of the ingester's GIL."""
        prefix = self._prefix
        keys = []
        for inst, sensor, _, _ in rows:
            p = prefix.get((inst, sensor))
            if p is None:
                p = prefix[inst, sensor] = (
                    f"{_escape_measurement(inst)},sensor={_escape_tag(sensor)} value="
                ).encode()
            keys.append(p)
        values = orjson.dumps([r[3] for r in rows])[1:-1].split(b",")
        stamps = orjson.dumps([r[2] for r in rows])[1:-1].split(b",")
        return b"\n".join(map(b"".join, zip(keys, values, repeat(b" "), stamps)))

    def _post(self, body: bytes) -> None:
        try:
            self._write_api.write(
                bucket=self.bucket, org=self.org, record=body, write_precision=WritePrecision.NS
            )
        except ApiException as exc:
            # The data, not the server: 400 (malformed, or a partial write on 1.x and 3.x) or
            # 422 (InfluxDB 2.x: some or all points refused, the rest stored). Retrying the
            # same write would never succeed.
            if exc.status in (400, 422):
                raise StoreError(f"InfluxDB refused the write: {exc.body!r}") from exc
            raise StoreUnavailable(f"InfluxDB write failed: HTTP {exc.status}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise StoreUnavailable(f"InfluxDB unreachable: {exc}") from exc

    # --- reads -------------------------------------------------------------------------------

    def _select(self, q: str) -> list[dict]:
        """Run one InfluxQL statement; the series of its result (empty when no data)."""
        try:
            resp = self._http.request(
                "GET",
                self._query_url,
                fields={"db": self.bucket, "q": q, "epoch": "ns"},
                headers=self._headers,
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise StoreUnavailable(f"InfluxDB unreachable: {exc}") from exc
        if resp.status >= 500 or resp.status in (401, 403, 404):
            raise StoreUnavailable(f"InfluxDB query failed: HTTP {resp.status}")
        try:
            body = orjson.loads(resp.data)
        except orjson.JSONDecodeError as exc:
            raise StoreError(f"InfluxDB answered HTTP {resp.status} with non-JSON") from exc
        if "error" in body:
            raise StoreError(f"InfluxDB query error: {body['error']}")
        result = body["results"][0]
        if "error" in result:
            raise StoreError(f"InfluxDB query error: {result['error']}")
        return result.get("series", [])

    def _where(self, start: datetime, end: datetime) -> str:
        return f"time >= {to_ns(start)} AND time < {to_ns(end)}"

    def latest(self, installation: str) -> dict[str, Point]:
        series = self._select(f"SELECT last(value) FROM {_ident(installation)} GROUP BY sensor")
        result = {}
        for s in series:
            sensor = s["tags"]["sensor"]
            ts, value = s["values"][0]
            result[sensor] = Point(installation, sensor, from_ns(ts), float(value))
        return result

    def raw(
        self,
        installation: str,
        sensor: str,
        start: datetime,
        end: datetime,
        limit: int | None = None,
    ) -> list[Point]:
        if limit is not None and limit <= 0:
            return []
        q = (
            f"SELECT value FROM {_ident(installation)} WHERE sensor = {_literal(sensor)}"
            f" AND {self._where(start, end)} ORDER BY time ASC"
        )
        if limit is not None:
            q += f" LIMIT {int(limit)}"
        series = self._select(q)
        if not series:
            return []
        return [Point(installation, sensor, from_ns(ts), float(v)) for ts, v in series[0]["values"]]

    def aggregate(
        self,
        installation: str,
        sensor: str,
        start: datetime,
        end: datetime,
        every: timedelta,
        with_std: bool = True,
    ) -> list[Bucket]:
        step = every_ns(every)
        # The offset aligns InfluxDB's epoch-aligned buckets to `start`, as the contract says.
        offset = to_ns(start) % step
        series = self._select(
            "SELECT mean(value), min(value), max(value), stddev(value), count(value)"
            f" FROM {_ident(installation)} WHERE sensor = {_literal(sensor)}"
            f" AND {self._where(start, end)} GROUP BY time({step}ns, {offset}ns) fill(none)"
        )
        if not series:
            return []
        return [
            Bucket(from_ns(ts), float(mean), float(mn), float(mx),
                   float(std or 0.0) if with_std else math.nan, int(n))
            for ts, mean, mn, mx, std, n in series[0]["values"]
            if n
        ]

    def window_summary(
        self, installation: str, start: datetime, end: datetime
    ) -> dict[str, SensorSummary]:
        series = self._select(
            "SELECT mean(value), stddev(value), min(value), max(value), count(value),"
            f" first(value), last(value) FROM {_ident(installation)}"
            f" WHERE {self._where(start, end)} GROUP BY sensor"
        )
        result = {}
        for s in series:
            sensor = s["tags"]["sensor"]
            _, mean, std, mn, mx, n, first, last = s["values"][0]
            result[sensor] = SensorSummary(
                sensor, float(mean), float(std or 0.0), float(mn), float(mx), int(n),
                float(first), float(last),
            )
        return result

    def ping(self) -> bool:
        try:
            resp = self._http.request("GET", self._ping_url, headers=self._headers)
        except (urllib3.exceptions.HTTPError, OSError):
            return False
        return resp.status == 204

    def close(self) -> None:
        self._pool.shutdown()
        self._write_api.close()
        self._client.close()
        self._http.clear()
