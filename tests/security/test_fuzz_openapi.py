"""Item 5: schemathesis fuzzes every operation of the published OpenAPI, as an admin with a
token and anonymously; no input may produce a 5xx. Fixed seed and a bounded number of cases
per operation, so the run is repeatable and takes a minute or two."""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings

from lims.web import limits
from tests.support.api_client import API

CASES_PER_OPERATION = 20
SEED = 14


def _fuzz(operation, headers: dict[str, str], tally: Counter, server_errors: list) -> None:
    @seed(SEED)
    @settings(
        max_examples=CASES_PER_OPERATION,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(case=operation.as_strategy())
    def run(case) -> None:
        response = case.call(headers=headers)
        tally["cases"] += 1
        if response.status_code >= 500:
            server_errors.append(f"{case.method} {case.formatted_path} -> {response.status_code}:"
                                 f" {case.as_curl_command()}")

    run()


@pytest.mark.slow
def test_no_input_makes_the_api_answer_5xx(app, lab, monkeypatch):
    # Every case comes from one address: the public rate limit would answer most with 429.
    monkeypatch.setattr(limits, "PUBLIC_REQUESTS", 10**6)
    admin = lab.as_("admin")
    schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", app)
    tally: Counter = Counter()
    server_errors: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        _fuzz(operation, {"Authorization": f"Bearer {admin.token}"}, tally, server_errors)
        _fuzz(operation, {}, tally, server_errors)
    print(f"schemathesis: {tally['cases']} cases, {len(server_errors)} 5xx")
    assert tally["cases"] > 1000
    assert server_errors == [], "\n".join(server_errors[:20])
