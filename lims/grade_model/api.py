"""Predicted grades of lots (and of the samples taken from them) by the production model."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields

from analytics import predict
from analytics.model_registry import ArtifactRefused
from analytics.simulator.physics import from_simulator
from ingest.registry import load_registry
from lims.kernel.errors import DomainError, InputError, NotFound
from lims.kernel.models import Lot
from lims.permissions import get_lot, get_sample
from lims.web.api_blueprint import blueprint
from lims.web.auth import require_user
from lims.web.request_db import db
from lims.web.timeseries import timeseries_store

blp = blueprint("predictions", "", "Predicted grade of a lot from its process window (grade model).")
BLUEPRINTS = (blp,)


class ModelUnavailable(DomainError):
    status = 409


class TopFeatureSchema(Schema):
    feature = fields.String()
    value = fields.Float()
    material_median = fields.Float(metadata={"description": "Median of the feature over the training lots of the lot's own material."})
    contribution = fields.Float(metadata={"description": "Drop in the predicted grade's probability when the feature is set to its material median."})


class PredictionSchema(Schema):
    id = fields.Integer(dump_only=True)
    lot_id = fields.Integer()
    lot = fields.Function(lambda p: p.lot.code)
    sample = fields.Function(lambda p: p.sample.code if p.sample else None)
    simulated = fields.Function(
        lambda p: from_simulator(p.lot.source),
        metadata={"description": "The lot and its process data come from the pilot-line simulator."},
    )
    model_version = fields.Function(lambda p: p.model_version.version)
    created_at = fields.DateTime()
    predicted_grade = fields.String()
    probabilities = fields.Dict(keys=fields.String(), values=fields.Float())
    top_features = fields.List(fields.Nested(TopFeatureSchema))
    out_of_training_range = fields.Boolean()
    out_of_range_features = fields.List(fields.String())
    off_spec_alarm = fields.Function(lambda p: (p.details or {}).get("off_spec_alarm"), metadata={"description": "The off-spec probability reached the model's alarm threshold."})
    properties = fields.Function(lambda p: (p.details or {}).get("properties", []), metadata={"description": "Predicted lab properties with 90 % intervals."})
    limits_at_risk = fields.Function(lambda p: (p.details or {}).get("limits_at_risk", []), metadata={"description": "Limits of the predicted grade the interval crosses."})
    lab_grade = fields.String(allow_none=True)
    agrees = fields.Boolean(allow_none=True, metadata={"description": "Predicted grade equals the lab grade (null until the lab grade is known)."})


class PredictRequestSchema(Schema):
    sample = fields.String(load_default=None, metadata={"description": "Code of the lot's sample the prediction is for (optional)."})


def _latest(lot: Lot):
    found = predict.prediction_of_lot(db(), require_user(), lot)
    if found is None:
        raise NotFound(f"lot {lot.id} has no prediction yet; POST to this URL to predict")
    return found


@blp.route("/lots/<int:lot_id>/prediction")
class LotPrediction(MethodView):
    @blp.response(200, PredictionSchema)
    def get(self, lot_id: int):
        """The latest prediction for the lot, with the lab grade once it is known."""
        return _latest(get_lot(db(), require_user(), lot_id))

    @blp.arguments(PredictRequestSchema)
    @blp.response(201, PredictionSchema)
    def post(self, data: dict, lot_id: int):
        """Predict the lot's grade now with the production model and store the prediction."""
        user = require_user()
        lot = get_lot(db(), user, lot_id)
        sample = None
        if data.get("sample"):
            sample = get_sample(db(), user, data["sample"])
            if sample.lot_id != lot.id:
                raise InputError("sample", f"sample {sample.code} is not from lot {lot.code}")
        try:
            # Read now, as the pages do: an alarm limit changed since (the ingester reads the
            # file again on HUP) counts in every web process at once.
            return predict.predict_lot(db(), timeseries_store(), load_registry(), lot, sample, actor=user)
        except predict.NoProductionModel as exc:
            raise ModelUnavailable(str(exc)) from exc
        except ArtifactRefused as exc:
            raise ModelUnavailable(f"the production model's artifact was refused: {exc}") from exc


@blp.route("/samples/<code>/prediction")
@blp.response(200, PredictionSchema)
def sample_prediction(code: str):
    """The latest prediction for the lot the sample was taken from."""
    sample = get_sample(db(), require_user(), code)
    if sample.lot is None:
        raise NotFound(f"sample {code} is not from a production lot; there is no process data to predict from")
    return _latest(sample.lot)
