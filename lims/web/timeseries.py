"""The time-series store as the web app holds it: one client per app process, opened on first
use (stores are thread-safe). Pages and the API of every domain read process data through it."""

from __future__ import annotations

import threading

from flask import current_app

from ingest.store import TimeSeriesStore, open_store

_store_lock = threading.Lock()
# The live view polls every second: a store that has not answered its small reads within this
# is one that does not answer now, and the page must say so rather than wait (charts and
# reports, which may aggregate a week, keep the client's own 30 s).
LIVE_TIMEOUT_S = 3.0


def timeseries_store(live: bool = False) -> TimeSeriesStore:
    """One store client per app process (and one for the live view, live=True), opened on
    first use (stores are thread-safe)."""
    extensions = current_app.extensions
    name = "recyclab.live_store" if live else "recyclab.store"
    if name not in extensions:
        with _store_lock:
            if name not in extensions:
                extensions[name] = open_store(current_app.config["RECYCLAB"],
                                              timeout_s=LIVE_TIMEOUT_S if live else None)
    return extensions[name]
