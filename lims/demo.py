"""`recyclab demo`: the whole system on embedded defaults, as `make run` starts it.

The in-process amqtt broker runs in this process; ingester, simulator and web app run as
child processes (the same commands production runs), so one Ctrl-C stops them all cleanly.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.embedded_broker import EmbeddedBroker
from lims.kernel.clock import utcnow
from lims.kernel.models import Certificate, Lot, User
from lims.kernel.settings import Settings

# The first model is trained on SIMULATED history written straight into the store, which
# also gives the dashboard's charts a past. It starts 10 days 3 h ago; lots that would end
# after the backlog's start are left out (--end): the backlog's lots have their own data there,
# and no history value may be stamped in the future, where it would hide the live values
# (latest() shows the newest point) and mix with them.
HISTORY_LOTS = 600
HISTORY_SPAN = timedelta(days=10, hours=3)
EXCURSION_AFTER_S = 20
# The live simulator closes its first lot after an hour or more; until then the LIMS would be
# empty. So a fresh demo starts with lots that ended in the hours before it, whose samples are
# left at every stage of the workflow.
BACKLOG_LOTS = 12
BACKLOG_SPAN = timedelta(hours=8)
# Who buys what each programme line makes: the lab shares the backlog's certificates with them,
# so a demo manufacturer logs in to the certificates of lots it bought, not to an empty list.
DEMO_BUYERS = {"ntk": "polyvorm", "dctv": "vezelwerk"}


@dataclass
class Child:
    name: str
    args: list[str]
    process: subprocess.Popen | None = None


@dataclass
class Demo:
    settings: Settings
    web_port: int
    broker_port: int
    train_first_model: bool = True
    echo: Callable[[str], None] = print
    children: list[Child] = field(default_factory=list)
    broker: EmbeddedBroker | None = None
    _env: dict[str, str] = field(default_factory=dict)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _job: subprocess.Popen | None = None

    def start(self) -> None:
        self.broker = EmbeddedBroker(port=self.broker_port).start()
        self.echo(f"MQTT broker (embedded amqtt) on {self.broker.url}")
        self._env = self.child_env(self.broker.url)
        # The ingester subscribes before the simulator publishes: amqtt keeps no messages for
        # a subscriber that is not there yet.
        self.children = [
            Child("ingest", ["ingest", "--mqtt-version", "3.1.1"]),
            Child(
                "simulate",
                # The excursion gives the alarms page something to show in the first minute.
                ["simulate", "--speedup", "1", "--rate", "1", "--running-start",
                 "--excursion-after", str(EXCURSION_AFTER_S)],
            ),
            Child("web", ["web", "--port", str(self.web_port)]),
        ]
        for child in self.children:
            child.process = self._spawn(child.args)
            self.echo(f"started {child.name} (pid {child.process.pid})")
            time.sleep(1.0)
        if self.train_first_model:
            threading.Thread(target=self._first_model, daemon=True, name="first-model").start()

    def child_env(self, broker_url: str) -> dict[str, str]:
        return {
            **os.environ,
            "RECYCLAB_BROKER_URL": broker_url,
            "RECYCLAB_VAR_DIR": str(self.settings.var_dir),
            "RECYCLAB_DATABASE_URL": self.settings.database_url,
            "RECYCLAB_TIMESERIES_BACKEND": "sqlite",
            "RECYCLAB_SIMULATED_DATA": "true",
            # The web app links the certificates' verify page where the backlog's PDFs point.
            "RECYCLAB_PUBLIC_URL": self.settings.public_url,
        }

    def _spawn(self, args: list[str]) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "lims.cli", *args], env=self._env, start_new_session=True
        )

    def history_steps(self) -> list[list[str]]:
        """The commands that write the simulated history, train the first model on it,
        predict the open lots with it and check its drift over them."""
        now = utcnow()
        manifest = self.settings.var_dir / "simulated" / "demo-history.jsonl"
        return [
            [
                "simulate",
                "--offline",
                "--lots",
                str(HISTORY_LOTS),
                "--seed",
                "1",
                "--start",
                (now - HISTORY_SPAN).strftime("%Y-%m-%dT%H:%M:%S"),
                "--end",
                (now - BACKLOG_SPAN).strftime("%Y-%m-%dT%H:%M:%S"),
                "--manifest",
                str(manifest),
            ],
            [
                "train",
                "--manifest",
                str(manifest),
                "--promote",
                "--note",
                "first model of the demo, trained on SIMULATED history",
            ],
            # The backlog's lots came in before there was a model: its grades for them.
            ["model", "predict"],
            # Its drift over the backlog's lots, so the model's page shows a report from the start.
            ["model", "drift", "--days", str(math.ceil(BACKLOG_SPAN / timedelta(days=1)))],
        ]

    def _first_model(self) -> None:
        """Simulated history, then a first production model, in the background."""
        steps = self.history_steps()
        self.echo("training a first grade model on simulated history in the background ...")
        for args in steps:
            if self._stopping.is_set():
                return
            self._job = self._spawn(args)
            if self._job.wait() != 0:
                command = " ".join(args[:2] if args[0] == "model" else args[:1])
                if args[0] in ("simulate", "train"):
                    outcome = ("ended without a production model (a model that does not beat every"
                               " baseline is not promoted; see /models); the demo runs without a model")
                else:  # after `train`: the model is in production, only this step's work is missing
                    outcome = "failed (see its output above); the first model is in production all the same"
                self.echo(f"first model: `recyclab {command}` {outcome}")
                return
        self.echo("first grade model trained, promoted, asked about the open lots and checked for drift")

    def wait(self) -> int:
        """Until Ctrl-C (or SIGTERM) or until a child dies; returns that child's exit code."""
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            while True:
                for child in self.children:
                    code = child.process.poll() if child.process else None
                    if code is not None:
                        self.echo(f"{child.name} exited with {code}; stopping the demo")
                        return code or 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            self.echo("stopping ...")
            return 0

    def stop(self) -> None:
        self._stopping.set()
        if self._job and self._job.poll() is None:
            self._job.terminate()
        for child in reversed(self.children):
            if child.process and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            if child.process:
                try:
                    child.process.wait(10)
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()
        if self.broker:
            self.broker.stop()


