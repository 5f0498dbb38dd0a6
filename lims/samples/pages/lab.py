"""Technician pages: sample list, register a lot with its samples, receive by barcode, the
result worksheet (with the spec flag as you type), CSV instrument import and retests.

Every change goes through the domain services; these views only read forms and render answers.
"""

from __future__ import annotations

from datetime import datetime, time

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from analytics import predict
from ingest.registry import load_registry
from lims.kernel.errors import N_, DomainError, InputError
from lims.kernel.models import Analysis, Installation, Lot, Material, Organization, Sample
from lims.kernel.models.certificate import Certificate, certificate_sample, open_certificate
from lims.kernel.models.sample import INPUT_STREAMS, SAMPLE_STATES
from lims.permissions import Capability, can, get_analysis, get_sample, scope_samples
from lims.samples import grading, imports, labels, workflow, worksheets
from lims.samples import registration as sample_service
from lims.samples.results import as_result, load_spec, measure, number
from lims.samples.sample_search import SAMPLE_SORTING
from lims.web.api_blueprint import API_PREFIX
from lims.web.auth import current_user, login_required
from lims.web.errors import web_blueprint
from lims.web.i18n import lab_today, lab_zone, local_name, localized, parse_local_datetime
from lims.web.limits import LARGEST_ID, query_int
from lims.web.request_db import db
from lims.web.state_names import STATE_NAMES
from lims.web.timeseries import timeseries_store

bp = web_blueprint("lab", __name__, url_prefix="/lab")
bp.add_app_template_filter(grading.grade_name)

PAGE_SIZE = 50
MAX_SAMPLES_PER_LOT_FORM = 50
# What happens to a sample next, said on its page when the page offers its reader nothing to do
# with it (a technician's sample waiting for review); not a dead end, a wait for someone else.
NEXT_STEPS = {
    "registered": _l("Next: the lab receives the sample (Receive, or scan its label)."),
    "received": _l("Next: the results are entered on the worksheet."),
    "to_be_verified": _l("Next: a reviewer verifies the submitted results (four eyes)."),
    "verified": _l("Next: a reviewer certifies the sample."),
}


def _failed(exc: DomainError) -> dict[str, list[str]]:
    """A service refusal as field -> messages, for showing beside the form fields."""
    return exc.errors if isinstance(exc, InputError) else {"_": [exc.message]}


@bp.get("/samples")
@login_required(Capability.HANDLE_SAMPLES)
def samples():
    user = current_user()
    query = scope_samples(select(Sample), user).options(selectinload(Sample.lot))
    state = request.args.get("state", "")
    if state in SAMPLE_STATES:
        query = query.where(Sample.state == state)
    material = request.args.get("material", type=query_int)
    if material:
        query = query.where(Sample.material_id == material)
    code = request.args.get("q", "").strip()
    if code:
        query = query.where(Sample.code.startswith(code.upper()))
    sort = SAMPLE_SORTING.check(user, request.args.get("sort"))
    # Keyset paging: the next page starts after the last sample shown, in the order sorted by
    # (no OFFSET scans). `before` keeps its name from when the only order was newest first.
    before = request.args.get("before", type=query_int)
    if before:
        query = SAMPLE_SORTING.after(query, user, sort, before)
    rows = list(db().scalars(SAMPLE_SORTING.apply(query, user, sort).limit(PAGE_SIZE)))
    return render_template(
        "lab/samples.html",
        samples=rows,
        states=SAMPLE_STATES,
        materials=sorted(db().scalars(select(Material)), key=local_name),
        filters={"state": state, "material": material, "q": code, "sort": sort},
        sort=sort,
        next_before=rows[-1].id if len(rows) == PAGE_SIZE else None,
    )


def _lot_form_choices() -> dict[str, object]:
    return {
        "installations": list(db().scalars(select(Installation).order_by(Installation.line_id, Installation.key))),
        "materials": list(db().scalars(select(Material).order_by(Material.line_id, Material.key))),
        "owners": list(
            db().scalars(
                select(Organization)
                .where(Organization.kind.not_in(("lab", "provider")))
                .order_by(Organization.name)
            )
        ),
        "input_streams": INPUT_STREAMS,
    }


def _providers() -> list[Organization]:
    """The approved external providers a result may be transcribed from."""
    return list(
        db().scalars(select(Organization).where(Organization.kind == "provider").order_by(Organization.name))
    )


