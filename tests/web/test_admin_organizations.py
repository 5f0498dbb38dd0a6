"""An administrator sets the language an organization's certificates are printed in on an
organizations page (list and edit), through the same service as the organizations API: each
change in the audit trail, a bad value refused under its field with nothing saved."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lims.kernel.errors import InputError
from lims.kernel.models import AuditEvent, Organization
from lims.people import accounts
from tests.web import seed
from tests.web.test_pages import csrf_token, log_in

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)

EDIT = "/admin/organizations/kunststofkringloop"


def _seeded(session_factory):
    seed.seed_reference(session_factory)  # config/organizations.toml: kunststofkringloop is "nl"
    return session_factory


def _language(session_factory, key: str) -> str:
    with session_factory() as s:
        return s.scalar(select(Organization.language).where(Organization.key == key))


def test_an_admin_sets_a_customers_certificate_language_on_the_organizations_page(client, session_factory):
    seeded = _seeded(session_factory)
    log_in(client, "tech")
    assert client.get("/admin/organizations").status_code == 403
    assert client.post(EDIT, data={"language": "en", "csrf_token": csrf_token(client, "/lab/samples")}).status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/lab/samples")})

    log_in(client, "admin")
    listed = client.get("/admin/organizations").get_data(as_text=True)
    row = re.search(r'<tr data-organization="kunststofkringloop">.*?</tr>', listed, re.S).group(0)
    assert "Kunststofkringloop Nederland B.V." in row and "Dutch" in row and f'href="{EDIT}"' in row
    assert 'href="/admin/organizations"' in client.get("/admin/users").get_data(as_text=True)

    form = client.get(EDIT).get_data(as_text=True)
    assert re.search(r'<option value="nl" selected>Dutch</option>', form)
    token = csrf_token(client, EDIT)
    bad = client.post(EDIT, data={"csrf_token": token, "name": "Kunststofkringloop Nederland B.V.", "address": "Havenweg 88",
                                  "language": "fr"})
    assert bad.status_code == 422
    refused = bad.get_data(as_text=True)
    assert re.search(r'name="language".*?</select></label><p class="field-error" id="error-language">must be one of en, nl</p>', refused, re.S)
    assert 'value="Havenweg 88"' in refused  # what was typed stays
    assert _language(seeded, "kunststofkringloop") == "nl"
    no_name = client.post(EDIT, data={"csrf_token": token, "name": " ", "address": "", "language": "en"})
    assert no_name.status_code == 422 and re.search(r'name="name"[^>]*></label><p class="field-error" id="error-name">', no_name.get_data(as_text=True))
    assert _language(seeded, "kunststofkringloop") == "nl"

    saved = client.post(EDIT, data={"csrf_token": token, "name": "Kunststofkringloop Nederland B.V.",
                                    "address": "Havenweg 88, 3198 LD Rotterdam-Europoort, Nederland", "language": "en"})
    assert saved.status_code == 302 and saved.headers["Location"] == "/admin/organizations"
    assert "printed in English" in client.get("/admin/organizations").get_data(as_text=True)
    assert _language(seeded, "kunststofkringloop") == "en"
    with seeded() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "organization.update")).one()
        assert (event.actor, event.entity_id) == ("admin", "kunststofkringloop")
        assert (event.before["language"], event.after["language"]) == ("nl", "en")

    assert client.get("/admin/organizations/no-such-org").status_code == 404

    # A Dutch administrator gets the page, and the refusal, in Dutch.
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "nl-NL,nl;q=0.9"
    dutch = client.post(EDIT, data={"csrf_token": csrf_token(client, EDIT), "name": "K", "address": "", "language": "fr"})
    page = dutch.get_data(as_text=True)
    assert dutch.status_code == 422 and "Certificaattaal" in page and "moet een van de volgende zijn: en, nl" in page
    assert '<option value="en" selected>Engels</option>' not in page  # what was typed (fr) is what is chosen
    assert "Engels" in page and "Nederlands" in page


def test_the_organizations_api_and_the_page_share_one_rule_for_the_language(client, session_factory):
    seeded = _seeded(session_factory)
    with seeded.begin() as s:
        admin = seed.user(s, "admin")
        org = accounts.get_org(s, "polyvorm")
        with pytest.raises(InputError) as refused:
            accounts.update_organization(s, admin, org, {"language": "de"})
        assert refused.value.errors == {"language": ["must be one of en, nl"]}
        _, token = accounts.create_token(s, admin, admin, "tests")
    answer = client.patch(
        "/api/v1/organizations/polyvorm", json={"language": "de"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 422 and "language" in answer.get_json()["errors"]["json"]
    assert _language(seeded, "polyvorm") == "en"
    ok = client.patch(
        "/api/v1/organizations/polyvorm", json={"language": "nl"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert ok.status_code == 200 and ok.get_json()["language"] == "nl"
    assert _language(seeded, "polyvorm") == "nl"
