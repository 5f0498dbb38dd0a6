"""InfluxDB store: influxdb-client v2 write API for writes, InfluxQL on /query for reads.

Reads use the 1.x-compatible /query endpoint (InfluxQL), which InfluxDB 1.8+, 2.x (DBRP
mapping) and 3.x all answer, so one implementation serves every server generation.
Layout: measurement = installation, tag sensor, field value. A point is identified by
measurement + tag set + timestamp in InfluxDB, so rewriting a point overwrites it: idempotent
for the same value, but InfluxDB would let a different value replace the stored one. So a
write first reads what the time span of its rows that may be stored already holds (one
query per write, per installation) and sends only the new points. Which rows may be stored:
all of them, unless the store is its series' sole writer (the ingester tells it so while no
other ingester runs): then only rows no newer than the newest point of their series, as
stored when the series was first written to by this store or written since. A live stream
has none, and costs no read (a read for a 20,000-point write took a third of its time).
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
    Conflicts,
    Point,
    Row,
    SensorSummary,
    StoreError,
    StoreUnavailable,
    bound_ns,
    every_ns,
    first_of_each,
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


# The read before a write covers its rows' times in at most READ_SPANS spans per
# installation, cut at the widest gaps between them longer than SPAN_GAP_NS. One span from the
# oldest row to the newest would read every point stored between them: a reading a gateway
# forwards hours late, in a batch with live ones, made the read take longer than the store
# timeout, and the spool's replay (which merges it with what came after) failed alike for good.
READ_SPANS = 32
SPAN_GAP_NS = 60 * 10**9


def read_spans(stamps: set[int]) -> list[tuple[int, int]]:
    """[first, last] spans that hold every time in stamps."""
    times = sorted(stamps)
    gaps = sorted(((times[i + 1] - times[i], i) for i in range(len(times) - 1)
                   if times[i + 1] - times[i] > SPAN_GAP_NS), reverse=True)
    cuts = sorted(i for _, i in gaps[: READ_SPANS - 1])
    starts = [0] + [i + 1 for i in cuts]
    ends = cuts + [len(times) - 1]
    return [(times[a], times[b]) for a, b in zip(starts, ends, strict=True)]


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
        sole_writer: bool = False,
    ) -> None:
        """sole_writer: no other writer adds points to the series this store writes while it
        is open (the newest stored point of a series is read once, then followed)."""
        self.bucket, self.org = bucket, org
        # installation -> sensor -> newest stored (or attempted) ts_ns; None: not followed
        self._newest: dict[str, dict[str, int]] | None = {} if sole_writer else None
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

    def set_sole_writer(self, sole: bool) -> None:
        """Becoming the sole writer again forgets the newest points followed before: another
        writer may have added newer ones meanwhile, so each series' newest is read anew."""
        if not sole:
            self._newest = None
        elif self._newest is None:
            self._newest = {}

    # --- writes ------------------------------------------------------------------------------

    def write(self, points: Sequence[Point]) -> Conflicts:
        return self.write_rows(point_rows(points))

    def write_rows(self, rows: Sequence[Row]) -> Conflicts:
        unique, conflicts = first_of_each(rows)
        stored = self._stored(self._maybe_stored(unique))
        if not stored:
            self._write_fresh(unique)
            return Conflicts(conflicts, len(unique))
        fresh = []
        for row in unique:
            kept = stored.get((row[0], row[1], row[2]))
            if kept is None:
                fresh.append(row)
            elif kept != row[3]:
                conflicts.append((row, kept))
        self._write_fresh(fresh)
        return Conflicts(conflicts, len(fresh))

    def _maybe_stored(self, rows: list[Row]) -> list[Row]:
        """The rows whose point may be stored already. The newest mark moves before the
        write is sent: a write that fails, or lands after a timeout, is read on its retry."""
        newest = self._newest
        if newest is None:
            return rows
        for inst in {r[0] for r in rows} - newest.keys():
            # to_ns(from_ns()) may fall short of the stored ns: short is on the safe side
            newest[inst] = {sensor: to_ns(p.ts) for sensor, p in self.latest(inst).items()}
        maybe = []
        for row in rows:
            marks = newest[row[0]]
            if row[2] <= marks.get(row[1], -1):
                maybe.append(row)
            else:
                marks[row[1]] = row[2]
        return maybe

    def _stored(self, rows: Sequence[Row]) -> dict[tuple[str, str, int], float]:
        """The values stored already at the times of rows: per installation, within the
        spans of its rows' times (read_spans)."""
        stamps: dict[str, set[int]] = {}
        for inst, _, ts, _ in rows:
            stamps.setdefault(inst, set()).add(ts)
        if not stamps:
            return {}
        spans = [(inst, lo, hi) for inst, times in stamps.items() for lo, hi in read_spans(times)]
        results = self._select_all(";".join(
            f"SELECT value FROM {_ident(inst)} WHERE time >= {lo} AND time <= {hi} GROUP BY sensor"
            for inst, lo, hi in spans))
        return {
            (inst, s["tags"]["sensor"], ts): float(v)
            for (inst, _, _), result in zip(spans, results, strict=True)
            for s in result.get("series", [])
            for ts, v in s["values"]
        }

    def _write_fresh(self, rows: Sequence[Row]) -> None:
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
            # The body is larger than the server's max-body-size: the same request would be
            # refused forever, where smaller ones are taken (the caller splits the batch).
            if exc.status == 413:
                raise StoreError(
                    f"InfluxDB refused the write: HTTP 413, {len(body)} bytes is more than"
                    " its max-body-size") from exc
            raise StoreUnavailable(f"InfluxDB write failed: HTTP {exc.status}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise StoreUnavailable(f"InfluxDB unreachable: {exc}") from exc

    # --- reads -------------------------------------------------------------------------------

    def _select(self, q: str) -> list[dict]:
        """Run one InfluxQL statement; the series of its result (empty when no data)."""
        return self._select_all(q)[0].get("series", [])

    def _select_all(self, q: str) -> list[dict]:
        """Run InfluxQL statements (separated by ";"); the result of each, in order."""
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
        results = body["results"]
        for result in results:
            if "error" in result:
                raise StoreError(f"InfluxDB query error: {result['error']}")
        return results

    def _where(self, start: datetime, end: datetime) -> str:
        return f"time >= {bound_ns(start)} AND time < {bound_ns(end)}"

    def latest(self, installation: str, until: datetime | None = None) -> dict[str, Point]:
        before = "" if until is None else f" WHERE time <= {bound_ns(until)}"
        series = self._select(
            f"SELECT last(value) FROM {_ident(installation)}{before} GROUP BY sensor")
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