def _register_lot_and_samples(form) -> Lot:
    user = current_user()
    errors: dict[str, list[str]] = {}
    try:
        count = int(form.get("sample_count", "1"))
        if not 1 <= count <= MAX_SAMPLES_PER_LOT_FORM:
            raise ValueError
    except ValueError:
        errors["sample_count"] = [_("give a whole number from 1 to %(n)s", n=MAX_SAMPLES_PER_LOT_FORM)]
        count = 0
    try:
        recycled = number(form.get("recycled_content_pct", ""), "recycled_content_pct")
    except InputError:
        errors["recycled_content_pct"] = [_("give a percentage, e.g. 85")]
    window = {}
    for field in ("production_start", "production_end"):
        try:
            window[field] = parse_local_datetime(form.get(field, ""), field)
        except InputError as exc:
            errors.update(exc.errors)
    sampled_at = None
    if form.get("sampled_at", "").strip():
        try:
            sampled_at = parse_local_datetime(form["sampled_at"], "sampled_at")
        except InputError as exc:
            errors.update(exc.errors)
    if errors:
        raise InputError(errors)
    lot = sample_service.create_lot(
        db(),
        user,
        code=form.get("code", "").strip(),
        installation=form.get("installation", ""),
        material=form.get("material", ""),
        owner=form.get("owner", ""),
        input_stream=form.get("input_stream", ""),
        recycled_content_pct=recycled,
        source=form.get("source", "").strip(),
        **window,
    )
    request_ = sample_service.SampleRequest(
        lot=lot.code,
        storage_location=form.get("storage_location", "").strip(),
        sampled_at=sampled_at,
        sampled_by=form.get("sampled_by", ""),
        sampling_plan=form.get("sampling_plan", ""),
    )
    try:
        sample_service.register_samples(db(), user, [request_] * count, zone=lab_zone())
    except InputError as exc:
        # Every sample is asked for alike, so the first one's problems are the form's fields.
        nested = exc.errors.get("samples")
        raise InputError(nested["0"] if isinstance(nested, dict) else exc.errors) from exc
    return lot


@bp.route("/lots/new", methods=["GET", "POST"])
@login_required(Capability.HANDLE_SAMPLES)
def new_lot():
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            lot = _register_lot_and_samples(request.form)
        except DomainError as exc:
            errors = _failed(exc)
        else:
            _predict(lot)
            flash(_("Lot %(code)s registered with its samples.", code=lot.code), "success")
            return redirect(url_for("lab.lot", lot_id=lot.id))
    return (
        render_template("lab/new_lot.html", errors=errors, form=request.form, **_lot_form_choices()),
        422 if errors else 200,
    )


def _predict(lot: Lot) -> None:
    predict.predict_if_served(db(), timeseries_store(), load_registry(), lot, actor=current_user())


@bp.get("/lots/<int:lot_id>")
@login_required(Capability.HANDLE_SAMPLES)
def lot(lot_id: int):
    return lot_page(lot_id)


def lot_page(lot_id: int, errors: dict[str, list[str]] | None = None, status: int = 200):
    """The lot page, also as the answer to a refused action on the lot."""
    lot_row = db().get(Lot, lot_id)
    if lot_row is None:
        abort(404)
    lot_samples = list(db().scalars(select(Sample).where(Sample.lot_id == lot_id).order_by(Sample.id)))
    user = current_user()
    page = render_template(
        "lab/lot.html", lot=lot_row, samples=lot_samples, errors=errors or {},
        prediction=predict.shown_for_lot(db(), lot_id),
        can_certify=can(user, Capability.ISSUE_CERTIFICATES),
    )
    return page, status


@bp.get("/lots/<int:lot_id>/labels.pdf")
@login_required(Capability.HANDLE_SAMPLES)
def lot_labels(lot_id: int):
    """Every sample label of a lot in one PDF, one per page."""
    lot_row = db().get(Lot, lot_id)
    if lot_row is None:
        abort(404)
    lot_samples = db().scalars(select(Sample).where(Sample.lot_id == lot_id).order_by(Sample.id)).all()
    if not lot_samples:
        abort(404)
    user = current_user()
    pdf = labels.sheet_pdf(lot_row.code, [(s.code, labels.label_lines(user, s)) for s in lot_samples])
    return Response(pdf, mimetype="application/pdf")


