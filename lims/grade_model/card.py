"""What a lot's page shows of its latest grade prediction: the grade's probabilities, the lab
properties predicted with their intervals against the limits of the grade, and the process
readings that moved the prediction most, each named as the process engineer knows it (sensor
and unit, method and unit) instead of the model's feature keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from analytics import predict
from lims.kernel.models import Lot, Method, Sensor
from lims.kernel.models.analytics import Prediction

STATISTICS = {
    "mean": _l("mean"),
    "std": _l("spread (std)"),
    "min": _l("minimum"),
    "max": _l("maximum"),
    "slope": _l("trend (slope)"),
    "out_of_alarm": _l("share beyond the alarm limits"),
}
# Statistics in the sensor's own unit (a slope is per hour, a share in %).
IN_SENSOR_UNIT = {"mean", "std", "min", "max"}
DERIVED = {"screen_dp": (_l("pressure drop over the screen changer"), "bar")}
LOT_FIGURES = {"recycled_content": _l("recycled content"), "window_hours": _l("production window length (h)")}


@dataclass
class Reading:
    """One feature: a sensor's (or a derived quantity's) statistic over the window."""

    sensor: Sensor | None
    name: object  # what to call it when there is no sensor row (lazy text or the raw key)
    statistic: object
    unit: str
    value: float | None
    material_median: float | None
    contribution: float | None


@dataclass
class PredictedProperty:
    method: Method | None
    prop: str
    predicted: float
    low: float
    high: float
    at_risk: list[dict] = field(default_factory=list)

    @property
    def pattern(self) -> str:
        """Shown with the decimals the lab reports the method's results with."""
        decimals = self.method.decimals if self.method is not None else 3
        return "#,##0." + "0" * decimals if decimals else "#,##0"


@dataclass
class Card:
    prediction: Prediction
    probabilities: list[tuple[str, float]]
    properties: list[PredictedProperty]
    readings: list[Reading]
    out_of_range: list[Reading]


def reading(feature: dict, sensors: dict[str, Sensor]) -> Reading:
    """The feature named as the pages name it: its sensor (or derived quantity, or lot figure),
    statistic and unit, from the sensors of the feature's installation."""
    parts = feature["feature"].split(":")
    value, median = feature.get("value"), feature.get("material_median")
    if len(parts) == 3:
        _installation, key, stat = parts
        sensor = sensors.get(key)
        name, unit = (key, sensor.unit) if sensor is not None else DERIVED.get(key, (key, ""))
        statistic: object = STATISTICS.get(stat, stat)
        if stat == "slope":  # fitted over the window's hours (analytics.features)
            unit = f"{unit}/h" if unit and unit != "1" else "/h"
        elif stat == "out_of_alarm":  # a share of the window, shown in %
            unit = "%"
            value, median = (None if v is None else v * 100 for v in (value, median))
        elif stat not in IN_SENSOR_UNIT:
            unit = ""
    else:
        sensor, statistic, unit = None, "", ""
        name = LOT_FIGURES.get(feature["feature"], feature["feature"])
    return Reading(sensor, name, statistic, unit, value, median, feature.get("contribution"))


def for_lot(session: Session, lot: Lot) -> Card | None:
    prediction = predict.latest_prediction(session, lot.id)
    if prediction is None:
        return None
    details = prediction.details or {}
    methods = {item.method.property: item.method for item in lot.material.test_plan}
    sensors = {s.key: s for s in lot.installation.sensors}
    risks: dict[str, list[dict]] = {}
    for risk in details.get("limits_at_risk", []):
        risks.setdefault(risk["property"], []).append(risk)
    order = {grade: i for i, grade in enumerate(prediction.model_version.classes)}
    return Card(
        prediction=prediction,
        probabilities=sorted(prediction.probabilities.items(), key=lambda kv: order.get(kv[0], len(order))),
        properties=[
            PredictedProperty(methods.get(p["property"]), p["property"], p["predicted"], p["low"], p["high"],
                              risks.get(p["property"], []))
            for p in details.get("properties", [])
        ],
        readings=[reading(f, sensors) for f in prediction.top_features or []],
        out_of_range=[reading({"feature": f}, sensors) for f in prediction.out_of_range_features or []],
    )
