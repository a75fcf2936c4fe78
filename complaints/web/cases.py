"""The case pages: list and search, intake, the case itself and everything done on it.

Every view has one shape: load or 404 → permission (403) → validate → service → commit →
flash and redirect. A refusal from a service rolls back and changes nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from complaints import clock
from complaints.db import get_session
from complaints.errors import Refused
from complaints.evidence import (
    ANSWER_FIELD,
    INTAKE_FIELDS,
    STEP_FIELDS,
    EvidenceError,
    validate_intake,
    validate_reason,
    validate_step,
)
from complaints.models import Case, User, UserRole
from complaints.permissions import (
    can_add_note,
    can_be_assistant,
    can_claim,
    can_complete_step,
    can_invite_assistant,
    can_open_case,
    can_view_case,
    can_withdraw,
    has_role,
)
from complaints.services import cases as case_ops
from complaints.services import remedies
from complaints.services.updates import PhraseRefused
from complaints.web import customer as customer_link
from complaints.web import display, queries
from complaints.web.forms import (
    AssistantForm,
    ButtonForm,
    NoteForm,
    WithdrawForm,
    intake_data,
    intake_defaults,
    intake_form_class,
    option,
    spec_fields,
    step_data,
    step_form_class,
)
from complaints.web.helpers import (
    bind,
    evidence_context,
    fresh,
    get_case,
    get_viewable_case,
    refusal_message,
    stale_message,
)
from complaints.web.phrases import record_phrase_refusal
from complaints.workflow import STATE_LABELS, STATES, STEPS

bp = Blueprint("cases", __name__, url_prefix="/cases")
INTAKE_SPECS = {spec.name: spec for spec in INTAKE_FIELDS}


def _actor() -> User:
    return current_user._get_current_object()


def _to_case(case: Case, anchor: str | None = None) -> ResponseReturnValue:
    return redirect(url_for("cases.show", case_id=case.id, _anchor=anchor))


def _refused(e: Refused, case: Case, anchor: str | None = None) -> ResponseReturnValue:
    """Undo everything, say why, and show the case as it now is (or the home page)."""
    get_session().rollback()
    case = fresh(case)
    flash(refusal_message(e, case), "error")
    if can_view_case(current_user, case):
        return _to_case(case, anchor)
    return redirect(url_for("home.index"))


# --- list and intake ----------------------------------------------------------------
@bp.route("")
@login_required
def list_cases() -> ResponseReturnValue:
    filters = queries.Filters.from_args(request.args)
    cursor = request.args.get("cursor") or None
    try:
        page = queries.search_cases(current_user, filters, cursor, current_app.config["PAGE_SIZE"])
    except queries.BadCursor:
        abort(400, description=_("This page link is no longer valid; start again from the first page."))
    return render_template(
        "cases/list.html",
        page=page,
        filters=filters,
        states=[(s, STATE_LABELS[s]) for s in STATES],
        first_page=cursor is None,
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new_case() -> ResponseReturnValue:
    if not can_open_case(current_user):
        abort(403)
    form_class = intake_form_class()
    if request.method == "GET":
        form = form_class(formdata=None, data=intake_defaults())
        return render_template("cases/new.html", form=form, specs=INTAKE_SPECS, errors={})
    form = bind(form_class)
    try:
        data = validate_intake(intake_data(form), evidence_context())
    except EvidenceError as e:
        return render_template("cases/new.html", form=form, specs=INTAKE_SPECS, errors=e.fields), 422
    s = get_session()
    case = case_ops.open_case(s, _actor(), data, clock.now())
    s.commit()
    flash(_("Case %(ref)s opened. A responder will claim it.", ref=case.reference), "success")
    return _to_case(case)


# --- the case page ------------------------------------------------------------------
def _assistant_candidates(case: Case) -> list[User]:
    role_holders = select(UserRole.user_id).where(UserRole.role.in_(("responder", "frontline")))
    users = get_session().scalars(
        select(User).where(User.active.is_(True), User.id.in_(role_holders)).order_by(User.name, User.id)
    )
    return [u for u in users if can_be_assistant(u, case)]


def _assistant_form(case: Case, submitted: bool = False) -> AssistantForm:
    form = bind(AssistantForm) if submitted else AssistantForm(formdata=None)
    form.user_id.choices = [option("", _("— choose —"))] + [
        option(str(u.id), f"{u.name} ({u.email})") for u in _assistant_candidates(case)
    ]
    return form


def _render_case(
    case: Case,
    *,
    forms: dict[str, Any] | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """The case page; a form that was posted with errors is shown back as it was typed."""
    user = current_user
    forms = dict(forms or {})
    errors = errors or {}
    step_fields: list[Any] = []
    if can_complete_step(user, case):
        if "step" not in forms:
            forms["step"] = step_form_class(case.state)(formdata=None, version=str(case.version))
        specs = STEP_FIELDS[case.state]
        step_fields = [
            (spec, field, display.depends_help(spec, specs))
            for spec, field in spec_fields(forms["step"], specs)
        ]
    if can_add_note(user, case):
        forms.setdefault("note", NoteForm(formdata=None))
    if can_withdraw(user, case):
        forms.setdefault("withdraw", WithdrawForm(formdata=None))
    if can_invite_assistant(user, case):
        forms.setdefault("assistant", _assistant_form(case))
    now = clock.now()
    html = render_template(
        "cases/show.html",
        case=case,
        progress=display.progress(case),
        evidence=[display.evidence(r) for r in case.steps],
        notes=list(get_session().scalars(case.notes.select())),
        history=display.history(case),
        overdue=display.is_overdue(case, now),
        forms=forms,
        errors=errors,
        step_fields=step_fields,
        answer_field=ANSWER_FIELD.get(case.state),
    )
    return html, status


@bp.route("/<int:case_id>")
@login_required
def show(case_id: int) -> ResponseReturnValue:
    return _render_case(get_viewable_case(case_id))


@bp.route("/<int:case_id>/claim", methods=["POST"])
@login_required
def claim(case_id: int) -> ResponseReturnValue:
    case = get_case(case_id)
    if not can_claim(current_user, case):
        if case.owner is not None and has_role(current_user, "responder"):
            flash(_("Already owned by %(name)s.", name=case.owner.name), "error")
            return redirect(url_for("home.index"))
        if can_view_case(current_user, case):
            flash(_("This case cannot be claimed."), "error")
            return _to_case(case)
        abort(403)
    bind(ButtonForm)
    s = get_session()
    try:
        case_ops.claim_case(s, case, _actor(), clock.now())
    except Refused as e:
        return _refused(e, case)
    s.commit()
    flash(_("You own case %(ref)s now. Start with the apology.", ref=case.reference), "success")
    return _to_case(case, "step")


@bp.route("/<int:case_id>/steps/<step>", methods=["POST"])
@login_required
def complete_step(case_id: int, step: str) -> ResponseReturnValue:
    case = get_viewable_case(case_id)
    if step not in STEPS:
        abort(404)
    if not can_complete_step(current_user, case):
        abort(403)
    form = bind(step_form_class(step))
    try:
        version = int(form.version.data or "")
    except ValueError:
        abort(400, description=_("The form lacks the case version; reload the page and try again."))
    if step != case.state:
        # A form for a step the case is not at (an old page, a second tab): there is no
        # form on the page to show its errors on; the service refuses it in any case.
        if version != case.version:
            flash(stale_message(), "error")
        else:
            flash(
                _(
                    "The current step is “%(current)s”, not “%(step)s”. Nothing was changed.",
                    current=STATE_LABELS[case.state],
                    step=STATE_LABELS[step],
                ),
                "error",
            )
        return _to_case(case, "step")
    try:
        inp = validate_step(step, step_data(form, step), evidence_context())
    except EvidenceError as e:
        return _render_case(case, forms={"step": form}, errors={"step": e.fields}, status=422)
    s = get_session()
    under_promise = remedies.under_promise_warning(s, case, step, inp.evidence)  # shown if it goes through
    try:
        result = case_ops.complete_step(s, case, step, _actor(), inp, clock.now(), version=version)
        sent = customer_link.question_sent(s, case, _actor()) if result == "awaiting" else None
    except PhraseRefused as e:  # the refusal alone is recorded; the form comes back as typed
        case = record_phrase_refusal(e, case)
        return _render_case(case, forms={"step": form}, errors={"step": {e.field: e.message}}, status=422)
    except remedies.ApprovalRequired as e:  # beyond policy: the form comes back as typed
        s.rollback()
        errors = {"step": {e.field: e.message}}
        return _render_case(fresh(case), forms={"step": form}, errors=errors, status=422)
    except Refused as e:
        return _refused(e, case, "step")
    s.commit()
    if under_promise:
        flash(under_promise, "warning")
    if result == "awaiting":
        flash(customer_link.sent_message(case, sent), "info")
    else:
        flash(
            _(
                "Step “%(step)s” recorded. The case is now at “%(state)s”.",
                step=STATE_LABELS[step],
                state=STATE_LABELS[case.state],
            ),
            "success",
        )
    return _to_case(case, "step" if case.is_open else None)


@bp.route("/<int:case_id>/withdraw", methods=["POST"])
@login_required
def withdraw(case_id: int) -> ResponseReturnValue:
    case = get_viewable_case(case_id)
    if not can_withdraw(current_user, case):
        abort(403)
    form = bind(WithdrawForm)
    try:
        reason = validate_reason(form.reason.data)
    except EvidenceError as e:
        return _render_case(case, forms={"withdraw": form}, errors={"withdraw": e.fields}, status=422)
    s = get_session()
    try:
        case_ops.withdraw_case(s, case, _actor(), reason, clock.now())
    except Refused as e:
        return _refused(e, case)
    s.commit()
    flash(_("Case %(ref)s withdrawn.", ref=case.reference), "success")
    return _to_case(case)


@bp.route("/<int:case_id>/assistants", methods=["POST"])
@login_required
def invite_assistant(case_id: int) -> ResponseReturnValue:
    case = get_viewable_case(case_id)
    if not can_invite_assistant(current_user, case):
        abort(403)
    form = _assistant_form(case, submitted=True)
    if form.user_id.data not in {c.value for c in form.user_id.choices if c.value}:
        message = _("Choose one of the listed colleagues.")
        return _render_case(
            case, forms={"assistant": form}, errors={"assistant": {"user_id": message}}, status=422
        )
    s = get_session()
    helper = s.get(User, int(form.user_id.data))
    assert helper is not None
    try:
        case_ops.invite_assistant(s, case, _actor(), helper, clock.now())
    except Refused as e:
        return _refused(e, case, "assistants")
    s.commit()
    flash(_("%(name)s can now help on this case.", name=helper.name), "success")
    return _to_case(case, "assistants")


@bp.route("/<int:case_id>/notes", methods=["POST"])
@login_required
def add_note(case_id: int) -> ResponseReturnValue:
    case = get_viewable_case(case_id)
    if not can_add_note(current_user, case):
        abort(403)
    form = bind(NoteForm)
    try:
        body = validate_reason(form.body.data, "body")
    except EvidenceError as e:
        return _render_case(case, forms={"note": form}, errors={"note": e.fields}, status=422)
    s = get_session()
    try:
        case_ops.add_note(s, case, _actor(), body, clock.now())
    except Refused as e:
        return _refused(e, case, "notes")
    s.commit()
    flash(_("Note added."), "success")
    return _to_case(case, "notes")
