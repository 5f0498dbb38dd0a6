"""Process engineer pages: live dashboard of all installations, sensor charts, alarms and the
lot view (a lot's production-window process data beside its lab results)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_datetime, format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from analytics import predict
from ingest.store import Point, StoreError
from lims.grade_model import card as prediction_card
from lims.kernel.clock import utcnow
from lims.kernel.errors import DomainError, InputError
from lims.kernel.models import Analysis, Installation, Lot, Method, Sample, Sensor
from lims.kernel.models.process import AlarmEvent
from lims.permissions import Capability, can
from lims.process import alarms as alarm_service
from lims.process import charts
from lims.process.alarm_names import AlarmNames
from lims.process.ingesters import ingesters
from lims.samples.lot_search import NOT_COUNTED
from lims.web.auth import current_user, login_required
from lims.web.errors import web_blueprint
from lims.web.i18n import lab_zone, local_input_value, local_number, parse_local_datetime
from lims.web.limits import query_int
from lims.web.request_db import db
from lims.web.state_names import STATE_NAMES
from lims.web.timeseries import timeseries_store

bp = web_blueprint("process", __name__, url_prefix="/process")


@bp.context_processor
def _simulated() -> dict[str, bool]:
    return {"simulated_data": current_app.config["RECYCLAB"].simulated_data}

ALARMS_PER_PAGE = 100
# Short ranges follow the line as it runs; a day or a week changes too little to be worth it.
AUTO_REFRESH_RANGES = {"1h"}
AUTO_REFRESH = timedelta(seconds=10)
# Badge colour (CSS class) of each installation state; the live updates send it along.
STATE_BADGES = {"running": "ok", "alarm": "alarm", "stale": "stale", "nodata": "stale"}
def _installations() -> list[Installation]:
    return list(
        db().scalars(
            select(Installation).options(selectinload(Installation.sensors)).order_by(Installation.key)
        )
    )


def _alarm_names() -> AlarmNames:
    return AlarmNames.of(_installations())


def _active_alarms() -> list[AlarmEvent]:
    return alarm_service.active(db())


def _ingest_summary() -> list[dict[str, str]]:
    """One badge per ingester, from the heartbeats they write to the database."""
    summary = []
    for st in ingesters(db()):
        if not st.up:
            text = _("stopped") if st.state == "stopped" else _("no recent heartbeat")
            summary.append({"ingester": st.ingester, "badge": "stale", "text": f"{st.ingester}: {text}"})
            continue
        c, problems = st.counters, []
        if not c.get("broker_connected"):
            problems.append(_("broker disconnected"))
        if not c.get("store_available"):
            problems.append(_("store down, spooling"))
        # Either one stops all acknowledgements: the broker holds the stream back meanwhile.
        if c.get("disk_full"):
            problems.append(_("spool disk full, holding messages back"))
        if not c.get("lims_available", True):
            problems.append(_("LIMS database not answering, holding messages back"))
        text = _(
            "%(ingester)s: %(rate)s values/s, lag %(lag)s s",
            ingester=st.ingester,
            rate=format_decimal(c.get("values_per_s") or 0, format="#,##0"),
            lag=format_decimal(c.get("lag_s") or 0, format="0.0"),
        )
        summary.append({"ingester": st.ingester, "badge": "alarm" if problems else "ok",
                        "text": "; ".join([text, *problems])})
    if not any(s["badge"] != "stale" for s in summary):
        summary.insert(0, {"ingester": "", "badge": "stale",
                           "text": _("Ingester: no recent status (not running?)")})
    return summary


def _age(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 0:  # a device clock ahead of ours: say so rather than "0 s ago"
        return _("%(n)s s ahead", n=-seconds)
    if seconds < 120:
        return _("%(n)s s ago", n=seconds)
    if seconds < 7200:
        return _("%(n)s min ago", n=seconds // 60)
    return _("%(n)s h ago", n=seconds // 3600)


def _latest(inst: Installation, until: datetime) -> dict[str, Point]:
    """Each sensor's newest reading stamped no later than `until`: one a device stamped
    further ahead would otherwise stand in for the live readings after it until the clock
    caught up with it. A sensor that has only such readings shows its newest (as ahead)."""
    store = timeseries_store(live=True)
    latest = store.latest(inst.key, until)
    if any(sensor.key not in latest for sensor in inst.sensors):
        latest = store.latest(inst.key) | latest
    return latest


def _live_state(installations: list[Installation], active: list[AlarmEvent]) -> tuple[dict, str | None]:
    """Per installation: state and each sensor's latest value; plus a store error, if any."""
    now = utcnow()
    # A sensor without a point for this long is shown as stale: the line stopped or ingest
    # is down.
    stale_after = timedelta(seconds=current_app.config["RECYCLAB"].live_stale_after_s)
    alarms = {(a.installation, a.sensor): a for a in active}
    store_error = None
    result = {}
    for inst in installations:
        try:
            # a store that did not answer for one installation is not asked for the next
            latest = {} if store_error else _latest(inst, now + stale_after)
        except StoreError as exc:
            latest, store_error = {}, str(exc)
        sensors = {}
        for sensor in inst.sensors:
            point = latest.get(sensor.key)
            alarm = alarms.get((inst.key, sensor.key))
            # Stamped further ahead than the limit, a reading proves nothing about whether
            # data still comes in (validation lets a device clock run a day ahead).
            stale = point is not None and abs(now - point.ts) > stale_after
            if point is None:
                state = "nodata"
            elif alarm is not None:
                # still said to be stale: an open alarm must not hide that the data stopped
                state = "alarm"
            elif stale:
                state = "stale"
            else:
                state = "ok"
            sensors[sensor.key] = {
                "value": point.value if point else None,
                "display": format_decimal(point.value, format="#,##0.##") if point else "–",
                "ts": point.ts.isoformat() if point else None,
                "time": format_datetime(point.ts, "HH:mm:ss") if point else "",
                "age": _age(now - point.ts) if point else "",
                "state": state,
                "stale": stale,
                "alarm": alarm.kind if alarm else None,
            }
        states = {s["state"] for s in sensors.values()}
        if "alarm" in states:
            inst_state = "alarm"
        elif "ok" in states:
            inst_state = "running"
        elif "stale" in states:
            inst_state = "stale"
        else:
            inst_state = "nodata"
        result[inst.key] = {
            "state": inst_state,
            # no sensor has a recent reading: shown beside an alarm, which the state puts first
            "stale": inst_state == "alarm" and not any(
                s["state"] != "nodata" and not s["stale"] for s in sensors.values()),
            "label": str(STATE_NAMES[inst_state]),
            "badge": STATE_BADGES[inst_state],
            "sensors": sensors,
        }
    return result, store_error




