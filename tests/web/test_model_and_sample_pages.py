"""Issue 16 defects: the model page showed a lot's lab grade only after the lot was predicted
again; on a certified sample's page every reason field was labelled just "Reason"."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from analytics.predict import agreement_report
from tests.web import seed
from tests.web.test_lot_list import grade, predict
from tests.web.test_pages import _certify, log_in

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)


def test_the_model_page_shows_a_lab_grade_given_after_the_prediction(client, seeded):
    lot = seed.lot_with_samples(seeded, 1)
    predict(seeded, lot.lot_id, "A")  # registration predicts; the lab grades days later
    grade(seeded, lot.sample_codes[0], "B")
    log_in(client, "engineer")
    page = client.get("/models/grade-t").get_data(as_text=True)
    row = re.search(rf"<tr><td><a [^>]*>{lot.lot_code}</a></td>.*?</tr>", page, re.S).group(0)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert re.search(r">B<|^B\b", cells[2].strip()), cells  # the lab grade, beside the predicted A
    assert "✗" in cells[2]
    assert "No prediction of this version has a lab grade yet." not in page


def test_a_lot_predicted_again_counts_once_against_its_lab_grade(client, seeded):
    """'Predict again now' (or a second registration-time prediction) added a second row for the
    same lot: the model page's predicted-against-lab table and `recyclab model agreement` counted
    the lot twice, its earlier answer too, so one lot the model got right after late process
    data came in showed as one hit and one miss."""
    lot = seed.lot_with_samples(seeded, 1)
    predict(seeded, lot.lot_id, "A")
    predict(seeded, lot.lot_id, "B")  # asked again: the answer that stands
    grade(seeded, lot.sample_codes[0], "B")
    log_in(client, "engineer")
    page = client.get("/models/grade-t").get_data(as_text=True)
    table = page[page.index("Predicted against lab grade"):].split("</table>")[0]
    counts = {lab: [int(n) for n in re.findall(r"<td>(\d+)</td>", cells)]
              for lab, cells in re.findall(r"<tr><th>(\w+)</th>(.*?)</tr>", table, re.S)}
    assert counts == {"A": [0, 0], "B": [0, 1]}, counts  # rows lab A, B; columns predicted A, B
    with seeded.begin() as s:
        (report,) = agreement_report(s)
    assert (report["with_lab_grade"], report["agreement"]) == (1, 1.0)


class _Labels(HTMLParser):
    """The text of every <label for=...> and the ids of the reason inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.labels: dict[str, str] = {}
        self.reason_ids: list[str | None] = []
        self._open: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "label":
            self._open = attrs.get("for") or ""
            self.labels.setdefault(self._open, "")
        elif tag == "input" and attrs.get("name") == "reason":
            self.reason_ids.append(attrs.get("id"))

    def handle_endtag(self, tag):
        if tag == "label":
            self._open = None

    def handle_data(self, data):
        if self._open is not None:
            self.labels[self._open] += data


def test_each_reason_field_of_a_certified_sample_has_its_own_label(app, client, seeded):
    code = seed.lot_with_samples(seeded, 1).sample_codes[0]
    _certify(app, seeded, code)
    log_in(client, "reviewer")
    parser = _Labels()
    parser.feed(client.get(f"/lab/samples/{code}").get_data(as_text=True))
    assert len(parser.reason_ids) == 3, parser.reason_ids  # amend, reopen, invalidate
    texts = [" ".join(parser.labels.get(i or "", "").split()) for i in parser.reason_ids]
    assert all(texts) and len(set(texts)) == 3, texts
    assert {"Reason for amendment", "Reason for reopening", "Reason for invalidation"} == set(texts)
