"""The `recyclab` command: one entry point for every part of the system."""

from __future__ import annotations

from importlib.metadata import version as package_version

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from analytics.cli import model_group, simulate_command, train_command
from ingest.cli import ingest_command
from lims.app import create_app
from lims.certificates.cli import certificate as certificate_command

# Flask's own options (--app, --env-file, --debug) would load some other app or environment
# than Recyclab's settings say: `recyclab` is one program, configured by RECYCLAB_* only.
_FLASK_OPTIONS = {"app", "env_file", "debug"}


class RecyclabGroup(FlaskGroup):
    """Flask's command group (each command runs in the app's context) without Flask's options."""

    def __init__(self, **extra: object) -> None:
        super().__init__(add_version_option=False, set_debug_flag=False, **extra)
        self.params = [p for p in self.params if p.name not in _FLASK_OPTIONS]


@click.group(cls=RecyclabGroup, create_app=create_app, add_default_commands=False)
@click.version_option(package_version("recyclab"), "--version", prog_name="recyclab",
                      message="%(prog)s %(version)s", help="Print Recyclab's version and exit.")
def main() -> None:
    """Recyclab: LIMS and process-data system for recyclate test centres."""


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default: settings web_host).")
@click.option("--port", default=None, type=int, help="Port (default: settings web_port, 8000).")
@click.option("--threads", default=8, show_default=True, help="Worker threads.")
@with_appcontext
def web(host: str | None, port: int | None, threads: int) -> None:
    """Serve the web app and API with waitress."""
    from waitress import serve

    settings = current_app.config["RECYCLAB"]
    host = host or settings.web_host
    port = port or settings.web_port
    click.echo(f"Recyclab web on http://{host}:{port}/  (health: /healthz)")
    serve(current_app._get_current_object(), host=host, port=port, threads=threads)


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True, help="Target revision.")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations to the configured database."""
    from lims.kernel.migrate import upgrade

    url = current_app.config["RECYCLAB"].database_url
    upgrade(url, revision)
    click.echo(f"database at {revision}")


@main.command()
@click.option("--demo-users", is_flag=True,
              help="Also create the demo users of config/users.toml (demo passwords: never in production).")
@with_appcontext
def seed(demo_users: bool) -> None:
    """Load the reference data under config/ (idempotent)."""
    from lims.kernel.settings import config_dir
    from lims.seed import SeedError, seed_all

    sessions = current_app.extensions["recyclab.sessions"]
    try:
        with sessions.begin() as session:
            counts = seed_all(session, config_dir(), demo_users=demo_users)
    except SeedError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("seeded: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


@main.group()
def audit() -> None:
    """The hash-chained audit trail."""


@audit.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Recompute the chain; exit 1 naming the first broken event."""
    from lims.audit.service import verify_chain

    with current_app.extensions["recyclab.sessions"]() as session:
        report = verify_chain(session)
    if not report.ok:
        click.echo(f"audit chain BROKEN at event {report.broken_seq}: {report.reason}", err=True)
        raise SystemExit(1)
    click.echo(f"audit chain ok: {report.events} events")


@main.command()
@click.option("--port", default=None, type=int, help="Web port (default: settings web_port, 8000).")
@click.option("--broker-port", default=1883, show_default=True,
              help="Port of the embedded MQTT broker (a free one is taken if this is busy).")
@click.option("--no-model", is_flag=True, help="Do not train a first grade model.")
@with_appcontext
def demo(port: int | None, broker_port: int, no_model: bool) -> None:
    """Run the whole system on embedded defaults: broker, simulator, ingester, web app."""
    import socket

    from analytics.registry import production
    from lims.demo import Demo, print_demo_users
    from lims.kernel.migrate import upgrade
    from lims.kernel.settings import config_dir
    from lims.seed import seed_all

    settings = current_app.config["RECYCLAB"]
    upgrade(settings.database_url)
    sessions = current_app.extensions["recyclab.sessions"]
    with sessions.begin() as session:
        seed_all(session, config_dir(), demo_users=True)
        has_model = production(session) is not None
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", broker_port)) == 0:
            with socket.socket() as free:
                free.bind(("127.0.0.1", 0))
                broker_port = free.getsockname()[1]
    port = port or settings.web_port
    run = Demo(settings, port, broker_port, train_first_model=not (no_model or has_model),
               echo=click.echo)
    try:
        run.start()
        print_demo_users(config_dir() / "users.toml", click.echo)
        click.echo(f"\nRecyclab is running: http://127.0.0.1:{port}/   (Ctrl-C stops everything)\n")
        code = run.wait()
    finally:
        run.stop()
    raise SystemExit(code)


main.add_command(ingest_command)
main.add_command(simulate_command)
main.add_command(train_command)
main.add_command(model_group)
main.add_command(certificate_command)


if __name__ == "__main__":
    main()
