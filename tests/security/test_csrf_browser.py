"""Item 2 in a real browser: a page on another origin of the same site (another port on
127.0.0.1, so the Lax session cookie rides along) auto-submits writes as the logged-in
reviewer; nothing changes."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from lims.kernel.models import Analysis, Lot
from tests.lims.conftest import analyses_by_method, register

pytestmark = pytest.mark.browser

ATTACK = """<!doctype html><html><body>
<form id="lot" method="post" enctype="text/plain" action="{base}/api/v1/lots" target="sink">
<input name='{{"code":"EVIL-1","installation":"ntk-ext1","material":"pp","owner":"polyvorm","production_start":"2026-03-02T06:00:00+01:00","production_end":"2026-03-02T14:00:00+01:00","input_stream":"post-consumer","recycled_content_pct":"100","x":"' value='"}}'>
</form>
<iframe name="sink"></iframe>
<script>
const form = new FormData();
form.append("file", new Blob([`{csv}`], {{type: "text/csv"}}), "r.csv");
fetch("{base}/api/v1/imports/results", {{method: "POST", body: form, mode: "no-cors", credentials: "include"}})
  .finally(() => {{ document.getElementById("lot").submit(); document.title = "sent"; }});
</script></body></html>"""


class _AttackSite:
    def __init__(self, html: str) -> None:
        body = html.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_auto_submitting_page_on_another_port_changes_nothing(
    live_server, browser_page, lab, session_factory
):
    sample = register(lab.as_("tech"))
    assert "mfr_230_2_16" in analyses_by_method(sample)
    csv = f"sample_id,method,value,unit\\n{sample['sample_id']},mfr_230_2_16,1.5,g/10 min\\n"
    page = browser_page
    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("reviewer")
    page.get_by_label("Password").fill("demo-reviewer")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    site = _AttackSite(ATTACK.format(base=live_server, csv=csv))
    try:
        with page.expect_response(lambda r: "/api/v1/lots" in r.url) as lot_post:
            page.goto(site.url)
        expect(page).to_have_title("sent")
    finally:
        site.close()
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Lot).where(Lot.code == "EVIL-1")) == 0
        assert s.scalar(select(func.count()).select_from(Analysis).where(Analysis.value.is_not(None))) == 0
    assert lot_post.value.status == 403
    # Still logged in and able to work in the app's own pages.
    page.goto(f"{live_server}/review/")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
