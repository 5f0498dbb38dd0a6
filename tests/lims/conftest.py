"""LIMS test helpers: a seeded database and API clients acting as the demo users."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from lims.kernel.models import User
from lims.people.accounts import create_token
from tests.support.api_client import API, Caller  # noqa: F401  (API used by tests)
from tests.support.seeding import seed_reference


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch) -> None:
    """Real argon2id, with the library's cheapest parameters: production's cost (~0.3 s a
    hash here) would make every seeded test seconds slower and test nothing more."""
    from argon2 import PasswordHasher, profiles

    monkeypatch.setattr("lims.people.accounts._hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def seeded(session_factory) -> None:
    with session_factory.begin() as session:
        seed_reference(session)


@dataclass
class Lab:
    client: FlaskClient
    session_factory: object
    _callers: dict[str, Caller] = field(default_factory=dict)

    def as_(self, username: str) -> Caller:
        if username not in self._callers:
            with self.session_factory.begin() as session:
                user = session.scalar(select(User).where(User.username == username))
                _, token = create_token(session, user, user, "tests")
            self._callers[username] = Caller(self.client, username, token)
        return self._callers[username]


@pytest.fixture
def lab(client, seeded, session_factory) -> Lab:
    return Lab(client, session_factory)


def ok(response, status: int = 200):
    """The JSON of a response that must have this status (the body is shown when it has not)."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    return response.get_json()


PP_LOT = {
    "code": "L-EXT1-2026-0042",
    "installation": "ntk-ext1",
    "material": "pp",
    "owner": "polyvorm",
    "production_start": "2026-03-02T06:00:00+01:00",
    "production_end": "2026-03-02T14:00:00+01:00",
    "input_stream": "post-consumer",
    "source": "PMD household packaging, Tilburg sorting plant, PP fraction",
    "recycled_content_pct": "100",
}


def register(caller: Caller, lot: dict | None = PP_LOT, receive: bool = True, **sample) -> dict:
    """A lot (created once) and one sample on it, received unless told otherwise; its detail."""
    if lot is not None:
        if caller.get(f"/lots?q={lot['code']}").get_json() == []:
            ok(caller.post("/lots", json=lot), 201)
        sample.setdefault("lot", lot["code"])
    code = ok(caller.post("/samples", json=sample), 201)["sample_id"]
    if receive:
        ok(caller.post(f"/samples/{code}/receive", json={}))
    return ok(caller.get(f"/samples/{code}"))


def analyses_by_method(sample: dict) -> dict[str, int]:
    return {a["method"]: a["id"] for a in sample["analyses"] if a["state"] != "retracted"}
