"""Production lots."""

from __future__ import annotations

from flask.views import MethodView

from analytics import predict
from ingest.registry import load_registry
from lims.kernel.clock import utcnow
from lims.permissions import get_lot
from lims.samples import registration as sample_service
from lims.samples.lot_search import lot_query
from lims.samples.schemas import LotCreateSchema, LotQuerySchema, LotSchema
from lims.web.api_blueprint import blueprint, page
from lims.web.auth import require_user
from lims.web.request_db import db
from lims.web.timeseries import timeseries_store

blp = blueprint("lots", "/lots", "Production lots: installation, production window, input stream.")
BLUEPRINTS = (blp,)


@blp.route("")
class Lots(MethodView):
    @blp.arguments(LotQuerySchema, location="query")
    @blp.response(200, LotSchema(many=True))
    @blp.paginate()
    def get(self, args: dict, pagination_parameters):
        return page(lot_query(args, require_user()), pagination_parameters)

    @blp.arguments(LotCreateSchema)
    @blp.response(201, LotSchema)
    def post(self, data: dict):
        """A lot whose production has ended is given the production model's grade at once (as
        the lot form does), so the engineer sees it before the lab is done; none when no model
        is served or the process data cannot be read, and the lot is created either way."""
        lot = sample_service.create_lot(db(), require_user(), **data)
        if lot.production_end <= utcnow():
            predict.predict_if_served(db(), timeseries_store(), load_registry(), lot, actor=None, who="lot registration")
        return lot


@blp.route("/<int:lot_id>")
@blp.response(200, LotSchema)
def lot(lot_id: int):
    return get_lot(db(), require_user(), lot_id)
