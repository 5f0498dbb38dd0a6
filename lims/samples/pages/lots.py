"""The lot list: engineers and the lab find lots by code, installation, material, lab grade,
predicted against lab grade and production date, and go on to the lot, its process data or
its certificates."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from analytics import predict
from analytics.simulator.physics import from_simulator
from lims.kernel.errors import InputError
from lims.kernel.models import Installation, Material
from lims.permissions import Capability
from lims.samples import lot_search
from lims.web.auth import current_user, login_required
from lims.web.errors import web_blueprint
from lims.web.i18n import local_name, parse_local_day
from lims.web.limits import query_int
from lims.web.request_db import db

bp = web_blueprint("lot_list", __name__, url_prefix="/lots")
# `lot is simulated`: every page that shows a lot says SIMULATED of one from the simulator, in a
# lab on real data too (the simulated_data setting marks every process page of a demo).
bp.add_app_template_test(lambda lot: from_simulator(lot.source), "simulated")

PER_PAGE = 50


def _filter() -> lot_search.LotFilter:
    args = request.args
    dates = {}
    if args.get("produced_from"):
        dates["produced_from"] = parse_local_day(args["produced_from"], "produced_from")
    if args.get("produced_to"):
        dates["produced_to"] = parse_local_day(args["produced_to"], "produced_to", end=True)
    agreement = args.get("agreement") or None
    if agreement is not None and agreement not in lot_search.AGREEMENTS:
        raise InputError("agreement", _("must be one of %(choices)s", choices=", ".join(lot_search.AGREEMENTS)))
    return lot_search.LotFilter(
        q=args.get("q", "").strip() or None,
        installation=args.get("installation") or None,
        material=args.get("material") or None,
        grade=args.get("grade", "").strip() or None,
        agreement=agreement,
        sort=lot_search.LOT_SORTING.check(current_user(), args.get("sort")),
        **dates,
    )


@bp.get("/")
@login_required(Capability.FIND_LOTS)
def lots_list():
    page = max(1, request.args.get("page", 1, type=query_int))
    found = _filter()
    rows, more = lot_search.search(db(), current_user(), found, page, PER_PAGE)
    return render_template(
        "lab/lots.html",
        sort=found.sort,
        rows=rows,
        predictions={r.lot.id: predict.shown(r.prediction) for r in rows if r.prediction is not None},
        page=page,
        more=more,
        installations=list(db().scalars(select(Installation).order_by(Installation.key))),
        materials=sorted(db().scalars(select(Material)), key=local_name),
        agreements=lot_search.AGREEMENTS,
    )
