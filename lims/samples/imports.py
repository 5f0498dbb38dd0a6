"""Instrument result files (CSV), imported all or nothing.

Columns: sample_id, method, value, unit (required); uncertainty, instrument, analyst,
measured_at, uncertainty_reason (optional; the reason is required with a U below the method's),
external_provider and external_report (for a result transcribed from a subcontracted lab's report).
Any other column is refused, as is one given twice: a misspelled one would lose its cells.
Comma- or semicolon-separated (Dutch Excel writes semicolons and
decimal commas); measured_at in ISO 8601 or as 31-12-2026 14:30 / 31/12/2026 14:30, read in
the lab's zone when it carries no UTC offset (none in the hour the clocks go back or forward
there: the offset is required then), and between the sample's receipt and now (as
workflow.submit holds every way in). Every row is checked and entered in the caller's
transaction; if any row is bad, InputError lists every bad row with every problem of the row,
and the caller rolls the whole file back.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.kernel.clock import OUT_OF_CALENDAR, from_wall_clock, in_calendar
from lims.kernel.errors import N_, DomainError, InputError, Text
from lims.kernel.models import Analysis, Material, Sample, User
from lims.permissions import Capability, get_sample, require
from lims.samples import workflow

REQUIRED = ("sample_id", "method", "value", "unit")
OPTIONAL = (
    "uncertainty", "instrument", "analyst", "measured_at", "uncertainty_reason",
    "external_provider", "external_report",
)
COLUMNS = REQUIRED + OPTIONAL
MAX_ROWS = 10_000
# However it comes in (an upload, a request body, text pasted on the page).
MAX_BYTES = 5 * 1024 * 1024
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
    return from_wall_clock(when, zone, "measured_at")


def _add(errors: dict[str, list[str]], exc: DomainError, field: str) -> None:
    found = exc.errors if isinstance(exc, InputError) else {field: [exc.message]}
    for name, messages in found.items():
        errors.setdefault(name, []).extend(messages)


def _no_open_analysis(sample: Sample, method: str) -> Text:
    """Why a row's method takes no result, with what to do about it."""
    planned = sorted({a.method.key for a in sample.analyses})
    if method in planned:
        return N_(
            "%(code)s has no open analysis for method %(method)s: its result is entered; a new one "
            "needs a retest (on the sample page)", code=sample.code, method=repr(method),
        )
    return N_(
        "%(code)s is not tested by method %(method)s; its methods: %(keys)s",
        code=sample.code, method=repr(method), keys=", ".join(planned),
    )


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
            errors.setdefault("method", []).append(_no_open_analysis(sample, cell["method"]))
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


def _within_size(size: int) -> None:
    if size > MAX_BYTES:
        raise InputError("file", N_("larger than %(n)s bytes; split the file", n=MAX_BYTES))


def decode(raw: bytes) -> str:
    """An uploaded file's text: UTF-8, with or without the byte order mark Excel writes. Any
    other encoding is refused, not guessed: Excel's plain "CSV" on Windows is Windows-1252, whose
    letters read as UTF-8 would be stored as replacement characters. The size first: a file read
    only to one byte past the limit may end inside a character."""
    _within_size(len(raw))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            "file",
            N_("not UTF-8 text (byte %(at)s): save the file as \"CSV UTF-8\"", at=exc.start + 1),
        ) from exc


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


def _lock_samples(session: Session, header: list[str], rows: list[list[str]]) -> None:
    """Lock every sample the file names at once, in id order, as the rows would one by one:
    two files naming the same samples in another order (each instrument's run order) then
    queue one behind the other instead of each holding a sample the other waits for. Id order
    is the one every change to several samples takes (the review queue, a lot's certificate)."""
    if "sample_id" not in header:
        return
    at = header.index("sample_id")
    codes = {cells[at].strip().upper() for cells in rows if len(cells) > at and cells[at].strip()}
    session.scalars(select(Sample.id).where(Sample.code.in_(codes)).order_by(Sample.id).with_for_update()).all()


def _check_header(header: list[str], rows: list[list[str]]) -> None:
    """Every column is one the import reads, once: a misspelled optional one ("measured at")
    would otherwise be skipped and its cells lost (the time of measurement becoming the time of
    import), and of a column given twice only one cell would count. An unnamed column is
    refused only when it holds something (spreadsheets end lines with empty cells)."""
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(
            "file",
            N_(
                "missing column(s): %(missing)s; expected %(columns)s separated by commas or semicolons",
                missing=", ".join(missing), columns=", ".join(COLUMNS),
            ),
        )
    unknown = [name for name in header if name and name not in COLUMNS]
    if unknown:
        raise InputError(
            "file",
            N_(
                "unknown column(s): %(unknown)s; the columns are %(columns)s (check the spelling)",
                unknown=", ".join(map(repr, unknown)), columns=", ".join(COLUMNS),
            ),
        )
    # One pass over the cells, not one per column: a 5 MB file may hold a million columns.
    filled = {at for cells in rows for at, cell in enumerate(cells) if cell.strip()}
    for at, name in enumerate(header):
        if not name and at in filled:
            raise InputError("file", N_("column %(n)s has no name but holds values: name it or empty it", n=at + 1))
    counts = Counter(name for name in header if name)
    twice = sorted(name for name, n in counts.items() if n > 1)
    if twice:
        raise InputError("file", N_("column %(name)s twice: give each column once", name=repr(twice[0])))


def import_results(session: Session, actor: User, text: str, zone: tzinfo = UTC) -> list[Analysis]:
    """`zone`: where a measured_at without a UTC offset was written (the lab's zone)."""
    require(actor, Capability.HANDLE_SAMPLES, N_("import results"))
    _within_size(len(text.encode("utf-8", "surrogatepass")))
    table = read_table(text)
    header = [h.strip().lower() for h in (table[0] if table else [])]
    _check_header(header, table[1:])
    if len(table) - 1 > MAX_ROWS:
        raise InputError("file", N_("more than %(n)s rows; split the file", n=MAX_ROWS))
    _lock_samples(session, header, table[1:])
    imported, bad = [], []
    # (sample, method) -> the row that gives its result: a second row is a repeat in this file,
    # not a result entered before (nothing is, until the whole file is good).
    given: dict[tuple[str, str], int] = {}
    for number, cells in enumerate(table[1:], start=2):  # row 1 is the header
        if not any(c.strip() for c in cells):
            continue  # a blank line, as spreadsheets leave at the end
        try:
            if len(cells) > len(header):
                raise InputError("row", N_("%(cells)s cells for %(columns)s columns", cells=len(cells), columns=len(header)))
            row = dict(zip(header, cells, strict=False))
            analysis = ((row.get("sample_id") or "").strip().upper(), (row.get("method") or "").strip())
            first = given.setdefault(analysis, number)
            if all(analysis) and first != number:
                raise InputError("method", N_("row %(row)s of this file gives this result already", row=first))
            imported.append(_import_row(session, actor, row, zone))
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
