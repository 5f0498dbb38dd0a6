"""Certificate authenticity: RFC 8785 canonical JSON, sha256 content hash, Ed25519 signature.

The signed message is the canonical form (RFC 8785, via the `rfc8785` package) of the
certificate content, so a holder may re-indent or reorder the JSON file and it still verifies;
any change to a value does not.

The lab key is a PEM file: `signing_key_file` (RECYCLAB_SIGNING_KEY_FILE) if set, otherwise
var_dir/keys/certificate-signing-key.pem. It is never made implicitly: `recyclab keys create`
makes the first one (`recyclab demo` does that for itself), `recyclab keys rotate` the next. Every
public key ever used is kept, with its validity period, in signing-keys.json beside it and
published as a JWK set, so certificates signed before a rotation still verify; the content
names its key ("key_id", inside the signed part).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
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
KEYRING_NAME = "signing-keys.json"


def canonical(content: dict[str, Any]) -> bytes:
    return rfc8785.dumps(content)


def content_hash(canonical_bytes: bytes) -> str:
    return "sha256:" + hashlib.sha256(canonical_bytes).hexdigest()


def key_path(settings: Settings) -> Path:
    if settings.signing_key_file:
        return Path(settings.signing_key_file)
    return settings.var_dir / "keys" / DEFAULT_KEY_NAME


def keyring_path(key_file: Path) -> Path:
    """Every public key the lab ever signed with, with its validity period, beside the key."""
    return key_file.with_name(KEYRING_NAME)


class MissingKey(RuntimeError):
    """No signing key where the settings say: never replaced silently, since a new key would
    make the lab's published key set disagree with what it signed before."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"no certificate signing key at {path}: set RECYCLAB_SIGNING_KEY_FILE to the lab's "
            "key, or create the first one with `recyclab keys create`"
        )
        self.path = path


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: Path, data: bytes, *, replace: bool) -> None:
    """Write via a private (0600) temporary file: a reader never sees half a file. Without
    `replace`, a hard link puts it in place and fails if the file exists (FileExistsError)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@dataclass(frozen=True)
class PublishedKey:
    kid: str
    public_key: Ed25519PublicKey
    valid_from: str | None  # ISO 8601 UTC; None: from before the key set was kept
    valid_to: str | None  # None: the current key


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _read_keyring(path: Path) -> list[dict]:
    ring = keyring_path(path)
    return json.loads(ring.read_text())["keys"] if ring.exists() else []


def _write_keyring(path: Path, entries: list[dict]) -> None:
    data = json.dumps({"keys": entries}, indent=2).encode() + b"\n"
    _write_private(keyring_path(path), data, replace=True)


def _entry(key: Ed25519PublicKey, valid_from: str | None) -> dict:
    return {
        "kid": key_id(key),
        "public_key": public_pem(key).decode(),
        "valid_from": valid_from,
        "valid_to": None,
    }


def create_key(path: Path, now: datetime) -> Ed25519PrivateKey:
    """The lab's first key (FileExistsError if there is one): explicit, never on first use."""
    key = Ed25519PrivateKey.generate()
    _write_private(path, _pem(key), replace=False)
    _write_keyring(path, [*_read_keyring(path), _entry(key.public_key(), _stamp(now))])
    return key


def rotate(path: Path, now: datetime) -> tuple[str, str]:
    """A new signing key from now on; the old one's validity ends now and it stays published,
    so every certificate signed before still verifies. Returns (old kid, new kid)."""
    old = load_key(path).public_key()
    entries = _read_keyring(path)
    if not any(e["kid"] == key_id(old) for e in entries):
        entries.append(_entry(old, None))
    for e in entries:
        if e["kid"] == key_id(old):
            e["valid_to"] = _stamp(now)
    new = Ed25519PrivateKey.generate()
    entries.append(_entry(new.public_key(), _stamp(now)))
    # The key set first: a crash in between leaves a published key that never signed, not a
    # signing key nobody can verify.
    _write_keyring(path, entries)
    _write_private(path, _pem(new), replace=True)
    return key_id(old), key_id(new.public_key())


def load_key(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        raise MissingKey(path)
    return _read_private_key(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _read_private_key(path: Path, _mtime_ns: int) -> Ed25519PrivateKey:
    # _mtime_ns is part of the cache key so a replaced key file is read again.
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    return load_key(key_path(settings))


def published_keys(path: Path) -> list[PublishedKey]:
    """Every key the lab signed with, oldest first; the current key is always among them."""
    keys = [
        PublishedKey(e["kid"], load_public_pem(e["public_key"].encode()), e["valid_from"], e["valid_to"])
        for e in _read_keyring(path)
    ]
    current = load_key(path).public_key()
    if not any(k.kid == key_id(current) for k in keys):
        keys.append(PublishedKey(key_id(current), current, None, None))
    return keys


def public_keys(path: Path) -> dict[str, Ed25519PublicKey]:
    return {k.kid: k.public_key for k in published_keys(path)}


def jwks(path: Path) -> dict[str, list[dict]]:
    """RFC 7517 key set; each key also states when it signed ("valid_from", "valid_to")."""
    return {
        "keys": [
            jwk(k.public_key) | {"valid_from": k.valid_from, "valid_to": k.valid_to}
            for k in published_keys(path)
        ]
    }


def keys_from_jwks(doc: dict) -> dict[str, Ed25519PublicKey]:
    out = {}
    for entry in doc.get("keys", []):
        if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519" or "x" not in entry:
            continue
        raw = base64.urlsafe_b64decode(entry["x"] + "=" * (-len(entry["x"]) % 4))
        key = Ed25519PublicKey.from_public_bytes(raw)
        out[key_id(key)] = key
    return out


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
