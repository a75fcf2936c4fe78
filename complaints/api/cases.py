"""Case endpoints: open, list, read, claim, steps, withdraw, assistants, notes, history.

Every view has one shape: load or 404 -> permission predicate or 403 -> validate
(422) -> one service call -> commit -> serialize. Refusals raised by services
(complaints.errors.Refused) and EvidenceError are turned into the error JSON, after
a rollback, by the handlers in errors.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, jsonify, request, url_for
from flask_babel import gettext as _
from sqlalchemy import Select, select

from complaints import clock, permissions, search
from complaints.api import bp, serialize
from complaints.api import customer as customer_link
from complaints.api.auth import api_user
from complaints.api.inputs import (
    MAX_ID,
    evidence_context,
    json_body,
    refuse_unknown,
    unknown_fields,
    whole_number,
)
from complaints.api.pagination import keyset_page
from complaints.db import get_session
from complaints.errors import AlreadyOwned, Conflict, Forbidden, NotFound, Refused
from complaints.evidence import EvidenceError, validate_intake, validate_reason, validate_step
from complaints.models import Case, Event, User
from complaints.services import cases as case_ops
from complaints.workflow import STATES, STEPS

MAX_QUERY_LENGTH = 200


# --- helpers -------------------------------------------------------------------
def _load_case(case_id: int) -> Case:
    """The case, or 404: an id that does not exist."""
    case = get_session().get(Case, case_id) if case_id <= MAX_ID else None
    if case is None:
        raise NotFound(_("There is no case %(id)d.", id=case_id))
    return case


def _visible_case(case_id: int) -> Case:
    """The case, 404 if it does not exist, 403 if the caller may not see it."""
    case = _load_case(case_id)
    if not permissions.can_view_case(api_user(), case):
        raise Forbidden(_("You may not see this case."))
    return case


def _case_response(case: Case, status: int = 200) -> Response:
    """The case as it is now in the database (after the commit)."""
    get_session().expire(case)
    response = jsonify(serialize.case_detail(case))
    response.status_code = status
    if status == 201:
        response.headers["Location"] = url_for("api.get_case", case_id=case.id)
    return response


def _created(payload: dict[str, Any]) -> Response:
    response = jsonify(payload)
    response.status_code = 201
    return response


def _intake_from_api(body: dict[str, Any]) -> dict[str, Any]:
    """``customer{name, phone, email}`` + case fields -> validate_intake; errors in API names."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, value in body.items():
        if key == "customer" and isinstance(value, dict):
            for short, inner in value.items():
                if short in serialize.CUSTOMER_FIELDS:
                    data[serialize.CUSTOMER_FIELDS[short].name] = inner
                else:
                    errors[f"customer.{short}"] = _("Unknown field.")
        elif key == "customer":
            if value is not None:
                errors["customer"] = _("Must be an object with name, phone and email.")
        elif key in serialize.CASE_FIELDS:
            data[key] = value
        else:
            errors[key] = _("Unknown field.")
    try:
        cleaned = validate_intake(data, evidence_context())
    except EvidenceError as e:
        errors = {**{serialize.API_FIELD_NAMES.get(k, k): v for k, v in e.fields.items()}, **errors}
        cleaned = {}
    if errors:
        raise EvidenceError(errors)
    return cleaned


def _owner_filter(value: str, user: User) -> Any:
    if value == "me":
        return Case.owner_id == user.id
    if value == "none":
        return Case.owner_id.is_(None)
    return Case.owner_id == whole_number(value, "owner", maximum=MAX_ID)


def _search(stmt: Select[tuple[Case]], q: str) -> Select[tuple[Case]]:
    """The one search rule (complaints/search.py): Chinese, Latin and phone digits, indexed."""
    if len(q) > MAX_QUERY_LENGTH:
        raise EvidenceError({"q": _("At most %(n)d characters.", n=MAX_QUERY_LENGTH)})
    match = search.search_clause(get_session(), q)
    return stmt if match is None else stmt.where(match)


# --- cases -------------------------------------------------------------------------
@bp.post("/cases")
def open_case() -> Response:
    """Take a complaint in; the customer is found again by phone or email."""
    user = api_user()
    if not permissions.can_open_case(user):
        raise Forbidden(_("Only front-line staff and first responders open cases."))
    data = _intake_from_api(json_body())
    s = get_session()
    case = case_ops.open_case(s, user, data, clock.now())
    s.commit()
    return _case_response(case, 201)


@bp.get("/cases")
def list_cases() -> Response:
    """The cases the caller may see, newest first, filtered by state, owner and text."""
    user = api_user()
    stmt = select(Case).where(permissions.visible_cases_clause(user))
    state = request.args.get("state")
    if state:
        if state not in STATES:
            raise EvidenceError({"state": _("Choose one of the listed values.")})
        stmt = stmt.where(Case.state == state)
    owner = request.args.get("owner")
    if owner:
        stmt = stmt.where(_owner_filter(owner, user))
    q = (request.args.get("q") or "").strip()
    if q:
        stmt = _search(stmt, q)
    page = keyset_page(
        get_session(),
        stmt,
        (Case.opened_at, Case.id),
        (datetime, int),
        descending=True,
        serialize=serialize.case_summary,
    )
    return jsonify(page)


@bp.get("/cases/<int:case_id>")
def get_case(case_id: int) -> Response:
    case = _visible_case(case_id)
    return jsonify(serialize.case_detail(case))


