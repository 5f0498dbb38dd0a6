"""Instrument result files (CSV), imported all or nothing.

Columns: sample_id, method, value, unit (required); uncertainty, instrument, analyst,
measured_at, uncertainty_reason (optional; the reason is required with a U below the method's),
external_provider and external_report (for a result transcribed from a subcontracted lab's report).
Comma- or semicolon-separated (Dutch Excel writes semicolons and
decimal commas); measured_at in ISO 8601 or as 31-12-2026 14:30 / 31/12/2026 14:30, read in
the lab's zone when it carries no UTC offset, and between the sample's receipt and now (as
workflow.submit holds every way in). Every row is checked and entered in the caller's
transaction; if any row is bad, InputError lists every bad row with every problem of the row,
and the caller rolls the whole file back.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.kernel.clock import OUT_OF_CALENDAR, in_calendar
from lims.kernel.errors import N_, DomainError, InputError
from lims.kernel.models import Analysis, Material, User
from lims.permissions import Capability, get_sample, require
from lims.samples import workflow

REQUIRED = ("sample_id", "method", "value", "unit")
OPTIONAL = (
    "uncertainty", "instrument", "analyst", "measured_at", "uncertainty_reason",
    "external_provider", "external_report",
)
COLUMNS = REQUIRED + OPTIONAL
MAX_ROWS = 10_000
DELIMITERS = (",", ";")
# Day first, as the Netherlands writes dates (and Excel exports them there).
_LOCAL_FORMATS = ("%d-%m-%Y %H:%M", "%d-%m-%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S")


def _measured_at(raw: str, zone: tzinfo) -> datetime | None:
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        local: datetime | None = None
        for fmt in _LOCAL_FORMATS:
            try:
                local = datetime.strptime(raw, fmt)
                break
            except ValueError:
                continue
        if local is None:
            raise InputError(
                "measured_at",
                N_("not a time: %(raw)s (write 2026-03-01T10:00 or 01-03-2026 10:00)", raw=repr(raw)),
            ) from None
        when = local
    if not in_calendar(when):
        raise InputError("measured_at", OUT_OF_CALENDAR)
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return when.astimezone(UTC)


def _add(errors: dict[str, list[str]], exc: DomainError, field: str) -> None:
    found = exc.errors if isinstance(exc, InputError) else {field: [exc.message]}
    for name, messages in found.items():
        errors.setdefault(name, []).extend(messages)


def _import_row(session: Session, actor: User, row: dict[str, str], zone: tzinfo) -> Analysis:
    """Every problem of the row is collected before giving up, so one round of corrections fixes it."""
    cell = {name: (row.get(name) or "").strip() for name in COLUMNS}
    errors: dict[str, list[str]] = {f: [N_("required")] for f in REQUIRED if not cell[f]}
    sample = analysis = analyst = measured_at = None
    if cell["sample_id"]:
        try:
            sample = get_sample(session, actor, cell["sample_id"].upper(), for_update=True)
        except DomainError as exc:
            _add(errors, exc, "sample_id")
    if sample is not None and cell["method"]:
        analysis = next(
            (a for a in sample.analyses if a.method.key == cell["method"] and a.state == "unassigned"), None
        )
        if analysis is None:
            planned = any(a.method.key == cell["method"] for a in sample.analyses)
            why = (
                N_("%(code)s has no open analysis for method %(method)s", code=sample.code, method=repr(cell["method"]))
                if planned
                else N_("%(code)s is not tested by method %(method)s", code=sample.code, method=repr(cell["method"]))
            )
            errors.setdefault("method", []).append(why)
    try:
        analyst = workflow.analyst_named(session, actor, cell["analyst"])
    except InputError as exc:
        _add(errors, exc, "analyst")
    try:
        measured_at = _measured_at(cell["measured_at"], zone)
    except InputError as exc:
        _add(errors, exc, "measured_at")
    if analysis is not None and cell["value"]:
        try:
            workflow.submit(
                session, actor, analysis, value=cell["value"], unit=cell["unit"],
                uncertainty=cell["uncertainty"] or None,
                uncertainty_reason=cell["uncertainty_reason"], instrument=cell["instrument"],
                analyst=analyst, measured_at=measured_at,
                provider=cell["external_provider"], provider_report=cell["external_report"],
            )
        except DomainError as exc:
            _add(errors, exc, "row")
    if errors:
        raise InputError(errors)
    if analysis is None:
        # Not reached: without errors the sample was found and had an open analysis of the method.
        raise InputError("method", N_("no open analysis"))
    return analysis


def read_table(text: str) -> list[list[str]]:
    """The rows of a comma- or semicolon-separated file; the header line decides which."""
    text = text.lstrip("\ufeff")
    if "\x00" in text:
        # No text file holds NUL (and PostgreSQL refuses it in a query); a UTF-16 file is full of them.
        raise InputError("file", N_("the file holds NUL characters: not a text CSV file (save it as CSV UTF-8)"))
    header = text.split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=header.count)
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise InputError("file", N_("not a readable CSV file: %(why)s", why=str(exc))) from exc


def import_results(session: Session, actor: User, text: str, zone: tzinfo = UTC) -> list[Analysis]:
    """`zone`: where a measured_at without a UTC offset was written (the lab's zone)."""
    require(actor, Capability.HANDLE_SAMPLES, N_("import results"))
    table = read_table(text)
    header = [h.strip().lower() for h in (table[0] if table else [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(
            "file",
            N_(
                "missing column(s): %(missing)s; expected %(columns)s separated by commas or semicolons",
                missing=", ".join(missing), columns=", ".join(COLUMNS),
            ),
        )
    if len(table) - 1 > MAX_ROWS:
        raise InputError("file", N_("more than %(n)s rows; split the file", n=MAX_ROWS))
    imported, bad = [], []
    for number, cells in enumerate(table[1:], start=2):  # row 1 is the header
        if not any(c.strip() for c in cells):
            continue  # a blank line, as spreadsheets leave at the end
        try:
            if len(cells) > len(header):
                raise InputError("row", N_("%(cells)s cells for %(columns)s columns", cells=len(cells), columns=len(header)))
            imported.append(_import_row(session, actor, dict(zip(header, cells, strict=False)), zone))
        except DomainError as exc:
            errors = exc.errors if isinstance(exc, InputError) else {"row": [exc.message]}
            bad.append({"row": number, "errors": errors})
    if bad:
        raise InputError({"rows": bad})
    if not imported:
        raise InputError("file", N_("no rows"))
    return imported


def template(session: Session, material_key: str, delimiter: str = ",") -> str:
    """A file to fill in for one material's test plan: the header and a row per method with its
    key and unit, sample_id and value left empty."""
    material = session.scalar(select(Material).where(Material.key == material_key))
    if material is None:
        raise InputError("material", N_("unknown material %(key)s", key=repr(material_key)))
    if delimiter not in DELIMITERS:
        raise InputError("delimiter", N_("must be ',' or ';'"))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for item in material.test_plan:
        writer.writerow(["", item.method.key, "", item.method.unit] + [""] * len(OPTIONAL))
    return out.getvalue()
