"""The remedy policy and interim measures on the staff pages.

The case page shows, through the template globals ``remedy_panel`` and ``interim_panel``, what
the customer is entitled to (next to the agree form), the case's approval requests with the
owner's request form, and the interim measures with the owner's forms. Quality managers decide
requests on the approvals page, where they also set the policy's numbers.

Every view has one shape: load or 404 → permission (403) → validate → service → commit →
flash and redirect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from complaints import vocab
from complaints.db import get_session
from complaints.errors import Refused
from complaints.evidence import EvidenceError, Field
from complaints.models import Case, InterimMeasure, RemedyApproval, User
from complaints.permissions import (
    can_decide_remedy,
    can_edit_settings,
    can_end_interim,
    can_record_interim,
    can_request_remedy_approval,
    can_view_case,
)
from complaints.remedy_policy import Entitlement, PolicySettings
from complaints.services import interim as interim_ops
from complaints.services import remedies as remedy_ops
from complaints.web.cases import _render_case
from complaints.web.forms import StrictForm, _wt_field
from complaints.web.helpers import bind, evidence_context, fresh, get_viewable_case, refusal_message

bp = Blueprint("remedies", __name__)
bp.add_app_template_global(can_decide_remedy)


def _form_class(name: str, specs: tuple[Field, ...]) -> type[StrictForm]:
    """A form generated from field specs, as the step forms are."""
    return type(name, (StrictForm,), {spec.name: _wt_field(spec) for spec in specs})


@cache
def approval_form_class() -> type[StrictForm]:
    return _form_class("RemedyApprovalForm", remedy_ops.APPROVAL_FIELDS)


@cache
def decision_form_class() -> type[StrictForm]:
    return _form_class("RemedyDecisionForm", remedy_ops.DECISION_FIELDS)


@cache
def policy_form_class() -> type[StrictForm]:
    return _form_class("RemedyPolicyForm", remedy_ops.SETTINGS_FIELDS)


@cache
def measure_form_class() -> type[StrictForm]:
    return _form_class("InterimMeasureForm", interim_ops.GIVE_FIELDS)


@cache
def end_form_class() -> type[StrictForm]:
    return _form_class("InterimEndForm", interim_ops.END_FIELDS)


def _form_data(form: StrictForm, specs: tuple[Field, ...]) -> dict[str, Any]:
    return {spec.name: form[spec.name].data for spec in specs}


def _actor() -> User:
    return current_user._get_current_object()


def _to_case(case: Case, anchor: str) -> ResponseReturnValue:
    return redirect(url_for("cases.show", case_id=case.id, _anchor=anchor))


def _refused(e: Refused, case: Case, anchor: str) -> ResponseReturnValue:
    get_session().rollback()
    case = fresh(case)
    flash(refusal_message(e, case), "error")
    if can_view_case(current_user, case):
        return _to_case(case, anchor)
    return redirect(url_for("home.index"))


def amount_text(value: Any) -> str:
    return f"{value:.2f}" if value is not None else ""


bp.add_app_template_global(amount_text, "amount_text")


# --- the case page ----------------------------------------------------------------------
@dataclass
class RemedyPanel:
    entitlement: Entitlement | None
    approvals: list[RemedyApproval]
    people: dict[int, User]
    can_request: bool
    form: Any = None
    show_entitlement: bool = False
    labels: dict[str, Any] = field(default_factory=lambda: dict(vocab.REMEDIES))


@bp.app_template_global()
def remedy_panel(case: Case) -> RemedyPanel:
    """What the case page shows of the remedy policy, to those who may see the case."""
    s = get_session()
    user = current_user
    if not can_view_case(user, case):
        return RemedyPanel(None, [], {}, False)
    show = case.state in remedy_ops.REQUEST_STATES
    approvals = remedy_ops.approvals_of(s, case)
    ids = {a.requested_by_id for a in approvals} | {a.decided_by_id for a in approvals if a.decided_by_id}
    people = {u.id: u for u in s.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    can_request = can_request_remedy_approval(user, case)
    return RemedyPanel(
        entitlement=remedy_ops.entitlement_of(s, case) if show else None,
        approvals=approvals,
        people=people,
        can_request=can_request,
        form=approval_form_class()(formdata=None) if can_request else None,
        show_entitlement=show,
    )


@dataclass
class InterimPanel:
    measures: list[InterimMeasure]
    can_record: bool
    can_end: bool
    form: Any = None
    end_form: Any = None


@bp.app_template_global()
def interim_panel(case: Case) -> InterimPanel:
    """The case's interim measures and the owner's forms."""
    user = current_user
    if not can_view_case(user, case):
        return InterimPanel([], False, False)
    can_record = can_record_interim(user, case)
    can_end = can_end_interim(user, case)
    return InterimPanel(
        measures=interim_ops.measures_of(get_session(), case),
        can_record=can_record,
        can_end=can_end,
        form=measure_form_class()(formdata=None) if can_record else None,
        end_form=end_form_class()(formdata=None) if can_end else None,
    )


# --- approval requests --------------------------------------------------------------------
@bp.route("/cases/<int:case_id>/remedy-approvals", methods=["POST"])
@login_required
def request_approval(case_id: int) -> ResponseReturnValue:
    case = get_viewable_case(case_id)
    if not can_request_remedy_approval(current_user, case):
        abort(403)
    form = bind(approval_form_class())
    try:
        data = remedy_ops.validate_request(_form_data(form, remedy_ops.APPROVAL_FIELDS), evidence_context())
        s = get_session()
        remedy_ops.request_approval(s, case, _actor(), data, evidence_context().now)
    except EvidenceError as e:
        get_session().rollback()
        case = fresh(case)
        return _render_case(
            case, forms={"remedy_approval": form}, errors={"remedy_approval": e.fields}, status=422
        )
    except Refused as e:
        return _refused(e, case, "remedy")
    s.commit()
    flash(_("Approval requested. Quality managers see it in their approvals queue."), "success")
    return _to_case(case, "remedy")


def _approvals_page(
    forms: dict[int, Any] | None = None,
    errors: dict[int, dict[str, str]] | None = None,
    policy_form: Any = None,
    policy_errors: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    s = get_session()
    user = current_user
    pending = []
    for approval, case, requester in remedy_ops.pending_approvals(s):
        entitlement = remedy_ops.entitlement_of(s, case)
        pending.append(
            {
                "approval": approval,
                "case": case,
                "requester": requester,
                "why": entitlement.reasons.get(approval.remedy),
                "entitlement": entitlement,
                "can_decide": can_decide_remedy(user, case),
                "form": (forms or {}).get(approval.id) or decision_form_class()(formdata=None),
                "errors": (errors or {}).get(approval.id, {}),
            }
        )
    decided = s.execute(
        select(RemedyApproval, Case)
        .join(Case, Case.id == RemedyApproval.case_id)
        .where(RemedyApproval.decided_at.is_not(None))
        .order_by(RemedyApproval.decided_at.desc(), RemedyApproval.id.desc())
        .limit(20)
    ).all()
    deciders = {a.decided_by_id for a, _c in decided}
    people = {u.id: u for u in s.scalars(select(User).where(User.id.in_(deciders)))} if deciders else {}
    settings = remedy_ops.load_settings(s)
    editable = can_edit_settings(user)
    if editable and policy_form is None:
        policy_form = policy_form_class()(formdata=None, data=_policy_data(settings))
    html = render_template(
        "quality/approvals.html",
        pending=pending,
        decided=decided,
        people=people,
        settings=settings,
        policy_form=policy_form if editable else None,
        policy_errors=policy_errors or {},
        remedies=vocab.REMEDIES,
    )
    return html, status


def _policy_data(settings: PolicySettings) -> dict[str, str]:
    return {k: str(v) for k, v in settings.to_mapping().items()}


@bp.route("/remedy-approvals")
@login_required
def approvals() -> ResponseReturnValue:
    if not can_decide_remedy(current_user):
        abort(403)
    return _approvals_page()


@bp.route("/remedy-approvals/<int:approval_id>/decision", methods=["POST"])
@login_required
def decide(approval_id: int) -> ResponseReturnValue:
    s = get_session()
    approval = s.get(RemedyApproval, approval_id)
    if approval is None:
        abort(404)
    case = s.get(Case, approval.case_id)
    assert case is not None
    if not can_decide_remedy(current_user, case):
        abort(403)
    form = bind(decision_form_class())
    try:
        approved, note = remedy_ops.validate_decision(
            _form_data(form, remedy_ops.DECISION_FIELDS), evidence_context()
        )
    except EvidenceError as e:
        return _approvals_page(forms={approval.id: form}, errors={approval.id: e.fields}, status=422)
    try:
        remedy_ops.decide_approval(s, approval, _actor(), approved, note, evidence_context().now)
    except Refused as e:
        s.rollback()
        flash(refusal_message(e, fresh(case)), "error")
        return redirect(url_for("remedies.approvals"))
    s.commit()
    if approved:
        flash(_("Approved for case %(ref)s: the owner may now offer it.", ref=case.reference), "success")
    else:
        flash(_("Refused for case %(ref)s; the owner sees why.", ref=case.reference), "success")
    return redirect(url_for("remedies.approvals"))


@bp.route("/remedy-approvals/policy", methods=["POST"])
@login_required
def save_policy() -> ResponseReturnValue:
    if not can_edit_settings(current_user):
        abort(403)
    form = bind(policy_form_class())
    try:
        settings = remedy_ops.validate_settings(
            _form_data(form, remedy_ops.SETTINGS_FIELDS), evidence_context()
        )
    except EvidenceError as e:
        return _approvals_page(policy_form=form, policy_errors=e.fields, status=422)
    s = get_session()
    remedy_ops.save_settings(s, _actor(), settings, evidence_context().now)
    s.commit()
    flash(_("Remedy policy saved. Remedies offered from now on are judged by it."), "success")
    return redirect(url_for("remedies.approvals", _anchor="policy"))


# --- interim measures ---------------------------------------------------------------------
@bp.route("/cases/<int:case_id>/interim-measures", methods=["POST"])
@login_required
def give_measure(case_id: int) -> ResponseReturnValue:
    case = get_viewable_case(case_id)
    if not can_record_interim(current_user, case):
        abort(403)
    form = bind(measure_form_class())
    ctx = evidence_context()
    try:
        description, given_at = interim_ops.validate_measure(_form_data(form, interim_ops.GIVE_FIELDS), ctx)
    except EvidenceError as e:
        return _render_case(case, forms={"interim": form}, errors={"interim": e.fields}, status=422)
    s = get_session()
    try:
        interim_ops.give_measure(s, case, _actor(), description, given_at, ctx.now)
    except Refused as e:
        return _refused(e, case, "interim")
    s.commit()
    flash(
        _("Interim measure recorded. The case cannot close until it is withdrawn or made permanent."),
        "success",
    )
    return _to_case(case, "interim")


@bp.route("/cases/<int:case_id>/interim-measures/<int:measure_id>/end", methods=["POST"])
@login_required
def end_measure(case_id: int, measure_id: int) -> ResponseReturnValue:
    case = get_viewable_case(case_id)
    s = get_session()
    measure = s.get(InterimMeasure, measure_id)
    if measure is None or measure.case_id != case.id:
        abort(404)
    if not can_end_interim(current_user, case):
        abort(403)
    form = bind(end_form_class())
    ctx = evidence_context()
    try:
        outcome, at = interim_ops.validate_end(_form_data(form, interim_ops.END_FIELDS), ctx)
        interim_ops.end_measure(s, case, measure, _actor(), outcome, at, ctx.now)
    except EvidenceError as e:
        s.rollback()
        flash(" ".join(e.fields.values()), "error")
        return _to_case(fresh(case), "interim")
    except Refused as e:
        return _refused(e, case, "interim")
    s.commit()
    if outcome == "withdrawn":
        flash(_("Interim measure marked withdrawn."), "success")
    else:
        flash(_("Interim measure marked permanent."), "success")
    return _to_case(case, "interim")


__all__ = ["bp", "interim_panel", "remedy_panel"]
