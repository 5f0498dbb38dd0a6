"""Two reviewers releasing one lot at once from the sample pages (PostgreSQL, where each waits
for the lot's samples): what the second does rests on what the first committed, not on what its
page read before it waited."""

from __future__ import annotations

import threading

from sqlalchemy import create_engine, select, text

from lims.certificates import issuing
from lims.kernel.models import Lot, Sample
from lims.kernel.models.certificate import Certificate
from tests.support.postgres import wait_for_lock_waiters
from tests.web import seed
from tests.web.test_pages import csrf_token, log_in


def test_amending_a_lot_certificate_while_a_colleague_invalidates_one_of_its_samples_leaves_that_sample_off(
    app, database_url, seeded
):
    """The amendment, asked from the sample page, read the sample (certified) before it waited
    for the lot's samples; the invalidation went first, and the revision was then drawn from the
    sample as read before the wait: the lot's corrected certificate carried the sample whose
    results had just been invalidated."""
    lot = seed.lot_with_samples(seeded, 2)
    for code in lot.sample_codes:
        seed.submit_all(seeded, code, "tech")
        seed.verify_all(seeded, code, "reviewer")
    with seeded.begin() as s:
        issuing.issue_for_lot(s, issuing.Issuer.from_settings(app.config["RECYCLAB"]), seed.user(s, "reviewer"),
                              s.get(Lot, lot.lot_id))
    wrong, kept = lot.sample_codes
    clients = {}
    for username in ("reviewer", "admin"):
        client = app.test_client()
        log_in(client, username)
        clients[username] = (client, csrf_token(client, f"/lab/samples/{wrong}"))
    answers: dict[str, int] = {}

    def post(username: str, action: str, reason: str) -> None:
        client, token = clients[username]
        answers[action] = client.post(
            f"/review/samples/{wrong}/{action}", data={"reason": reason, "csrf_token": token}).status_code

    invalidating = threading.Thread(target=post, args=("reviewer", "invalidate", "balance out of calibration"))
    amending = threading.Thread(target=post, args=("admin", "amend", "customer address corrected"))
    holder = create_engine(database_url)
    with holder.connect() as hold:
        # A technician holds the sample a moment: the invalidation waits, then the amendment.
        hold.execute(text("SELECT id FROM sample WHERE code = :code FOR UPDATE"), {"code": wrong})
        invalidating.start()
        wait_for_lock_waiters(database_url, 1, "the invalidation to wait for the sample")
        amending.start()
        wait_for_lock_waiters(database_url, 2, "the amendment to wait as well")
        hold.rollback()
    invalidating.join(60)
    amending.join(60)
    holder.dispose()
    assert answers == {"invalidate": 302, "amend": 302}
    with seeded() as s:
        assert s.scalar(select(Sample.state).where(Sample.code == wrong)) == "invalid"
        (revision,) = s.scalars(select(Certificate).where(Certificate.status == "valid")).all()
        assert revision.revision == 1
        assert [sample.code for sample in revision.samples] == [kept]
