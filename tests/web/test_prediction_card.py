"""How the lot page's prediction card names a model feature: a process engineer reads a
sensor's statistic in the unit it is in."""

from __future__ import annotations

from types import SimpleNamespace

from lims.grade_model.card import reading


def test_a_readings_unit_says_what_its_statistic_is_in():
    drum = {"drum_speed_rpm": SimpleNamespace(unit="rpm")}
    mean = reading({"feature": "dctv-tear1:drum_speed_rpm:mean", "value": 2100.0, "material_median": 2000.0,
                     "contribution": 0.01}, drum)
    trend = reading({"feature": "dctv-tear1:drum_speed_rpm:slope", "value": 12.0, "material_median": 0.0,
                      "contribution": 0.01}, drum)
    beyond = reading({"feature": "dctv-tear1:drum_speed_rpm:out_of_alarm", "value": 0.25, "material_median": 0.0,
                       "contribution": 0.01}, drum)
    assert (mean.unit, trend.unit, beyond.unit) == ("rpm", "rpm/h", "%")
    assert beyond.value == 25.0 and beyond.material_median == 0.0
