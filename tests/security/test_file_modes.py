"""Item 10: the time-series database and its WAL files are readable by the owner only."""

from __future__ import annotations

import os
import stat

from ingest.store.sqlite_store import SQLiteStore


def test_the_timeseries_database_is_created_0600(tmp_path):
    previous = os.umask(0o022)  # the usual umask, which makes files world-readable
    try:
        store = SQLiteStore(tmp_path / "var" / "timeseries.db")
        files = sorted((tmp_path / "var").glob("timeseries.db*"))
        modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
        store.close()
    finally:
        os.umask(previous)
    assert "timeseries.db" in modes
    assert set(modes.values()) == {0o600}, {k: oct(v) for k, v in modes.items()}
