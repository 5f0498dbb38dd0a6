"""`recyclab certificate verify FILE`: check a downloaded certificate JSON file offline."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import click

from lims.certificates import document, signing
from lims.kernel.settings import load_settings

TIMEOUT_S = 10


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
    help="The lab's base URL: fetch its public key there and also check the certificate's "
    "current status (withdrawn or superseded counts as invalid).",
)
def verify(file: Path, public_key_file: Path | None, base_url: str | None) -> None:
    """Check FILE's content hash and Ed25519 signature; exit 0 if valid, 1 (with the reason) if not.

    Without --public-key or --url the local lab key (signing_key_file / var_dir) is used.
    """
    if public_key_file and base_url:
        raise click.UsageError("give --public-key or --url, not both")
    try:
        if public_key_file:
            pem = public_key_file.read_bytes()
        elif base_url:
            pem = _fetch(base_url.rstrip("/") + "/.well-known/recyclab-signing-key.pem")
        else:
            # Only an existing key: verifying must never create a lab key as a side effect.
            path = signing.key_path(load_settings())
            if not path.exists():
                raise click.UsageError(f"no lab key at {path}; give --public-key or --url")
            pem = signing.public_pem(signing.load_or_create_key(path).public_key())
        public_key = signing.load_public_pem(pem)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot get the public key: {exc}") from exc

    result = document.verify(file.read_bytes(), public_key)
    if not result.valid:
        click.echo(f"INVALID: {result.reason}", err=True)
        raise SystemExit(1)
    if base_url:
        status = _status(base_url, result.number, result.content_hash)
        if status["status"] != "valid":
            why = f"{result.number} is {status['status']}"
            if status.get("withdrawal_category"):
                why += f" ({status['withdrawal_category']})"
            if status.get("superseded_by"):
                why += f"; current revision: {status['superseded_by']}"
            click.echo(f"INVALID: {why}", err=True)
            raise SystemExit(1)
        if not status.get("hash_matches"):
            click.echo(f"INVALID: {result.number} is registered with a different content hash", err=True)
            raise SystemExit(1)
    click.echo(
        f"VALID: {result.number}, {result.content_hash}, signed by key {signing.key_id(public_key)}"
        + (", status valid at the lab" if base_url else "")
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
