"""Certificate tests: a lab with reference data, staff and customers, called over the API with
each user's bearer token."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from lims.kernel.models import Sample
from lims.people import accounts as auth
from tests.certificates import support
from tests.support.api_client import API, Caller  # noqa: F401  (API used by tests)

# staff username -> role; customers: username -> organization
STAFF = {"tech": "technician", "reviewer": "reviewer", "admin": "admin"}
CUSTOMERS = {"polyvorm": "polyvorm", "vezelwerk": "vezelwerk", "buyer": "kunststofkringloop"}


@dataclass
class Lab:
    client: FlaskClient
    session_factory: object
    callers: dict[str, Caller] = field(default_factory=dict)

    def as_(self, username: str) -> Caller:
        return self.callers[username]

    def verified_sample(self, lot_code: str, values: dict[str, str] | None = None, **kwargs) -> str:
        """A new sample of the lot, tested and verified through the workflow; returns its code."""
        with self.session_factory.begin() as session:
            users = {u: support.user(session, u) for u in ("tech", "reviewer")}
            lot = support.lot_by_code(session, lot_code)
            sample: Sample = support.verified_sample(
                session, users["tech"], users["reviewer"], lot, values, **kwargs
            )
            return sample.code

    def lot(self, code: str, owner: str = "polyvorm") -> str:
        with self.session_factory.begin() as session:
            support.make_lot(session, support.user(session, "tech"), code, owner)
        return code


@pytest.fixture
def lab(client, session_factory) -> Lab:
    lab = Lab(client, session_factory)
    with session_factory.begin() as session:
        support.seed_reference(session)
        for username, role in STAFF.items():
            support.make_user(session, username, role, "ntk")
        for username, org in CUSTOMERS.items():
            support.make_user(session, username, "customer", org)
        for username in (*STAFF, *CUSTOMERS):
            user = support.user(session, username)
            _, token = auth.create_token(session, user, user, "tests")
            lab.callers[username] = Caller(client, username, token)
    return lab


def ok(response, status: int = 200):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    return response.get_json()


def printed_day(iso: str) -> str:
    """An ISO 8601 day as an English certificate prints it: 2026-12-03 -> 03/12/2026."""
    return re.sub(r"(\d{4})-(\d{2})-(\d{2})", r"\3/\2/\1", iso)


def pdf_text(pdf: bytes, tmp_path: Path, mode: str = "-layout") -> str:
    """The PDF's text as poppler's pdftotext extracts it (pages separated by form feeds);
    mode "-raw" keeps content-stream order, which keeps rotated text together."""
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext missing (Debian package poppler-utils)")
    path = tmp_path / "certificate.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", mode, str(path), "-"], check=True, capture_output=True, text=True, timeout=60
    ).stdout
