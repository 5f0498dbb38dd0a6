"""Two reviewers working the queue at once: their ticked results overlap, in any order, and
both finish (PostgreSQL, where each verification waits on its sample's lock)."""

from __future__ import annotations

import threading

from sqlalchemy import create_engine, select, text

from lims.kernel.models import Analysis, Sample
from lims.people import accounts
from tests.support.postgres import wait_for_lock_waiters
from tests.web import seed
from tests.web.test_pages import csrf_token


def test_two_reviewers_verifying_overlapping_ticks_in_other_orders_both_finish(app, database_url, seeded):
    """The queue verified the ticked results in the order the form sent them, each taking its
    sample's lock: one reviewer holding sample 1 and waiting for sample 2 while the other held
    2 and waited for 1 was a deadlock, which PostgreSQL ended by failing one of them."""
    codes = seed.lot_with_samples(seeded, 3).sample_codes
    for code in codes:
        seed.submit_all(seeded, code, "tech")
    with seeded.begin() as s:
        accounts.create_user(s, None, username="reviewer2", password="second-reviewer-pw", role="reviewer",
                             organization=seed.user(s, "reviewer").organization)
        sample_ids = [s.scalar(select(Sample.id).where(Sample.code == code)) for code in codes]
        assert sample_ids == sorted(sample_ids)
        analyses = {sid: s.scalars(select(Analysis.id).where(Analysis.sample_id == sid).order_by(Analysis.id)).all()
                    for sid in sample_ids}
    one, two, three = sample_ids
    ticks = {
        "reviewer": [analyses[one][0], analyses[three][0], analyses[two][0]],  # 1, 3, 2
        "reviewer2": [analyses[two][1], analyses[one][1]],  # 2, 1
    }
    clients = {}
    for username, password in [("reviewer", seed.PASSWORDS["reviewer"]), ("reviewer2", "second-reviewer-pw")]:
        client = app.test_client()
        client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_token(client)})
        clients[username] = (client, csrf_token(client, "/review/"))
    answers: dict[str, int] = {}

    def verify(username: str) -> None:
        client, token = clients[username]
        answers[username] = client.post(
            "/review/verify", data={"analysis": ticks[username], "csrf_token": token}).status_code

    holder = create_engine(database_url)
    threads = {u: threading.Thread(target=verify, args=(u,), daemon=True) for u in ticks}
    with holder.connect() as hold:
        # Someone else works on sample 3 a moment: the first reviewer, holding sample 1, waits
        # for it; the second reviewer starts meanwhile.
        hold.execute(text("SELECT id FROM sample WHERE id = :id FOR UPDATE"), {"id": three})
        for waiting, username in enumerate(ticks, start=1):
            threads[username].start()
            wait_for_lock_waiters(database_url, waiting, f"{username} to wait for a sample")
        hold.rollback()
    for thread in threads.values():
        thread.join(30)
    holder.dispose()
    assert answers == {"reviewer": 302, "reviewer2": 302}
    with seeded() as s:
        states = s.scalars(select(Analysis.state).where(Analysis.id.in_(ticks["reviewer"] + ticks["reviewer2"])))
        assert set(states) == {"verified"}
