"""The customer link's JSON twin (no bearer token: the link's token is the key), and the owner's
``POST /cases/{id}/customer-link``.

Same rules as the pages in web/customer.py: an unknown, replaced or expired token, or one of an
ended case, is 404 with no data; limits per token and per address answer 429.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask_babel import gettext as _

from complaints import clock, permissions
from complaints.api import bp
from complaints.api.auth import api_user, public
from complaints.api.inputs import MAX_ID, json_body, refuse_unknown
from complaints.api.openapi import TIMESTAMP, Document, Schema, section
from complaints.api.serialize import timestamp
from complaints.db import get_session
from complaints.errors import Conflict, Forbidden, NotFound
from complaints.evidence import CUSTOMER_ANSWER_FIELDS, STEP_FIELDS, customer_choices
from complaints.limits import customer_link_limits
from complaints.models import Case, CustomerLink, User
from complaints.services import customer_link as links
from complaints.web.customer import link_url
from complaints.workflow import CUSTOMER_STEPS


def _gone() -> NotFound:
    return NotFound(_("This link is not valid: it may have expired or been replaced by a newer one."))


def _load(token: str) -> tuple[CustomerLink, Case]:
    found = links.find_link(get_session(), token, clock.now())
    if found is None:
        raise _gone()
    return found


def view_json(view: links.CustomerView) -> dict[str, Any]:
    """What the customer may see, as JSON: the same as their page."""
    remedy = None
    if view.awaiting == "agree":
        remedy = {
            "remedy": view.question.get("remedy"),
            "label": view.remedy_label,
            "detail": view.question.get("remedy_detail"),
            "due_date": view.question.get("due_date"),
        }
    return {
        "reference": view.reference,
        "opened_at": timestamp(view.opened_at),
        "owner": view.owner_name,
        "progress": {
            "stage": view.stage.code,
            "text": view.stage.text,
            "stages": [{"stage": st.code, "text": st.text, "status": st.status} for st in view.stages],
        },
        "updates": [{"at": timestamp(u.created_at), "body": u.body} for u in view.updates],
        "interim_measures": [
            {"description": m.description, "given_at": timestamp(m.given_at)} for m in view.interim_measures
        ],
        "awaiting": view.awaiting,
        "restatement": view.question.get("restatement") if view.awaiting == "confirm" else None,
        "remedy": remedy,
        "link_expires_at": timestamp(view.expires_at),
    }


def _view_response(link: CustomerLink, case: Case) -> Response:
    s = get_session()
    s.expire(case)
    return jsonify(view_json(links.customer_view(s, case, link)))


@bp.get("/customer/<token>")
@public
@customer_link_limits
def customer_link_view(token: str) -> Response:
    """The customer's case: reference, progress in plain words, updates, and what awaits them."""
    link, case = _load(token)
    return jsonify(view_json(links.customer_view(get_session(), case, link)))


@bp.post("/customer/<token>/answer")
@public
@customer_link_limits
def customer_link_answer(token: str) -> Response:
    """The customer's own answer to what awaits them (the same move as a staff-recorded one)."""
    link, case = _load(token)
    if request.headers.get("Authorization"):
        # A staff credential: never on the customer's behalf (staff record answers as staff).
        raise Forbidden(_("Only the customer answers on their link; record their answer on the case."))
    body = json_body()
    s = get_session()
    try:
        links.customer_answer(s, case, link, body, clock.now())
    except NotFound:
        raise _gone() from None
    s.commit()
    return _view_response(link, case)


# --- the owner's side ---------------------------------------------------------------------
def question_sent(s: Any, case: Case, user: User) -> links.NewLink | None:
    """Hook after the owner sent a step's question: email it with a fresh link when possible."""
    return links.question_sent(s, case, user, clock.now(), link_url)


@bp.post("/cases/<int:case_id>/customer-link")
def create_customer_link(case_id: int) -> Response:
    """The owner gets a fresh link (older ones stop working); emailed when the customer has an address."""
    user = api_user()
    case = get_session().get(Case, case_id) if case_id <= MAX_ID else None
    if case is None:
        raise NotFound(_("There is no case %(id)d.", id=case_id))
    if not permissions.can_create_customer_link(user, case):
        if permissions.is_owner(user, case):
            raise Conflict(_("The case has ended: it has no customer link."), "wrong_state")
        raise Forbidden(_("Only the owner makes the customer link."))
    refuse_unknown(json_body(optional=True), ())
    s = get_session()
    new = links.create_link(s, case, user, clock.now(), link_url)
    s.commit()
    response = jsonify({"url": new.url, "expires_at": timestamp(new.link.expires_at), "emailed": new.emailed})
    response.status_code = 201
    return response


# --- the document ---------------------------------------------------------------------------
def _object(properties: dict[str, Schema], required: list[str], **extra: Any) -> Schema:
    out: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = required
    out.update(extra)
    return out


