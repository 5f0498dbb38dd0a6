"""An empty list says what comes next: a manufacturer with no certificate yet learns when they
appear, a search that finds nothing offers the way back to the whole list."""

from __future__ import annotations

from tests.web.test_pages import log_in

DUTCH = "nl-NL,nl;q=0.9"


def test_an_empty_certificate_list_says_when_certificates_appear_or_how_to_see_them_all(client, seeded):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = DUTCH
    log_in(client, "vezelwerk")
    fresh = client.get("/certificates/").get_data(as_text=True)
    assert "Nog geen certificaten: de certificaten van het laboratorium voor Vezelwerk Textiles B.V." in fresh
    searched = client.get("/certificates/?q=NTK-COA-1999").get_data(as_text=True)
    assert "Geen certificaten gevonden." in searched
    assert '<a href="/certificates/">Alle certificaten tonen</a>' in searched
