"""The time-series store as the web app holds it: one client per app process, opened on first
use (stores are thread-safe). Pages and the API of every domain read process data through it."""

from __future__ import annotations

import threading

from flask import current_app

from ingest.store import TimeSeriesStore, open_store

_store_lock = threading.Lock()


def timeseries_store() -> TimeSeriesStore:
    """One store client per app process, opened on first use (stores are thread-safe)."""
    extensions = current_app.extensions
    if "recyclab.store" not in extensions:
        with _store_lock:
            if "recyclab.store" not in extensions:
                extensions["recyclab.store"] = open_store(current_app.config["RECYCLAB"])
    return extensions["recyclab.store"]
