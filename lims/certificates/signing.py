"""Certificate authenticity: RFC 8785 canonical JSON, sha256 content hash, Ed25519 signature.

The signed message is the canonical form (RFC 8785, via the `rfc8785` package) of the
certificate content, so a holder may re-indent or reorder the JSON file and it still verifies;
any change to a value does not.

The lab key is a PEM file: `signing_key_file` (RECYCLAB_SIGNING_KEY_FILE) if set, otherwise
var_dir/keys/certificate-signing-key.pem, generated on first use with mode 0600.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lims.kernel.settings import Settings

ALGORITHM = "Ed25519"
DEFAULT_KEY_NAME = "certificate-signing-key.pem"


def canonical(content: dict[str, Any]) -> bytes:
    return rfc8785.dumps(content)


def content_hash(canonical_bytes: bytes) -> str:
    return "sha256:" + hashlib.sha256(canonical_bytes).hexdigest()


def key_path(settings: Settings) -> Path:
    if settings.signing_key_file:
        return Path(settings.signing_key_file)
    return settings.var_dir / "keys" / DEFAULT_KEY_NAME


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The private key at `path`; created there if missing.

    Creation is safe with several processes starting at once: the key is written to a private
    temporary file and hard-linked into place, which fails if another process got there first
    (then that process's key is used), so no process ever reads a half-written file.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mkstemp creates it 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    return _read_private_key(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _read_private_key(path: Path, _mtime_ns: int) -> Ed25519PrivateKey:
    # _mtime_ns is part of the cache key so a replaced key file is read again.
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    return load_or_create_key(key_path(settings))


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_pem(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short fingerprint that tells which key signed a certificate (for key rotation)."""
    return hashlib.sha256(_raw(public_key)).hexdigest()[:16]


def jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """RFC 8037 OKP JSON Web Key."""
    x = base64.urlsafe_b64encode(_raw(public_key)).rstrip(b"=").decode()
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": key_id(public_key), "alg": "EdDSA", "use": "sig"}


def sign(private_key: Ed25519PrivateKey, canonical_bytes: bytes) -> str:
    return base64.b64encode(private_key.sign(canonical_bytes)).decode()


def signature_valid(public_key: Ed25519PublicKey, canonical_bytes: bytes, signature_b64: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), canonical_bytes)
    except (InvalidSignature, ValueError):
        return False
    return True