@bp.route("/receive", methods=["GET", "POST"])
@login_required(Capability.HANDLE_SAMPLES)
def receive():
    """Scan (a scanner types the code and Enter) or type a sample ID; the field stays focused."""
    received = None
    error = None
    status = 200
    if request.method == "POST":
        code = request.form.get("code", "").strip().upper()
        try:
            sample = get_sample(db(), current_user(), code, for_update=True)
            received = workflow.receive(
                db(),
                current_user(),
                sample,
                request.form.get("storage_location", "").strip() or None,
                request.form.get("condition", ""),
            )
        except DomainError as exc:
            error, status = exc.message, exc.status
    day_start = datetime.combine(lab_today(), time(0), tzinfo=lab_zone())
    earlier = [s for s in workflow.received_since(db(), current_user(), day_start) if s is not received]
    return render_template("lab/receive.html", received=received, error=error, earlier=earlier), status


def _sample_page_data(code: str) -> dict[str, object]:
    sample = get_sample(db(), current_user(), code)
    analyses = list(
        db().scalars(
            select(Analysis)
            .where(Analysis.sample_id == sample.id)
            .options(selectinload(Analysis.submitted_by), selectinload(Analysis.verified_by))
            .order_by(Analysis.method_id, Analysis.id)
        )
    )
    certificates = list(
        db().scalars(
            select(Certificate)
            .join(certificate_sample, certificate_sample.c.certificate_id == Certificate.id)
            .where(certificate_sample.c.sample_id == sample.id)
            .order_by(Certificate.issued_at.desc(), Certificate.id.desc())
        )
    )
    user = current_user()
    # A sample reopened for correcting its certificate is re-issued by amending that certificate.
    reopened = open_certificate(db(), sample) if sample.state == "verified" else None
    missed_grade, held_back = workflow.held_back_by(db(), sample)
    return {
        "sample": sample,
        "missed_grade": missed_grade,
        "held_back": held_back,
        "analyses": analyses,
        "reaches": workflow.reaches(db(), [a for a in analyses if a.state != "retracted"]),
        "replaced_because": {a.id: workflow.replaced_because(a) for a in analyses if a.retract_reason},
        "certificates": certificates,
        "reopened": reopened,
        "next_step": NEXT_STEPS.get(sample.state),
        "actions": workflow.allowed_actions(sample, user),
        "analysis_actions": {a.id: workflow.allowed_actions(a, user) for a in analyses},
    }


@bp.get("/samples/<code>")
@login_required(Capability.HANDLE_SAMPLES)
def sample(code: str):
    return sample_page(code)


def sample_page(code: str, errors: dict[str, list[str]] | None = None, status: int = 200):
    """The sample page, also as the answer to a refused action on the sample (after the
    caller rolled the request back, so it shows the stored state)."""
    return render_template("lab/sample.html", errors=errors or {}, **_sample_page_data(code)), status


@bp.post("/samples/<code>/<action>")
@login_required(Capability.HANDLE_SAMPLES)
def sample_action(code: str, action: str):
    user = current_user()
    if action not in ("receive", "cancel", "reject"):
        abort(404)
    target = get_sample(db(), user, code, for_update=True)
    try:
        if action == "receive":
            workflow.receive(db(), user, target)
        else:
            getattr(workflow, action)(db(), user, target, request.form.get("reason", ""))
    except DomainError as exc:
        db().rollback()
        return sample_page(code, _failed(exc), exc.status)
    flash(_("Sample %(code)s is now %(state)s.", code=code, state=STATE_NAMES[target.state]), "success")
    return redirect(url_for("lab.sample", code=code))


def _submit_rows(analyses: list[Analysis], form) -> tuple[int, dict[int, dict[str, list[str]]]]:
    """Enter the typed rows of a worksheet; per analysis id, what was wrong with its row.
    A refusal that concerns the sample (not received, certified) is the sheet's to show once,
    before typing: rows of such samples take no input, so they never reach here."""
    user = current_user()
    entered = 0
    errors: dict[int, dict[str, list[str]]] = {}
    for analysis in analyses:
        value = form.get(f"value-{analysis.id}", "").strip()
        if not value:
            continue
        try:
            workflow.submit(
                db(),
                user,
                analysis,
                value=value,
                unit=form.get(f"unit-{analysis.id}", ""),
                uncertainty=form.get(f"uncertainty-{analysis.id}", "").strip() or None,
                uncertainty_reason=form.get(f"uncertainty_reason-{analysis.id}", ""),
                instrument=form.get(f"instrument-{analysis.id}", "").strip(),
                provider=form.get(f"provider-{analysis.id}", ""),
                provider_report=form.get(f"provider_report-{analysis.id}", ""),
            )
            entered += 1
        except DomainError as exc:
            errors[analysis.id] = _failed(exc)
    if not errors and not entered:
        errors[0] = {"_": [_("Enter at least one value.")]}
    return entered, errors


