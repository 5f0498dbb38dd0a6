"""Instrument result files (CSV), imported all or nothing.

Columns: sample_id, method, value, unit (required); uncertainty, instrument, analyst,
measured_at (optional; ISO 8601 with a UTC offset), uncertainty_reason (required with a U below
the method's). Every row is checked and entered in the
caller's transaction; if any row is bad, InputError lists every bad row and the caller rolls
the whole file back.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.kernel.clock import OUT_OF_CALENDAR, in_calendar
from lims.kernel.errors import DomainError, InputError
from lims.kernel.models import Analysis, User
from lims.permissions import Capability, get_sample, require
from lims.samples import workflow

REQUIRED = ("sample_id", "method", "value", "unit")
OPTIONAL = ("uncertainty", "instrument", "analyst", "measured_at", "uncertainty_reason")
MAX_ROWS = 10_000


def _measured_at(raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InputError("measured_at", f"not an ISO 8601 time: {raw!r}") from exc
    if when.tzinfo is None:
        raise InputError("measured_at", "needs a UTC offset (e.g. 2026-03-01T10:00:00+01:00)")
    if not in_calendar(when):
        raise InputError("measured_at", OUT_OF_CALENDAR)
    return when


def _import_row(session: Session, actor: User, row: dict[str, str]) -> Analysis:
    missing = {f: ["required"] for f in REQUIRED if not (row.get(f) or "").strip()}
    if missing:
        raise InputError(missing)
    try:
        sample = get_sample(session, actor, row["sample_id"].strip(), for_update=True)
    except DomainError as exc:
        raise InputError("sample_id", exc.message) from exc
    method_key = row["method"].strip()
    analysis = next(
        (a for a in sample.analyses if a.method.key == method_key and a.state == "unassigned"), None
    )
    if analysis is None:
        planned = any(a.method.key == method_key for a in sample.analyses)
        why = "has no open analysis for" if planned else "is not tested by"
        raise InputError("method", f"{sample.code} {why} method {method_key!r}")
    analyst = None
    if (row.get("analyst") or "").strip():
        analyst = session.scalar(select(User).where(User.username == row["analyst"].strip()))
        if analyst is None or analyst.is_customer:
            raise InputError("analyst", f"unknown lab user {row['analyst']!r}")
    return workflow.submit(
        session,
        actor,
        analysis,
        value=row["value"].strip(),
        unit=row["unit"].strip(),
        uncertainty=(row.get("uncertainty") or "").strip() or None,
        uncertainty_reason=(row.get("uncertainty_reason") or "").strip(),
        instrument=(row.get("instrument") or "").strip(),
        analyst=analyst,
        measured_at=_measured_at((row.get("measured_at") or "").strip()),
    )


def import_results(session: Session, actor: User, text: str) -> list[Analysis]:
    require(actor, Capability.HANDLE_SAMPLES, "import results")
    try:
        table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    except csv.Error as exc:
        raise InputError("file", f"not a readable CSV file: {exc}") from exc
    header = [h.strip() for h in (table[0] if table else [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(
            "file",
            f"missing column(s): {', '.join(missing)}; expected {', '.join(REQUIRED + OPTIONAL)}",
        )
    if len(table) - 1 > MAX_ROWS:
        raise InputError("file", f"more than {MAX_ROWS} rows; split the file")
    imported, bad = [], []
    for number, cells in enumerate(table[1:], start=2):  # row 1 is the header
        if not any(c.strip() for c in cells):
            continue  # a blank line, as spreadsheets leave at the end
        try:
            if len(cells) > len(header):
                raise InputError("row", f"{len(cells)} cells for {len(header)} columns")
            imported.append(_import_row(session, actor, dict(zip(header, cells, strict=False))))
        except DomainError as exc:
            errors = exc.errors if isinstance(exc, InputError) else {"row": [exc.message]}
            bad.append({"row": number, "errors": errors})
    if bad:
        raise InputError({"rows": bad})
    if not imported:
        raise InputError("file", "no rows")
    return imported
