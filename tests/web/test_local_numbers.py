"""Numbers on pages in the reader's locale: a Decimal keeps its digits, a float (a sensor
value on a chart, a model metric) is shown as it is, with no rounding and no grouping."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lims.web.i18n import local_number


@pytest.mark.parametrize(
    ("language", "value", "shown"),
    [
        ("nl", Decimal("0.910"), "0,910"),
        ("en", Decimal("0.910"), "0.910"),
        ("nl", 231.25, "231,25"),
        ("en", 12345.678, "12345.678"),
        ("nl", 3, "3"),
    ],
)
def test_numbers_follow_the_readers_locale(app, language, value, shown):
    with app.test_request_context(headers={"Accept-Language": language}):
        assert local_number(value) == shown
