"""Certificates: the manufacturer's portal (own and shared certificates), search and filters,
PDF/JSON download and the link to the public verify page. Lab staff see every certificate."""

from __future__ import annotations

from flask import Response, current_app, render_template, request
from sqlalchemy import select

from lims.models import Material
from lims.models.certificate import CERTIFICATE_STATUSES
from lims.request_db import db
from lims.services import certificates
from lims.services.errors import InputError
from lims.web.errors import web_blueprint
from lims.web.i18n import parse_local_datetime
from lims.web.session_auth import CERTIFICATES, current_user, login_required

bp = web_blueprint("portal", __name__, url_prefix="/certificates")

PER_PAGE = 25


def _query() -> certificates.Query:
    args = request.args
    dates = {}
    for field in ("issued_from", "issued_to"):
        if args.get(field):
            dates[field] = parse_local_datetime(args[field] + "T00:00", field)
    status = args.get("status") or None
    if status is not None and status not in CERTIFICATE_STATUSES:
        raise InputError("status", f"must be one of {', '.join(CERTIFICATE_STATUSES)}")
    return certificates.Query(
        q=args.get("q", "").strip() or None,
        lot=args.get("lot", "").strip() or None,
        sample=args.get("sample", "").strip().upper() or None,
        material=args.get("material") or None,
        grade=args.get("grade", "").strip() or None,
        status=status,
        **dates,
    )


@bp.get("/")
@login_required(*CERTIFICATES)
def certificates_list():
    page = max(1, request.args.get("page", 1, type=int))
    rows, total = certificates.search(db(), current_user(), _query(), page, PER_PAGE)
    return render_template(
        "portal/certificates.html",
        certificates=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        statuses=CERTIFICATE_STATUSES,
        materials=list(db().scalars(select(Material).order_by(Material.name))),
        verify_url=lambda cert: certificates.verify_url(request.host_url, cert),
    )


@bp.get("/<int:cert_id>.<fmt>")
@login_required(*CERTIFICATES)
def download(cert_id: int, fmt: str):
    cert = certificates.get(db(), current_user(), cert_id)
    if fmt == "pdf":
        body, mimetype = certificates.pdf_file(cert, current_app.config["RECYCLAB"].public_url), "application/pdf"
    elif fmt == "json":
        body, mimetype = certificates.json_file(cert), "application/json"
    else:
        raise InputError("format", "pdf or json")
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{cert.number}.{fmt}"'},
    )
