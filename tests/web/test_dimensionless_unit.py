"""The dimensionless unit "1" (Colour L*) is not shown as a bare "1" on the pages: the worksheet
has no unit to type for it and the import key table says what it is; the API keeps "1"."""

from __future__ import annotations

import re

from sqlalchemy import select

from lims.kernel.models import Analysis, Sample
from tests.web import seed
from tests.web.test_pages import csrf_token, log_in


def test_the_worksheet_shows_no_unit_for_colour_and_still_submits_it(client, seeded):
    code = seed.lot_with_samples(seeded, 1).sample_codes[0]
    with seeded() as s:
        colour = s.scalar(select(Analysis).join(Sample).where(Sample.code == code, Analysis.method.has(key="colour_l")))
        value = seed.in_spec_value(s, colour)
    log_in(client, "tech")
    sheet = client.get(f"/lab/samples/{code}/worksheet").get_data(as_text=True)
    assert not re.search(rf'<input name="unit-{colour.id}"[^>]*value="1"', sheet)
    assert f'<input type="hidden" name="unit-{colour.id}" value="1">' in sheet
    token = csrf_token(client, f"/lab/samples/{code}/worksheet")
    done = client.post(f"/lab/samples/{code}/worksheet",
                       data={"csrf_token": token, f"value-{colour.id}": value, f"unit-{colour.id}": "1"})
    assert done.status_code == 302
    after = client.get(f"/lab/samples/{code}/worksheet").get_data(as_text=True)
    row = re.search(r"colour_l</code>.*?</tr>", after, re.S).group(0)
    assert "<td>1</td>" not in row and "<td>–</td>" in row
    with seeded() as s:
        assert s.get(Analysis, colour.id).unit == "1"  # stored (and served by the API) as "1"

def test_the_import_key_table_says_dimensionless_instead_of_a_bare_1(client, seeded):
    log_in(client, "tech")
    page = client.get("/lab/import").get_data(as_text=True)
    row = re.search(r"<tr><td><code>colour_l</code>.*?</tr>", page, re.S).group(0)
    assert "<code>1</code></td>" not in row
    assert "dimensionless" in row
