"""Certificates: the manufacturer's portal (own and shared certificates), search and filters,
links to the PDF/JSON downloads of the certificates API and to the public verify page.
Lab staff see every certificate."""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from lims.certificates import public, search
from lims.kernel.errors import InputError
from lims.kernel.models import Material
from lims.kernel.models.certificate import CERTIFICATE_STATUSES
from lims.permissions import Capability
from lims.web.api_blueprint import API_PREFIX
from lims.web.auth import current_user, login_required
from lims.web.errors import web_blueprint
from lims.web.i18n import lab_today, local_date, local_name, parse_local_day
from lims.web.limits import query_int
from lims.web.request_db import db

bp = web_blueprint("portal", __name__, url_prefix="/certificates")

PER_PAGE = 25


def _query() -> search.Query:
    args = request.args
    dates = {}
    if args.get("issued_from"):
        dates["issued_from"] = parse_local_day(args["issued_from"], "issued_from")
    if args.get("issued_to"):
        dates["issued_to"] = parse_local_day(args["issued_to"], "issued_to", end=True)
    status = args.get("status") or None
    if status is not None and status not in CERTIFICATE_STATUSES:
        raise InputError("status", _("must be one of %(choices)s", choices=", ".join(CERTIFICATE_STATUSES)))
    return search.Query(
        q=args.get("q", "").strip() or None,
        lot=args.get("lot", "").strip() or None,
        sample=args.get("sample", "").strip() or None,
        material=args.get("material") or None,
        grade=args.get("grade", "").strip() or None,
        status=status,
        sort=search.CERTIFICATE_SORTING.check(current_user(), args.get("sort")),
        **dates,
    )


@bp.get("/")
@login_required(Capability.READ_CERTIFICATES)
def certificates_list():
    page = max(1, request.args.get("page", 1, type=query_int))
    query = _query()
    rows, total = search.search(db(), current_user(), query, page, PER_PAGE)
    return render_template(
        "portal/certificates.html",
        sort=query.sort,
        certificates=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        statuses=CERTIFICATE_STATUSES,
        materials=sorted(db().scalars(select(Material)), key=local_name),
        # The configured address, never the Host header: a link must lead to this lab whatever
        # name the request came in under (a proxy, a forged header).
        verify_url=lambda cert: public.verify_url(current_app.config["RECYCLAB"].public_url, cert),
        # The "to" day starts at today, the lab's day (not UTC's), written day first.
        today=local_date(lab_today()),
        download_url=lambda cert, fmt: f"{API_PREFIX}/certificates/{cert.id}.{fmt}",
    )