def on_port(settings: Settings, port: int) -> Settings:
    """The settings of a demo on `port`. With the default public address (this machine, the
    default port), the certificates' verify links and QR codes would point where nothing
    answers: they point at the demo itself. An address configured elsewhere stays."""
    default = f"http://127.0.0.1:{settings.web_port}"
    if port == settings.web_port or settings.public_url.rstrip("/") != default:
        return settings
    return replace(settings, public_url=f"http://127.0.0.1:{port}")


def fill_lims(session: Session, settings: Settings) -> int:
    """Enter the SIMULATED backlog of lots into an empty LIMS through its services, with the
    demo users; returns how many lots were entered (none when the LIMS has lots already)."""
    from analytics.lims_link import LabCatalogue
    from analytics.simulator import lims_entry
    from analytics.simulator.dataset import lot_rows
    from analytics.simulator.physics import PilotPlant
    from ingest.registry import load_registry
    from ingest.store import open_store
    from lims.certificates import sharing
    from lims.certificates.issuing import Issuer

    if session.scalar(select(Lot.id).limit(1)) is not None:
        return 0
    now = utcnow()
    plant = PilotPlant(load_registry().installations, seed=2, start=now - BACKLOG_SPAN)
    lots = [lot for lot in plant.lots(BACKLOG_LOTS) if lot.plan.end <= now]
    # Each lot's own process data, so its page charts and its prediction read what the lot
    # was made under (the history ends where the backlog starts).
    store = open_store(settings)
    try:
        store.write_rows([row for lot in lots for row in lot_rows(lot)])
    finally:
        store.close()
    samples = lims_entry.enter_backlog(
        session, lims_entry.Actors(zone=settings.timezone), LabCatalogue.load(session), lots,
        np.random.default_rng([2, 1]), Issuer.from_settings(settings),
    )
    admin = session.scalar(select(User).where(User.username == "admin"))
    for cert in session.scalars(select(Certificate)):
        sharing.grant(session, admin, cert, DEMO_BUYERS[cert.line.key])
    return len(samples)


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def print_demo_users(users_file, echo: Callable[[str], None]) -> None:
    """The seeded demo users, printed once at start so nobody has to look them up."""
    import tomllib

    with open(users_file, "rb") as fh:
        users = tomllib.load(fh).get("user", [])
    echo("demo users (DEMO CREDENTIALS, local use only):")
    for u in users:
        echo(
            f"  {u['role']:<11} {u['username']:<12} password {u['password']:<16} ({u['organization']})"
        )
