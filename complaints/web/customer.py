"""The customer link pages (no login: the token in the address is the only key), and the owner's
button that makes a link.

The customer sees their case in plain words and answers what waits for them; staff pages are
elsewhere. Every customer page is rate-limited per token and per address, and any link that
does not work (unknown, replaced, expired, case ended) gets the same plain 404 page.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response
from wtforms import HiddenField, RadioField, TextAreaField

from complaints import clock
from complaints.db import get_session
from complaints.errors import Conflict, NotFound, Refused
from complaints.evidence import CUSTOMER_ANSWER_FIELDS, STEP_FIELDS, EvidenceError, customer_choices
from complaints.limits import customer_link_limits
from complaints.models import Case, CustomerLink, User
from complaints.permissions import can_create_customer_link
from complaints.services import customer_link as links
from complaints.web.forms import ButtonForm, StrictForm, option
from complaints.web.helpers import bind, get_viewable_case, refusal_message

bp = Blueprint("customer", __name__, url_prefix="/c")
staff_bp = Blueprint("customer_links", __name__)


# --- the answer forms: the choices are evidence.py's, in the customer's words ---------------
CHOICE_LABELS = {
    "confirmed": _l("Yes, that is right"),
    "corrected": _l("No, something needs correcting"),
    "accepted": _l("Yes, I accept this proposal"),
    "declined": _l("No, I do not accept it"),
    "satisfied": _l("Satisfied"),
    "neutral": _l("Neither satisfied nor dissatisfied"),
    "dissatisfied": _l("Not satisfied"),
}


def _choices(step: str, name: str) -> list[Any]:
    return [
        option(code, CHOICE_LABELS.get(code, label)) for code, label in customer_choices(step, name).items()
    ]


def _score_choices() -> list[Any]:
    spec = next(f for f in STEP_FIELDS["verify"] if f.name == "score")
    return [option(str(n), str(n)) for n in range(spec.minimum or 1, (spec.maximum or 5) + 1)]


class _AnswerForm(StrictForm):
    # Which question the page showed: an answer to a question no longer asked is refused (409).
    question = HiddenField()


class ConfirmAnswerForm(_AnswerForm):
    response = RadioField(
        _l("Is this right?"), choices=_choices("confirm", "response"), validate_choice=False
    )
    correction = TextAreaField(_l("What should we correct?"), render_kw={"maxlength": 4000})


class AgreeAnswerForm(_AnswerForm):
    response = RadioField(
        _l("Do you accept this proposal?"), choices=_choices("agree", "response"), validate_choice=False
    )
    reason = TextAreaField(
        _l("If not, why not, and what would you like instead?"), render_kw={"maxlength": 4000}
    )


class VerifyAnswerForm(_AnswerForm):
    satisfaction = RadioField(
        _l("How do you feel about how we handled your complaint?"),
        choices=_choices("verify", "satisfaction"),
        validate_choice=False,
    )
    score = RadioField(
        _l("Your score, from 1 (very poor) to 5 (excellent)"), choices=_score_choices(), validate_choice=False
    )
    comment = TextAreaField(
        _l("Anything you would like to tell us? (optional)"), render_kw={"maxlength": 4000}
    )


ANSWER_FORMS: dict[str, type[_AnswerForm]] = {
    "confirm": ConfirmAnswerForm,
    "agree": AgreeAnswerForm,
    "verify": VerifyAnswerForm,
}
# Help shown under a text box that only matters for some answers.
TEXT_HELP = {
    "correction": _l("Only needed if something needs correcting."),
    "reason": _l("Only needed if you do not accept it."),
}


def answer_data(form: _AnswerForm, step: str) -> dict[str, Any]:
    """What validate_customer_answer expects, in the customer's names (as the JSON twin takes)."""
    return {name: form[name].data for name in CUSTOMER_ANSWER_FIELDS[step]}


# --- addresses -----------------------------------------------------------------------------
def link_url(token: str) -> str:
    """The full address of a link: CUSTOMER_LINK_BASE_URL when set (behind a proxy), else this host."""
    base = current_app.config.get("CUSTOMER_LINK_BASE_URL") or request.host_url
    return base.rstrip("/") + url_for("customer.show", token=token)


def question_sent(s: Any, case: Case, actor: User) -> links.NewLink | None:
    """Hook after the owner sent a step's question: email it with a fresh link when possible."""
    return links.question_sent(s, case, actor, clock.now(), link_url)


def sent_message(case: Case, new: links.NewLink | None) -> str:
    """What the owner is told once the question is sent."""
    if new is not None and new.emailed:
        return _("The question was emailed to the customer with a new link; the case waits for the answer.")
    if links.current_link(get_session(), case, clock.now()) is not None:
        return _("The question waits on the customer's link; the case waits for the answer.")
    return _(
        "The question waits for the customer, who has no email address: create a customer link "
        "below and give it to them."
    )


