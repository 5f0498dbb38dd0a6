"""The signed certificate file: any input is judged without crashing, and no edit that changes
what the certificate says survives verification."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lims.certificates import document, signing
from lims.kernel.clock import utcnow

CONTENT = {
    "schema": "recyclab-coa/1",
    "number": "NTK-COA-2026-000007",
    "customer": {"name": "Polyvorm Spuitgiettechniek B.V.", "address": "Industrieweg 14, Almelo"},
    "results": [
        {"property": "mfr", "value": "12.00", "unit": "g/10 min", "uncertainty": "0.60"},
        {"property": "density", "value": "0.905", "unit": "g/cm³", "uncertainty": "0.002"},
    ],
    "grade": "A",
    "remark": "The results relate only to the items tested.",
    "revision": 0,
    "replaces": None,
}


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    return signing.create_key(tmp_path_factory.mktemp("key") / "lab.pem", utcnow(), "Lab")


def signed_file(key, content: dict = CONTENT) -> bytes:
    canonical = signing.canonical(content)
    return document.to_bytes(
        document.envelope(
            content, signing.content_hash(canonical), signing.sign(key, canonical), signing.key_id(key.public_key())
        )
    )


def test_canonical_form_is_rfc8785():
    # Sorted keys, no whitespace, UTF-8 kept as is (RFC 8785 3.2).
    assert signing.canonical({"b": 1, "a": ["é", None, True]}) == '{"a":["é",null,true],"b":1}'.encode()


def test_a_re_indented_file_still_verifies(key):
    raw = signed_file(key)
    reformatted = json.dumps(json.loads(raw), separators=(",", ":"), sort_keys=True).encode()
    assert document.verify(raw, key.public_key()).valid
    assert document.verify(reformatted, key.public_key()).valid


def test_a_file_saved_again_by_a_windows_editor_still_verifies(key):
    """Notepad saves UTF-8 with a byte order mark and CRLF line ends: the signed content is the
    same, so the file is as genuine as it came; before, the BOM made it 'malformed: not JSON'."""
    raw = signed_file(key)
    saved_by_notepad = b"\xef\xbb\xbf" + raw.replace(b"\n", b"\r\n")
    result = document.verify(saved_by_notepad, key.public_key())
    assert result.valid, result.reason
    assert result.canonical == signing.canonical(CONTENT)
    # Only one mark at the very start: elsewhere it is not layout.
    assert not document.verify(b"\xef\xbb\xbf" + saved_by_notepad, key.public_key()).valid


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_single_byte_change_either_fails_or_leaves_the_content_unchanged(key, data):
    raw = signed_file(key)
    position = data.draw(st.integers(0, len(raw) - 1))
    replacement = data.draw(st.integers(0, 255).filter(lambda b: b != raw[position]))
    changed = raw[:position] + bytes([replacement]) + raw[position + 1 :]
    result = document.verify(changed, key.public_key())
    if result.valid:  # only layout may change: the signed content is byte for byte the same
        assert result.canonical == signing.canonical(CONTENT)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000) | st.text(max_size=500).map(str.encode))
def test_arbitrary_input_is_judged_invalid_without_an_exception(key, raw):
    assert not document.verify(raw, key.public_key()).valid


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=20,
    )
)
def test_any_json_content_round_trips_through_the_file(key, value):
    content = {"number": "X-1", "payload": value}
    assert document.verify(signed_file(key, content), key.public_key()).valid


def test_duplicate_keys_and_non_json_numbers_are_refused(key):
    raw = signed_file(key).decode()
    duplicated = raw.replace('"grade": "A"', '"grade": "A", "grade": "A"', 1)
    assert "duplicate key" in document.verify(duplicated.encode(), key.public_key()).reason
    nan = raw.replace('"revision": 0', '"revision": NaN', 1)
    assert not document.verify(nan.encode(), key.public_key()).valid


def test_the_key_file_is_created_private_and_never_replaced(tmp_path: Path):
    path = tmp_path / "keys" / "lab.pem"
    first = signing.create_key(path, utcnow(), "Lab")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(FileExistsError):
        signing.create_key(path, utcnow(), "Lab")
    assert signing.key_id(signing.load_key(path).public_key()) == signing.key_id(first.public_key())
    # No temporary file left; the key set beside it publishes the key.
    assert sorted(p.name for p in path.parent.iterdir()) == ["lab.pem", "signing-keys.json"]