@bp.route("/samples/<code>/worksheet", methods=["GET", "POST"])
@login_required(Capability.HANDLE_SAMPLES)
def worksheet(code: str):
    # workflow.submit queues each row on the sample and reads it again after the lock: what a
    # colleague entered meanwhile is seen, not written over.
    data = _sample_page_data(code)
    errors: dict[int, dict[str, list[str]]] = {}
    if request.method == "POST":
        entered, errors = _submit_rows(data["analyses"], request.form)
        if not errors:
            flash(_("%(n)s result(s) submitted for %(code)s.", n=entered, code=code), "success")
            return redirect(url_for("lab.sample", code=code))
        # All or nothing: undo the rows that were accepted and show the stored state again.
        db().rollback()
        data = _sample_page_data(code)
    sample_row = data["sample"]
    spec = load_spec(db(), sample_row.material_id)
    return (
        render_template(
            "lab/worksheet.html", errors=errors, form=request.form,
            limits={a.method.property: worksheets.grade_limits(spec, a.method.property) for a in data["analyses"]},
            takes_results="enter_results" in data["actions"], providers=_providers(), **data,
        ),
        422 if errors else 200,
    )


@bp.get("/worksheets")
@login_required(Capability.HANDLE_SAMPLES)
def method_worksheets():
    return render_template("lab/worksheets.html", methods=worksheets.open_methods(db(), current_user()))


def _typed_analysis_ids(form) -> list[int]:
    """The analyses whose value field (value-<id>) holds a value. A name edited to a number no
    row can have (past the database's integers, or too long for int() to read) names none."""
    ids = []
    for name, value in form.items():
        field, _, raw = name.partition("-")
        if field != "value" or not raw.isdigit() or not value.strip():
            continue
        try:
            analysis_id = int(raw)
        except ValueError:
            continue
        if analysis_id <= LARGEST_ID:
            ids.append(analysis_id)
    return ids


@bp.route("/worksheets/<method_key>", methods=["GET", "POST"])
@login_required(Capability.HANDLE_SAMPLES)
def method_worksheet(method_key: str):
    errors: dict[int, dict[str, list[str]]] = {}
    codes: dict[int, str] = {}  # analysis id -> its sample, for a refused row off the sheet
    if request.method == "POST":
        typed = _typed_analysis_ids(request.form)
        # Entered in sample order (workflow.submit locks each sample before its analysis
        # changes), so two sheets submitted at once cannot deadlock.
        in_sample_order = db().scalars(
            select(Analysis.id).where(Analysis.id.in_(typed)).order_by(Analysis.sample_id, Analysis.id)
        ).all()
        rows = [get_analysis(db(), current_user(), i) for i in in_sample_order]
        entered, errors = _submit_rows(rows, request.form)
        if not errors:
            flash(_("%(n)s result(s) submitted on the %(method)s worksheet.", n=entered, method=local_name(rows[0].method)), "success")
            return redirect(url_for("lab.method_worksheet", method_key=method_key))
        codes = {a.id: a.sample.code for a in rows}
        db().rollback()
    sheet = worksheets.sheet(db(), current_user(), method_key)
    if errors:
        _say_off_sheet(errors, codes, {a.id for a in sheet.analyses})
    return (
        render_template("lab/method_worksheet.html", sheet=sheet,
                        errors=errors, form=request.form, take_results=worksheets.TAKE_RESULTS,
                        providers=_providers()),
        422 if errors else 200,
    )


def _say_off_sheet(errors: dict[int, dict[str, list[str]]], codes: dict[int, str], on_sheet: set[int]) -> None:
    """A refused row the sheet no longer shows (a colleague entered its result meanwhile) has
    its messages said above the sheet, naming its sample: beside a row they would go unseen."""
    for analysis_id in [i for i in errors if i and i not in on_sheet]:
        said = errors.setdefault(0, {}).setdefault("_", [])
        for messages in errors.pop(analysis_id).values():
            said.extend(N_("%(code)s: %(message)s", code=codes[analysis_id], message=m) for m in messages)


