"""The forbidden-phrase list for quality managers, and how a refused phrase is put on record.

Every view has one shape: permission (403) → validate → service → commit → flash and
redirect. ``record_phrase_refusal`` is what a page does when a customer-facing text was
refused: roll the request back, record only the refusal, commit it.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select
from wtforms import StringField

from complaints import clock
from complaints.db import get_session
from complaints.errors import Refused
from complaints.evidence import EvidenceError
from complaints.models import Case, User
from complaints.permissions import can_delete_phrase, can_edit_phrases
from complaints.phrases import normalize
from complaints.services import phrase_list
from complaints.services import updates as update_ops
from complaints.services.updates import PhraseRefused
from complaints.web.forms import ButtonForm, StrictForm
from complaints.web.helpers import bind, fresh, refusal_message

bp = Blueprint("phrases", __name__, url_prefix="/quality/phrases")


class PhraseForm(StrictForm):
    phrase = StringField(
        _l("New forbidden phrase"),
        description=_l(
            "Matched ignoring case, spaces and punctuation (full- and half-width), in Chinese and English."
        ),
        render_kw={"maxlength": phrase_list.MAX_LENGTH},
    )


def _actor() -> User:
    return current_user._get_current_object()


def _language(text: str) -> str:
    """For people reading the list: Chinese when the phrase has a character outside Latin."""
    return "zh" if any(ord(c) > 0x2E80 for c in normalize(text)) else "en"


def _render(
    form: PhraseForm | None = None, error: str | None = None, status: int = 200
) -> ResponseReturnValue:
    s = get_session()
    if phrase_list.seed_if_empty(s):
        s.commit()  # the first look at an empty list seeds the built-in phrases
    rows = phrase_list.list_phrases(s)
    authors = {r.created_by_id for r in rows if r.created_by_id}
    names = dict(s.execute(select(User.id, User.name).where(User.id.in_(authors))).all()) if authors else {}
    html = render_template(
        "quality/phrases.html",
        rows=rows,
        added=[r for r in rows if not r.builtin],
        builtin=[r for r in rows if r.builtin],
        names=names,
        language=_language,
        form=form or PhraseForm(formdata=None),
        error=error,
        can_delete_phrase=can_delete_phrase,
        active_count=sum(1 for r in rows if r.active),
    )
    return html, status


def _back() -> ResponseReturnValue:
    return redirect(url_for("phrases.index"))


@bp.route("")
@login_required
def index() -> ResponseReturnValue:
    if not can_edit_phrases(current_user):
        abort(403)
    return _render()


@bp.route("", methods=["POST"])
@login_required
def add() -> ResponseReturnValue:
    if not can_edit_phrases(current_user):
        abort(403)
    form = bind(PhraseForm)
    s = get_session()
    try:
        row = phrase_list.add_phrase(s, _actor(), form.phrase.data, clock.now())
    except EvidenceError as e:
        s.rollback()
        return _render(form, e.fields.get("phrase"), 422)
    except Refused as e:
        s.rollback()
        flash(refusal_message(e), "error")
        return _back()
    s.commit()
    flash(_("“%(phrase)s” is refused from now on.", phrase=row.phrase), "success")
    return _back()


def _set_active(phrase_id: int, active: bool) -> ResponseReturnValue:
    if not can_edit_phrases(current_user):
        abort(403)
    bind(ButtonForm)
    s = get_session()
    try:
        row = phrase_list.set_phrase_active(s, _actor(), phrase_id, active, clock.now())
    except Refused as e:
        s.rollback()
        if e.status == 404:
            abort(404)
        flash(refusal_message(e), "error")
        return _back()
    s.commit()
    if active:
        flash(_("“%(phrase)s” is refused again.", phrase=row.phrase), "success")
    else:
        flash(_("“%(phrase)s” is deactivated: messages may say it.", phrase=row.phrase), "success")
    return _back()


@bp.route("/<int:phrase_id>/deactivate", methods=["POST"])
@login_required
def deactivate(phrase_id: int) -> ResponseReturnValue:
    return _set_active(phrase_id, False)


@bp.route("/<int:phrase_id>/activate", methods=["POST"])
@login_required
def activate(phrase_id: int) -> ResponseReturnValue:
    return _set_active(phrase_id, True)


@bp.route("/<int:phrase_id>/delete", methods=["POST"])
@login_required
def delete(phrase_id: int) -> ResponseReturnValue:
    if not can_edit_phrases(current_user):
        abort(403)
    bind(ButtonForm)
    s = get_session()
    try:
        phrase_list.delete_phrase(s, _actor(), phrase_id, clock.now())
    except Refused as e:
        s.rollback()
        if e.status == 404:
            abort(404)
        if e.status == 403:
            abort(403, description=e.message)
        flash(e.message, "error")
        return _back()
    s.commit()
    flash(_("The phrase was deleted."), "success")
    return _back()


# --- a refused customer-facing text ----------------------------------------------------------
def record_phrase_refusal(refused: PhraseRefused, case: Case) -> Case:
    """Undo the request, put the refusal alone on record and commit it; the case as it is now."""
    s = get_session()
    s.rollback()
    case = fresh(case)
    actor = s.get(User, refused.actor_id)
    if actor is not None:
        update_ops.record_refusal(s, case, actor, refused, clock.now())
        s.commit()
    return fresh(case)


bp.add_app_template_global(can_edit_phrases)
