"""The signed JSON certificate file and its offline verification.

File layout (`recyclab-certificate/1`):

    {"format": "recyclab-certificate/1",
     "certificate": {...content, see lims.certificates.content...},
     "content_hash": "sha256:<hex of the RFC 8785 canonical content>",
     "signature": {"algorithm": "Ed25519", "key_id": "<16 hex>", "value": "<base64>"}}

The signature is over the canonical content bytes. Verification needs only this file and the
lab's public key, so `recyclab certificate verify` works without network access.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lims.certificates import signing
from lims.kernel.errors import N_, Text

FORMAT = "recyclab-certificate/1"


def envelope(content: dict[str, Any], content_hash: str, signature: str, key_id: str) -> dict:
    return {
        "format": FORMAT,
        "certificate": content,
        "content_hash": content_hash,
        "signature": {"algorithm": signing.ALGORITHM, "key_id": key_id, "value": signature},
    }


def to_bytes(document: dict) -> bytes:
    """The downloadable file: indented for people; verification does not depend on the layout."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


@dataclass(frozen=True)
class Verification:
    valid: bool
    # Text: the verify page says it in the reader's language, the API and the CLI in English.
    reason: str
    number: str | None = None
    content_hash: str | None = None
    canonical: bytes | None = None
    key_id: str | None = None


class _Malformed(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    # Two values for one key could be read differently by another parser than by us.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Malformed(N_("duplicate key %(key)s", key=repr(key)))
        out[key] = value
    return out


def _reject_constant(name: str) -> None:
    raise _Malformed(N_("%(name)s is not JSON", name=name))


def parse(raw: bytes) -> dict:
    try:
        doc = json.loads(
            # A byte order mark is how some editors (Notepad) save UTF-8: layout, not content.
            raw.decode("utf-8-sig"), object_pairs_hook=_no_duplicates, parse_constant=_reject_constant
        )
    except UnicodeDecodeError as exc:
        raise _Malformed(N_("not UTF-8")) from exc
    except json.JSONDecodeError as exc:
        raise _Malformed(N_("not JSON (%(problem)s at line %(line)s)", problem=exc.msg, line=exc.lineno)) from exc
    except RecursionError:
        raise _Malformed(N_("nested too deeply")) from None
    except _Malformed:
        raise  # a duplicate key or NaN, found by the hooks above
    except ValueError:
        # Python reads no integer of more than 4300 digits (sys.get_int_max_str_digits).
        raise _Malformed(N_("a number has too many digits")) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _Malformed(N_("not a %(format)s document", format=FORMAT))
    sig = doc.get("signature")
    if (
        not isinstance(doc.get("certificate"), dict)
        or not isinstance(doc.get("content_hash"), str)
        or not isinstance(sig, dict)
        or not isinstance(sig.get("value"), str)
    ):
        raise _Malformed(N_("certificate, content_hash or signature is missing"))
    if sig.get("algorithm") != signing.ALGORITHM:
        raise _Malformed(N_("signature algorithm must be %(algorithm)s", algorithm=signing.ALGORITHM))
    return doc


def verify(
    raw: bytes, keys: Ed25519PublicKey | dict[str, Ed25519PublicKey]
) -> Verification:
    """Is this file an unaltered certificate signed by the lab? `keys`: the lab's published keys
    by key id (the content names, inside the signed part, the key that signed it), or one key."""
    try:
        doc = parse(raw)
        canonical = signing.canonical(doc["certificate"])
    except (_Malformed, ValueError, TypeError) as exc:  # rfc8785 raises on non-I-JSON values
        # A _Malformed carries its Text; rfc8785's and json's own messages stay as they come.
        problem = exc.args[0] if exc.args and isinstance(exc.args[0], Text) else str(exc)
        return Verification(False, N_("malformed: %(problem)s", problem=problem))
    number = doc["certificate"].get("number")
    number = number if isinstance(number, str) else None
    digest = signing.content_hash(canonical)
    if digest != doc["content_hash"]:
        return Verification(False, N_("content does not match its content_hash"), number, digest)
    signed_kid = doc["certificate"].get("key_id")
    beside_kid = doc["signature"].get("key_id")
    if not all(k is None or isinstance(k, str) for k in (signed_kid, beside_kid)):
        # A key is named by its id, a text; a list or an object names none (and is no dict key).
        return Verification(False, N_("malformed: %(problem)s", problem=N_("key_id is not a text")), number, digest)
    kid = signed_kid or beside_kid  # certificates from before key_id was signed
    if signed_kid and beside_kid not in (None, signed_kid):
        return Verification(
            False, N_("the key_id beside the signature differs from the signed one"), number, digest
        )
    if isinstance(keys, dict):
        public_key = keys.get(kid)
        if public_key is None:
            why = N_("signed with key %(kid)s, which is not among the lab's published keys", kid=kid)
            return Verification(False, why, number, digest)
    else:
        public_key = keys
    if not signing.signature_valid(public_key, canonical, doc["signature"]["value"]):
        if kid and kid != signing.key_id(public_key):
            why = N_(
                "signature does not verify with the lab's public key (signed with key %(kid)s, this key is %(own)s)",
                kid=kid, own=signing.key_id(public_key),
            )
        else:
            why = N_("signature does not verify with the lab's public key")
        return Verification(False, why, number, digest)
    return Verification(True, N_("signature valid"), number, digest, canonical, kid)