def _or_null(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _answer_schema(step: str) -> Schema:
    """One customer answer's body, from evidence.py's fields and the customer's choices."""
    specs = {f.name: f for f in STEP_FIELDS[step]}
    names = CUSTOMER_ANSWER_FIELDS[step]
    props: dict[str, Schema] = {}
    required: list[str] = []
    for name, evidence_name in names.items():
        spec = specs[evidence_name]
        if spec.kind == "choice":
            props[name] = {"type": "string", "enum": list(customer_choices(step, name))}
            required.append(name)
        elif spec.kind == "int":
            props[name] = {"type": "integer", "minimum": spec.minimum, "maximum": spec.maximum}
            required.append(name)
        else:
            props[name] = _or_null({"type": "string", "maxLength": spec.max_length})
    schema = _object(props, required, title=f"Answer to {step}")
    # The text a "no" needs: a correction, or the reason for declining.
    needs = {"confirm": ("corrected", "correction"), "agree": ("declined", "reason")}.get(step)
    if needs:
        value, text = needs
        schema["if"] = {"properties": {"response": {"const": value}}, "required": ["response"]}
        schema["then"] = {"required": [text], "properties": {text: {"type": "string", "minLength": 1}}}
    return schema


@section
def _customer(doc: Document) -> None:
    doc.tag("customer", "The customer link's JSON twin: the link's token is the only key.")
    token = {
        "name": "token",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": "The last path segment of the link's `url`.",
    }
    stage = _object(
        {
            "stage": {"type": "string", "enum": [code for code, _text, _states in links.STAGES]},
            "text": {"type": "string"},
            "status": {"type": "string", "enum": ["done", "current", "upcoming"]},
        },
        ["stage", "text", "status"],
    )
    view_props: dict[str, Schema] = {
        "reference": {"type": "string"},
        "opened_at": TIMESTAMP,
        "owner": {"type": ["string", "null"], "description": "The owner's display name."},
        "progress": _object(
            {
                "stage": {"type": "string", "enum": [code for code, _text, _states in links.STAGES]},
                "text": {"type": "string", "description": "Where the case stands, in plain words."},
                "stages": {"type": "array", "items": stage},
            },
            ["stage", "text", "stages"],
        ),
        "updates": {
            "type": "array",
            "description": "Progress updates, oldest first.",
            "items": _object({"at": TIMESTAMP, "body": {"type": "string"}}, ["at", "body"]),
        },
        "interim_measures": {
            "type": "array",
            "items": _object(
                {"description": {"type": "string"}, "given_at": TIMESTAMP}, ["description", "given_at"]
            ),
        },
        "awaiting": {
            "type": ["string", "null"],
            "enum": [*CUSTOMER_STEPS, None],
            "description": "The question waiting for the customer's answer, if any.",
        },
        "restatement": {"type": ["string", "null"], "description": "What to confirm or correct (confirm)."},
        "remedy": _or_null(
            _object(
                {
                    "remedy": {"type": "string"},
                    "label": {"type": "string"},
                    "detail": {"type": "string"},
                    "due_date": {"type": "string", "format": "date"},
                },
                ["remedy", "label", "detail", "due_date"],
                description="The proposal to accept or decline (agree).",
            )
        ),
        "link_expires_at": _or_null(TIMESTAMP),
    }
    doc.schema("CustomerView", _object(view_props, list(view_props)))
    answers = [
        doc.schema(f"CustomerAnswer{step.capitalize()}", _answer_schema(step)) for step in CUSTOMER_STEPS
    ]
    doc.schema(
        "CustomerAnswer",
        {
            "title": "Customer answer",
            "description": "Confirm or correct the restatement, accept or decline the remedy, "
            "or rate satisfaction.",
            "oneOf": answers,
        },
    )
    doc.schema(
        "CustomerLink",
        _object(
            {
                "url": {"type": "string", "description": "The link; its last path segment is the token."},
                "expires_at": TIMESTAMP,
                "emailed": {"type": "boolean", "description": "Also emailed to the customer."},
            },
            ["url", "expires_at", "emailed"],
        ),
    )
    doc.operation(
        "get",
        "/api/v1/customer/{token}",
        operation_id="getCustomerLink",
        summary="The customer's view of their case (no bearer token: the link's token).",
        tag="customer",
        parameters=[token],
        responses={200: "CustomerView"},
        errors=[404, 429],
        public=True,
    )
    doc.operation(
        "post",
        "/api/v1/customer/{token}/answer",
        operation_id="answerCustomerLink",
        summary="The customer's own answer to what awaits them.",
        description="409 `not_awaited` when nothing waits for this answer; 404 when the link does "
        "not work (unknown, replaced, expired, or the case has ended).",
        tag="customer",
        parameters=[token],
        request="CustomerAnswer",
        responses={200: "CustomerView"},
        errors=[403, 404, 409, 429],
        public=True,
    )
    doc.operation(
        "post",
        "/api/v1/cases/{case_id}/customer-link",
        operation_id="createCustomerLink",
        summary="A fresh customer link for the case (the owner); earlier links stop working.",
        tag="cases",
        request={"type": "object", "maxProperties": 0},
        request_required=False,
        responses={201: "CustomerLink"},
        errors=[403, 404, 409],
    )
