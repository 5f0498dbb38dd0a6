"""Page tests log in a lot; they use a cheap argon2 setting so seeding users takes milliseconds.
(The production parameters are covered by the LIMS auth tests.)"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from lims.people import accounts as auth
from tests.web import seed


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def seeded(session_factory):
    """The reference data, the demo organizations and users with their passwords."""
    seed.seed_reference(session_factory)
    return session_factory
