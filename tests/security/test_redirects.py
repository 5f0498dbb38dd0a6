"""?next= after login and the language switch's return address stay on this site, also in the
spellings a browser reads as another host: a backslash counts as a slash, and tabs and newlines
inside a URL are dropped (WHATWG URL standard). A guard: the check of the address refuses the
last two, Werkzeug's percent-encoding of the Location header defuses the first."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest

from tests.web.seed import PASSWORDS
from tests.web.test_pages import csrf_token, log_in

# Each of these, sent as it is in a Location header, takes Chromium and Firefox to evil.example.
OFF_SITE = ["/\\evil.example/x", "/\\/evil.example", "\\\\evil.example", "/\t/evil.example", "/\n/evil.example"]


SITE = "http://localhost"


def _host_a_browser_goes_to(location: str) -> str:
    as_read = location.replace("\\", "/").replace("\t", "").replace("\n", "")
    return urlsplit(urljoin(SITE + "/login", as_read)).netloc


@pytest.mark.parametrize("target", OFF_SITE)
def test_login_stays_on_this_site(client, seeded, target):
    response = client.post(
        "/login", query_string={"next": target},
        data={"username": "tech", "password": PASSWORDS["tech"], "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 302 and _host_a_browser_goes_to(response.headers["Location"]) == "localhost"


@pytest.mark.parametrize("target", OFF_SITE)
def test_the_language_switch_stays_on_this_site(client, seeded, target):
    response = client.post("/lang", data={"lang": "nl", "next": target, "csrf_token": csrf_token(client)})
    assert response.status_code == 302 and _host_a_browser_goes_to(response.headers["Location"]) == "localhost"


def test_a_path_on_this_site_is_followed(client, seeded):
    log_in(client, "tech")
    response = client.post("/lang", data={"lang": "en", "next": "/lots/?q=a%20b", "csrf_token": csrf_token(client, "/lots/")})
    assert response.headers["Location"] == "/lots/?q=a%20b"
