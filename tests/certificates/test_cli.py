"""`recyclab certificate verify` without a network: the local lab key, and its absence."""

from __future__ import annotations

from click.testing import CliRunner

from lims.certificates import document, signing
from lims.certificates.cli import certificate
from lims.kernel.clock import utcnow


def _signed(key) -> bytes:
    content = {"number": "NTK-COA-2026-000009", "grade": "B"}
    canonical = signing.canonical(content)
    return document.to_bytes(
        document.envelope(
            content, signing.content_hash(canonical), signing.sign(key, canonical), signing.key_id(key.public_key())
        )
    )


def test_verify_with_the_local_lab_key_and_without_one(tmp_path, monkeypatch):
    runner = CliRunner()
    lab_var = tmp_path / "lab-var"
    monkeypatch.setenv("RECYCLAB_VAR_DIR", str(lab_var))
    monkeypatch.delenv("RECYCLAB_SIGNING_KEY_FILE", raising=False)
    file = tmp_path / "c.json"

    # No key here: refused, and verifying did not create one.
    file.write_bytes(_signed(signing.create_key(tmp_path / "elsewhere.pem", utcnow(), "Another lab")))
    missing = runner.invoke(certificate, ["verify", str(file)])
    assert missing.exit_code == 2 and "no lab key" in missing.output
    assert not lab_var.exists()

    key = signing.create_key(lab_var / "keys" / signing.DEFAULT_KEY_NAME, utcnow(), "Lab")
    file.write_bytes(_signed(key))
    valid = runner.invoke(certificate, ["verify", str(file)])
    assert valid.exit_code == 0 and "VALID: NTK-COA-2026-000009" in valid.output

    pem = tmp_path / "lab.pem"
    pem.write_bytes(signing.public_pem(key.public_key()))
    both = runner.invoke(certificate, ["verify", str(file), "--public-key", str(pem), "--url", "http://127.0.0.1:9"])
    assert both.exit_code == 2 and "not both" in both.output
    file.write_bytes(_signed(key).replace(b'"B"', b'"A"'))
    assert runner.invoke(certificate, ["verify", str(file), "--public-key", str(pem)]).exit_code == 1
