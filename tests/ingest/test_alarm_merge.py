"""Two ingesters' alarm views merged in the database, batch by batch, in whatever order their
transactions happen to commit (the broker-level test leaves the order to chance)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from ingest.alarms import AlarmTracker
from ingest.records import LimsRecorder
from ingest.store.base import to_ns
from lims.kernel.models.process import AlarmEvent
from tests.ingest.support import private_config
from tests.ingest.test_alarm_edges import alarms

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)

T0 = datetime(2026, 5, 28, 12, tzinfo=UTC)
# temp_c's high limit is 250: within it, beyond it (peak 330) for 20 s, back within it.
VALUES = [200.0] * 10 + [260.0 + (i * 7) % 71 for i in range(20)] + [200.0] * 10


def at(i: int) -> datetime:
    return T0 + timedelta(seconds=i)


class Member:
    """An ingester as far as alarms go: its tracker, and its recorder into the shared database."""

    def __init__(self, registry, session_factory, inst: str) -> None:
        self.recorder = LimsRecorder(session_factory, AlarmTracker(registry))
        self.inst = inst
        self.batches: list[list[tuple[int, float]]] = []

    def record_next(self) -> None:
        rows = [(self.inst, "temp_c", to_ns(at(i)), v) for i, v in self.batches.pop(0)]
        assert self.recorder.record([], self.recorder.tracker.observe(rows, at(1000))) == []


@pytest.fixture
def sensor(tmp_path):
    _, inst, registry = private_config(tmp_path)
    return inst, registry


def run(sensor, session_factory, shares: dict[str, list[list[tuple[int, float]]]],
        order: str) -> list[tuple]:
    """Each member records its batches in turn as `order` says (e.g. "ABBA..."), starting
    from no events."""
    inst, registry = sensor
    with session_factory.begin() as s:
        s.execute(delete(AlarmEvent))
    members = {name: Member(registry, session_factory, inst) for name in shares}
    for name, batches in shares.items():
        members[name].batches = [list(b) for b in batches]
    for name in order:
        members[name].record_next()
    return [(a.kind, a.started_at, a.ended_at, a.peak_value) for a in alarms(session_factory)]


def alternating(values: list[float]) -> dict[str, list[tuple[int, float]]]:
    """The broker hands the readings out in turn."""
    return {"A": [(i, v) for i, v in enumerate(values) if i % 2 == 0],
            "B": [(i, v) for i, v in enumerate(values) if i % 2 == 1]}


def one_per_batch(shares: dict[str, list[tuple[int, float]]]) -> dict[str, list[list[tuple[int, float]]]]:
    return {name: [[reading] for reading in turn] for name, turn in shares.items()}


def orders(n: int, seed: int) -> list[str]:
    """All of one first, all of the other first, in turn, and shuffles."""
    rng = random.Random(seed)
    fixed = ["A" * n + "B" * n, "B" * n + "A" * n, "AB" * n, "BA" * n]
    return fixed + ["".join(rng.sample("A" * n + "B" * n, 2 * n)) for _ in range(6)]


def test_alternating_readings_make_one_event_whatever_order_the_batches_commit_in(
    sensor, session_factory
):
    expected = [("high", at(10), at(30), max(VALUES))]
    for order in orders(len(VALUES) // 2, seed=1):
        assert run(sensor, session_factory, one_per_batch(alternating(VALUES)), order) == expected, order


def test_a_reading_back_within_the_limit_does_not_end_an_alarm_another_ingester_sees_beyond(
    sensor, session_factory
):
    """A sees 300 then 200 (its view: the alarm ended); B sees 300 in between and 300 after
    A's 200, and nothing since. Whichever commits first, an alarm is ongoing afterwards."""
    shares = {"A": [[(0, 300.0)], [(2, 200.0)]], "B": [[(1, 300.0)], [(3, 300.0)]]}
    for order in ("AABB", "BBAA", "ABAB", "BABA", "ABBA", "BAAB"):
        events = run(sensor, session_factory, shares, order)
        assert [e for e in events if e[2] is None], (order, events)
        assert events[0][1] == at(0), (order, events)


@pytest.mark.parametrize("seed", range(15))
def test_readings_split_at_random_and_committed_in_any_order_leave_no_reading_beyond_unalarmed(
    sensor, session_factory, seed
):
    """A sensor that comes and goes over its limit, its readings handed out in turn, a few to a
    batch, the batches committed in any order: every reading beyond the limit lies within an
    event, and at most one event is ongoing. (Where the events begin and end may differ from
    what a single ingester records: an ingester that saw no reading of an event beyond the
    limit makes no round trip for its readings within it, which would have ended it.)"""
    rng = random.Random(seed)
    values = [rng.choice([200.0, 200.0, 260.0 + rng.randint(0, 60)])
              for _ in range(rng.randint(6, 30))]
    size = rng.randint(1, 3)
    shares = {name: [turn[i:i + size] for i in range(0, len(turn), size)]
              for name, turn in alternating(values).items()}
    order = list("A" * len(shares["A"]) + "B" * len(shares["B"]))
    rng.shuffle(order)
    events = run(sensor, session_factory, shares, "".join(order))
    for i, v in enumerate(values):
        if v > 250:
            assert any(e[1] <= at(i) and (e[2] is None or at(i) < e[2]) for e in events), (
                i, values, order, events)
    assert sum(e[2] is None for e in events) <= 1


def test_an_ingester_that_saw_no_reading_of_an_alarm_beyond_the_limit_ends_it_once_it_looks(
    sensor, session_factory
):
    """A had the one reading beyond the limit and gets no more readings of the sensor (it was
    stopped, or the broker happens to hand them all to B). B's readings are all within the
    limit, which costs no round trip: B learns of the ongoing event when it looks at the
    ongoing events (every few seconds), and its next reading within the limit ends it."""
    inst, registry = sensor
    a, b = (Member(registry, session_factory, inst) for _ in "AB")
    a.batches, b.batches = [[(0, 300.0)]], [[(1, 200.0)], [(2, 200.0)]]
    a.record_next()
    b.record_next()
    b.recorder.refresh_alarms()
    b.record_next()
    assert [(e.started_at, e.ended_at) for e in alarms(session_factory)] == [(at(0), at(2))]
