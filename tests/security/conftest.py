"""Security tests reuse the LIMS fixtures: a seeded database and callers acting as demo users."""

from tests.lims.conftest import cheap_argon2, lab, seeded  # noqa: F401
