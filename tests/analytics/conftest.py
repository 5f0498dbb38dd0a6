"""Analytics test helpers: a seeded LIMS and cheap password hashing for the seeded users."""

from __future__ import annotations

import pytest

from lims.kernel.settings import config_dir
from lims.seed import seed_all


@pytest.fixture
def cheap_argon2(monkeypatch) -> None:
    """Real argon2id with the library's cheapest parameters (seeding hashes demo passwords)."""
    from argon2 import PasswordHasher, profiles

    monkeypatch.setattr("lims.people.accounts._hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def seeded(session_factory, cheap_argon2) -> None:
    with session_factory.begin() as session:
        seed_all(session, config_dir())


@pytest.fixture
def lab(client, seeded, session_factory):
    """API clients acting as the seeded demo users (the LIMS tests' helper)."""
    from tests.lims.conftest import Lab

    return Lab(client, session_factory)


@pytest.fixture(autouse=True)
def one_openmp_thread():
    """Boosting on one OpenMP thread: the test machines' cores are shared, and threads spinning
    against other processes made a 1 s fit take 12 s."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        yield
