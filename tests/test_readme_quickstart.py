"""The README's API quickstart, run as written with bash and curl against a live `recyclab web`
on a free loopback port; and the `recyclab` command's own help and version."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click
import pytest
from sqlalchemy import select

from lims.certificates import issuing as certificates
from lims.cli import main
from lims.kernel.db import make_engine, make_session_factory
from lims.kernel.models import Analysis, Method, Sample
from lims.kernel.settings import load_settings
from tests.web import seed

ROOT = Path(__file__).resolve().parent.parent
RECYCLAB = [sys.executable, "-m", "lims.cli"]


def quickstart_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## API quickstart", 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"recyclab web exited: {server.stderr.read().decode()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {seconds} s")


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl and jq")
def test_the_readme_api_quickstart_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.setenv("RECYCLAB_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("RECYCLAB_DATABASE_URL", raising=False)
    monkeypatch.setenv("RECYCLAB_SECRET_KEY", "k" * 64)
    env = dict(os.environ)
    for args in (["db", "upgrade"], ["seed", "--demo-users"], ["keys", "create"]):
        subprocess.run(RECYCLAB + args, env=env, check=True, capture_output=True, timeout=180, cwd=ROOT)
    settings = load_settings()
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    lot = seed.lot_with_samples(sessions, 2)
    waiting, certified = lot.sample_codes
    seed.submit_all(sessions, certified)
    seed.verify_all(sessions, certified)
    with sessions.begin() as s:
        sample = s.scalar(select(Sample).where(Sample.code == certified))
        number = certificates.issue_for_sample(s, certificates.Issuer.from_settings(settings), seed.user(s, "reviewer"), sample).number

    port = free_port()
    server = subprocess.Popen(RECYCLAB + ["web", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", server)
        run = subprocess.run(["bash", "-c", quickstart_block()], cwd=tmp_path, capture_output=True, text=True,
                             timeout=120, env={**env, "RECYCLAB_URL": f"http://127.0.0.1:{port}"})
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr
    assert waiting in run.stdout and '"state": "submitted"' in run.stdout
    assert (tmp_path / "certificate.pdf").read_bytes().startswith(b"%PDF")
    assert number in (tmp_path / "certificate.json").read_text()
    with sessions() as s:
        mfr = s.scalar(select(Analysis).join(Sample).join(Method).where(Sample.code == waiting, Method.key == "mfr_230_2_16"))
        assert (mfr.state, str(mfr.value.normalize()), mfr.instrument) == ("submitted", "12.3", "MFR-02")
    engine.dispose()


def test_recyclab_prints_its_version_and_hides_flasks_options():
    version = subprocess.run(RECYCLAB + ["--version"], capture_output=True, text=True, check=True, timeout=60, cwd=ROOT)
    assert re.fullmatch(r"recyclab \d+\.\d+\.\d+\S*\n", version.stdout)
    helped = subprocess.run(RECYCLAB + ["--help"], capture_output=True, text=True, check=True, timeout=60, cwd=ROOT).stdout
    for flask_option in ("--app", "--env-file", "--debug", "Flask"):
        assert flask_option not in helped


def test_every_subcommand_has_help_text():
    def walk(group: click.Group, path: str):
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            yield f"{path} {name}", command
            if isinstance(command, click.Group):
                yield from walk(command, f"{path} {name}")

    missing = [path for path, command in walk(main, "recyclab") if not (command.help or command.short_help)]
    assert missing == []
