"""`recyclab ingest` (registered by lims/cli.py) and `python -m ingest`: run the ingester."""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError

from ingest.alarms import AlarmTracker
from ingest.records import LimsRecorder
from ingest.registry import load_registry
from ingest.service import TOPICS, IngestConfig, Ingester
from ingest.spool import SpoolError
from ingest.status import STATUS_FILE
from ingest.store import StoreUnavailable, open_store
from ingest.validate import EARLIEST, MAX_FUTURE_S, Validator
from lims.kernel.db import make_engine, make_session_factory
from lims.kernel.settings import SettingsError, load_settings


@click.command("ingest")
@click.option("--broker-url", default=None, help="mqtt://host:port or mqtts:// (TLS); default: settings.")
# No --password: a command line is visible to every user of the host (ps, /proc).
@click.option("--username", default=None,
              help="Broker user; default: settings (RECYCLAB_BROKER_USERNAME). The password comes only"
                   " from RECYCLAB_BROKER_PASSWORD.")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CA certificate for mqtts://.")
@click.option("--client-id", default="recyclab-ingest", show_default=True,
              help="Fixed client id: the broker keeps this session's queue while we are away.")
@click.option("--shared-group", default=None,
              help="MQTT 5 shared subscription group: ingesters with the same group split the stream.")
@click.option("--topic", "topics", multiple=True, default=TOPICS, show_default=True,
              help="Topic filter to subscribe to (repeatable).")
@click.option("--mqtt-version", type=click.Choice(["5", "3.1.1"]), default="5", show_default=True,
              help="MQTT protocol; shared groups and flow control need 5.")
@click.option("--batch-values", default=20_000, show_default=True,
              help="Most values per store write (fewer under light load: see --linger-ms).")
@click.option("--linger-ms", default=50, show_default=True, help="Longest wait to fill a batch.")
@click.option("--receive-maximum", default=10_000, show_default=True,
              help="Unacknowledged messages the broker may send us (MQTT 5), and the most"
                   " held in memory before we stop reading the socket.")
@click.option("--spool-max-values", default=20_000_000, show_default=True,
              help="Most values held on disk while the store is down; when full, the ingester stops"
                   " acknowledging (the broker keeps the rest).")
@click.option("--spool-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Default: <var_dir>/ingest-spool.<client id>.db")
@click.option("--status-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"Default: <var_dir>/{STATUS_FILE}")
@click.option("--status-interval-ms", default=1000, show_default=True,
              help="How often the status file is rewritten.")
@click.option("--store-timeout", default=5.0, show_default=True,
              help="Seconds a store write may take before its batch goes to the spool.")
@click.option("--earliest-timestamp", type=click.DateTime(["%Y-%m-%d"]),
              default=EARLIEST.strftime("%Y-%m-%d"), show_default=True,
              help="Readings stamped before this day (UTC) are rejects (timestamp_out_of_range).")
@click.option("--max-future-s", default=MAX_FUTURE_S, show_default=True,
              help="Readings stamped more than this ahead of their arrival are rejects.")
def ingest_command(
    broker_url: str | None,
    username: str | None,
    ca_file: str | None,
    client_id: str,
    shared_group: str | None,
    topics: tuple[str, ...],
    mqtt_version: str,
    batch_values: int,
    linger_ms: int,
    receive_maximum: int,
    spool_max_values: int,
    spool_file: Path | None,
    status_file: Path | None,
    status_interval_ms: int,
    store_timeout: float,
    earliest_timestamp: datetime,
    max_future_s: float,
) -> None:
    """Consume pilot-installation MQTT data into the time-series store (runs until stopped)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = load_settings()
    except SettingsError as exc:  # `python -m ingest` comes here without the recyclab group
        raise click.ClickException(str(exc)) from exc
    config = IngestConfig(
        broker_url=broker_url or settings.broker_url,
        username=username or settings.broker_username or None,
        password=settings.broker_password or None,
        ca_file=ca_file,
        client_id=client_id,
        shared_group=shared_group,
        topics=tuple(topics),
        mqtt_version=mqtt_version,
        batch_values=batch_values,
        linger_s=linger_ms / 1000,
        receive_maximum=receive_maximum,
        spool_path=spool_file or settings.var_dir / f"ingest-spool.{client_id}.db",
        spool_max_values=spool_max_values,
        status_path=status_file or settings.var_dir / STATUS_FILE,
        status_interval_s=status_interval_ms / 1000,
        store_timeout_s=store_timeout,
        dead_letter_path=settings.var_dir / f"ingest-dead-letter.{client_id}.jsonl",
    )
    registry = load_registry()
    engine = make_engine(settings.database_url)
    try:
        recorder = LimsRecorder(make_session_factory(engine), AlarmTracker(registry))
    except SQLAlchemyError as exc:  # SQLite's "unable to open database file" names no file
        where = engine.url.render_as_string(hide_password=True)
        raise click.ClickException(f"cannot open the LIMS database {where}: {exc}") from exc
    try:
        store = open_store(settings, timeout_s=store_timeout)
        validator = Validator(registry, earliest_timestamp.replace(tzinfo=UTC), max_future_s)
        ingester = Ingester(config, store, recorder, validator)
    except (StoreUnavailable, SpoolError) as exc:
        raise click.ClickException(str(exc)) from exc
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: ingester.stop())
    # As Telegraf: a changed registry (sensors, ranges, alarm limits) applies without a restart.
    signal.signal(signal.SIGHUP, lambda *_: ingester.request_reload())
    click.echo(
        f"ingesting {', '.join(config.subscriptions())} from {config.broker_url}"
        f" into {settings.timeseries_backend} as client {client_id}"
    )
    try:
        ingester.run()
    finally:
        store.close()
        engine.dispose()