@bp.get("/")
@login_required(Capability.READ_PROCESS_DATA)
def dashboard():
    installations = _installations()
    active = _active_alarms()
    live, store_error = _live_state(installations, active)
    return render_template(
        "process/dashboard.html",
        installations=installations,
        live=live,
        store_error=store_error,
        active_alarms=active,
        alarm_names=AlarmNames.of(installations),
        ingesters=_ingest_summary(),
        stale_after_s=current_app.config["RECYCLAB"].live_stale_after_s,
    )


@bp.get("/alarms/active")
@login_required(Capability.READ_PROCESS_DATA)
def active_alarms():
    return render_template(
        "process/_active_alarms.html", active_alarms=_active_alarms(), alarm_names=_alarm_names()
    )


@bp.get("/live.json")
@login_required(Capability.READ_PROCESS_DATA)
def live_json():
    """Polled every second by the dashboard; cheap: one latest() per installation."""
    active = _active_alarms()
    live, store_error = _live_state(_installations(), active)
    return jsonify(
        generated_at=utcnow().isoformat(),
        installations=live,
        store_error=store_error,
        ingesters=_ingest_summary(),
        active_alarms=len(active),
    )


def chart_range() -> tuple[str, datetime, datetime]:
    """The range chosen on the page: 1h / 24h / 7d back from now, or custom start..end."""
    chosen = request.args.get("range", "1h")
    if chosen == "custom":
        start = parse_local_datetime(request.args.get("start", ""), "start")
        end = parse_local_datetime(request.args.get("end", ""), "end")
        if end <= start:
            raise InputError("end", _("the end must be after the start"))
        if end - start > charts.MAX_SPAN:
            raise InputError("end", _("a chart covers at most one year"))
        return chosen, start, end
    if chosen not in charts.RANGES:
        raise InputError("range", _("choose 1h, 24h, 7d or custom"))
    end = utcnow()
    return chosen, end - charts.RANGES[chosen], end


