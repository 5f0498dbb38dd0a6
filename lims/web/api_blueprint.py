"""What every API blueprint shares: login required, the caller, pagination over a query."""

from __future__ import annotations

from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import Select, func

from lims.web.api_parser import ApiParser
from lims.web.auth import require_user
from lims.web.request_db import db

API_PREFIX = "/api/v1"


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = ApiParser()
    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 50, "max_page_size": 500}


def blueprint(name: str, path: str, description: str, *, public: bool = False) -> ApiBlueprint:
    blp = ApiBlueprint(name, __name__, url_prefix=f"{API_PREFIX}{path}", description=description)
    if not public:
        blp.before_request(lambda: require_user() and None)
    return blp


def page(stmt: Select, params: PaginationParameters) -> list:
    """One page of a query; the total goes to the X-Pagination header."""
    # count(*) over the same FROM and WHERE, without the eager loads and columns of the page.
    counting = stmt.order_by(None).with_only_columns(func.count(), maintain_column_froms=True)
    params.item_count = db().scalar(counting)
    if params.first_item >= params.item_count:
        # Past the last row, however far (also past the OFFSET the database takes): empty.
        return []
    return db().scalars(stmt.limit(params.page_size).offset(params.first_item)).unique().all()
