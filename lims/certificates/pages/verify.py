"""Public pages, no login: the verify page the certificate QR code points to, and the lab's
public signing key at a well-known address (PEM and JWK set), with the X.509 certificate that
signs the PDFs."""

from __future__ import annotations

from functools import partial

from flask import Blueprint, Response, current_app, render_template, request
from flask_babel import lazy_gettext as _l

from lims.certificates import public, signing
from lims.certificates.api import check_upload, public_view, uploaded_bytes
from lims.web.i18n import localized
from lims.web.request_db import db

bp = Blueprint("verify", __name__)
KEY_PEM_PATH = "/.well-known/recyclab-signing-key.pem"
KEY_JWKS_PATH = "/.well-known/recyclab-signing-key.json"
CERT_PEM_PATH = "/.well-known/recyclab-signing-cert.pem"
# public.PUBLIC_WITHDRAWAL_CATEGORIES in the reader's language (the page follows the browser's).
WITHDRAWAL_CATEGORIES = {
    "invalidated": _l("results invalidated after issue"),
    "pending_revision": _l("withdrawn pending a corrected revision"),
    "superseded": _l("replaced by a revised certificate"),
}


def _key_file():
    return signing.key_path(current_app.config["RECYCLAB"])


@bp.route(KEY_PEM_PATH)
def key_pem():
    """The current key, or with ?kid= any key the lab ever signed with."""
    keys = signing.public_keys(_key_file())
    kid = request.args.get("kid") or signing.key_id(signing.load_key(_key_file()).public_key())
    if kid not in keys:
        return Response(f"no key {kid}\n", status=404, mimetype="text/plain")
    return Response(signing.public_pem(keys[kid]), mimetype="application/x-pem-file")


@bp.route(CERT_PEM_PATH)
def cert_pem():
    """The X.509 certificate a PDF reader shows as the signer of the PDFs: the current key's, or
    with ?kid= that key's. Trusting it in the reader shows the lab's PDFs as validly signed."""
    key_file = _key_file()
    certificates = signing.certificates(key_file, current_app.config["RECYCLAB"].lab_name)
    kid = request.args.get("kid") or signing.key_id(signing.load_key(key_file).public_key())
    if kid not in certificates:
        return Response(f"no certificate for key {kid}\n", status=404, mimetype="text/plain")
    body = signing.certificate_pem(certificates[kid])
    response = Response(body, mimetype="application/x-pem-file")
    response.headers["Content-Disposition"] = f'attachment; filename="recyclab-signing-{kid}.pem"'
    return response


@bp.route(KEY_JWKS_PATH)
def key_jwks():
    """Every key the lab ever signed with, with its validity period."""
    return signing.jwks(_key_file())


@bp.route("/verify", methods=["GET", "POST"])
def upload_page():
    """A form to upload a certificate PDF or JSON file; POST shows the verdict."""
    page = partial(render_template, "verify/upload.html", key_url=KEY_PEM_PATH, cert_url=CERT_PEM_PATH)
    if request.method != "POST":
        return page(result=None)
    raw = uploaded_bytes()
    if not raw:
        return page(result=None, empty=True), 422
    result = check_upload(raw)
    # The page puts the reason inside its own sentence: said in the reader's language first.
    result["reason"] = localized(result["reason"])
    return page(result=result)


@bp.route("/verify/<number>")
def certificate_page(number: str):
    cert = public.by_number(db(), number)
    if cert is None:
        return render_template("verify/certificate.html", number=number, cert=None, key_url=KEY_PEM_PATH), 404
    view = public_view(cert, request.args.get("hash"))
    return render_template(
        "verify/certificate.html", number=number, cert=view, key_url=KEY_PEM_PATH,
        withdrawal_categories=WITHDRAWAL_CATEGORIES,
    )
