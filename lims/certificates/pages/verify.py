"""Public pages, no login: the verify page the certificate QR code points to, and the lab's
public signing key at a well-known address (PEM and JWK set)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request

from lims.certificates import public, signing
from lims.certificates.api import check_upload, public_view, uploaded_bytes
from lims.web.request_db import db

bp = Blueprint("verify", __name__)
KEY_PEM_PATH = "/.well-known/recyclab-signing-key.pem"
KEY_JWKS_PATH = "/.well-known/recyclab-signing-key.json"


def _public_key():
    return signing.signing_key(current_app.config["RECYCLAB"]).public_key()


@bp.route(KEY_PEM_PATH)
def key_pem():
    return Response(signing.public_pem(_public_key()), mimetype="application/x-pem-file")


@bp.route(KEY_JWKS_PATH)
def key_jwks():
    return {"keys": [signing.jwk(_public_key())]}


@bp.route("/verify", methods=["GET", "POST"])
def upload_page():
    """A form to upload a certificate JSON file; POST shows the verdict."""
    result = check_upload(uploaded_bytes()) if request.method == "POST" else None
    return render_template("verify/upload.html", result=result, key_url=KEY_PEM_PATH)


@bp.route("/verify/<number>")
def certificate_page(number: str):
    cert = public.by_number(db(), number)
    if cert is None:
        return render_template("verify/certificate.html", number=number, cert=None, key_url=KEY_PEM_PATH), 404
    view = public_view(cert, request.args.get("hash"))
    return render_template("verify/certificate.html", number=number, cert=view, key_url=KEY_PEM_PATH)
