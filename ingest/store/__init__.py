"""Time-series store: interface (base) and the SQLite and InfluxDB implementations."""

from ingest.store.base import (
    Bucket,
    Point,
    Row,
    SensorSummary,
    StoreError,
    StoreUnavailable,
    TimeSeriesStore,
    open_store,
)

__all__ = [
    "Bucket",
    "Point",
    "Row",
    "SensorSummary",
    "StoreError",
    "StoreUnavailable",
    "TimeSeriesStore",
    "open_store",
]
