"""The Register-lot form: nothing chosen for the technician, materials said per programme line,
a material the installation's line does not make refused under its field, and the lot page
offers the next step."""

from __future__ import annotations

import re

from tests.web.test_pages import csrf_token, log_in

FORM = {
    "code": "LOT-FORM-1", "installation": "ntk-ext1", "material": "pp", "owner": "polyvorm",
    "production_start": "2026-11-29T08:00", "production_end": "2026-11-29T16:00",
    "input_stream": "post-consumer", "recycled_content_pct": "85", "sample_count": "2", "storage_location": "",
}


def _select(page: str, name: str) -> str:
    return re.search(rf'<select name="{name}".*?</select>', page, re.S).group(0)


def test_the_form_preselects_nothing_and_groups_the_materials_by_line(client, seeded):
    log_in(client, "tech")
    page = client.get("/lab/lots/new").get_data(as_text=True)
    for name in ("installation", "material", "owner"):
        select = _select(page, name)
        assert "required" in select.split(">", 1)[0], name
        assert re.match(rf'<select name="{name}"[^>]*>\s*<option value="" selected>', select), name
        assert select.count(" selected") == 1, name
    materials = _select(page, "material")
    assert re.search(r'<optgroup label="Dutch Circular Textile Valley[^"]*"[^>]*>.*cotton', materials, re.S)
    assert 'data-line="ntk"' in materials and 'data-line="dctv"' in _select(page, "installation")


def test_a_material_of_another_line_is_refused_under_the_material_field(client, seeded):
    log_in(client, "tech")
    token = csrf_token(client, "/lab/lots/new")
    refused = client.post("/lab/lots/new", data=FORM | {"material": "cotton", "csrf_token": token})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert re.search(r'name="material".*?</select></label><p class="field-error" id="error-material">[^<]*not made on the line of ntk-ext1', page, re.S)
    # What was chosen stays chosen for the correction.
    assert re.search(r'<option value="ntk-ext1"[^>]*selected', _select(page, "installation"))


def test_the_new_lot_page_offers_receiving_and_all_labels(client, seeded):
    log_in(client, "tech")
    token = csrf_token(client, "/lab/lots/new")
    made = client.post("/lab/lots/new", data=FORM | {"csrf_token": token})
    assert made.status_code == 302
    lot_page = client.get(made.headers["Location"]).get_data(as_text=True)
    next_step = re.search(r'data-testid="lot-next-step".*?</p>', lot_page, re.S).group(0)
    assert 'href="/lab/receive"' in next_step
    labels_url = re.search(r'href="([^"]*/labels\.pdf)"', next_step).group(1)
    pdf = client.get(labels_url)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf.data)) == 2  # one label per sample