@bp.get("/analyses/<int:analysis_id>/evaluate")
@login_required(Capability.HANDLE_SAMPLES)
def evaluate(analysis_id: int):
    """The spec flag for a value being typed: the same measure + evaluate that submit applies."""
    analysis = get_analysis(db(), current_user(), analysis_id)
    method = analysis.method
    try:
        measured = measure(method, request.args.get("value", ""), request.args.get("unit", method.unit), request.args.get("uncertainty") or None)
    except InputError as exc:
        # Per field, so the page shows each message under the input it is about.
        errors = localized(exc.errors)
        return jsonify(evaluation=None, errors=errors,
                       error="; ".join(m for msgs in errors.values() for m in msgs))
    spec = load_spec(db(), analysis.sample.material_id)
    if spec is None:
        return jsonify(evaluation=None, why=_("no grade specification for this material"))
    if not spec.counts(method.property, method.key):
        return jsonify(evaluation=None, why=_("the grade specification names another method for this property"))
    result = as_result(method, measured)
    evaluation, why = grading.evaluate(spec, method.property, result)
    label = str(STATE_NAMES.get(evaluation, "")) if evaluation else ""
    # The page's script shows `why` as the flag's hover text: in the reader's language. The
    # flag itself says what the value means for the grade (`reach`), not just the envelope.
    reach = grading.reach(spec, method.property, result)
    shown = reach and {"label": localized(reach.label), "flag": reach.flag, "why": localized(reach.why)}
    return jsonify(evaluation=evaluation, label=label, why=localized(why), reach=shown)


@bp.post("/analyses/<int:analysis_id>/retest")
@login_required(Capability.HANDLE_SAMPLES)
def retest(analysis_id: int):
    analysis = get_analysis(db(), current_user(), analysis_id, for_update=True)
    code = analysis.sample.code
    try:
        workflow.retest(db(), current_user(), analysis, request.form.get("reason", ""))
    except DomainError as exc:
        db().rollback()
        return sample_page(code, _failed(exc), exc.status)
    flash(_("Retest of %(method)s created; the original result is kept.", method=local_name(analysis.method)), "success")
    return redirect(url_for("lab.sample", code=code))


@bp.route("/import", methods=["GET", "POST"])
@login_required(Capability.HANDLE_SAMPLES)
def import_csv():
    imported: list[Analysis] = []
    errors: dict[str, object] = {}
    text = ""
    if request.method == "POST":
        upload = request.files.get("file")
        try:
            text = imports.decode(upload.read(imports.MAX_BYTES + 1)) if upload and upload.filename else request.form.get("text", "")
            imported = imports.import_results(db(), current_user(), text, lab_zone())
        except DomainError as exc:
            errors = _failed(exc)
    materials = sorted(db().scalars(select(Material).options(selectinload(Material.test_plan))), key=local_name)
    return (
        render_template(
            "lab/import.html", imported=imported, reaches=workflow.reaches(db(), imported), errors=errors,
            columns=imports.COLUMNS,
            # After a refusal the file's text stays in the box to be corrected; after success it is done.
            text=text if errors else "", materials=materials,
        ),
        422 if errors else 200,
    )


@bp.get("/import/template.csv")
@login_required(Capability.HANDLE_SAMPLES)
def import_template():
    material = request.args.get("material", "")
    delimiter = ";" if request.args.get("sep") == "semicolon" else ","
    body = imports.template(db(), material, delimiter)
    # Excel opens a UTF-8 file right (µ, ³) only with the byte order mark.
    return Response(
        "\ufeff" + body, mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="results-{material}.csv"'},
    )


def label_url(code: str, fmt: str) -> str:
    """The LIMS label endpoint (PNG or PDF) for a sample."""
    return f"{API_PREFIX}/samples/{code}/label?format={fmt}"


def certificate_file_url(cert_id: int, fmt: str) -> str:
    """The certificates API's download of one certificate (pdf or json)."""
    return f"{API_PREFIX}/certificates/{cert_id}.{fmt}"


bp.add_app_template_global(label_url)
bp.add_app_template_global(certificate_file_url)
