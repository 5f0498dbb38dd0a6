"""The embedded store beyond the shared contract: batches larger than one INSERT statement,
and files written by the earlier layout (names in every point row) opened by this one."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from ingest.store.sqlite_store import SCHEMA_VERSION, SQLiteStore

T0 = datetime(2026, 4, 1, tzinfo=UTC)
T0_NS = int(T0.timestamp()) * 1_000_000_000


def test_a_batch_of_any_size_is_stored_once_across_statement_chunks(tmp_path):
    store = SQLiteStore(tmp_path / "ts.db")
    # 3 full chunks, a remainder made of several power-of-two statements, 3 series
    n = 3 * store._chunk + 4097 + 3
    rows = [(f"line-{k % 3}", "melt_temp_c", T0_NS + k * 1_000, float(k)) for k in range(n)]
    store.write_rows(rows)
    store.write_rows(rows[: n // 2])  # a redelivered half changes nothing
    (count,) = store._conn.execute("SELECT COUNT(*) FROM point").fetchone()
    assert count == n
    got = store.raw("line-1", "melt_temp_c", T0, T0 + timedelta(days=1))
    assert [p.value for p in got] == [float(k) for k in range(1, n, 3)]
    assert store.latest("line-2")["melt_temp_c"].value == float(max(range(2, n, 3)))
    store.close()


def test_a_file_in_the_earlier_layout_is_converted_on_open(tmp_path):
    path = tmp_path / "ts.db"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE point (
            installation TEXT NOT NULL, sensor TEXT NOT NULL, ts_ns INTEGER NOT NULL,
            value REAL NOT NULL, PRIMARY KEY (installation, sensor, ts_ns)
        ) WITHOUT ROWID;
        """
    )
    old.executemany(
        "INSERT INTO point VALUES (?, ?, ?, ?)",
        [("ext1", "melt_temp_c", T0_NS + s * 1_000_000_000, 200.0 + s) for s in range(5)]
        + [("ext1", "pressure_bar", T0_NS, 80.5), ("wash1", "ph", T0_NS, 7.25)],
    )
    old.commit()
    old.close()

    store = SQLiteStore(path)
    assert store._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [p.value for p in store.raw("ext1", "melt_temp_c", T0, T0 + timedelta(minutes=1))] == [
        200.0, 201.0, 202.0, 203.0, 204.0
    ]
    assert {s: p.value for s, p in store.latest("ext1").items()} == {
        "melt_temp_c": 204.0, "pressure_bar": 80.5
    }
    # writing on after the conversion: old points stay unique per series and time
    other = ("wash1", "ph", T0_NS, 7.5)
    assert store.write_rows([other, ("wash1", "ph", T0_NS + 1_000, 7.0)]) == [(other, 7.25)]
    assert [p.value for p in store.raw("wash1", "ph", T0, T0 + timedelta(minutes=1))] == [7.25, 7.0]
    store.close()
    reopened = SQLiteStore(path)  # a converted file opens as it is
    assert reopened.latest("wash1")["ph"].value == 7.0
    reopened.close()
