"""One real `recyclab web` process (waitress) against PostgreSQL, as production runs it behind
its reverse proxy: what the in-process test client cannot show, the server's own handling of
headers and the process's database connections."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lims import throttle
from lims.certificates import signing
from lims.kernel.clock import utcnow
from tests.certificates import support
from tests.ingest.support import wait_until
from tests.support.influx import free_port
from tests.test_scale_out import Processes

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

THREADS = 20  # more logins at once than SQLAlchemy's default pool (5 + 10 connections) serves


def _login(url: str, username: str, password: str, address: str) -> int | str:
    body = json.dumps({"username": username, "password": password}).encode()
    req = urllib.request.Request(f"{url}/api/v1/auth/login", data=body, method="POST", headers={
        "Content-Type": "application/json", "X-Forwarded-For": address})
    try:
        # Shorter than the pool's 30 s wait for a connection: a login stuck there fails here.
        with urllib.request.urlopen(req, timeout=25) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except TimeoutError:
        return "no answer"


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.fixture
def web_behind_a_proxy(database_url, seeded, tmp_path: Path) -> Iterator[Callable[[int], str]]:
    """Starts `recyclab web --threads N` behind one proxy hop (RECYCLAB_PROXY_HOPS=1); its URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECYCLAB_")}
    env.update(
        RECYCLAB_VAR_DIR=str(tmp_path / "var"),
        RECYCLAB_DATABASE_URL=database_url,
        RECYCLAB_SECRET_KEY="web-process-test-secret-" + "k" * 40,
        RECYCLAB_PROXY_HOPS="1",
    )
    signing.create_key(tmp_path / "var" / "keys" / signing.DEFAULT_KEY_NAME, utcnow(), "Test lab")
    with Processes() as procs:

        def start(threads: int) -> str:
            port = free_port()
            procs.start("web", ["web", "--host", "127.0.0.1", "--port", str(port), "--threads", str(threads)],
                        env, tmp_path)
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda: _up(url), 60, f"{url} to answer /healthz")
            return url

        yield start


def test_behind_the_proxy_the_web_process_tells_the_clients_apart(web_behind_a_proxy):
    """The proxy names each client in X-Forwarded-For; waitress dropped that header from an
    address it was not told to trust, so every client was the proxy's own address: one
    colleague's mistyped passwords blocked the whole lab's logins."""
    url = web_behind_a_proxy(4)
    for i in range(throttle.ADDRESS_FREE_FAILURES):
        assert _login(url, f"nobody{i}", "guess", "10.2.0.1") == 401
    # Guessing on, waiting out the blocks (1, 2, 4 s), until the next block lasts 8 s: the
    # first one, 1 s, can be over before a busy machine serves the next request.
    failed, deadline = 0, time.monotonic() + 60
    while failed < 4:
        assert time.monotonic() < deadline, "the address was not blocked for longer each time"
        status = _login(url, f"nobody-more{failed}", "guess", "10.2.0.1")
        assert status in (401, 429)
        failed += status == 401
        time.sleep(0.25 if status == 429 else 0)
    assert _login(url, "tech", "demo-tech", "10.2.0.1") == 429
    assert _login(url, "tech", "demo-tech", "10.2.0.2") == 200


def test_as_many_logins_at_once_as_the_web_process_has_threads_all_get_in(web_behind_a_proxy, session_factory):
    """A login holds two connections, the request's and the failed-login counters' own
    transaction: with more threads than the default pool had connections for, each thread held
    its request's and waited for a second one, 30 s, then answered 500."""
    with session_factory.begin() as s:
        for i in range(THREADS):
            support.make_user(s, f"shift{i}", "technician", "ntk")
    url = web_behind_a_proxy(THREADS)
    start = threading.Barrier(THREADS)
    statuses: list[int | str] = []

    def log_in(i: int) -> None:
        start.wait()
        statuses.append(_login(url, f"shift{i}", support.password_of(f"shift{i}"), f"10.1.0.{i + 1}"))

    began = time.monotonic()
    logins = [threading.Thread(target=log_in, args=(i,)) for i in range(THREADS)]
    for login in logins:
        login.start()
    for login in logins:
        login.join()
    assert statuses == [200] * THREADS
    assert time.monotonic() - began < 25
