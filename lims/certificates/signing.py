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

Each key also has an X.509 certificate for the PAdES signature of the PDFs
(lims.certificates.pdf_signature), subject the lab, issued (signed) by the key. The key it
certifies is an ECDSA P-256 key derived from the lab key, not the Ed25519 key itself: the PDF
readers people use validate ECDSA signatures, while Ed25519 ones (ISO/TS 32002) Adobe's do not
list and poppler's (Evince, Okular) call "corrupted". Derived, it needs no second secret and
rotates with the lab key; issued by the lab key, anyone holding the published Ed25519 key can
tell a PDF signer certificate of the lab's from another. A reader who trusts the certificate
(published at /.well-known/recyclab-signing-cert.pem) sees the PDFs as signed by the lab.
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
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID

from lims.kernel.settings import Settings

ALGORITHM = "Ed25519"
DEFAULT_KEY_NAME = "certificate-signing-key.pem"
KEYRING_NAME = "signing-keys.json"
# RFC 5280 4.1.2.5: "no well-defined expiration date". A key signs until it is rotated, which is
# not known when its certificate is made; the key set publishes when it was ("valid_to") and the
# PDF check refuses a signature made after it. The certificate itself never changes, so one a
# reader trusted keeps matching the PDFs signed with it.
NO_EXPIRY = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
# notBefore of a key from before the key set was kept (its start is not known).
UNKNOWN_START = datetime(1970, 1, 1, tzinfo=UTC)


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


def _entry(key: Ed25519PrivateKey, valid_from: str | None, lab_name: str) -> dict:
    return {
        "kid": key_id(key.public_key()),
        "public_key": public_pem(key.public_key()).decode(),
        "valid_from": valid_from,
        "valid_to": None,
        "certificate": certificate_pem(make_certificate(key, lab_name, valid_from)),
    }


def create_key(path: Path, now: datetime, lab_name: str) -> Ed25519PrivateKey:
    """The lab's first key and its certificate (FileExistsError if there is a key): explicit,
    never on first use."""
    key = Ed25519PrivateKey.generate()
    _write_private(path, _pem(key), replace=False)
    _write_keyring(path, [*_read_keyring(path), _entry(key, _stamp(now), lab_name)])
    return key


def rotate(path: Path, now: datetime, lab_name: str) -> tuple[str, str]:
    """A new signing key (and certificate) from now on; the old one's validity ends now and it
    stays published with its certificate, so every certificate and PDF signed before still
    verifies. Returns (old kid, new kid)."""
    old_key = load_key(path)
    old = old_key.public_key()
    entries = _read_keyring(path)
    if not any(e["kid"] == key_id(old) for e in entries):
        entries.append(_entry(old_key, None, lab_name))
    for e in entries:
        if e["kid"] == key_id(old):
            e["valid_to"] = _stamp(now)
            # A key set from before certificates were kept: the last chance to make the old
            # key's, while its private key is still here.
            e.setdefault("certificate", certificate_pem(make_certificate(old_key, lab_name, e["valid_from"])))
    new = Ed25519PrivateKey.generate()
    entries.append(_entry(new, _stamp(now), lab_name))
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


# The order of the P-256 group (FIPS 186-4 D.1.2.3).
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def pdf_key(key: Ed25519PrivateKey) -> ec.EllipticCurvePrivateKey:
    """The ECDSA P-256 key that signs the PDFs, derived from the lab key (HKDF-SHA256 of its
    seed, 64 bits more than the order so the reduction is unbiased, FIPS 186-4 B.4.1)."""
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    okm = HKDF(hashes.SHA256(), 40, salt=None, info=b"recyclab certificate PDF signing, P-256").derive(seed)
    return ec.derive_private_key(int.from_bytes(okm, "big") % (_P256_ORDER - 1) + 1, ec.SECP256R1())


def make_certificate(key: Ed25519PrivateKey, lab_name: str, valid_from: str | None) -> x509.Certificate:
    """The X.509 certificate of the key's PDF-signing key: subject the lab, issued and signed by
    the lab key (its key id is the serial number and the authority key identifier), from the
    key's start on. The same inputs give the same certificate (Ed25519 signs
    deterministically), so one made again for a key is the one published."""
    kid = key_id(key.public_key())
    lab = lab_name[:64]  # the upper bound of both attributes (RFC 5280 appendix A)
    issuer = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"Certificate signing key {kid}"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, lab),
        ]
    )
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, lab),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, lab),
        ]
    )
    signer = pdf_key(key).public_key()
    start = datetime.fromisoformat(valid_from) if valid_from else UNKNOWN_START
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(signer)
        .serial_number(int(kid, 16) or 1)
        .not_valid_before(start)
        .not_valid_after(NO_EXPIRY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier(bytes.fromhex(kid), None, None), critical=False
        )
        .sign(key, None)
    )


def issued_by(cert: x509.Certificate, public_key: Ed25519PublicKey) -> bool:
    """Did this lab key sign (issue) the certificate?"""
    try:
        public_key.verify(cert.signature, cert.tbs_certificate_bytes)
    except InvalidSignature:
        return False
    return True


def certificate_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def certificates(path: Path, lab_name: str) -> dict[str, x509.Certificate]:
    """The certificate of every key the lab signed PDFs with, by key id. The current key's is
    made from the key if its key set is from before certificates were kept (the same each time,
    and nothing is written: the key's folder may be a read-only secret)."""
    current = load_key(path)
    entries = _read_keyring(path)
    out = {
        e["kid"]: x509.load_pem_x509_certificate(e["certificate"].encode())
        for e in entries
        if e.get("certificate")
    }
    kid = key_id(current.public_key())
    if kid not in out:
        entry = next((e for e in entries if e["kid"] == kid), None)
        out[kid] = make_certificate(current, lab_name, entry["valid_from"] if entry else None)
    return out


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


def published_from_jwks(doc: dict) -> list[PublishedKey]:
    """The lab's keys with their validity periods, from its published JWK set."""
    out = []
    for entry in doc.get("keys", []):
        if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519" or "x" not in entry:
            continue
        raw = base64.urlsafe_b64decode(entry["x"] + "=" * (-len(entry["x"]) % 4))
        key = Ed25519PublicKey.from_public_bytes(raw)
        out.append(PublishedKey(key_id(key), key, entry.get("valid_from"), entry.get("valid_to")))
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
