"""Behind a load balancer each request may land on another web process: a login, its CSRF
token and its logout, the failed-login counters and the public rate limit hold whichever
process answers. Two real `recyclab web` processes against one PostgreSQL database, one browser
(one cookie jar: cookies do not tell ports apart) alternating between them."""

from __future__ import annotations

import copy
import http.cookiejar
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from itertools import cycle
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lims import throttle
from lims.web.limits import PUBLIC_REQUESTS
from tests.ingest.support import wait_until
from tests.support.influx import free_port
from tests.test_scale_out import Processes

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def copy(self) -> Browser:
        """Another browser holding this one's cookies as they are now (another tab, a stolen one)."""
        other = Browser()
        for cookie in self.jar:
            other.jar.set_cookie(copy.copy(cookie))
        return other

    def request(self, method: str, url: str, form: dict[str, str] | None = None) -> tuple[int, str, dict]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(urllib.request.Request(url, data=data, method=method), timeout=60) as r:
                return r.status, r.read().decode(), dict(r.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), dict(exc.headers)

    def csrf(self, url: str) -> str:
        return CSRF.search(self.request("GET", url)[1]).group(1)


@pytest.fixture
def two_web_processes(database_url, seeded, tmp_path: Path) -> Iterator[tuple[str, str]]:
    key_file = tmp_path / "certificate-signing-key.pem"  # given to both, as in production
    key_file.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    urls = []
    with Processes() as procs:
        for name in ("web-a", "web-b"):
            (tmp_path / name).mkdir()
            env = {k: v for k, v in os.environ.items() if not k.startswith("RECYCLAB_")}
            env.update(
                RECYCLAB_VAR_DIR=str(tmp_path / name),
                RECYCLAB_DATABASE_URL=database_url,
                RECYCLAB_SECRET_KEY="two-processes-test-secret-" + "k" * 40,
                RECYCLAB_SIGNING_KEY_FILE=str(key_file),
            )
            port = free_port()
            procs.start(name, ["web", "--host", "127.0.0.1", "--port", str(port), "--threads", "4"], env, tmp_path)
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            wait_until(lambda url=url: _up(url), 60, f"{url} to answer /healthz")
        yield urls[0], urls[1]


def _up(url: str) -> bool:
    try:
        return Browser().request("GET", f"{url}/healthz")[0] == 200
    except OSError:
        return False


def test_a_login_its_csrf_token_and_its_logout_hold_on_either_process(two_web_processes):
    a, b = two_web_processes
    browser = Browser()
    status, _, headers = browser.request(
        "POST", f"{b}/login", {"username": "tech", "password": "demo-tech", "csrf_token": browser.csrf(f"{a}/login")}
    )
    assert status == 302 and headers["Location"] == "/", status
    assert browser.request("GET", f"{a}/lab/samples")[0] == 200
    assert browser.request("POST", f"{a}/lang", {"lang": "nl", "csrf_token": browser.csrf(f"{b}/lab/samples")})[0] == 302
    before_logout = browser.copy()
    assert browser.request("POST", f"{b}/logout", {"csrf_token": browser.csrf(f"{a}/lab/samples")})[0] == 302
    for url in (a, b):
        status, _, headers = before_logout.request("GET", f"{url}/lab/samples")
        assert status == 302 and headers["Location"].startswith("/login"), url


def _failed_logins_until_refused(browser: Browser, urls: list[str], attempts: int) -> int:
    """How many wrong passwords, sent to the processes in turn, got 401 before the first 429."""
    token = browser.csrf(f"{urls[0]}/login")
    for n, url in zip(range(attempts), cycle(urls), strict=False):
        status, _, _ = browser.request("POST", f"{url}/login", {"username": "reviewer", "password": "wrong", "csrf_token": token})
        if status == 429:
            return n
        assert status == 401, status
    return attempts


def test_failed_logins_and_public_lookups_are_counted_over_both_processes(two_web_processes):
    a, b = two_web_processes
    # Counted per process, the first refusal would come after 2 x FREE_FAILURES + 1 tries. The
    # first block lasts 1 s: a slow machine may let one more try through before it is refused.
    refused_after = _failed_logins_until_refused(Browser(), [a, b], 4 * throttle.FREE_FAILURES)
    assert throttle.FREE_FAILURES + 1 <= refused_after <= throttle.FREE_FAILURES + 2

    anonymous = Browser()
    statuses = [anonymous.request("GET", f"{url}/api/v1/public/certificates/NTK-NO-SUCH")[0]
                for _, url in zip(range(PUBLIC_REQUESTS + 1), cycle([a, b]), strict=False)]
    assert statuses[:PUBLIC_REQUESTS] == [404] * PUBLIC_REQUESTS and statuses[-1] == 429
