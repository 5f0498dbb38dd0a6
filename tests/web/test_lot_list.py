"""The lot list (issue 16, item 4): search and filters, paging, one query per page however many
lots it shows, and the links that lead to it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lims.kernel.clock import utcnow
from lims.kernel.models import Lot, Sample
from lims.kernel.models.analytics import ModelVersion, Prediction
from tests.web import seed
from tests.web.test_pages import _count_queries, csrf_token, log_in

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)


def predict(session_factory, lot_id: int, grade: str, version: str = "grade-t") -> None:
    now = utcnow()
    with session_factory.begin() as s:
        mv = s.scalar(select(ModelVersion).where(ModelVersion.version == version))
        if mv is None:
            mv = ModelVersion(
                version=version, status="production", metrics={}, train_start=now, train_end=now,
                n_train=1, n_test=0, features=[], feature_ranges={}, reference={}, classes=["A", "B"],
                artifact_path="-", artifact_sha256="0" * 64,
            )
            s.add(mv)
            s.flush()
        s.add(Prediction(lot_id=lot_id, model_version_id=mv.id, predicted_grade=grade,
                         probabilities={grade: 0.8}, top_features=[]))


def grade(session_factory, code: str, value: str, state: str = "certified") -> None:
    with session_factory.begin() as s:
        sample = s.scalar(select(Sample).where(Sample.code == code))
        sample.grade, sample.graded_at, sample.state = value, utcnow(), state


def lot_codes(page: str) -> list[str]:
    return re.findall(r'<tr data-lot="([^"]+)"', page)


def test_lots_are_found_by_code_installation_material_grade_agreement_and_date(client, seeded):
    agreeing = seed.lot_with_samples(seeded, 2)
    differing = seed.lot_with_samples(seeded, 1)
    waiting = seed.lot_with_samples(seeded, 1)
    unpredicted = seed.lot_with_samples(seeded, 1)
    predict(seeded, agreeing.lot_id, "A")
    grade(seeded, agreeing.sample_codes[0], "A")
    predict(seeded, differing.lot_id, "A")
    grade(seeded, differing.sample_codes[0], "B")
    predict(seeded, waiting.lot_id, "B")
    log_in(client, "engineer")  # engineers find lots too, not only the lab
    everything = client.get("/lots/").get_data(as_text=True)
    assert set(lot_codes(everything)) == {agreeing.lot_code, differing.lot_code, waiting.lot_code, unpredicted.lot_code}

    def found(**args) -> set[str]:
        response = client.get("/lots/", query_string=args)
        assert response.status_code == 200
        return set(lot_codes(response.get_data(as_text=True)))

    assert found(q=agreeing.lot_code[-6:].lower()) == {agreeing.lot_code}  # part of the code, any case
    assert found(installation="ntk-ext1", material="pp") == set(lot_codes(everything))
    assert found(material="pet") == set()
    assert found(grade="b") == {differing.lot_code}
    assert found(agreement="agrees") == {agreeing.lot_code}
    assert found(agreement="differs") == {differing.lot_code}
    assert found(agreement="awaiting_lab") == {waiting.lot_code}
    assert found(agreement="no_prediction") == {unpredicted.lot_code}
    today = utcnow().date()
    assert found(produced_from=today.replace(year=today.year - 1).isoformat(), produced_to=today.isoformat()) == set(lot_codes(everything))
    assert found(produced_from=today.replace(year=today.year + 1).isoformat()) == set()
    assert client.get("/lots/?agreement=maybe").status_code == 422
    # Engineers go on to the process data (the lab lot page is not theirs).
    assert f'href="/process/lots/{agreeing.lot_id}"' in everything


def test_an_invalidated_sample_no_longer_counts_for_its_lot(client, seeded):
    lot = seed.lot_with_samples(seeded, 2)
    grade(seeded, lot.sample_codes[0], "C", state="invalid")
    grade(seeded, lot.sample_codes[1], "A")
    log_in(client, "tech")
    page = client.get("/lots/", query_string={"q": lot.lot_code}).get_data(as_text=True)
    row = re.search(r'<tr data-lot=.*?</tr>', page, re.S).group(0)
    assert re.search(r'<td class="num">1</td>', row) and '<span class="grade">A</span>' in row
    assert client.get("/lots/", query_string={"grade": "C"}).get_data(as_text=True).count("data-lot=") == 0
    # The lot's process view shows only the valid sample's grade.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/lab/samples")})
    log_in(client, "engineer")
    process = client.get(f"/process/lots/{lot.lot_id}").get_data(as_text=True)
    lab_grade = re.search(r"Lab grade</dt><dd>(.*?)</dd>", process, re.S).group(1)
    assert "A" in lab_grade and "C" not in lab_grade


def test_lot_list_pages_and_costs_the_same_queries_for_many_lots(app, client, seeded, monkeypatch):
    monkeypatch.setattr("lims.samples.pages.lots.PER_PAGE", 3)
    first = seed.lot_with_samples(seeded, 1)
    predict(seeded, first.lot_id, "A")
    log_in(client, "tech")
    few = _count_queries(app, client, "/lots/")
    lots = [seed.lot_with_samples(seeded, 2) for _ in range(4)]
    for lot in lots:
        predict(seeded, lot.lot_id, "B")
    assert _count_queries(app, client, "/lots/") == few
    page1 = client.get("/lots/").get_data(as_text=True)
    page2 = client.get("/lots/?page=2").get_data(as_text=True)
    assert len(lot_codes(page1)) == 3 and len(lot_codes(page2)) == 2
    assert not set(lot_codes(page1)) & set(lot_codes(page2))
    assert "page=2" in page1 and "page=3" not in page2


def test_the_lot_list_is_linked_from_navigation_samples_certificates_and_predictions(app, client, seeded):
    lot = seed.lot_with_samples(seeded, 1)
    predict(seeded, lot.lot_id, "A")
    log_in(client, "reviewer")
    samples = client.get("/lab/samples").get_data(as_text=True)
    assert 'href="/lots/"' in samples
    seed.submit_all(seeded, lot.sample_codes[0])
    seed.verify_all(seeded, lot.sample_codes[0])
    from lims.certificates import issuing as certificates

    with seeded.begin() as s:
        sample = s.scalar(select(Sample).where(Sample.code == lot.sample_codes[0]))
        certificates.issue_for_sample(s, certificates.Issuer.from_settings(app.config["RECYCLAB"]), seed.user(s, "reviewer"), sample)
    listing = client.get("/certificates/").get_data(as_text=True)
    assert f'href="/lab/lots/{lot.lot_id}">{lot.lot_code}</a>' in listing
    model = client.get("/models/grade-t").get_data(as_text=True)
    assert f'href="/lab/lots/{lot.lot_id}">{lot.lot_code}</a>' in model


def test_lot_codes_of_spaces_or_300_characters_are_refused_under_the_code(client, seeded):
    log_in(client, "tech")
    form = {
        "installation": "ntk-ext1", "material": "pp", "owner": "polyvorm", "input_stream": "post-consumer",
        "recycled_content_pct": "90", "production_start": "2026-11-29T08:00", "production_end": "2026-11-29T16:00",
        "sample_count": "1",
    }
    for code in ("   ", "L" * 300):
        response = client.post("/lab/lots/new", data={**form, "code": code, "csrf_token": csrf_token(client, "/lab/lots/new")})
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert fields_with_errors(page) == ["code"]


def fields_with_errors(page: str) -> list[str]:
    """The form field each error message stands under (the last field named before it)."""
    return [re.findall(r'name="([\w-]+)"', page[: m.start()])[-1] for m in re.finditer(r'class="field-error"', page)]


def lot_row(client, lot_code: str) -> str:
    page = client.get("/lots/", query_string={"q": lot_code}).get_data(as_text=True)
    return re.search(rf'<tr data-lot="{lot_code}">.*?</tr>', page, re.S).group(0)


def test_each_predicted_grade_on_the_lot_list_names_its_model_and_a_lot_outside_its_training_range(client, seeded):
    """The list showed a bare grade: which model said so (a retired one, after a rollback?),
    how sure it was, and that the lot lay outside what it was trained on were on the lot's own
    page only."""
    inside, outside = seed.lot_with_samples(seeded, 1), seed.lot_with_samples(seeded, 1)
    predict(seeded, inside.lot_id, "A")
    predict(seeded, outside.lot_id, "B")
    with seeded.begin() as s:
        s.scalar(select(Prediction).where(Prediction.lot_id == outside.lot_id)).out_of_training_range = True
    log_in(client, "engineer")
    row = lot_row(client, inside.lot_code)
    assert "grade-t" in row and "80 %" in row and "outside the training range" not in row
    assert "outside the training range" in lot_row(client, outside.lot_code)


def test_a_sample_not_graded_gives_its_lot_no_lab_grade_to_hold_the_prediction_against(client, seeded):
    """A sample "not graded" (its test plan lacks a result the specification limits) stood as
    the lot's lab grade on the list: a lot predicted A was listed as differing from the lab
    (✗, and under "prediction differs from lab"), while the model's own page counts no lab
    grade for it; and it hid the grade an earlier sample of the lot did get."""
    waiting, earlier = seed.lot_with_samples(seeded, 1), seed.lot_with_samples(seeded, 2)
    predict(seeded, waiting.lot_id, "A")
    grade(seeded, waiting.sample_codes[0], "not graded", state="verified")
    predict(seeded, earlier.lot_id, "A")
    grade(seeded, earlier.sample_codes[0], "A")
    grade(seeded, earlier.sample_codes[1], "not graded", state="verified")
    log_in(client, "engineer")
    row = lot_row(client, waiting.lot_code)
    assert "✗" not in row and "not graded" not in row
    assert re.search(r'<span class="grade">A</span>\s*<span class="badge ok">✓', lot_row(client, earlier.lot_code))

    def found(**args) -> set[str]:
        return set(lot_codes(client.get("/lots/", query_string=args).get_data(as_text=True)))

    assert found(agreement="differs") == set()
    assert found(agreement="awaiting_lab") == {waiting.lot_code}
    assert found(agreement="agrees") == {earlier.lot_code}


def test_a_lot_from_the_simulator_is_marked_simulated_where_a_lab_running_on_real_data_shows_it(client, seeded):
    """`recyclab simulate` enters its lots into whatever LIMS it is pointed at. Only the
    simulated_data setting (the demo's) put SIMULATED on the pages, so in a lab on real data a
    simulated lot, its process window and its predicted grade looked like a pilot line's; only
    the API's prediction said so."""
    simulated, real = seed.lot_with_samples(seeded, 1), seed.lot_with_samples(seeded, 1)
    with seeded.begin() as s:
        s.get(Lot, simulated.lot_id).source = "SIMULATED post-consumer PP, seed 3"
        s.get(Lot, real.lot_id).source = "post-consumer PP, Twente collection"
    marker = 'class="badge simulated"'
    log_in(client, "engineer")
    assert marker in lot_row(client, simulated.lot_code) and marker not in lot_row(client, real.lot_code)
    assert marker in client.get(f"/process/lots/{simulated.lot_id}").get_data(as_text=True)
    assert marker not in client.get(f"/process/lots/{real.lot_id}").get_data(as_text=True)
    predict(seeded, simulated.lot_id, "A")
    predict(seeded, real.lot_id, "A")
    recent = client.get("/models/grade-t").get_data(as_text=True).split("Recent predictions")[1]
    rows = dict(re.findall(r'>(LOT-\d+)</a>(.*?)</tr>', recent, re.S))
    assert marker in rows[simulated.lot_code] and marker not in rows[real.lot_code]
    client.post("/logout", data={"csrf_token": csrf_token(client, "/lots/")})
    log_in(client, "tech")
    assert marker in client.get(f"/lab/lots/{simulated.lot_id}").get_data(as_text=True)
    assert marker not in client.get(f"/lab/lots/{real.lot_id}").get_data(as_text=True)