# --- what the staff case page shows ---------------------------------------------------------
@staff_bp.app_context_processor
def _staff_page_helpers() -> dict[str, Any]:
    return {
        "can_create_customer_link": can_create_customer_link,
        "current_customer_link": lambda case: links.current_link(get_session(), case, clock.now()),
    }


@staff_bp.route("/cases/<int:case_id>/customer-link", methods=["POST"])
@login_required
def create(case_id: int) -> ResponseReturnValue:
    """The owner makes a fresh link (older ones stop working); its address is shown this once."""
    case = get_viewable_case(case_id)
    if not can_create_customer_link(current_user, case):
        abort(403)
    bind(ButtonForm)
    s = get_session()
    try:
        new = links.create_link(s, case, current_user._get_current_object(), clock.now(), link_url)
    except Refused as e:
        s.rollback()
        flash(refusal_message(e, case), "error")
        return redirect(url_for("cases.show", case_id=case.id))
    s.commit()
    return render_template("customer/link_created.html", case=case, new=new)


# --- the customer's pages -------------------------------------------------------------------
def _load(token: str) -> tuple[CustomerLink, Case]:
    found = links.find_link(get_session(), token, clock.now())
    if found is None:
        abort(404)
    return found


def _render(
    link: CustomerLink,
    case: Case,
    *,
    form: _AnswerForm | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    view = links.customer_view(get_session(), case, link)
    if view.awaiting and (form is None or form.question.data != view.awaiting):
        form = ANSWER_FORMS[view.awaiting](formdata=None, data={"question": view.awaiting})
    return (
        render_template(
            "customer/show.html",
            view=view,
            form=form if view.awaiting else None,
            errors=errors or {},
            text_help=TEXT_HELP,
            signed_in_staff=current_user.is_authenticated,
        ),
        status,
    )


@bp.route("/<token>", methods=["GET"])
@customer_link_limits
def show(token: str) -> ResponseReturnValue:
    link, case = _load(token)
    return _render(link, case)


@bp.route("/<token>", methods=["POST"])
@customer_link_limits
def answer(token: str) -> ResponseReturnValue:
    """The customer's answer: their own act, recorded as given on the link."""
    link, case = _load(token)
    if current_user.is_authenticated:
        # Never on the customer's behalf: staff record an answer, with its channel, on the case page.
        abort(403)
    step = request.form.get("question", "")
    if step not in ANSWER_FORMS:
        abort(400)
    form = bind(ANSWER_FORMS[step])
    s = get_session()
    try:
        state = links.customer_answer(s, case, link, answer_data(form, step), clock.now(), step=step)
    except EvidenceError as e:
        s.rollback()
        return _render(link, case, form=form, errors=e.fields, status=422)
    except NotFound:
        s.rollback()
        abort(404)
    except Conflict:
        s.rollback()
        link, case = _load(token)
        flash(
            _("This question has already been answered or has changed. Here is your case as it is now."),
            "info",
        )
        return _render(link, case, status=409)
    s.commit()
    if state == "closed":
        return render_template("customer/thanks.html", reference=case.reference)
    flash(_("Thank you. We have your answer."), "success")
    return redirect(url_for("customer.show", token=token))


@bp.after_request
def _private(response: Response) -> Response:
    """The address holds the key: never sent on as a referrer, never cached or indexed."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


TITLES = {
    400: _l("We could not use what was sent"),
    403: _l("Only the customer answers here"),
    404: _l("This link does not work"),
    405: _l("We could not use what was sent"),
    429: _l("Too many attempts"),
}
MESSAGES = {
    400: _l("Something in the page was out of date. Please open your link again and retry."),
    403: _l(
        "You are signed in as staff. Only the customer answers on this page; record an answer "
        "they gave you, with its channel, on the case page."
    ),
    404: _l(
        "The link may be mistyped, may have expired, or may have been replaced by a newer one. "
        "Please contact us and we will send you a new link."
    ),
    405: _l("Something in the page was out of date. Please open your link again and retry."),
    429: _l("Please wait a minute and try again."),
}


def _error(e: HTTPException) -> ResponseReturnValue:
    """A plain page: nothing about any case."""
    code = e.code or 400
    code = code if code in TITLES else 400
    return render_template("customer/error.html", title=TITLES[code], message=MESSAGES[code]), code


def _csrf_error(e: CSRFError) -> ResponseReturnValue:
    return _error(e)


for _code in (400, 403, 404, 405, 429):
    bp.register_error_handler(_code, _error)
bp.register_error_handler(CSRFError, _csrf_error)
