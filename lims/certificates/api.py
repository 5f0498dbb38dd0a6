"""Certificates: issue (reviewers), search and download (customers see their own and those
shared with them; anything else is 404), grants (admins), and the public checks (no login)."""

from __future__ import annotations

from flask import Response, current_app, request
from flask.views import MethodView
from flask_smorest import abort
from sqlalchemy import select
from sqlalchemy.orm import defer, selectinload

from lims.certificates import amending, issuing, public, search, sharing, signing
from lims.certificates.schemas import (
    AmendSchema,
    CertificateCreateSchema,
    CertificateDetailSchema,
    CertificateQuerySchema,
    CertificateSchema,
    GrantCreateSchema,
    GrantSchema,
    PublicCertificateSchema,
    PublicLookupSchema,
    UploadResultSchema,
)
from lims.kernel.errors import NotFound
from lims.kernel.models import Lot
from lims.kernel.models.certificate import Certificate
from lims.permissions import Capability, get_sample, require, scope_lots
from lims.samples.api.samples import load_sample
from lims.samples.schemas import SampleDetailSchema
from lims.web.api_blueprint import blueprint, page
from lims.web.auth import require_user
from lims.web.request_db import db
from lims.web.schemas import ReasonSchema

blp = blueprint("certificates", "/certificates", "Certificates of analysis: issue, find, download, share.")
public_blp = blueprint(
    "public_certificates",
    "/public/certificates",
    "Anyone holding a certificate: check its status, or upload its PDF or JSON file to verify it.",
    public=True,
)
# Releasing a sample is the certificates' business, at the sample's address.
release_blp = blueprint(
    "sample_release", "/samples", "Certify a verified sample (with its certificate) or invalidate a certified one."
)
BLUEPRINTS = (blp, public_blp, release_blp)

# A certificate file is a few kB (the signed PDF some tens); anything far larger is not one.
MAX_UPLOAD = 512 * 1024
# The certificate's status at download (valid, withdrawn, superseded): its files never change.
STATUS_HEADER = "X-Certificate-Status"
_STATUS_DOC = {STATUS_HEADER: {"description": "valid, withdrawn or superseded, now", "schema": {"type": "string"}}}
# What a list row shows, loaded up front (no query per row).
LIST_LOAD = (
    selectinload(Certificate.samples),
    selectinload(Certificate.superseded_by),
    selectinload(Certificate.supersedes),
    selectinload(Certificate.issued_by),
    defer(Certificate.content),  # kB per row, and the list does not show it
    defer(Certificate.search_text),
)


def settings():
    return current_app.config["RECYCLAB"]


def _missing_key(exc: signing.MissingKey):
    # The path is for the operator's log, not for the public.
    current_app.logger.error("%s", exc)
    message = "the certificate signing key is not installed; the lab administrator must configure it"
    return {"code": 503, "status": "Service Unavailable", "message": message}, 503


@blp.record_once
def _register_missing_key(state) -> None:
    # App-wide: issuing from the sample pages and the public key pages need it as well.
    state.app.register_error_handler(signing.MissingKey, _missing_key)


def _load(cert_id: int) -> Certificate:
    return search.get(db(), require_user(), cert_id)


@blp.route("")
class Certificates(MethodView):
    @blp.arguments(CertificateQuerySchema, location="query")
    @blp.response(200, CertificateSchema(many=True))
    @blp.paginate()
    def get(self, args: dict, pagination_parameters):
        """Search: by lot, material, grade, line, status, sample, issue date range and text."""
        stmt = search.search_statement(require_user(), search.Query(**args)).options(*LIST_LOAD)
        return page(stmt, pagination_parameters)

    @blp.arguments(CertificateCreateSchema)
    @blp.response(201, CertificateDetailSchema)
    def post(self, data: dict):
        """Issue a certificate for a verified sample, or for a lot from its verified samples."""
        user = require_user()
        require(user, Capability.ISSUE_CERTIFICATES)
        issuer = issuing.Issuer.from_settings(settings())
        options = {k: data[k] for k in ("deviations", "replaces") if k in data}
        if "sample" in data:
            sample = get_sample(db(), user, data["sample"], for_update=True)
            return issuing.issue_for_sample(db(), issuer, user, sample, **options)
        lot = db().scalar(scope_lots(select(Lot).where(Lot.code == data["lot"]), user))
        if lot is None:
            raise NotFound(f"lot {data['lot']} not found")
        return issuing.issue_for_lot(db(), issuer, user, lot, **options)


@blp.route("/<int:cert_id>")
@blp.response(200, CertificateDetailSchema)
def detail(cert_id: int):
    return _load(cert_id)


def _download(cert: Certificate, body: bytes, mimetype: str, suffix: str) -> Response:
    """A file as issued, with the certificate's status now: a withdrawn one's file is unchanged."""
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{cert.number}{suffix}"'
    response.headers[STATUS_HEADER] = cert.status
    return response


@blp.route("/<int:cert_id>/amend", methods=["POST"])
@blp.arguments(AmendSchema)
@blp.response(201, CertificateDetailSchema)
def amend(data: dict, cert_id: int):
    """7.8.8: the next revision (-R<n>) of the same item, with the reason; the old certificate is
    withdrawn and names it. Works on a valid certificate, or on one reopened for correction."""
    user = require_user()
    issuer = issuing.Issuer.from_settings(settings())
    cert = search.get(db(), user, cert_id)
    return amending.amend(db(), issuer, user, cert, data["reason"], deviations=data["deviations"])


