"""What the grade model learns from and is scored against is the lab grade of a lot: the grade
of its latest graded sample whose results still stand. A sample whose results the lab
invalidated after release (a balance out of calibration, a bag mixed up with another lot) no
longer speaks for its lot, as the lot list already holds."""

from __future__ import annotations

from sqlalchemy import select, text

from analytics import predict, train
from lims.kernel.models import Sample
from tests.analytics.test_prediction_audit import model_version  # noqa: F401  (fixture)
from tests.certificates import support
from tests.lims.conftest import PP_LOT, ok
from tests.support.queries import statements_run

# Grade B PP results (config/grade_specs.toml): the ash fails A's max 1.0, meets B's 2.0.
PP_GRADE_B = support.PP_GRADE_A | {"ash": "1.50"}


def _verified(session_factory, values: dict[str, str]) -> str:
    with session_factory.begin() as s:
        tech, reviewer = support.user(s, "tech"), support.user(s, "reviewer")
        return support.verified_sample(s, tech, reviewer, support.lot_by_code(s, PP_LOT["code"]), values).code


def test_an_invalidated_sample_is_not_the_lab_grade_the_model_learns_or_is_scored_by(
    lab, session_factory, model_version  # noqa: F811
):
    tech, reviewer, engineer = lab.as_("tech"), lab.as_("reviewer"), lab.as_("engineer")
    lot_id = ok(tech.post("/lots", json=PP_LOT), 201)["id"]
    ok(engineer.post(f"/lots/{lot_id}/prediction", json={}), 201)  # the model says B
    wrong = _verified(session_factory, support.PP_GRADE_A)
    ok(reviewer.post("/certificates", json={"sample": wrong}), 201)
    shown = ok(engineer.get(f"/lots/{lot_id}/prediction"))
    assert (shown["lab_grade"], shown["agrees"]) == ("A", False)

    # The balance was out of calibration: the certified results are invalidated.
    ok(reviewer.post(f"/samples/{wrong}/invalidate", json={"reason": "balance out of calibration"}))
    shown = ok(engineer.get(f"/lots/{lot_id}/prediction"))
    assert (shown["lab_grade"], shown["agrees"]) == (None, None)
    with session_factory() as s:
        assert train.lims_records(s) == []
        assert predict.agreement_report(s) == []

    # A new sample of the lot, tested again, is its lab grade.
    _verified(session_factory, PP_GRADE_B)
    shown = ok(engineer.get(f"/lots/{lot_id}/prediction"))
    assert (shown["lab_grade"], shown["agrees"]) == ("B", True)
    with session_factory() as s:
        (record,) = train.lims_records(s)
        assert record.grade == "B" and record.lab["ash_3451"] == 1.5
        assert s.scalar(select(Sample.grade).where(Sample.code == wrong)) == "A"  # kept on the record


def test_a_sample_tested_for_part_of_the_specification_gives_its_lot_no_lab_grade(
    lab, session_factory, model_version  # noqa: F811
):
    """A customer who asks for the ash content only gets it, "not graded": that is no grade, and
    the model neither learns it as one nor is scored against it."""
    tech, reviewer, engineer = lab.as_("tech"), lab.as_("reviewer"), lab.as_("engineer")
    lot_id = ok(tech.post("/lots", json=PP_LOT), 201)["id"]
    ok(engineer.post(f"/lots/{lot_id}/prediction", json={}), 201)
    code = ok(tech.post("/samples", json={"lot": PP_LOT["code"], "methods": ["ash_3451"]}), 201)["sample_id"]
    ok(tech.post(f"/samples/{code}/receive", json={}))
    (ash,) = ok(tech.get(f"/samples/{code}"))["analyses"]
    ok(tech.post(f"/analyses/{ash['id']}/result", json={"value": "0.42", "unit": "%"}))
    ok(reviewer.post(f"/analyses/{ash['id']}/verify"))
    assert ok(tech.get(f"/samples/{code}"))["grade"] == "not graded"

    shown = ok(engineer.get(f"/lots/{lot_id}/prediction"))
    assert (shown["lab_grade"], shown["agrees"]) == (None, None)
    with session_factory() as s:
        assert train.lims_records(s) == []
        assert predict.agreement_report(s) == []


def test_reading_a_prediction_writes_nothing_and_gives_the_lab_grade_as_it_stands(
    lab, app, session_factory, model_version  # noqa: F811
):
    """A GET of a prediction copied the lab grade onto its row: a read that wrote, which a read
    replica or a read-only transaction refuses and which waited for any writer of the row."""
    tech, reviewer, engineer = lab.as_("tech"), lab.as_("reviewer"), lab.as_("engineer")
    lot_id = ok(tech.post("/lots", json=PP_LOT), 201)["id"]
    ok(engineer.post(f"/lots/{lot_id}/prediction", json={}), 201)  # the model says B
    wrong = _verified(session_factory, support.PP_GRADE_A)
    ok(reviewer.post("/certificates", json={"sample": wrong}), 201)

    def read() -> tuple[str | None, bool | None]:
        with statements_run(app) as statements:
            of_lot = ok(engineer.get(f"/lots/{lot_id}/prediction"))
            of_sample = ok(engineer.get(f"/samples/{wrong}/prediction"))
        assert [q for q in statements if "prediction" in q and not q.lstrip().upper().startswith("SELECT")] == []
        assert (of_lot["lab_grade"], of_lot["agrees"]) == (of_sample["lab_grade"], of_sample["agrees"])
        return of_lot["lab_grade"], of_lot["agrees"]

    def report() -> list[dict]:
        with session_factory() as s:
            s.execute(text("SET TRANSACTION READ ONLY"))  # refuses any write
            return [(r["with_lab_grade"], r["agreement"]) for r in predict.agreement_report(s)]

    assert read() == ("A", False)
    assert report() == [(1, 0.0)]
    ok(reviewer.post(f"/samples/{wrong}/invalidate", json={"reason": "balance out of calibration"}))
    assert read() == (None, None)
    assert report() == []
    _verified(session_factory, PP_GRADE_B)
    assert read() == ("B", True)
    assert report() == [(1, 1.0)]
