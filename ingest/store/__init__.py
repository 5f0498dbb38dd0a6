"""Time-series store: interface (base) and the SQLite and InfluxDB implementations, and
open_store() choosing one by the settings (here, so base never imports an implementation)."""

from ingest.store.base import (
    Bucket,
    Conflict,
    Point,
    Row,
    SensorSummary,
    StoreError,
    StoreUnavailable,
    TimeSeriesStore,
)

__all__ = [
    "Bucket",
    "Conflict",
    "Point",
    "Row",
    "SensorSummary",
    "StoreError",
    "StoreUnavailable",
    "TimeSeriesStore",
    "open_store",
]


def open_store(settings, timeout_s: float | None = None) -> TimeSeriesStore:
    """The store chosen by settings.timeseries_backend: "sqlite" (default) or "influxdb".
    timeout_s bounds each InfluxDB request (default: the client's 30 s)."""
    backend = settings.timeseries_backend
    if backend == "sqlite":
        from ingest.store.sqlite_store import SQLiteStore

        return SQLiteStore(settings.timeseries_sqlite_path)
    if backend == "influxdb":
        from ingest.store.influx_store import InfluxStore

        return InfluxStore(
            url=settings.influx_url,
            token=settings.influx_token,
            org=settings.influx_org,
            bucket=settings.influx_bucket,
            **({} if timeout_s is None else {"timeout_s": timeout_s}),
        )
    raise ValueError(f"timeseries_backend must be 'sqlite' or 'influxdb', not {backend!r}")
