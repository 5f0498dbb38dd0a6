"""The receive page's log is the technician's record of the batch: a reload (or a new tab, or
the next morning's login) used to start it empty, so what was already in had to be looked up
sample by sample. It now lists what this technician received today, the lab's day."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select

from lims.kernel import clock
from lims.kernel.models import Sample
from lims.samples import workflow
from tests.web import seed
from tests.web.test_pages import csrf_token, log_in

# 23:30 UTC on 3 December is 00:30 on 4 December in Amsterdam, the lab's zone: the lab's day began
# half an hour ago, and a receipt an hour earlier belongs to the day before.
NOW = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)


def _receive(session_factory, code: str, username: str, at: datetime) -> None:
    with clock.frozen_at(at), session_factory.begin() as s:
        workflow.receive(s, seed.user(s, username), s.scalar(select(Sample).where(Sample.code == code)))


def _lines(page: str) -> list[str]:
    log = re.search(r'<ol id="receive-log".*?</ol>', page, re.S).group(0)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", li)).strip() for li in re.findall(r"<li.*?</li>", log, re.S)]


def test_the_receive_page_lists_what_you_received_today_and_keeps_it_on_a_reload(client, seeded):
    with clock.frozen_at(NOW.replace(hour=12)):
        codes = seed.lot_with_samples(seeded, 5, receive=False).sample_codes
    _receive(seeded, codes[0], "tech", NOW.replace(hour=22, minute=50))  # yesterday, lab time
    _receive(seeded, codes[1], "tech2", NOW.replace(minute=10))  # today, someone else
    _receive(seeded, codes[2], "tech", NOW.replace(minute=5))  # today, 00:05 lab time
    with clock.frozen_at(NOW):
        log_in(client, "tech")
        page = client.get("/lab/receive").get_data(as_text=True)
        assert _lines(page) == [f"Received {codes[2]} · Recycled polypropylene (injection moulding regranulate) · received · 00:05"]
        assert f'<a href="/lab/samples/{codes[2]}" class="id">{codes[2]}</a>' in page  # one click to the sample

        answer = client.post("/lab/receive", data={"code": codes[3], "csrf_token": csrf_token(client, "/lab/receive")})
        # The answer comes first and alone marked as the answer (the line the page's script takes
        # into the log), then what was received before it, the new sample not twice.
        page = answer.get_data(as_text=True)
        assert re.findall(r"<li[^>]*data-answer", page) == ['<li class="flash success" data-answer']
        assert [line.split(" · ")[0] for line in _lines(page)] == [f"Received {codes[3]}", f"Received {codes[2]}"]

        again = client.get("/lab/receive").get_data(as_text=True)
        assert [line.split(" · ")[0] for line in _lines(again)] == [f"Received {codes[3]}", f"Received {codes[2]}"]
        assert "data-answer" not in again


def test_a_refused_scan_is_the_answer_and_the_days_receipts_follow(client, seeded):
    with clock.frozen_at(NOW.replace(hour=12)):
        codes = seed.lot_with_samples(seeded, 1, receive=False).sample_codes
    _receive(seeded, codes[0], "tech", NOW.replace(minute=1))
    with clock.frozen_at(NOW):
        log_in(client, "tech")
        refused = client.post("/lab/receive", data={"code": codes[0], "csrf_token": csrf_token(client, "/lab/receive")})
        page = refused.get_data(as_text=True)
        assert refused.status_code == 409
        assert re.findall(r"<li[^>]*data-answer", page) == ['<li class="flash error" data-answer']
        lines = _lines(page)
        assert len(lines) == 2 and codes[0] in lines[0] and lines[1].startswith(f"Received {codes[0]}")