def _time_formatter(start: datetime, end: datetime):
    pattern = "HH:mm" if end - start <= timedelta(hours=36) else "d MMM HH:mm"
    zone = lab_zone()
    if start.astimezone(zone).utcoffset() != end.astimezone(zone).utcoffset():
        # The clocks changed within the range: the hour they went back reads twice without it.
        pattern += " xxx"
    return lambda ts: format_datetime(ts, pattern)


def sensor_chart(
    installation: Installation,
    sensor: Sensor,
    start: datetime,
    end: datetime,
    window: tuple[datetime, datetime] | None = None,
) -> charts.Chart:
    """One sensor's chart over [start, end), downsampled by the store. Raises StoreError."""
    every = charts.bucket_width(start, end)
    buckets = timeseries_store().aggregate(
        installation.key, sensor.key, start, end, every, with_std=False
    )
    return charts.chart(
        buckets, start, end, every, _time_formatter(start, end), (sensor.alarm_low, sensor.alarm_high), window,
        # The axis in the page's locale (2,5 in Dutch), rounded as the default "g" rounds it.
        format_value=lambda v: local_number(float(f"{v:g}")),
    )


def _installation(key: str) -> Installation:
    inst = db().scalar(
        select(Installation).where(Installation.key == key).options(selectinload(Installation.sensors))
    )
    if inst is None:
        abort(404)
    return inst


@bp.get("/installations/<key>")
@login_required(Capability.READ_PROCESS_DATA)
def installation(key: str):
    """The page comes at once; each chart is fetched on its own (htmx), in parallel."""
    inst = _installation(key)
    chosen, start, end = chart_range()
    recent = list(
        db().scalars(
            select(AlarmEvent)
            .where(AlarmEvent.installation == key)
            .order_by(AlarmEvent.started_at.desc())
            .limit(20)
        )
    )
    now = utcnow()
    return render_template(
        "process/installation.html",
        installation=inst,
        chosen=chosen,
        ranges=list(charts.RANGES),
        start_local=local_input_value(start),
        end_local=local_input_value(end),
        start=start,
        end=end,
        refresh_ms=int(AUTO_REFRESH.total_seconds() * 1000) if chosen in AUTO_REFRESH_RANGES else None,
        timezone=current_app.config["RECYCLAB"].timezone,
        alarm_names=AlarmNames.of([inst]),
        alarms=recent,
        # ongoing, but out of the active ones (as on the dashboard and the alarms page)
        shelved={a.id for a in recent if alarm_service.is_shelved(a, now)},
    )


def _sensor(key: str, sensor_key: str) -> tuple[Installation, Sensor]:
    inst = _installation(key)
    sensor = next((x for x in inst.sensors if x.key == sensor_key), None)
    if sensor is None:
        abort(404)
    return inst, sensor


@bp.get("/installations/<key>/series")
@login_required(Capability.READ_PROCESS_DATA)
def chart_data(key: str):
    """Every sensor's aggregated series over the chosen range, for the page's chart script:
    one request per page (and per refresh), about CHART_BUCKETS points per sensor."""
    inst = _installation(key)
    _, start, end = chart_range()
    every = charts.bucket_width(start, end)
    store = timeseries_store()
    try:
        sensors = {
            sensor.key: {
                "limits": {"low": sensor.alarm_low, "high": sensor.alarm_high},
                **charts.series(
                    store.aggregate(inst.key, sensor.key, start, end, every, with_std=False), every
                ),
            }
            for sensor in inst.sensors
        }
    except StoreError as exc:
        return jsonify(error=str(exc)), 503
    return jsonify(
        start=start.timestamp(), end=end.timestamp(), every_s=every.total_seconds(), sensors=sensors
    )


