"""Progress updates on the case page: the form for the owner, the updates sent, the cadence.

The view has the one shape: load or 404 → permission (403) → validate → service → commit →
flash and redirect. The case page shows the section through ``updates_panel`` (a template
global); lists mark cases whose owner is behind on updates through ``update_overdue``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, abort, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import TextAreaField

from complaints import clock
from complaints.db import get_session
from complaints.errors import Refused
from complaints.evidence import EvidenceError, validate_reason
from complaints.models import Case, ProgressUpdate, User
from complaints.permissions import can_post_update, can_view_case, is_owner
from complaints.services import updates as update_ops
from complaints.services.updates import PhraseRefused
from complaints.web.cases import _render_case
from complaints.web.forms import StrictForm
from complaints.web.helpers import bind, fresh, get_viewable_case, refusal_message
from complaints.web.phrases import record_phrase_refusal

bp = Blueprint("updates", __name__, url_prefix="/cases")


class UpdateForm(StrictForm):
    body = TextAreaField(
        _l("Message to the customer"),
        description=_l(
            "Sent to the customer (by email when they have an address) and shown on their case page. "
            "Checked against the forbidden phrases first."
        ),
        render_kw={"maxlength": 4000, "rows": 3},
    )


@dataclass
class UpdatesPanel:
    updates: list[ProgressUpdate]
    can_post: bool
    form: UpdateForm | None
    due_at: datetime | None
    overdue: bool
    cadence_days: str


@bp.app_template_global()
def updates_panel(case: Case) -> UpdatesPanel:
    """What the case page shows of progress updates, to those who may see the case."""
    user = current_user
    now = clock.now()
    can_post = can_post_update(user, case)
    days = update_ops.update_cadence().total_seconds() / 86400
    return UpdatesPanel(
        updates=update_ops.updates_of(get_session(), case) if can_view_case(user, case) else [],
        can_post=can_post,
        form=UpdateForm(formdata=None) if can_post else None,
        due_at=update_ops.next_update_due(case),
        overdue=update_ops.update_overdue(case, now),
        cadence_days=f"{days:g}",
    )


def _actor() -> User:
    return current_user._get_current_object()


def _to_updates(case: Case) -> ResponseReturnValue:
    return redirect(url_for("cases.show", case_id=case.id, _anchor="updates"))


@bp.route("/<int:case_id>/updates", methods=["POST"])
@login_required
def post_update(case_id: int) -> ResponseReturnValue:
    case = get_viewable_case(case_id)
    if not can_post_update(current_user, case):
        if is_owner(current_user, case):
            flash(_("The case has ended: it takes no more updates."), "error")
            return _to_updates(case)
        abort(403)
    form = bind(UpdateForm)
    try:
        body = validate_reason(form.body.data, "body")
    except EvidenceError as e:
        return _render_case(case, forms={"update": form}, errors={"update": e.fields}, status=422)
    s = get_session()
    try:
        update_ops.send_progress_update(s, case, _actor(), body, clock.now())
    except PhraseRefused as e:
        case = record_phrase_refusal(e, case)
        return _render_case(case, forms={"update": form}, errors={"update": {"body": e.message}}, status=422)
    except Refused as e:
        s.rollback()
        case = fresh(case)
        flash(refusal_message(e, case), "error")
        return _to_updates(case)
    s.commit()
    if case.customer.email and case.customer.erased_at is None:
        flash(_("Update sent to the customer, by email too."), "success")
    else:
        flash(
            _("Update sent; the customer sees it on their case page (no email address is known)."), "success"
        )
    return _to_updates(case)


@bp.app_template_global()
def behind_on_updates(cases: Iterable[Case] | None, now: datetime) -> list[Case]:
    """The cases of a list whose owner is behind on updates to the customer."""
    return [case for case in cases or () if update_ops.update_overdue(case, now)]


bp.add_app_template_global(update_ops.update_overdue, "update_overdue")
