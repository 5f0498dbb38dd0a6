"""`recyclab demo`: the whole system on embedded defaults, as `make run` starts it.

The in-process amqtt broker runs in this process; ingester, simulator and web app run as
child processes (the same commands production runs), so one Ctrl-C stops them all cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lims.embedded_broker import EmbeddedBroker
from lims.settings import Settings


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
    echo: Callable[[str], None] = print
    children: list[Child] = field(default_factory=list)
    broker: EmbeddedBroker | None = None

    def start(self) -> None:
        self.broker = EmbeddedBroker(port=self.broker_port).start()
        self.echo(f"MQTT broker (embedded amqtt) on {self.broker.url}")
        env = {
            **os.environ,
            "RECYCLAB_BROKER_URL": self.broker.url,
            "RECYCLAB_VAR_DIR": str(self.settings.var_dir),
            "RECYCLAB_DATABASE_URL": self.settings.database_url,
            "RECYCLAB_TIMESERIES_BACKEND": "sqlite",
        }
        # The ingester subscribes before the simulator publishes: amqtt keeps no messages for
        # a subscriber that is not there yet.
        self.children = [
            Child("ingest", ["ingest", "--mqtt-version", "3.1.1"]),
            Child("simulate", ["simulate", "--realtime"]),
            Child("web", ["web", "--port", str(self.web_port)]),
        ]
        for child in self.children:
            child.process = subprocess.Popen(
                [sys.executable, "-m", "lims.cli", *child.args], env=env, start_new_session=True
            )
            self.echo(f"started {child.name} (pid {child.process.pid})")
            time.sleep(1.0)

    def wait(self) -> int:
        """Until Ctrl-C or until a child dies; returns that child's exit code (0 on Ctrl-C)."""
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