@bp.get("/installations/<key>/charts/<sensor_key>/csv")
@login_required(Capability.READ_PROCESS_DATA)
def chart_csv(key: str, sensor_key: str):
    """The shown range of one chart as CSV: the same buckets the chart draws."""
    inst, sensor = _sensor(key, sensor_key)
    _, start, end = chart_range()
    every = charts.bucket_width(start, end)
    try:
        buckets = timeseries_store().aggregate(
            inst.key, sensor.key, start, end, every, with_std=False
        )
    except StoreError as exc:
        abort(503, str(exc))
    name = f"{inst.key}_{sensor.key}_{start:%Y%m%dT%H%M}Z_{end:%Y%m%dT%H%M}Z.csv"
    dutch_excel = request.args.get("sep") == "semicolon"
    # Excel opens a UTF-8 file right (°C, µ) only with the byte order mark.
    return Response(
        ("\ufeff" if dutch_excel else "") + charts.csv_text(buckets, every, dutch_excel),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _alarm_filter() -> alarm_service.AlarmFilter:
    """The alarms page's history filter from the query string; empty fields filter nothing."""
    args = request.args
    times = {
        name: parse_local_datetime(args[name], name) if args.get(name, "").strip() else None
        for name in ("since", "until")
    }
    return alarm_service.AlarmFilter(
        installation=args.get("installation") or None,
        sensor=args.get("sensor") or None,
        state=args.get("state") or "all",
        **times,
    )


# The history filter's states (alarm_service.STATES) as the page names them.
ALARM_STATES = {
    "all": _l("all"),
    "active": _l("active"),
    "shelved": _l("shelved"),
    "unacknowledged": _l("not acknowledged"),
    "past": _l("ended"),
}


def _alarms_page_url(page_no: int) -> str:
    return url_for("process.alarms", **(request.args.to_dict() | {"page": page_no}))


def _alarms_page(answer_error: dict | None = None, status: int = 200):
    """answer_error: a refused acknowledge/shelve ({alarm, messages}), shown at its row with
    what was typed kept in the form."""
    page_no = max(1, request.args.get("page", 1, type=query_int))
    try:
        chosen = _alarm_filter()
        filter_errors = {}
    except InputError as exc:
        chosen, filter_errors, status = alarm_service.AlarmFilter(), exc.errors, 422
    scope = {"installation": chosen.installation, "sensor": chosen.sensor}
    history = list(
        db().scalars(
            alarm_service.query(chosen)
            .offset((page_no - 1) * ALARMS_PER_PAGE)
            .limit(ALARMS_PER_PAGE + 1)
        )
    )
    installations = _installations()
    names = AlarmNames.of(installations)
    return render_template(
        "process/alarms.html",
        active=alarm_service.active(db(), **scope),
        shelved=list(db().scalars(alarm_service.query(alarm_service.AlarmFilter(state="shelved", **scope)))),
        history=history[:ALARMS_PER_PAGE],
        newer_url=_alarms_page_url(page_no - 1) if page_no > 1 else None,
        older_url=_alarms_page_url(page_no + 1) if len(history) > ALARMS_PER_PAGE else None,
        installations=installations,
        alarm_names=names,
        sensors=names.sensor_choices(),
        states=ALARM_STATES,
        shelve_choices=alarm_service.SHELVE_CHOICES,
        chosen=chosen,
        filter_errors=filter_errors,
        since_local=request.args.get("since", ""),
        until_local=request.args.get("until", ""),
        can_answer=can(current_user(), Capability.ANSWER_ALARMS),
        answer_error=answer_error,
        now=utcnow(),
    ), status


@bp.get("/alarms")
@login_required(Capability.READ_PROCESS_DATA)
def alarms():
    return _alarms_page()


@bp.post("/alarms/<int:alarm_id>/<any(acknowledge, shelve):action>")
@login_required(Capability.ANSWER_ALARMS)
def answer_alarm(alarm_id: int, action: str):
    """The filter travels in the query string, so the page comes back as it was."""
    form = request.form
    try:
        if action == "acknowledge":
            alarm = alarm_service.acknowledge(db(), current_user(), alarm_id, form.get("comment"))
            flash(_("Alarm %(sensor)s acknowledged.", sensor=_alarm_names().where(alarm)), "success")
        else:
            alarm = alarm_service.shelve(
                db(), current_user(), alarm_id, form.get("minutes"), form.get("comment")
            )
            flash(
                _("Alarm %(sensor)s shelved until %(until)s.", sensor=_alarm_names().where(alarm),
                  until=format_datetime(alarm.shelved_until, "HH:mm")),
                "success",
            )
    except DomainError as exc:
        db().rollback()
        messages = exc.errors if isinstance(exc, InputError) else {"_": [exc.message]}
        return _alarms_page({"alarm": alarm_id, "messages": messages}, exc.status)
    return redirect(url_for("process.alarms", **request.args))


@bp.get("/lots/<int:lot_id>")
@login_required(Capability.READ_PROCESS_DATA)
def lot(lot_id: int):
    lot_row = db().get(Lot, lot_id)
    if lot_row is None:
        abort(404)
    inst = db().scalar(
        select(Installation)
        .where(Installation.id == lot_row.installation_id)
        .options(selectinload(Installation.sensors))
    )
    samples = list(
        db().scalars(select(Sample).where(Sample.lot_id == lot_id).order_by(Sample.id))
    )
    margin = (lot_row.production_end - lot_row.production_start) / 10
    window = (lot_row.production_start, lot_row.production_end)
    try:
        summary = timeseries_store().window_summary(inst.key, *window)
        # Charts only for the sensors that have data in the window (the table lists the rest).
        drawn = [
            (sensor, sensor_chart(inst, sensor, window[0] - margin, window[1] + margin, window))
            for sensor in inst.sensors
            if sensor.key in summary
        ]
        store_error = None
    except StoreError as exc:
        summary, drawn, store_error = {}, [], str(exc)
    return render_template(
        "process/lot.html",
        lot=lot_row,
        installation=inst,
        samples=samples,
        grades=sorted(Counter(s.grade for s in samples if s.grade and s.state not in NOT_COUNTED).items()),
        results=_lot_results(lot_id),
        charts=drawn,
        summary=summary,
        store_error=store_error,
        prediction=predict.shown_for_lot(db(), lot_id),
        card=prediction_card.for_lot(db(), lot_row),
    )


def _lot_results(lot_id: int) -> list:
    """Per method, the entered results of the lot's samples (retracted ones and those of
    invalidated, rejected or cancelled samples left out): count,
    mean/min/max of the measured values, how many were below the detection limit and how many
    out of spec. A lot has up to hundreds of samples: one grouped query, not a row per result."""
    entered = Analysis.state.in_(("submitted", "verified"))
    measured = case((Analysis.below_detection_limit, None), else_=Analysis.value)
    return db().execute(
        select(
            Method,
            func.count().label("n"),
            func.avg(measured).label("mean"),
            func.min(measured).label("min"),
            func.max(measured).label("max"),
            func.sum(case((Analysis.below_detection_limit, 1), else_=0)).label("below_dl"),
            func.sum(case((Analysis.evaluation == "out_of_spec", 1), else_=0)).label("out_of_spec"),
        )
        .join(Sample, Sample.id == Analysis.sample_id)
        .join(Method, Method.id == Analysis.method_id)
        .where(Sample.lot_id == lot_id, Sample.state.not_in(NOT_COUNTED), entered)
        # Every column of Method depends on its key, so grouping by it is enough.
        .group_by(Method.id)
        .order_by(Method.name)
    ).all()