# --- moves --------------------------------------------------------------------------
def _why_not_claim(user: User, case: Case) -> Refused:
    if not permissions.has_role(user, "responder"):
        return Forbidden(_("Only first responders claim cases."))
    if case.owner is not None:
        return AlreadyOwned(_("Already owned by %(name)s.", name=case.owner.name))
    return Conflict(_("The case is %(state)s: it cannot be claimed.", state=case.state), "wrong_state")


@bp.post("/cases/<int:case_id>/claim")
def claim_case(case_id: int) -> Response:
    """Become the owner, for good; of many simultaneous claims exactly one wins."""
    user = api_user()
    case = _load_case(case_id)
    if not permissions.can_claim(user, case):
        raise _why_not_claim(user, case)
    refuse_unknown(json_body(optional=True), ())
    s = get_session()
    case_ops.claim_case(s, case, user, clock.now())
    s.commit()
    return _case_response(case)


@bp.post("/cases/<int:case_id>/steps/<step>")
def complete_step(case_id: int, step: str) -> Response:
    """Complete the current step with its evidence (200), or send its question to the customer (202)."""
    if step not in STEPS:
        raise NotFound(_("There is no step %(step)s.", step=step))
    user = api_user()
    case = _load_case(case_id)
    if not permissions.can_complete_step(user, case):
        if permissions.is_owner(user, case):
            raise Conflict(_("The case is %(state)s: no step is open.", state=case.state), "wrong_state")
        raise Forbidden(_("Only the owner may complete a step."))
    body = json_body()
    errors: dict[str, str] = {}
    version = None
    raw_version = body.pop("version", None)
    if raw_version is not None:
        try:
            version = whole_number(raw_version, "version")
        except EvidenceError as e:
            errors.update(e.fields)
    try:
        inp = validate_step(step, body, evidence_context())
    except EvidenceError as e:
        errors = {**e.fields, **errors}
    if errors:
        raise EvidenceError(errors)
    s = get_session()
    result = case_ops.complete_step(s, case, step, user, inp, clock.now(), version=version)
    if result == "awaiting":
        customer_link.question_sent(s, case, user)  # emailed with a fresh link when possible
    s.commit()
    return _case_response(case, 202 if result == "awaiting" else 200)


@bp.post("/cases/<int:case_id>/withdraw")
def withdraw_case(case_id: int) -> Response:
    """Withdraw an open case, with a reason: the owner, or the opener while it is unclaimed."""
    user = api_user()
    case = _load_case(case_id)
    if not permissions.can_withdraw(user, case):
        if not case.is_open and (permissions.is_owner(user, case) or permissions.is_opener(user, case)):
            raise Conflict(_("The case is %(state)s already.", state=case.state), "wrong_state")
        raise Forbidden(_("You may not withdraw this case."))
    body = json_body()
    errors = unknown_fields(body, ("reason",))
    reason = ""
    try:
        reason = validate_reason(body.get("reason"))
    except EvidenceError as e:
        errors.update(e.fields)
    if errors:
        raise EvidenceError(errors)
    s = get_session()
    case_ops.withdraw_case(s, case, user, reason, clock.now())
    s.commit()
    return _case_response(case)


# --- helpers of the owner -----------------------------------------------------------
@bp.post("/cases/<int:case_id>/assistants")
def invite_assistant(case_id: int) -> Response:
    """The owner invites a colleague to help; the case stays the owner's."""
    user = api_user()
    case = _load_case(case_id)
    if not permissions.can_invite_assistant(user, case):
        if permissions.is_owner(user, case):
            raise Conflict(_("The case is %(state)s.", state=case.state), "wrong_state")
        raise Forbidden(_("Only the owner invites assistants."))
    body = json_body()
    refuse_unknown(body, ("user_id",))
    if body.get("user_id") is None:
        raise EvidenceError({"user_id": _("This field is required.")})
    s = get_session()
    invitee = s.get(User, whole_number(body["user_id"], "user_id", maximum=MAX_ID))
    if invitee is None:
        raise EvidenceError({"user_id": _("There is no such user.")})
    if not permissions.can_be_assistant(invitee, case):
        raise EvidenceError({"user_id": _("This person cannot assist on this case.")})
    assistant = case_ops.invite_assistant(s, case, user, invitee, clock.now())
    s.commit()
    return _created(serialize.assistant(assistant, user))


@bp.post("/cases/<int:case_id>/notes")
def add_note(case_id: int) -> Response:
    """An internal note by the owner or an assistant; never shown to the customer."""
    user = api_user()
    case = _load_case(case_id)
    if not permissions.can_add_note(user, case):
        raise Forbidden(_("Only the owner and assistants add notes."))
    body = json_body()
    errors = unknown_fields(body, ("body",))
    text = ""
    try:
        text = validate_reason(body.get("body"), "body")
    except EvidenceError as e:
        errors.update(e.fields)
    if errors:
        raise EvidenceError(errors)
    s = get_session()
    note = case_ops.add_note(s, case, user, text, clock.now())
    s.commit()
    return _created(serialize.note(note))


# --- history ------------------------------------------------------------------------
@bp.get("/cases/<int:case_id>/events")
def list_events(case_id: int) -> Response:
    """The case's hash-chained history, oldest first."""
    case = _load_case(case_id)
    if not permissions.can_view_history(api_user(), case):
        raise Forbidden(_("You may not see this case."))
    stmt = select(Event).where(Event.case_id == case.id)
    page = keyset_page(get_session(), stmt, (Event.seq,), (int,), descending=False, serialize=serialize.event)
    return jsonify(page)
