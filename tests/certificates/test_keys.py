"""Issue 12: key rotation keeps every older certificate verifiable; a missing key is an error
naming its path, never a new key; offline verification says it cannot know the status; the
verify page takes certificate numbers in any case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select

from lims.audit.service import verify_chain
from lims.certificates import signing
from lims.certificates.cli import certificate, keys
from lims.cli import main
from lims.kernel.models import AuditEvent
from tests.certificates.conftest import ok

LOT = "L-KEYS"


def _upload(client, raw: bytes) -> dict:
    return ok(client.post("/api/v1/public/certificates/verify", data=raw, content_type="application/json"))


def test_rotation_keeps_older_certificates_verifiable(lab, app, client, tmp_path, monkeypatch):
    settings = app.config["RECYCLAB"]
    monkeypatch.setenv("RECYCLAB_VAR_DIR", str(settings.var_dir))
    monkeypatch.delenv("RECYCLAB_SIGNING_KEY_FILE", raising=False)
    reviewer, customer = lab.as_("reviewer"), lab.as_("polyvorm")
    lab.lot(LOT)
    before = ok(reviewer.post("/certificates", json={"sample": lab.verified_sample(LOT)}), 201)
    old_file = customer.get(f"/certificates/{before['id']}.json").data
    assert json.loads(old_file)["certificate"]["key_id"] == before["key_id"]  # inside the signed part

    runner = CliRunner()
    rotated = runner.invoke(keys, ["rotate"])
    assert rotated.exit_code == 0, rotated.output
    after = ok(reviewer.post("/certificates", json={"sample": lab.verified_sample(LOT)}), 201)
    assert after["key_id"] != before["key_id"]

    published = ok(client.get("/.well-known/recyclab-signing-key.json"))["keys"]
    assert [k["kid"] for k in published] == [before["key_id"], after["key_id"]]
    assert published[0]["valid_to"] is not None and published[1]["valid_to"] is None
    assert published[0]["valid_to"] == published[1]["valid_from"]
    listed = runner.invoke(keys, ["list"])
    assert before["key_id"] in listed.output and f"{after['key_id']}" in listed.output and "current" in listed.output
    # Beside each key, the fingerprint of the certificate a customer would trust in a PDF reader.
    for kid in (before["key_id"], after["key_id"]):
        served = x509.load_pem_x509_certificate(client.get(f"/.well-known/recyclab-signing-cert.pem?kid={kid}").data)
        assert served.fingerprint(hashes.SHA256()).hex(":").upper() in listed.output

    assert _upload(client, old_file)["valid"]
    assert _upload(client, customer.get(f"/certificates/{after['id']}.json").data)["valid"]
    old_pem = client.get(f"/.well-known/recyclab-signing-key.pem?kid={before['key_id']}")
    assert signing.key_id(signing.load_public_pem(old_pem.data)) == before["key_id"]
    # The key_id beside the signature cannot point elsewhere than the signed one.
    swapped = old_file.replace(f'"key_id": "{before["key_id"]}",\n    "value"'.encode(), f'"key_id": "{after["key_id"]}",\n    "value"'.encode())
    assert swapped != old_file and not _upload(client, swapped)["valid"]
    # Offline, against the lab's local key set, the old file verifies too.
    file = tmp_path / "old.json"
    file.write_bytes(old_file)
    assert runner.invoke(certificate, ["verify", str(file)]).exit_code == 0


def test_a_missing_key_is_an_error_naming_the_path_not_a_new_key(lab, app, client, monkeypatch):
    settings = app.config["RECYCLAB"]
    path = signing.key_path(settings)
    path.unlink()
    lab.lot(LOT)
    refused = lab.as_("reviewer").post("/certificates", json={"sample": lab.verified_sample(LOT)})
    assert refused.status_code == 503 and "signing key" in refused.get_json()["message"]
    assert str(path) not in refused.get_data(as_text=True)  # the path is for the log only
    assert client.get("/.well-known/recyclab-signing-key.pem").status_code == 503
    assert client.get("/.well-known/recyclab-signing-key.json").status_code == 503
    assert client.get("/.well-known/recyclab-signing-cert.pem").status_code == 503
    assert not path.exists()

    monkeypatch.setenv("RECYCLAB_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("RECYCLAB_DATABASE_URL", settings.database_url)
    monkeypatch.delenv("RECYCLAB_SIGNING_KEY_FILE", raising=False)
    monkeypatch.setenv("RECYCLAB_SECRET_KEY", "k" * 64)  # so the signing key is what it refuses
    web = CliRunner().invoke(main, ["web", "--port", "9"])
    assert web.exit_code == 2 and str(path) in web.output
    assert not path.exists()
    created = CliRunner().invoke(keys, ["create"])
    assert created.exit_code == 0 and path.exists()
    assert CliRunner().invoke(keys, ["create"]).exit_code == 2  # never replaced


def test_offline_verify_says_it_cannot_know_the_status(lab, app, tmp_path, monkeypatch):
    settings = app.config["RECYCLAB"]
    monkeypatch.setenv("RECYCLAB_VAR_DIR", str(settings.var_dir))
    monkeypatch.delenv("RECYCLAB_SIGNING_KEY_FILE", raising=False)
    lab.lot(LOT)
    code = lab.verified_sample(LOT)
    reviewer = lab.as_("reviewer")
    cert = ok(reviewer.post("/certificates", json={"sample": code}), 201)
    file = tmp_path / "c.json"
    file.write_bytes(lab.as_("polyvorm").get(f"/certificates/{cert['id']}.json").data)
    ok(reviewer.post(f"/samples/{code}/invalidate", json={"reason": "wrong bag"}))
    offline = CliRunner().invoke(certificate, ["verify", str(file)])
    assert offline.exit_code == 0
    assert "VALID:" not in offline.output.replace("SIGNATURE VALID:", "")
    assert "STATUS UNKNOWN" in offline.output and "withdrawn" in offline.output
    assert f"recyclab certificate verify {file} --url" in offline.output


def test_certificate_numbers_are_case_insensitive_on_verify(lab, client):
    lab.lot(LOT)
    cert = ok(lab.as_("reviewer").post("/certificates", json={"sample": lab.verified_sample(LOT)}), 201)
    lower = cert["number"].lower()
    page = client.get(f"/verify/{lower}?hash={cert['content_hash']}")
    assert page.status_code == 200 and cert["number"] in page.get_data(as_text=True)
    assert ok(client.get(f"/api/v1/public/certificates/{lower}"))["number"] == cert["number"]


def _key_commands_on(monkeypatch, var_dir: Path, database_url: str) -> None:
    """`recyclab keys` as the operator qa-anna runs it on the server, with the lab's settings."""
    monkeypatch.setenv("RECYCLAB_VAR_DIR", str(var_dir))
    monkeypatch.setenv("RECYCLAB_DATABASE_URL", database_url)
    monkeypatch.delenv("RECYCLAB_SIGNING_KEY_FILE", raising=False)
    monkeypatch.setenv("LOGNAME", "qa-anna")


@pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)
def test_creating_and_rotating_the_signing_key_is_in_the_audit_trail_under_the_operator(app, session_factory, monkeypatch):
    """An auditor asks who changed the key certificates are signed with, and when: the trail
    names the operating-system account that ran `recyclab keys`, and the old and new key ids."""
    settings = app.config["RECYCLAB"]
    _key_commands_on(monkeypatch, settings.var_dir, settings.database_url)
    signing.key_path(settings).unlink()
    created = CliRunner().invoke(keys, ["create"])
    assert created.exit_code == 0, created.output
    first = signing.key_id(signing.load_key(signing.key_path(settings)).public_key())
    rotated = CliRunner().invoke(keys, ["rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert "audit" not in rotated.output
    second = signing.key_id(signing.load_key(signing.key_path(settings)).public_key())

    with session_factory() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.entity_type == "signing_key").order_by(AuditEvent.seq)).all()
        assert [(e.action, e.actor, e.actor_id, e.entity_id, e.before, e.after) for e in events] == [
            ("signing_key.create", "qa-anna (command line)", None, first, None, {"key_id": first}),
            ("signing_key.rotate", "qa-anna (command line)", None, second, {"key_id": first}, {"key_id": second}),
        ]
        assert verify_chain(s).ok


def test_without_a_usable_database_the_key_still_rotates_and_one_line_says_the_trail_was_not_written(app, tmp_path, monkeypatch):
    """The signing keys are files: `recyclab keys create` runs before the database exists (the
    container's first start), and a rotation must not wait for a database that is down. The
    operator reads, in one line, that the audit trail was not written and why."""
    settings = app.config["RECYCLAB"]
    path = signing.key_path(settings)
    not_yet = tmp_path / "not-yet" / "lims.db"
    empty = tmp_path / "empty.db"
    empty.touch()
    for url, why in [
        (f"sqlite:///{not_yet}", f"no database at {not_yet} yet"),
        (f"sqlite:///{empty}", "recyclab db upgrade"),
        ("postgresql+psycopg://recyclab@127.0.0.1:1/lims", "cannot be used"),
    ]:
        _key_commands_on(monkeypatch, settings.var_dir, url)
        path.unlink()
        for command in ("create", "rotate"):
            before = path.exists() and signing.key_id(signing.load_key(path).public_key())
            result = CliRunner().invoke(keys, [command])
            assert result.exit_code == 0 and result.exception is None, (url, result.output)
            assert signing.key_id(signing.load_key(path).public_key()) != before
            (said,) = [line for line in result.output.splitlines() if "audit" in line]
            assert said.startswith("audit trail not written: ") and why in said, (url, said)
            assert "Traceback" not in result.output
        assert not not_yet.exists()  # no database made by the way
