"""Reference data, read-only: it is changed in config/ and loaded by `recyclab seed`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lims.kernel.errors import NotFound
from lims.kernel.models import (
    GradeSpec,
    Installation,
    Material,
    Method,
    ProgrammeLine,
    TestPlanItem,
)
from lims.reference.schemas import (
    GradeSpecSchema,
    InstallationSchema,
    LineSchema,
    MaterialSchema,
    MethodSchema,
    ReferenceQuerySchema,
)
from lims.web.api_blueprint import blueprint
from lims.web.request_db import db

blp = blueprint(
    "reference",
    "",
    "Reference data: lines, installations, materials, methods, grade specifications.",
)
BLUEPRINTS = (blp,)


def _one(stmt, what: str, key: str):
    row = db().scalar(stmt)
    if row is None:
        raise NotFound(f"{what} {key!r} not found")
    return row


def _on_line(stmt, model, args: dict):
    if "line" in args:
        stmt = stmt.join(ProgrammeLine, ProgrammeLine.id == model.line_id).where(
            ProgrammeLine.key == args["line"]
        )
    return stmt


@blp.route("/lines")
@blp.response(200, LineSchema(many=True))
def lines():
    return db().scalars(select(ProgrammeLine).order_by(ProgrammeLine.id)).all()


_installations = (
    select(Installation).options(selectinload(Installation.sensors)).order_by(Installation.id)
)


@blp.route("/installations")
@blp.arguments(ReferenceQuerySchema, location="query")
@blp.response(200, InstallationSchema(many=True))
def installations(args: dict):
    return db().scalars(_on_line(_installations, Installation, args)).all()


@blp.route("/installations/<key>")
@blp.response(200, InstallationSchema)
def installation(key: str):
    return _one(_installations.where(Installation.key == key), "installation", key)


_materials = (
    select(Material)
    .options(selectinload(Material.test_plan).joinedload(TestPlanItem.method))
    .order_by(Material.id)
)


@blp.route("/materials")
@blp.arguments(ReferenceQuerySchema, location="query")
@blp.response(200, MaterialSchema(many=True))
def materials(args: dict):
    return db().scalars(_on_line(_materials, Material, args)).unique().all()


@blp.route("/materials/<key>")
@blp.response(200, MaterialSchema)
def material(key: str):
    return _one(_materials.where(Material.key == key), "material", key)


@blp.route("/methods")
@blp.response(200, MethodSchema(many=True))
def methods():
    return db().scalars(select(Method).order_by(Method.id)).all()


@blp.route("/methods/<key>")
@blp.response(200, MethodSchema)
def method(key: str):
    return _one(select(Method).where(Method.key == key), "method", key)


_specs = select(GradeSpec).options(selectinload(GradeSpec.limits)).order_by(GradeSpec.id)


@blp.route("/grade-specs")
@blp.response(200, GradeSpecSchema(many=True))
def grade_specs():
    return db().scalars(_specs).unique().all()


@blp.route("/grade-specs/<material>")
@blp.response(200, GradeSpecSchema)
def grade_spec(material: str):
    stmt = _specs.join(Material, Material.id == GradeSpec.material_id).where(
        Material.key == material
    )
    return _one(stmt, "grade specification for", material)
