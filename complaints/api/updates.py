"""Progress updates to the customer, and the forbidden-phrase refusal of every API endpoint.

Every view has one shape: load or 404 -> permission predicate or 403 -> validate (422) -> one
service call -> commit -> serialize. A customer-facing text that says a forbidden phrase (a
progress update here, the apology or the remedy details of a step) answers 422
``forbidden_phrase`` naming the phrase; the handler below rolls back the request, records the
refusal alone and commits it. The OpenAPI section at the end describes the endpoints.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from complaints import clock, permissions
from complaints.api import bp, serialize
from complaints.api.auth import api_user
from complaints.api.errors import error_response
from complaints.api.inputs import MAX_ID, json_body, unknown_fields
from complaints.api.openapi import TIMESTAMP, Document, list_of, page_parameters, ref, section
from complaints.api.pagination import keyset_page
from complaints.db import get_session
from complaints.errors import Conflict, Forbidden, NotFound
from complaints.evidence import EvidenceError, validate_reason
from complaints.models import Case, ProgressUpdate, User
from complaints.services import updates as update_ops
from complaints.services.updates import PhraseRefused


def _load_case(case_id: int) -> Case:
    case = get_session().get(Case, case_id) if case_id <= MAX_ID else None
    if case is None:
        raise NotFound(_("There is no case %(id)d.", id=case_id))
    return case


def progress_update(item: ProgressUpdate) -> dict[str, Any]:
    return {
        "id": item.id,
        "case_id": item.case_id,
        "author": serialize.person(item.author),
        "body": item.body,
        "created_at": serialize.timestamp(item.created_at),
    }


@bp.post("/cases/<int:case_id>/updates")
def post_update(case_id: int) -> Response:
    """A message for the customer from the owner, checked for forbidden phrases, then e-mailed."""
    user = api_user()
    case = _load_case(case_id)
    if not permissions.can_post_update(user, case):
        if permissions.is_owner(user, case):
            raise Conflict(
                _("The case is %(state)s: it takes no more updates.", state=case.state), "wrong_state"
            )
        raise Forbidden(_("Only the owner sends progress updates."))
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
    item = update_ops.send_progress_update(s, case, user, text, clock.now())
    s.commit()
    response = jsonify(progress_update(item))
    response.status_code = 201
    return response


@bp.get("/cases/<int:case_id>/updates")
def list_updates(case_id: int) -> Response:
    """The progress updates sent to the customer, oldest first."""
    case = _load_case(case_id)
    if not permissions.can_view_case(api_user(), case):
        raise Forbidden(_("You may not see this case."))
    stmt = select(ProgressUpdate).where(ProgressUpdate.case_id == case.id)
    page = keyset_page(
        get_session(), stmt, (ProgressUpdate.id,), (int,), descending=False, serialize=progress_update
    )
    return jsonify(page)


def phrase_refused(e: PhraseRefused) -> ResponseReturnValue:
    """Nothing of the request stays; the refusal itself is recorded and committed."""
    s = get_session()
    s.rollback()
    case = s.get(Case, e.case_id)
    actor = s.get(User, e.actor_id)
    if case is not None and actor is not None:
        update_ops.record_refusal(s, case, actor, e, clock.now())
        s.commit()
    return error_response(422, e.code, e.message, {e.field: e.message})


bp.register_error_handler(PhraseRefused, phrase_refused)


# --- the OpenAPI description ---------------------------------------------------------------
@section
def _updates(doc: Document) -> None:
    doc.schema(
        "ProgressUpdate",
        {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "case_id": {"type": "integer"},
                "author": ref("Person"),
                "body": {"type": "string"},
                "created_at": TIMESTAMP,
            },
            "required": ["id", "case_id", "author", "body", "created_at"],
            "additionalProperties": False,
        },
    )
    doc.schema(
        "ProgressUpdateRequest",
        {
            "type": "object",
            "properties": {"body": {"type": "string", "minLength": 1, "maxLength": 4000}},
            "required": ["body"],
            "additionalProperties": False,
        },
    )
    list_of(doc, "ProgressUpdateList", "ProgressUpdate")
    item = "/api/v1/cases/{case_id}/updates"
    doc.operation(
        "post",
        item,
        operation_id="postProgressUpdate",
        summary="Send the customer a progress update (the owner, while the case is open).",
        description=(
            "The message is checked against the forbidden-phrase list first: a hit answers 422 "
            "`forbidden_phrase`, naming the phrase in `message` and in `fields.body`, and sends nothing "
            "(the refusal is recorded in the case's history). An accepted update is e-mailed to the "
            "customer when they have an address."
        ),
        tag="cases",
        request="ProgressUpdateRequest",
        responses={201: "ProgressUpdate"},
        errors=[403, 404, 409],
    )
    doc.operation(
        "get",
        item,
        operation_id="listProgressUpdates",
        summary="The progress updates sent to the customer, oldest first.",
        tag="cases",
        parameters=page_parameters(),
        responses={200: "ProgressUpdateList"},
        errors=[403, 404, 422],
    )
