"""Administrators' pages: staff accounts, and the exceptional owner change of a case.

Every view has one shape: load or 404 → permission (403) → validate → service → commit →
flash and redirect.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import func, select
from wtforms import SelectField, TextAreaField

from complaints import clock
from complaints.db import get_session
from complaints.errors import Refused
from complaints.evidence import EvidenceError, validate_reason
from complaints.models import Case, User
from complaints.permissions import can_change_owner, can_manage_staff
from complaints.services import admin as admin_ops
from complaints.web.forms import ButtonForm, StrictForm, option
from complaints.web.helpers import bind, get_case, refusal_message
from complaints.workflow import OPEN_STATES

bp = Blueprint("admin", __name__)


class OwnerForm(StrictForm):
    new_owner_id = SelectField(_l("New owner"), choices=[], validate_choice=False)
    reason = TextAreaField(_l("Reason for the owner change"))


def _admin() -> User:
    return current_user._get_current_object()


# --- staff accounts -------------------------------------------------------------------
@bp.route("/admin/users")
@login_required
def users() -> ResponseReturnValue:
    if not can_manage_staff(current_user):
        abort(403)
    s = get_session()
    staff = list(s.scalars(select(User).order_by(User.active.desc(), User.name, User.id)))
    open_counts = dict(
        s.execute(
            select(Case.owner_id, func.count())
            .where(Case.state.in_(OPEN_STATES), Case.owner_id.is_not(None))
            .group_by(Case.owner_id)
        ).all()
    )
    stranded = list(
        s.scalars(
            select(Case)
            .join(User, User.id == Case.owner_id)
            .where(User.active.is_(False), Case.state.in_(OPEN_STATES))
            .order_by(Case.opened_at, Case.id)
            .limit(200)
        )
    )
    return render_template("admin/users.html", staff=staff, open_counts=open_counts, stranded=stranded)


@bp.route("/admin/users/<int:user_id>/deactivate", methods=["POST"])
@login_required
def deactivate(user_id: int) -> ResponseReturnValue:
    s = get_session()
    user = s.get(User, user_id)
    if user is None:
        abort(404)
    if not can_manage_staff(current_user):
        abort(403)
    bind(ButtonForm)
    try:
        admin_ops.deactivate_user(s, _admin(), user, clock.now())
    except Refused as e:
        s.rollback()
        flash(_deactivate_refusal(e), "error")
        return redirect(url_for("admin.users"))
    s.commit()
    flash(
        _("%(name)s's account is deactivated; their sessions and tokens no longer work.", name=user.name),
        "success",
    )
    return redirect(url_for("admin.users"))


def _deactivate_refusal(e: Refused) -> str:
    if e.code == "own_account":
        return _("You cannot deactivate your own account.")
    if e.code == "already_deactivated":
        return _("The account is deactivated already.")
    return refusal_message(e)


# --- the owner change -----------------------------------------------------------------
def _owner_form(case: Case, submitted: bool = False) -> OwnerForm:
    form = bind(OwnerForm) if submitted else OwnerForm(formdata=None)
    form.new_owner_id.choices = [option("", _("— choose —"))] + [
        option(str(u.id), f"{u.name} ({u.email})") for u in admin_ops.owner_candidates(get_session(), case)
    ]
    return form


def _render_owner(case: Case, form: OwnerForm, errors: dict[str, str] | None = None, status: int = 200):
    html = render_template(
        "admin/owner.html",
        case=case,
        form=form,
        errors=errors or {},
        allowed=can_change_owner(current_user, case),
    )
    return html, status


@bp.route("/cases/<int:case_id>/owner")
@login_required
def owner_form(case_id: int) -> ResponseReturnValue:
    case = get_case(case_id)
    if not can_change_owner(current_user):
        abort(403)
    return _render_owner(case, _owner_form(case))


@bp.route("/cases/<int:case_id>/owner", methods=["POST"])
@login_required
def change_owner(case_id: int) -> ResponseReturnValue:
    case = get_case(case_id)
    if not can_change_owner(current_user):
        abort(403)
    form = _owner_form(case, submitted=True)
    errors: dict[str, str] = {}
    choices = {c.value for c in form.new_owner_id.choices if c.value}
    if form.new_owner_id.data not in choices:
        errors["new_owner_id"] = _("Choose an active first responder.")
    try:
        reason = validate_reason(form.reason.data)
    except EvidenceError as e:
        errors.update(e.fields)
    if errors:
        return _render_owner(case, form, errors, 422)
    s = get_session()
    new_owner = s.get(User, int(form.new_owner_id.data))
    try:
        admin_ops.change_owner(s, case, _admin(), new_owner, reason, clock.now())
    except EvidenceError as e:
        s.rollback()
        return _render_owner(get_case(case_id), form, e.fields, 422)
    except Refused as e:
        s.rollback()
        case = s.get(Case, case_id, populate_existing=True) or case
        flash(_owner_refusal(e, case), "error")
        return redirect(url_for("admin.owner_form", case_id=case_id))
    s.commit()
    flash(
        _(
            "%(ref)s now belongs to %(name)s. The change is in its history and goes to audit.",
            ref=case.reference,
            name=new_owner.name if new_owner else "?",
        ),
        "success",
    )
    return redirect(url_for("cases.show", case_id=case.id))


def _owner_refusal(e: Refused, case: Case) -> str:
    if e.code == "owner_active":
        return _("The owner's account is active: a case stays with its first responder. Nothing was changed.")
    if e.code == "wrong_state":
        return _("Only an open case with an owner can change owner. Nothing was changed.")
    return refusal_message(e, case)


bp.add_app_template_global(can_manage_staff)
