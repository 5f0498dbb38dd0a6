"""Sorting the list pages by a column header: a link (keyboard, screen reader told the order),
a second click reverses, the filters and the sort stay together across pages."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from lims.kernel.models import Sample
from tests.web import seed
from tests.web.test_lot_list import lot_codes
from tests.web.test_pages import log_in

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)


def header_link(page: str, label: str) -> tuple[str, str | None]:
    """The href of a column header's link and the header's aria-sort."""
    found = re.search(rf'<th([^>]*)><a href="([^"]+)">{label}\b', page)
    assert found, f"no sorting link on the {label} header"
    aria = re.search(r'aria-sort="(\w+)"', found.group(1))
    return html.unescape(found.group(2)), aria.group(1) if aria else None


def sample_codes(page: str) -> list[str]:
    return re.findall(r'href="/lab/samples/([A-Z0-9-]+)"', page)


def test_a_sample_header_sorts_keeps_the_filters_and_the_next_page_keeps_the_sort(client, seeded, monkeypatch):
    monkeypatch.setattr("lims.samples.pages.lab.PAGE_SIZE", 2)
    received = seed.lot_with_samples(seeded, 3).sample_codes
    seed.lot_with_samples(seeded, 1, receive=False)
    log_in(client, "tech")
    page = client.get("/lab/samples?state=received").get_data(as_text=True)
    href, aria = header_link(page, "Sample ID")
    assert aria is None and "state=received" in href and "sort=sample_id" in href
    first = client.get(href).get_data(as_text=True)
    assert sample_codes(first) == sorted(received)[:2]
    again, aria = header_link(first, "Sample ID")
    assert aria == "ascending" and "sort=-sample_id" in again
    older = re.search(r'<p class="pager"><a href="([^"]+)"', first).group(1)
    second = client.get(html.unescape(older)).get_data(as_text=True)
    assert sample_codes(second) == sorted(received)[2:]
    reversed_ = client.get(again).get_data(as_text=True)
    assert sample_codes(reversed_) == sorted(received, reverse=True)[:2]
    assert header_link(reversed_, "Sample ID")[1] == "descending"
    # Filtering again keeps the order chosen.
    assert '<input type="hidden" name="sort" value="-sample_id">' in reversed_
    assert client.get("/lab/samples?sort=password").status_code == 422


def test_a_lot_header_sorts_and_keeps_the_filters(client, seeded):
    lots = [seed.lot_with_samples(seeded, 1).lot_code for _ in range(3)]
    log_in(client, "engineer")
    page = client.get("/lots/?material=pp").get_data(as_text=True)
    assert header_link(page, "Production")[1] == "descending"  # the default: newest first
    href, _ = header_link(page, "Lot")
    assert "material=pp" in href and "sort=code" in href
    assert lot_codes(client.get(href).get_data(as_text=True)) == sorted(lots)
    href, _ = header_link(client.get(href).get_data(as_text=True), "Lot")
    by_code = client.get(href).get_data(as_text=True)
    assert lot_codes(by_code) == sorted(lots, reverse=True)
    assert '<input type="hidden" name="sort" value="-code">' in by_code


def test_a_customer_sorts_its_certificates_by_number_keeping_the_filters(app, client, seeded):
    from lims.certificates import issuing
    from tests.web.test_certificate_links import verified_sample

    codes = [verified_sample(seeded)[1] for _ in range(2)]
    with seeded.begin() as s:
        issuer = issuing.Issuer.from_settings(app.config["RECYCLAB"])
        samples = s.scalars(select(Sample).where(Sample.code.in_(codes))).all()
        numbers = sorted(issuing.issue_for_sample(s, issuer, seed.user(s, "reviewer"), sample).number for sample in samples)
    log_in(client, "polyvorm")
    page = client.get("/certificates/?status=valid").get_data(as_text=True)
    assert header_link(page, "Issued")[1] == "descending"
    href, _ = header_link(page, "Number")
    assert "status=valid" in href
    ascending = client.get(href).get_data(as_text=True)
    assert certificate_numbers(ascending) == numbers
    descending = client.get(header_link(ascending, "Number")[0]).get_data(as_text=True)
    assert certificate_numbers(descending) == numbers[::-1]
    assert '<input type="hidden" name="sort" value="-number">' in descending
    assert client.get("/certificates/?sort=owner").status_code == 422


def certificate_numbers(page: str) -> list[str]:
    return re.findall(r'data-certificate="([^"]+)"', page)
