"""`recyclab simulate`, `recyclab train` and `recyclab model ...` (registered by lims/cli.py).

No Flask here: settings, database and time-series store are opened from the settings, like
the ingester does.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import numpy as np
from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from ingest.heartbeat import registered_writer
from ingest.registry import load_registry
from ingest.store import open_store
from ingest.store.base import StoreUnavailable
from lims.audit.service import command_line_operator
from lims.kernel.clock import utcnow
from lims.kernel.db import make_engine, make_session_factory
from lims.kernel.settings import load_settings

# The default simulated training set: enough lots that the newest fifth (the test set) holds
# the rare grades in numbers.
DEFAULT_OFFLINE_LOTS = 6000


def _context():
    settings = load_settings()
    engine = make_engine(settings.database_url)
    return settings, make_session_factory(engine)


def _installations(value: str | None, registry) -> list[str]:
    if not value:
        return sorted(registry.installations)
    keys = [k.strip() for k in value.split(",") if k.strip()]
    unknown = [k for k in keys if k not in registry.installations]
    if unknown:
        raise click.BadParameter(f"unknown installation(s): {', '.join(unknown)}", param_hint="--installations")
    return keys


def _start(value: datetime | None) -> datetime:
    # Not rounded to the minute: at --speedup 1 the first reading is published at once, so a
    # rounded start would stamp every reading up to a minute old and the live view would call
    # the lines stale.
    if value is None:
        return utcnow()
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# What the time-series stores hold (nanoseconds since 1970 in 64 bits, up to 2262), with room
# for the lots that follow a start.
EARLIEST, LATEST = datetime(1970, 1, 1), datetime(2200, 1, 1)


def _simulated_time(ctx, param, value: datetime | None) -> datetime | None:
    if value is not None and not EARLIEST <= value.replace(tzinfo=None) < LATEST:
        raise click.BadParameter(f"{value.date().isoformat()} is outside {EARLIEST.year}..{LATEST.year - 1}")
    return value


POSITIVE = click.FloatRange(min=0, min_open=True)


def _test_fraction(ctx, param, value: float) -> float:
    from analytics import train

    try:
        train.check_test_fraction(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    return value


@click.command("simulate")
@click.option("--broker-url", default=None, help="mqtt://host:port (default: settings broker_url).")
@click.option("--rate", default=2.0, show_default=True, type=POSITIVE, help="Messages per second per installation.")
@click.option("--speedup", default=60.0, show_default=True, type=POSITIVE, help="Simulated seconds per real second.")
@click.option("--lots", default=None, type=click.IntRange(min=1),
              help=f"Stop after this many lots (default: run until --duration or Ctrl-C; --offline: {DEFAULT_OFFLINE_LOTS}).")
@click.option("--duration", default=None, type=POSITIVE, help="Stop after this many real seconds.")
@click.option("--installations", default=None, help="Comma-separated installation keys (default: all).")
@click.option("--seed", default=0, show_default=True, help="Random seed: the same seed gives the same lots.")
@click.option("--start", default=None, type=click.DateTime(), callback=_simulated_time,
              help="Simulated start time, UTC (default: now).")
@click.option("--stream", default="process", show_default=True, help="Topic stream: recyclab/v1/<installation>/<stream>.")
@click.option("--sampled-fraction", default=None, type=click.FloatRange(0, 1),
              help="Share of lots the lab tests (default 0.3 live; 1.0 --offline, a training set).")
@click.option("--no-lims", is_flag=True, help="Only publish sensor data; create no lots in the LIMS.")
@click.option("--offline", is_flag=True, help="No MQTT: write the lots' data straight into the time-series store (fast, for training sets).")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="--offline: where to write the lot manifest (default: <var_dir>/simulated/lots-<seed>.jsonl).")
@click.option("--step", default=60.0, show_default=True, type=click.FloatRange(min=1),
              help="--offline: seconds between readings (1 or more).")
@click.option("--end", default=None, type=click.DateTime(), callback=_simulated_time,
              help="--offline: leave out lots that would end after this time, UTC.")
@click.option("--as-users", default="engineer,tech,reviewer", show_default=True,
              help="Usernames acting in the LIMS: lot creator, technician, reviewer (demo users by default).")
@click.option("--owner", default="ntk", show_default=True, help="Organization owning the simulated lots.")
@click.option("--running-start", is_flag=True,
              help="Every installation is already producing at --start (no idle gap before its first lot).")
@click.option("--excursion-after", default=None, type=click.FloatRange(min=0),
              help="A SIMULATED excursion beyond an alarm limit this many simulated seconds into the first lot, "
                   "for a minute (so a demo shows an alarm).")
def simulate_command(broker_url, rate, speedup, lots, duration, installations, seed, start, stream,
                     sampled_fraction, no_lims, offline, manifest, step, as_users, owner,
                     running_start, end, excursion_after) -> None:
    """Run the SIMULATED pilot lines: sensor data, lots and lab results."""
    from analytics import predict
    from analytics.lims_link import LabCatalogue
    from analytics.simulator import lims_entry, publisher
    from analytics.simulator.physics import Excursion

    settings, sessions = _context()
    registry = load_registry()
    keys = _installations(installations, registry)
    begin = _start(start)
    with sessions() as session:
        catalogue = LabCatalogue.load(session)
    if offline:
        from analytics.simulator.dataset import generate, save_manifest

        lots = lots or DEFAULT_OFFLINE_LOTS
        sampled_fraction = 1.0 if sampled_fraction is None else sampled_fraction
        manifest = manifest or settings.var_dir / "simulated" / f"lots-{seed}.jsonl"
        store = open_store(settings)
        sub = type(registry)(registry.lines, {k: registry.installations[k] for k in keys})
        # Registered as ingesters are: a running ingester that took itself for the sole writer
        # of these series would write over the simulated points without reading first.
        writer = f"simulate-offline@{socket.gethostname()}:{os.getpid()}"[:120]
        with registered_writer(sessions, writer), \
                tqdm(total=lots, desc="simulating lots", unit="lot") as bar:
            records = generate(store, sub, catalogue, lots, seed, begin, sampled_fraction, step, bar,
                               end=end and _start(end))
            n = save_manifest(records, manifest)
        store.close()
        left_out = f" ({lots - n} would have ended after {end} UTC: left out)" if n < lots else ""
        click.echo(f"SIMULATED {n} lots into the {settings.timeseries_backend} store{left_out}; manifest {manifest}")
        return
    sampled_fraction = 0.3 if sampled_fraction is None else sampled_fraction
    lab_rng = np.random.default_rng([seed, 2])
    names = [n.strip() for n in as_users.split(",")]
    if len(names) != 3:
        raise click.BadParameter("give three usernames: lot creator, technician, reviewer", param_hint="--as-users")
    actors = lims_entry.Actors(*names, owner=owner, zone=settings.timezone)
    if not no_lims:
        with sessions() as session:
            try:
                for name in names:
                    actors.user(session, name)
            except LookupError as exc:
                raise click.ClickException(f"{exc} (`recyclab seed --demo-users`, or --as-users)") from exc

    store = None if no_lims else open_store(settings)

    def on_lot_end(lot) -> None:
        if store is None:
            return
        with sessions.begin() as session:
            row = lims_entry.create_lot(session, actors, lot)
            # The line's lot has ended: the model's grade first, as for a lot the line sends
            # through the API, then the (simulated) lab.
            predict.predict_if_served(session, store, registry, row, actor=None, who="pilot line (SIMULATED)")
            if lab_rng.random() < sampled_fraction:
                lims_entry.enter_lab_results(session, actors, row, catalogue.lab_values(lot.plan.material, lot.properties, lab_rng))
        click.echo(f"lot {lot.plan.lot_key} closed ({lot.plan.material}, {lot.plan.start:%Y-%m-%d %H:%M}–{lot.plan.end:%H:%M} UTC)")

    broker_url = broker_url or settings.broker_url
    try:
        pub = publisher.MqttPublisher(broker_url, username=settings.broker_username or None,
                                      password=settings.broker_password or None)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot reach the MQTT broker {broker_url} (--broker-url, RECYCLAB_BROKER_URL):"
                                   f" {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        stats = publisher.run(pub, registry, installations=keys, seed=seed, start=begin, rate=rate, speedup=speedup,
                              lots=lots, duration=duration, stream=stream, on_lot_end=on_lot_end,
                              running_start=running_start,
                              excursion=None if excursion_after is None else Excursion(after=excursion_after))
        pub.flush()
    except KeyboardInterrupt:
        stats = None
    finally:
        pub.close()
        if store is not None:
            store.close()
    if stats is not None:
        click.echo(f"SIMULATED {stats.messages} messages, {stats.lots_finished} lots")


@click.command("train")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Train on a simulated manifest (recyclab simulate --offline) instead of the LIMS lots.")
@click.option("--test-fraction", default=0.2, show_default=True, type=float, callback=_test_fraction,
              help="Newest share of lots held out for testing (0.1 to 0.5): the lots the model must beat every "
                   "baseline on.")
@click.option("--max-iter", default=120, show_default=True, type=click.IntRange(min=1), help="Boosting iterations.")
@click.option("--promote", is_flag=True, help="Make the new version the production model.")
@click.option("--note", default="", help="Free text stored with the version.")
def train_command(manifest, test_fraction, max_iter, promote, note) -> None:
    """Train the grade model on graded lots, evaluate against baselines, register it."""
    from analytics import model_registry, train
    from analytics.features import numeric_feature_names
    from analytics.lims_link import LabCatalogue
    from analytics.simulator.dataset import load_manifest

    settings, sessions = _context()
    registry = load_registry()
    with sessions() as session:
        catalogue = LabCatalogue.load(session)
        records = load_manifest(manifest) if manifest else train.lims_records(session)
    graded = [r for r in records if r.grade]
    if len(graded) < train.MIN_LOTS:
        raise click.ClickException(f"{len(graded)} graded lots; training needs at least {train.MIN_LOTS}")
    store = open_store(settings)
    numeric = numeric_feature_names(registry)
    with tqdm(total=len(graded), desc="features", unit="lot") as bar:
        data = train.build_dataset(store, registry, graded, bar, catalogue)
    store.close()
    with tqdm(total=6, desc="training", unit="step") as bar:
        outcome = train.fit(data, numeric, test_fraction=test_fraction, max_iter=max_iter, progress=bar,
                            limits=catalogue.limits(), acceptance=catalogue.acceptance())
    refused = None
    with sessions.begin() as session:
        mv = train.register(session, outcome, settings.var_dir / "models", note=note or (f"manifest {manifest.name}" if manifest else "LIMS lots"))
        if promote:
            try:
                model_registry.promote(session, mv.version, command_line_operator())
            except model_registry.NotPromotable as exc:
                refused = str(exc)
        version, status = mv.version, mv.status
    click.echo(train.summary(outcome.metrics))
    click.echo(f"registered {version} ({status}); artifact and plots in {settings.var_dir / 'models' / version}")
    if refused:
        # Registered, so the model page shows why; the exit code tells scripts it is not served.
        raise click.ClickException(refused)


@click.group("model")
def model_group() -> None:
    """The grade model registry: list, promote, rollback, predict, drift, agreement."""


@model_group.command("list")
def model_list() -> None:
    """Every model version with its status, macro-F1, calibration error and data sizes."""
    from analytics import model_registry

    _, sessions = _context()
    with sessions() as session:
        versions = model_registry.list_versions(session)
        if not versions:
            click.echo("no model version yet: `recyclab train` trains and registers one")
        for mv in versions:
            m = mv.metrics.get("model", {})
            click.echo(f"{mv.version:32s} {mv.status:10s} macro-F1 {m.get('macro_f1', float('nan')):.3f} "
                       f"ECE {m.get('ece', float('nan')):.3f} train {mv.n_train} test {mv.n_test}  {mv.note}")


@model_group.command("promote")
@click.argument("version")
def model_promote(version: str) -> None:
    """Make VERSION the production model (the previous one can be rolled back to)."""
    from analytics import model_registry

    _, sessions = _context()
    try:
        with sessions.begin() as session:
            model_registry.promote(session, version, command_line_operator())
    except model_registry.RegistryError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{version} is the production model")


@model_group.command("rollback")
def model_rollback() -> None:
    """Return to the model that was in production before the current one."""
    from analytics import model_registry

    _, sessions = _context()
    try:
        with sessions.begin() as session:
            mv = model_registry.rollback(session, command_line_operator())
            version = mv.version
    except model_registry.RegistryError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"rolled back: {version} is the production model again")


@model_group.command("predict")
def model_predict() -> None:
    """Ask the production model about every open lot: production ended, no lab grade yet and
    no prediction by this model (lots that came in while no model was served, or after a
    promotion). Each lot is stored as it is done; a lot that cannot be predicted is skipped
    and logged."""
    from sqlalchemy.orm import joinedload

    from analytics import model_registry, predict
    from lims.kernel.models import Lot

    settings, sessions = _context()
    registry = load_registry()
    store = open_store(settings)
    who = command_line_operator()
    try:
        with sessions() as session:
            try:
                predictor = predict.production_predictor(session)
            except (predict.NoProductionModel, model_registry.ArtifactRefused) as exc:
                raise click.ClickException(str(exc)) from exc
            lot_ids = [lot.id for lot in predict.open_lots(session)]
        made = 0
        for lot_id in tqdm(lot_ids, desc="predicting lots", unit="lot"):
            with sessions.begin() as session:
                # What the prediction reads of the lot, read first: in the savepoint the first
                # LIMS statement is then the prediction's write (on SQLite a savepoint that read
                # and then writes after another process committed is refused).
                lot = session.get(Lot, lot_id, options=[joinedload(Lot.installation), joinedload(Lot.material)])
                made += lot is not None and predict.predict_if_served(
                    session, store, registry, lot, actor=None, who=who, predictor=predictor) is not None
    finally:
        store.close()
    click.echo(f"{made} of {len(lot_ids)} open lots predicted by {predictor.version}")


class Interval(click.ParamType):
    """A repeat interval written as a number and a unit: 90s, 30m, 24h, 7d."""

    name = "interval"
    _UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def convert(self, value, param, ctx) -> timedelta:
        if isinstance(value, timedelta):
            return value
        text = str(value).strip().lower()
        try:
            seconds = float(text[:-1]) * self._UNITS[text[-1:]]
        except (KeyError, ValueError):
            self.fail(f"{value!r} is not an interval such as 90s, 30m, 24h or 7d", param, ctx)
        if not 1 <= seconds <= 366 * 86400:
            self.fail(f"{value!r} is not between 1 s and 366 days", param, ctx)
        return timedelta(seconds=seconds)


@model_group.command("drift")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 36500),
              help="Recent lots: production window ended in the last N days.")
@click.option("--version", default=None, help="Model version (default: production).")
@click.option("--top", default=20, show_default=True, type=click.IntRange(min=1),
              help="Show the N features that drifted most.")
@click.option("--json", "as_json", is_flag=True, help="Every feature as JSON instead of the table.")
@click.option("--every", type=Interval(), default=None,
              help="Keep running and make a new report at this interval (e.g. 24h) until stopped,"
                   " as a scheduled job does; a report that cannot be made (no production model"
                   " yet, a database or store outage) is said and tried again at the next one.")
def model_drift(days: int, version: str | None, top: int, as_json: bool, every: timedelta | None) -> None:
    """PSI per feature between the model's training lots and recent lots; the report is kept
    and the model's page shows the latest."""
    if every is None:
        _drift_report(days, version, top, as_json)
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while True:
            try:
                _drift_report(days, version, top, as_json)
            except (click.ClickException, StoreUnavailable, SQLAlchemyError) as exc:
                # The page keeps showing the last report with its date; the next run may succeed.
                reason = exc.format_message() if isinstance(exc, click.ClickException) else str(exc).splitlines()[0]
                click.echo(f"no drift report this time: {reason}", err=True)
            click.echo(f"next drift report at {(utcnow() + every).isoformat(timespec='seconds')}", err=True)
            if stop.wait(every.total_seconds()):
                return
    except KeyboardInterrupt:
        return


def _drift_report(days: int, version: str | None, top: int, as_json: bool) -> None:
    from analytics import model_registry
    from analytics.drift import record_drift

    settings, sessions = _context()
    registry = load_registry()
    store = open_store(settings)
    try:
        with sessions.begin() as session:
            report = record_drift(session, store, registry, utcnow() - timedelta(days=days), version)
    except (LookupError, model_registry.RegistryError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"version": report.version, "lots": report.lots, "features": [d.__dict__ for d in report.features]}, indent=2))
        return
    click.echo(f"model {report.version}: {report.lots} recent lots")
    for d in report.features[:top]:
        click.echo(f"  {d.feature:55s} PSI {d.psi:7.3f}  {d.level:8s} (n={d.n_recent})")


@model_group.command("agreement")
def model_agreement() -> None:
    """Predicted against lab grade, per model version and month."""
    from analytics.predict import agreement_report

    _, sessions = _context()
    with sessions.begin() as session:
        rows = agreement_report(session)
    if not rows:
        click.echo("no prediction has a lab grade yet: nothing to compare")
    for r in rows:
        click.echo(f"{r['version']:32s} {r['month']}  {r['with_lab_grade']:5d} with lab grade  agreement {r['agreement']:.3f}")
