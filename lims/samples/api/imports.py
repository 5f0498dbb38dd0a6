"""Instrument result files."""

from __future__ import annotations

from flask import request

from lims.samples.imports import MAX_BYTES, OPTIONAL, REQUIRED, decode, import_results
from lims.samples.schemas import ImportResultSchema
from lims.web.api_blueprint import blueprint
from lims.web.auth import require_user
from lims.web.i18n import lab_zone
from lims.web.request_db import db

blp = blueprint("imports", "/imports", "Instrument CSV import, all or nothing.")
BLUEPRINTS = (blp,)


@blp.route("/results", methods=["POST"])
@blp.doc(
    description=(
        f"A CSV file as multipart field 'file' or as a text/csv body. Columns: {', '.join(REQUIRED)} "
        f"(required), {', '.join(OPTIONAL)}; no other, each once; separated by commas or semicolons. measured_at without"
        " a UTC offset is read in the lab's zone (in the hour its clocks go back or forward it needs the offset); it lies"
        " between the sample's receipt and now. Any bad row: 422 listing every bad row with all"
        " its problems; nothing imported."
    )
)
@blp.response(201, ImportResultSchema)
def results():
    user = require_user()
    upload = request.files.get("file")
    # One byte past the limit is enough for the service to refuse the file.
    raw = upload.read(MAX_BYTES + 1) if upload else request.get_data(cache=False)
    analyses = import_results(db(), user, decode(raw), lab_zone())
    return {"imported": len(analyses), "analyses": analyses}