@blp.route("/<int:cert_id>/reopen", methods=["POST"])
@blp.arguments(ReasonSchema)
@blp.response(200, CertificateDetailSchema)
def reopen(data: dict, cert_id: int):
    """Withdraw a certificate whose results must be corrected; its samples are verified again
    (retests open OOS investigations); then amend it."""
    user = require_user()
    return amending.reopen(db(), user, search.get(db(), user, cert_id), data["reason"])


@blp.route("/<int:cert_id>.pdf")
@blp.doc(responses={200: {"description": "The certificate as PDF, as issued", "content": {"application/pdf": {}},
                           "headers": _STATUS_DOC}})
def pdf(cert_id: int):
    cert = _load(cert_id)
    return _download(cert, public.pdf_file(cert, settings()), "application/pdf", ".pdf")


@blp.route("/<int:cert_id>.json")
@blp.doc(responses={200: {"description": "The signed certificate file", "content": {"application/json": {}},
                           "headers": _STATUS_DOC}})
def json_file(cert_id: int):
    cert = _load(cert_id)
    return _download(cert, public.json_file(cert), "application/json", ".json")


@blp.route("/<int:cert_id>/grants")
class Grants(MethodView):
    @blp.response(200, GrantSchema(many=True))
    def get(self, cert_id: int):
        user = require_user()
        return sharing.shared_with(user, search.get(db(), user, cert_id))

    @blp.arguments(GrantCreateSchema)
    @blp.response(201, GrantSchema)
    def post(self, data: dict, cert_id: int):
        """Share the certificate with another organization (e.g. the buyer of the lot)."""
        user = require_user()
        return sharing.grant(db(), user, search.get(db(), user, cert_id), data["organization"])


@blp.route("/<int:cert_id>/grants/<org_key>", methods=["DELETE"])
@blp.response(204)
def revoke_grant(cert_id: int, org_key: str):
    user = require_user()
    sharing.revoke_grant(db(), user, search.get(db(), user, cert_id), org_key)


# --- public ------------------------------------------------------------------------------------


def public_view(cert: Certificate, given_hash: str | None) -> dict:
    view = public.public_summary(cert)
    # The QR code carries "sha256:<hex>"; a bare hex digest typed by a person counts too.
    view["hash_matches"] = (
        None if given_hash is None else given_hash.strip().lower().removeprefix("sha256:") == cert.content_hash.removeprefix("sha256:")
    )
    return view


@public_blp.route("/<number>")
@public_blp.doc(security=[])
@public_blp.arguments(PublicLookupSchema, location="query")
@public_blp.response(200, PublicCertificateSchema)
def lookup(args: dict, number: str):
    """Status of a certificate by number: valid, withdrawn (reason, date) or superseded (by whom)."""
    cert = public.by_number(db(), number)
    if cert is None:
        raise NotFound(f"no certificate {number}")
    return public_view(cert, args.get("hash"))


def uploaded_bytes() -> bytes:
    """The certificate file: the raw request body, or the form field `file`; b"" when nothing
    was sent (the API and the page each say so in their own way)."""
    if request.content_length and request.content_length > MAX_UPLOAD:
        abort(413, message=f"a certificate file is at most {MAX_UPLOAD // 1024} kB")
    upload = request.files.get("file")
    raw = upload.read(MAX_UPLOAD + 1) if upload else request.get_data(cache=False)
    if len(raw) > MAX_UPLOAD:
        abort(413, message=f"a certificate file is at most {MAX_UPLOAD // 1024} kB")
    return raw


def check_upload(raw: bytes) -> dict:
    published = signing.published_keys(signing.key_path(settings()))
    result = public.check_upload(db(), raw, published)
    return {
        "valid": result.valid,
        "reason": result.reason,
        "signature_valid": result.signature_valid,
        "registered": result.registered,
        "matches_registered": result.matches_registered,
        "certificate": public_view(result.certificate, None) if result.certificate else None,
    }


@public_blp.route("/verify", methods=["POST"])
@public_blp.response(200, UploadResultSchema)
@public_blp.doc(
    security=[],
    requestBody={
        "description": "The downloaded certificate PDF or JSON file, unchanged (or multipart field 'file').",
        "content": {"application/pdf": {}, "application/json": {}, "multipart/form-data": {}},
    }
)
def verify_upload():
    """Check an uploaded certificate file, PDF or JSON: its signature (a PDF's: the lab's, nothing
    changed after signing), hash, and the signed content against the registered copy byte for byte."""
    raw = uploaded_bytes()
    if not raw:
        abort(422, errors={"json": {"file": ["send the certificate PDF or JSON file as the body or as form field 'file'"]}})
    return check_upload(raw)


@release_blp.route("/<code>/certify", methods=["POST"])
@release_blp.response(200, SampleDetailSchema)
def certify(code: str):
    """Issue the certificate of analysis of a verified sample; the sample becomes certified.

    The same as POST /api/v1/certificates with this sample: a sample is never certified
    without its certificate."""
    sample = load_sample(code, for_update=True)
    issuer = issuing.Issuer.from_settings(current_app.config["RECYCLAB"])
    issuing.issue_for_sample(db(), issuer, require_user(), sample)
    return sample


@release_blp.route("/<code>/invalidate", methods=["POST"])
@release_blp.arguments(ReasonSchema)
@release_blp.response(200, SampleDetailSchema)
def invalidate(data: dict, code: str):
    return amending.invalidate_sample(
        db(), require_user(), load_sample(code, for_update=True), data["reason"]
    )
