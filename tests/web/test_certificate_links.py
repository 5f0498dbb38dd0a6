"""Certificates are found as people remember them and reached from where the work happens
(issue 16, item 8): search in any case and by part of the lot or grade; the certify message
and the certified sample link to the certificate."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lims.kernel.models import Sample
from tests.web import seed
from tests.web.test_pages import csrf_token, log_in

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)


def verified_sample(session_factory) -> tuple[seed.LotSeed, str]:
    lot = seed.lot_with_samples(session_factory, 1)
    code = lot.sample_codes[0]
    seed.submit_all(session_factory, code)
    seed.verify_all(session_factory, code)
    return lot, code


def test_certify_links_to_the_certificate_and_the_sample_keeps_the_link(client, seeded):
    lot, code = verified_sample(seeded)
    log_in(client, "reviewer")
    certified = client.post(f"/review/samples/{code}/certify", data={"csrf_token": csrf_token(client, "/review/")},
                            follow_redirects=True)
    page = certified.get_data(as_text=True)
    link = re.search(r'Certificate <a href="(/certificates/\?q=([^"]+))">([^<]+)</a> issued for ' + code, page)
    assert link, page
    number = link.group(3)
    assert number in client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    sample_page = client.get(f"/lab/samples/{code}").get_data(as_text=True)
    shown = re.search(r'data-testid="certificates">(.*?)</dd>', sample_page, re.S).group(1)
    assert number in shown and re.search(r'href="/api/v1/certificates/\d+\.pdf"', shown)
    with seeded() as s:
        assert s.scalar(select(Sample.state).where(Sample.code == code)) == "certified"


def test_certificate_search_ignores_case_and_matches_part_of_lot_and_grade(app, client, seeded):
    from lims.certificates import issuing as certificates

    lot, code = verified_sample(seeded)
    with seeded.begin() as s:
        sample = s.scalar(select(Sample).where(Sample.code == code))
        cert = certificates.issue_for_sample(s, certificates.Issuer.from_settings(app.config["RECYCLAB"]), seed.user(s, "reviewer"), sample)
        number, grade = cert.number, cert.grade
    log_in(client, "tech")

    def found(**args) -> list[str]:
        return re.findall(r'data-certificate="([^"]+)"', client.get("/certificates/", query_string=args).get_data(as_text=True))

    assert found(q=number.lower()) == [number]
    assert found(lot=lot.lot_code[-6:].lower()) == [number]
    assert found(grade=grade.lower()) == [number]
    assert found(lot="no-such-lot") == []
