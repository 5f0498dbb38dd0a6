"""`recyclab certificate verify FILE` (offline, or asking the lab with --url) and `recyclab keys`
(create, rotate, list the certificate signing keys; creating and rotating are in the audit
trail when the lab's database is there to take them)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import click
from cryptography.hazmat.primitives import hashes

from lims.audit.service import TrailUnavailable, record_by_operator
from lims.certificates import document, pdf_signature, signing
from lims.kernel.clock import utcnow
from lims.kernel.settings import load_settings

TIMEOUT_S = 10
KEYS_PATH = "/.well-known/recyclab-signing-key.json"


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310 - the user's URL
        return response.read()


@click.group("certificate")
def certificate() -> None:
    """Certificates of analysis."""


@certificate.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    "public_key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The lab's public key (PEM), e.g. saved from /.well-known/recyclab-signing-key.pem.",
)
@click.option(
    "--url",
    "base_url",
    help="The lab's base URL: fetch its published keys there and also check the certificate's "
    "current status (withdrawn or superseded counts as invalid).",
)
def verify(file: Path, public_key_file: Path | None, base_url: str | None) -> None:
    """Check FILE (the JSON file, or the PDF) for its content hash and Ed25519 signature, and a
    PDF also for the lab's PAdES signature over it; exit 0 if valid, 1 (with the reason) if not.

    Without --public-key or --url the local lab's published keys (signing_key_file / var_dir)
    are used. Only --url can tell whether the certificate is still valid at the lab.
    """
    if public_key_file and base_url:
        raise click.UsageError("give --public-key or --url, not both")
    try:
        if public_key_file:
            key = signing.load_public_pem(public_key_file.read_bytes())
            published = [signing.PublishedKey(signing.key_id(key), key, None, None)]
        elif base_url:
            published = signing.published_from_jwks(json.loads(_fetch(base_url.rstrip("/") + KEYS_PATH)))
        else:
            # Only existing keys: verifying must never create a lab key as a side effect.
            published = signing.published_keys(signing.key_path(load_settings()))
    except signing.MissingKey as exc:
        raise click.UsageError(f"no lab key at {exc.path}; give --public-key or --url") from exc
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot get the public key: {exc}") from exc

    raw = file.read_bytes()
    if pdf_signature.is_pdf(raw):
        result = pdf_signature.verify(raw, published)
    elif public_key_file:  # one key: a mismatch names both key ids
        result = document.verify(raw, published[0].public_key)
    else:
        result = document.verify(raw, {k.kid: k.public_key for k in published})
    if not result.valid:
        click.echo(f"INVALID: {result.reason}", err=True)
        raise SystemExit(1)
    if base_url:
        status = _status(base_url, result.number, result.content_hash)
        if status["status"] != "valid":
            why = f"{result.number} is {status['status']} on {status['withdrawn_on']}"
            if status.get("withdrawal_category"):
                why += f" ({status['withdrawal_category']})"
            current = status.get("current_revision", status.get("superseded_by"))  # a lab before 2026-12
            if current:
                why += f"; current revision: {current}"
            elif status.get("superseded_by"):
                why += f"; replaced by {status['superseded_by']}, itself no longer valid"
            click.echo(f"INVALID: {why}", err=True)
            raise SystemExit(1)
        if not status.get("hash_matches"):
            click.echo(f"INVALID: {result.number} is registered with a different content hash", err=True)
            raise SystemExit(1)
        click.echo(
            f"VALID: {result.number}, {result.content_hash}, signed by key {result.key_id}, "
            "status valid at the lab"
        )
        return
    click.echo(
        f"SIGNATURE VALID: {result.number}, {result.content_hash}, signed by key {result.key_id}.\n"
        "STATUS UNKNOWN: offline this cannot tell whether the lab has since withdrawn or "
        "superseded the certificate. Ask the lab:\n"
        f"  recyclab certificate verify {file} --url <the lab's address, e.g. {load_settings().public_url}>"
    )


def _status(base_url: str, number: str, content_hash: str) -> dict:
    query = urllib.parse.urlencode({"hash": content_hash})
    url = f"{base_url.rstrip('/')}/api/v1/public/certificates/{urllib.parse.quote(number)}"
    try:
        return json.loads(_fetch(f"{url}?{query}"))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            click.echo(f"INVALID: the lab has no certificate {number}", err=True)
            raise SystemExit(1) from exc
        raise click.ClickException(f"status check failed: HTTP {exc.code}") from exc
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"status check failed: {exc}") from exc


@click.group("keys")
def keys() -> None:
    """The lab's certificate signing keys."""


def _key_file() -> Path:
    return signing.key_path(load_settings())


def _audit(action: str, key_id: str, before: dict | None, after: dict) -> None:
    """Into the audit trail under the operating-system account, if the lab's database can take
    it: the key is changed either way (its files are the truth), and the operator is told in
    one line when the trail missed it."""
    try:
        record_by_operator(load_settings().database_url, action, "signing_key", key_id, before, after)
    except TrailUnavailable as exc:
        click.echo(f"audit trail not written: {exc}", err=True)


@keys.command("create")
def keys_create() -> None:
    """Make the lab's first signing key (refused if there is one: rotate instead)."""
    path = _key_file()
    try:
        key = signing.create_key(path, utcnow(), load_settings().lab_name)
    except FileExistsError as exc:
        raise click.UsageError(f"{path} exists; use `recyclab keys rotate` for a new key") from exc
    kid = signing.key_id(key.public_key())
    click.echo(f"created key {kid} at {path}")
    _audit("signing_key.create", kid, None, {"key_id": kid})


@keys.command("rotate")
def keys_rotate() -> None:
    """Sign with a new key from now on; the old one stays published for older certificates."""
    path = _key_file()
    try:
        old, new = signing.rotate(path, utcnow(), load_settings().lab_name)
    except signing.MissingKey as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"rotated: {old} retired, {new} signs from now on ({path})")
    _audit("signing_key.rotate", new, {"key_id": old}, {"key_id": new})


@keys.command("list")
def keys_list() -> None:
    """Every key the lab signed with, and when (the published JWK set), with the SHA-256
    fingerprint of the certificate its PDFs are signed under: what a customer compares before
    trusting that certificate in a PDF reader."""
    try:
        published = signing.published_keys(_key_file())
        pdf_certificates = signing.certificates(_key_file(), load_settings().lab_name)
    except signing.MissingKey as exc:
        raise click.UsageError(str(exc)) from exc
    for k in published:
        until = k.valid_to or "now (current)"
        click.echo(f"{k.kid}  {k.valid_from or 'before the key set was kept'} .. {until}")
        if k.kid in pdf_certificates:
            fingerprint = pdf_certificates[k.kid].fingerprint(hashes.SHA256()).hex(":").upper()
            click.echo(f"    PDF signing certificate SHA-256 {fingerprint}")
