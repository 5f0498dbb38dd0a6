"""A login's time does not tell which usernames exist: an unknown username costs the same
password hashing (argon2id, the bulk of a login's time) as a known one with a wrong password."""

from __future__ import annotations

from argon2 import PasswordHasher, profiles

from tests.support.api_client import API


class CountingHasher(PasswordHasher):
    """The real hasher, counting the verifications it runs."""

    verified = 0

    def verify(self, hash, password):  # noqa: A002 - argon2's name
        CountingHasher.verified += 1
        return super().verify(hash, password)


def _verifications(client, username: str) -> int:
    before = CountingHasher.verified
    answer = client.post(f"{API}/auth/login", json={"username": username, "password": "wrong-password"})
    assert answer.status_code == 401
    return CountingHasher.verified - before


def test_an_unknown_username_costs_a_password_check_like_a_known_one(client, seeded, monkeypatch):
    monkeypatch.setattr("lims.people.accounts._hasher", CountingHasher.from_parameters(profiles.CHEAPEST))
    assert _verifications(client, "tech") == 1
    assert _verifications(client, "no-such-user") == 1
