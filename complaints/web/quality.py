"""Quality managers' pages: the audit queue, and one case's checklist and verdict.

Every view has one shape: load or 404 → permission (403) → validate → service → commit →
flash and redirect. The case page shows the findings through ``audit_panel`` (a template
global), so the owner sees what the auditor found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select, tuple_
from sqlalchemy.orm import contains_eager
from wtforms import SelectField, TextAreaField

from complaints import clock, vocab
from complaints.checklist import FAIL, ITEMS, NOT_APPLICABLE, PASS, STATUS_LABELS, note_text
from complaints.db import get_session
from complaints.errors import Refused
from complaints.evidence import EvidenceError
from complaints.models import Audit, Case, Customer, User, UserRole
from complaints.permissions import (
    can_audit,
    can_change_owner,
    can_view_audit_queue,
    can_view_audits,
)
from complaints.services import audits as audit_ops
from complaints.web import display, queries
from complaints.web.forms import StrictForm, option
from complaints.web.helpers import bind, get_case, refusal_message
from complaints.workflow import REOPEN_TARGETS, STATE_LABELS, TERMINAL_STATES

bp = Blueprint("quality", __name__, url_prefix="/audits")

# How each checklist status looks (the house's badge colours).
STATUS_CLASSES = {PASS: "badge--closed", FAIL: "badge--overdue", NOT_APPLICABLE: "badge--withdrawn"}


# --- forms ----------------------------------------------------------------------------
def finding_field(code: str) -> str:
    return f"finding_{code}"


@cache
def audit_form_class() -> type[StrictForm]:
    """The verdict form: the verdict, one finding per checklist item, the step to reopen to."""
    attrs: dict[str, Any] = {
        "verdict": SelectField(
            _l("Verdict"),
            choices=[option("", _l("— choose —"))] + [option(k, v) for k, v in audit_ops.VERDICTS.items()],
            validate_choice=False,
        ),
        "reopen_to": SelectField(
            _l("Reopen the case to"),
            choices=[option("", _l("Do not reopen"))] + [option(s, STATE_LABELS[s]) for s in REOPEN_TARGETS],
            validate_choice=False,
        ),
    }
    for item in ITEMS:
        attrs[finding_field(item.code)] = TextAreaField(item.label, render_kw={"maxlength": 4000, "rows": 2})
    return type("AuditForm", (StrictForm,), attrs)


def _verdict_data(form: StrictForm) -> dict[str, Any]:
    return {
        "verdict": form.verdict.data or None,
        "findings": {item.code: form[finding_field(item.code)].data for item in ITEMS},
        "reopen_to": form.reopen_to.data or None,
    }


def _form_errors(e: EvidenceError) -> dict[str, str]:
    """The validator's field names (findings.<item>) as the form's (finding_<item>)."""
    out: dict[str, str] = {}
    for key, message in e.fields.items():
        if key.startswith("findings."):
            out[finding_field(key.split(".", 1)[1])] = message
        else:
            out[key] = message
    return out


# --- the queue ------------------------------------------------------------------------
def _tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def _owner_choices() -> list[User]:
    """Everyone who can own a case (deactivated accounts too: their cases are audited)."""
    responders = select(UserRole.user_id).where(UserRole.role == "responder")
    return list(
        get_session().scalars(select(User).where(User.id.in_(responders)).order_by(User.name, User.id))
    )


@bp.route("")
@login_required
def queue() -> ResponseReturnValue:
    if not can_view_audit_queue(current_user):
        abort(403)
    filters = audit_ops.parse_queue_filters(request.args, strict=False)
    sample = audit_ops.sample_settings()
    cursor = request.args.get("cursor") or None
    stmt = (
        audit_ops.queue_select(filters, sample, _tz())
        .join(Customer, Customer.id == Case.customer_id)
        .options(contains_eager(Case.customer))
    )
    if cursor:
        try:
            after = queries.decode_cursor(cursor)
        except queries.BadCursor:
            abort(400, description=_("This page link is no longer valid; start again from the first page."))
        stmt = stmt.where(tuple_(Case.closed_at, Case.id) > tuple_(*after))
    limit = int(current_app.config["PAGE_SIZE"])
    s = get_session()
    rows = list(s.scalars(stmt.order_by(Case.closed_at, Case.id).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = queries.encode_cursor(rows[-1].closed_at, rows[-1].id)  # type: ignore[arg-type]
    return render_template(
        "quality/queue.html",
        cases=rows,
        reasons=audit_ops.queue_reasons(s, rows, sample),
        reason_labels=audit_ops.REASONS,
        filters=filters,
        filter_args=filters.args(),
        owners=_owner_choices(),
        categories=vocab.CATEGORIES,
        next_cursor=next_cursor,
        first_page=cursor is None,
        sample=sample,
    )


# --- one case: checklist and verdict --------------------------------------------------
@dataclass
class ChecklistRow:
    code: str
    label: str
    status: str
    status_label: str
    status_class: str
    note: str
    seqs: list[int] = field(default_factory=list)


def checklist_rows(results: list[Any]) -> list[ChecklistRow]:
    """Results (live ItemResults or the JSON stored with an audit) as table rows."""
    labels = {item.code: item.label for item in ITEMS}
    rows = []
    for r in results:
        data = r.to_json() if hasattr(r, "to_json") else r
        status = data.get("status", NOT_APPLICABLE)
        rows.append(
            ChecklistRow(
                code=data["item"],
                label=str(labels.get(data["item"], data["item"])),
                status=status,
                status_label=str(STATUS_LABELS.get(status, status)),
                status_class=STATUS_CLASSES.get(status, ""),
                note=note_text(data),
                seqs=list(data.get("seqs") or []),
            )
        )
    return rows


def _auditable(case: Case) -> bool:
    return case.state in TERMINAL_STATES and case.audited_closed_at != case.closed_at


def _render_audit(
    case: Case, form: StrictForm | None = None, errors: dict[str, str] | None = None, status: int = 200
) -> ResponseReturnValue:
    s = get_session()
    if form is None:
        form = audit_form_class()(formdata=None)
    now = clock.now()
    html = render_template(
        "quality/audit.html",
        case=case,
        checklist=checklist_rows(audit_ops.checklist_for(s, case, now)),
        history=display.history(case),
        audits=[audit_view(a) for a in audit_ops.audits_of(s, case)],
        auditable=_auditable(case),
        in_queue=audit_ops.in_queue(s, case, audit_ops.sample_settings()),
        form=form,
        errors=errors or {},
        finding_field=finding_field,
        reopen_possible=case.state == "closed",
    )
    return html, status


@bp.route("/<int:case_id>")
@login_required
def show(case_id: int) -> ResponseReturnValue:
    case = get_case(case_id)
    if not can_audit(current_user, case):
        abort(403)
    return _render_audit(case)


@bp.route("/<int:case_id>", methods=["POST"])
@login_required
def record(case_id: int) -> ResponseReturnValue:
    case = get_case(case_id)
    if not can_audit(current_user, case):
        abort(403)
    form = bind(audit_form_class())
    try:
        inp = audit_ops.validate_verdict(_verdict_data(form))
    except EvidenceError as e:
        return _render_audit(case, form, _form_errors(e), 422)
    s = get_session()
    try:
        audit_ops.record_audit(s, case, current_user._get_current_object(), inp, clock.now())
    except EvidenceError as e:
        s.rollback()
        return _render_audit(get_case(case_id), form, _form_errors(e), 422)
    except Refused as e:
        s.rollback()
        case = get_session().get(Case, case_id, populate_existing=True) or case
        flash(_refusal(e, case), "error")
        return redirect(url_for("quality.show", case_id=case_id))
    s.commit()
    if inp.reopen_to:
        flash(
            _(
                "Audit of %(ref)s recorded. The case is back at “%(step)s” for its owner.",
                ref=case.reference,
                step=STATE_LABELS[inp.reopen_to],
            ),
            "success",
        )
    else:
        flash(_("Audit of %(ref)s recorded.", ref=case.reference), "success")
    return redirect(url_for("quality.queue"))


def _refusal(e: Refused, case: Case) -> str:
    if e.code == "already_audited":
        return _("This closure of the case has been audited already. Nothing was changed.")
    return refusal_message(e, case)


# --- the panel on the case page -------------------------------------------------------
@dataclass
class AuditView:
    audit: Audit
    verdict_label: str
    findings: list[tuple[str, str]]  # (item label, text)
    reopen_label: str | None


def audit_view(audit: Audit) -> AuditView:
    labels = {item.code: item.label for item in ITEMS}
    return AuditView(
        audit=audit,
        verdict_label=str(audit_ops.VERDICTS.get(audit.verdict, audit.verdict)),
        findings=[
            (str(labels.get(f.get("item"), f.get("item"))), f.get("text", "")) for f in audit.findings or []
        ],
        reopen_label=str(STATE_LABELS[audit.reopen_to]) if audit.reopen_to else None,
    )


@dataclass
class AuditPanel:
    audits: list[AuditView]
    can_audit_now: bool
    can_change_owner: bool


@bp.app_template_global()
def audit_panel(case: Case) -> AuditPanel:
    """What the case page shows of audits: the findings for those who may see them, and the
    quality and admin actions for those who may take them."""
    user = current_user
    s = get_session()
    audits = [audit_view(a) for a in audit_ops.audits_of(s, case)] if can_view_audits(user, case) else []
    return AuditPanel(
        audits=audits,
        can_audit_now=can_audit(user, case) and _auditable(case),
        can_change_owner=can_change_owner(user, case),
    )


bp.add_app_template_global(can_view_audit_queue)
