"""Production lots."""

from __future__ import annotations

from flask.views import MethodView
from sqlalchemy import or_, select

from lims.kernel.models import Installation, Lot, Material, Organization, ProgrammeLine
from lims.permissions import get_lot, scope_lots
from lims.samples import registration as sample_service
from lims.samples.schemas import LotCreateSchema, LotQuerySchema, LotSchema
from lims.web.api_blueprint import blueprint, page
from lims.web.auth import require_user
from lims.web.request_db import db

blp = blueprint("lots", "/lots", "Production lots: installation, production window, input stream.")
BLUEPRINTS = (blp,)


def _key_id(model, key: str):
    return select(model.id).where(model.key == key).scalar_subquery()


def lot_query(args: dict):
    stmt = select(Lot).order_by(Lot.id.desc())
    if "material" in args:
        stmt = stmt.where(Lot.material_id == _key_id(Material, args["material"]))
    if "installation" in args:
        stmt = stmt.where(Lot.installation_id == _key_id(Installation, args["installation"]))
    if "line" in args:
        line_installations = select(Installation.id).where(
            Installation.line_id == _key_id(ProgrammeLine, args["line"])
        )
        stmt = stmt.where(Lot.installation_id.in_(line_installations))
    if "owner" in args:
        stmt = stmt.where(Lot.owner_org_id == _key_id(Organization, args["owner"]))
    if "q" in args:
        like = f"%{args['q']}%"
        stmt = stmt.where(or_(Lot.code.ilike(like), Lot.source.ilike(like)))
    if "produced_from" in args:
        stmt = stmt.where(Lot.production_start >= args["produced_from"])
    if "produced_to" in args:
        stmt = stmt.where(Lot.production_start < args["produced_to"])
    return stmt


@blp.route("")
class Lots(MethodView):
    @blp.arguments(LotQuerySchema, location="query")
    @blp.response(200, LotSchema(many=True))
    @blp.paginate()
    def get(self, args: dict, pagination_parameters):
        return page(scope_lots(lot_query(args), require_user()), pagination_parameters)

    @blp.arguments(LotCreateSchema)
    @blp.response(201, LotSchema)
    def post(self, data: dict):
        return sample_service.create_lot(db(), require_user(), **data)


@blp.route("/<int:lot_id>")
@blp.response(200, LotSchema)
def lot(lot_id: int):
    return get_lot(db(), require_user(), lot_id)
