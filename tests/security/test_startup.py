"""Item 1: `recyclab web` does not serve with the public default cookie-signing key."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


def _env(tmp_path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECYCLAB_")}
    env.update(
        RECYCLAB_VAR_DIR=str(tmp_path / "var"),
        RECYCLAB_DATABASE_URL=f"sqlite:///{tmp_path / 'lims.db'}",
        **extra,
    )
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _web(env: dict[str, str], port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lims.cli", "web", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_web_refuses_the_default_key_and_says_how_to_make_one(tmp_path):
    proc = _web(_env(tmp_path), _free_port())
    try:
        _out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("recyclab web started serving with the default secret key")
    assert proc.returncode != 0
    assert "RECYCLAB_SECRET_KEY" in err and "secrets.token_hex" in err
    assert "RECYCLAB_SECRET_KEY_FILE" in err


def test_web_refuses_a_short_key(tmp_path):
    proc = _web(_env(tmp_path, RECYCLAB_SECRET_KEY="short"), _free_port())
    try:
        _out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("recyclab web started serving with a 5-character key")
    assert proc.returncode != 0 and "shorter than" in err


def test_web_serves_with_a_key_file(tmp_path):
    key_file = tmp_path / "secret.key"
    key_file.write_text("k" * 64 + "\n")
    port = _free_port()
    env = _env(tmp_path, RECYCLAB_SECRET_KEY_FILE=str(key_file))
    # The certificate signing key is the other thing web needs (made explicitly, never on use),
    # and /healthz answers 200 only on a database at this version's migrations.
    for command in (["db", "upgrade"], ["keys", "create"]):
        subprocess.run([sys.executable, "-m", "lims.cli", *command], env=env, check=True,
                       capture_output=True, timeout=120)
    proc = _web(env, port)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "recyclab web did not come up"
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
