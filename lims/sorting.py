"""Sorting a list by a column its reader picks, the same way for every list (API and pages).

A list names what it may be sorted by (a whitelist: sort key -> column); `sort` is a key, or
"-" and a key for the reverse. The list's primary key breaks ties in the same direction, so
an index on (column, id) serves the whole order and a page boundary never repeats or skips a
row. A key the reader may not see (a customer and the lab's storage locations) is refused as
an unknown one: sorting by it would tell its order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, literal, select, tuple_
from sqlalchemy.orm import QueryableAttribute

from lims.kernel.errors import N_, InputError
from lims.kernel.models import User
from lims.permissions import reads_lab_records

Column = ColumnElement[Any] | QueryableAttribute[Any]


@dataclass(frozen=True)
class Sorting:
    columns: Mapping[str, Column]
    tiebreak: Column
    # The order when none is asked for: what the list showed before it could be sorted.
    default: str
    lab_only: frozenset[str] = field(default_factory=frozenset)

    def choices(self, *, lab_records: bool = True) -> list[str]:
        """The accepted `sort` values, for a reader of the lab's records or (False) for one who
        reads only what lims.permissions shows a customer."""
        keys = [k for k in self.columns if lab_records or k not in self.lab_only]
        return [v for k in keys for v in (k, f"-{k}")]

    def check(self, user: User, sort: str | None) -> str:
        """The sort to apply (the default when none is given); InputError naming `sort` else."""
        sort = sort or self.default
        allowed = self.choices(lab_records=reads_lab_records(user))
        if sort not in allowed:
            raise InputError("sort", N_("must be one of %(choices)s", choices=", ".join(allowed)))
        return sort

    def _order(self, sort: str) -> tuple[Column, Column, bool]:
        descending = sort.startswith("-")
        return self.columns[sort.lstrip("-")], self.tiebreak, descending

    def apply(self, stmt: Select, user: User, sort: str | None) -> Select:
        column, tiebreak, descending = self._order(self.check(user, sort))
        if descending:
            return stmt.order_by(None).order_by(column.desc(), tiebreak.desc())
        return stmt.order_by(None).order_by(column.asc(), tiebreak.asc())

    def after(self, stmt: Select, user: User, sort: str | None, row_id: int) -> Select:
        """The rows after row `row_id` in this order (keyset paging: no OFFSET scan). The sort
        columns must not be nullable: a row value compared with NULL matches nothing."""
        column, tiebreak, descending = self._order(self.check(user, sort))
        # correlate(None): the boundary row's value, not the value of the row being compared.
        boundary = tuple_(select(column).where(tiebreak == row_id).correlate(None).scalar_subquery(), literal(row_id))
        position = tuple_(column, tiebreak)
        return stmt.where(position < boundary if descending else position > boundary)
