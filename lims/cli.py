"""The `recyclab` command: one entry point for every part of the system."""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import version as package_version

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, NoAppException, with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from ingest.store.base import StoreUnavailable
from lims.kernel.db import unusable_database
from lims.kernel.settings import DEV_SECRET_KEY, SettingsError, load_settings

MIN_SECRET_KEY_LENGTH = 32


def secret_key_problem(settings) -> str | None:
    """Why the configured cookie-signing key is unfit for serving, or None."""
    try:
        key = settings.session_secret()
    except OSError as exc:
        return f"the secret key file cannot be read ({exc.strerror}: {settings.secret_key_file})"
    if key == DEV_SECRET_KEY:
        return "no secret key is configured (RECYCLAB_SECRET_KEY is the public default)"
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"the secret key is shorter than {MIN_SECRET_KEY_LENGTH} characters"
    return None

# Flask's own options (--app, --env-file, --debug) would load some other app or environment
# than Recyclab's settings say: `recyclab` is one program, configured by RECYCLAB_* only.
_FLASK_OPTIONS = {"app", "env_file", "debug"}


# Commands kept in their own parts, imported only when run (or listed by --help): importing
# them all cost every `recyclab ingest` start over two seconds of CPU for the web app, the
# PDF and signature libraries it never uses.
_LAZY_COMMANDS = {
    "ingest": "ingest.cli:ingest_command",
    "simulate": "analytics.cli:simulate_command",
    "train": "analytics.cli:train_command",
    "model": "analytics.cli:model_group",
    "certificate": "lims.certificates.cli:certificate",
    "keys": "lims.certificates.cli:keys",
    "user": "lims.people.cli:user",
}


class _BadSettings(NoAppException):
    """A setting no command can use: Flask's `--help` then prints this line, not a traceback."""


def _create_app(threads: int | None = None) -> Flask:
    from lims.app import create_app

    try:
        return create_app(threads=threads)
    except SettingsError as exc:
        raise _BadSettings(str(exc)) from exc


class RecyclabGroup(FlaskGroup):
    """Flask's command group (each command runs in the app's context) without Flask's options."""

    def __init__(self, **extra: object) -> None:
        super().__init__(add_version_option=False, set_debug_flag=False, **extra)
        self.params = [p for p in self.params if p.name not in _FLASK_OPTIONS]

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY_COMMANDS:
            module, name = _LAZY_COMMANDS[cmd_name].split(":")
            return getattr(import_module(module), name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        # What the operator must fix outside the program is said in one line, not a traceback.
        try:
            return super().invoke(ctx)
        except (SettingsError, _BadSettings) as exc:
            raise click.ClickException(str(exc.message if isinstance(exc, _BadSettings) else exc)) from exc
        except SQLAlchemyError as exc:
            problem = unusable_database(exc, load_settings().database_url)
            if problem is None:
                raise
            raise click.ClickException(problem) from exc
        except StoreUnavailable as exc:
            settings = load_settings()
            where = (f"InfluxDB at RECYCLAB_INFLUX_URL={settings.influx_url}"
                     if settings.timeseries_backend == "influxdb"
                     else f"the time-series file {settings.timeseries_sqlite_path}")
            raise click.ClickException(f"{where} cannot be used: {exc}") from exc


@click.group(cls=RecyclabGroup, create_app=_create_app, add_default_commands=False)
@click.version_option(package_version("recyclab"), "--version", prog_name="recyclab",
                      message="%(prog)s %(version)s", help="Print Recyclab's version and exit.")
def main() -> None:
    """Recyclab: LIMS and process-data system for recyclate test centres."""


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default: settings web_host).")
@click.option("--port", default=None, type=int, help="Port (default: settings web_port, 8000).")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(min=1), help="Worker threads.")
def web(host: str | None, port: int | None, threads: int) -> None:
    """Serve the web app and API with waitress."""
    from waitress import serve

    from lims.certificates import signing

    # Its own app, not the command group's: the database connection pool fits the threads.
    app = _create_app(threads)
    settings = app.config["RECYCLAB"]
    problem = secret_key_problem(settings)
    if problem:
        raise click.ClickException(
            f"{problem}. Anyone knowing the key can forge a login, so the web app does not start."
            " Make a key and set it, e.g.\n"
            "  export RECYCLAB_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')\n"
            "or write it to a file readable only by the service and set RECYCLAB_SECRET_KEY_FILE"
            " to its path. (`recyclab demo` makes a throwaway key by itself.)"
        )
    try:
        signing.load_key(signing.key_path(settings))
    except signing.MissingKey as exc:
        raise click.UsageError(str(exc)) from exc
    host = host or settings.web_host
    port = port or settings.web_port
    click.echo(f"Recyclab web on http://{host}:{port}/  (health: /healthz)")
    # Waitress drops X-Forwarded-For from any peer it is not told to trust; with proxy hops
    # set, the app's ProxyFix takes the client's address from it, trusting only those hops.
    serve(app, host=host, port=port, threads=threads,
          clear_untrusted_proxy_headers=not settings.proxy_hops)


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
    import os
    import secrets
    import socket

    from analytics.model_registry import production
    from lims.certificates import signing
    from lims.demo import Demo, fill_lims, on_port, print_demo_users
    from lims.kernel.clock import utcnow
    from lims.kernel.migrate import upgrade
    from lims.kernel.settings import config_dir
    from lims.seed import seed_all

    port = port or current_app.config["RECYCLAB"].web_port
    settings = on_port(current_app.config["RECYCLAB"], port)
    key_file = signing.key_path(settings)
    if not key_file.exists():  # the demo makes its own lab key; production never does
        signing.create_key(key_file, utcnow(), settings.lab_name)
        click.echo(f"demo: created the certificate signing key at {key_file}")
    upgrade(settings.database_url)
    sessions = current_app.extensions["recyclab.sessions"]
    with sessions.begin() as session:
        seed_all(session, config_dir(), demo_users=True)
        has_model = production(session) is not None
        if entered := fill_lims(session, settings):
            click.echo(f"demo: entered {entered} SIMULATED lots with samples at every workflow stage")
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", broker_port)) == 0:
            with socket.socket() as free:
                free.bind(("127.0.0.1", 0))
                broker_port = free.getsockname()[1]
    if secret_key_problem(settings):
        # The demo's web child inherits this environment: a throwaway key, new every run.
        os.environ["RECYCLAB_SECRET_KEY"] = secrets.token_hex(32)
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


if __name__ == "__main__":
    main()
