"""The remedy policy and interim measures in the API: entitlements, approvals, measures.

Every view has one shape: load or 404 -> permission predicate or 403 -> validate (422) -> one
service call -> commit -> serialize. An agree step whose remedy is beyond policy without an
approval answers 422 ``approval_required`` (the handler below names the field); a closing
verify answer while an interim measure is open answers 409 ``interim_measures_open``.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from complaints import permissions
from complaints.api import bp, serialize
from complaints.api.auth import api_user
from complaints.api.errors import error_response
from complaints.api.inputs import MAX_ID, evidence_context, json_body
from complaints.api.openapi import TIMESTAMP, Document, field_schema, list_of, ref, section
from complaints.db import get_session
from complaints.errors import Conflict, Forbidden, NotFound
from complaints.evidence import Field
from complaints.models import Case, InterimMeasure, RemedyApproval, User
from complaints.services import interim as interim_ops
from complaints.services import remedies as remedy_ops
from complaints.services.remedies import ApprovalRequired


def _load_case(case_id: int) -> Case:
    case = get_session().get(Case, case_id) if case_id <= MAX_ID else None
    if case is None:
        raise NotFound(_("There is no case %(id)d.", id=case_id))
    return case


def _visible_case(case_id: int) -> Case:
    case = _load_case(case_id)
    if not permissions.can_view_case(api_user(), case):
        raise Forbidden(_("You may not see this case."))
    return case


def _created(payload: dict[str, Any]) -> Response:
    response = jsonify(payload)
    response.status_code = 201
    return response


def _amount(value: Any) -> str | None:
    return f"{value:.2f}" if value is not None else None


def _people(ids: set[int | None]) -> dict[int, User]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in get_session().scalars(select(User).where(User.id.in_(wanted)))}


def approval(a: RemedyApproval, people: dict[int, User]) -> dict[str, Any]:
    status = "pending" if a.decided_at is None else "approved" if a.approved else "refused"
    return {
        "id": a.id,
        "case_id": a.case_id,
        "remedy": a.remedy,
        "remedy_detail": a.remedy_detail,
        "amount": _amount(a.amount),
        "reason": a.reason,
        "status": status,
        "requested_by": serialize.person(people.get(a.requested_by_id)),
        "requested_at": serialize.timestamp(a.requested_at),
        "decided_by": serialize.person(people.get(a.decided_by_id)) if a.decided_by_id else None,
        "decided_at": serialize.timestamp(a.decided_at),
        "decision_note": a.decision_note,
    }


def _approvals(items: list[RemedyApproval]) -> list[dict[str, Any]]:
    people = _people({a.requested_by_id for a in items} | {a.decided_by_id for a in items})
    return [approval(a, people) for a in items]


def measure(m: InterimMeasure) -> dict[str, Any]:
    return {
        "id": m.id,
        "case_id": m.case_id,
        "description": m.description,
        "given_at": serialize.timestamp(m.given_at),
        "withdrawn_at": serialize.timestamp(m.withdrawn_at),
        "made_permanent_at": serialize.timestamp(m.made_permanent_at),
        "open": m.is_open,
    }


# --- the policy -------------------------------------------------------------------------
@bp.get("/cases/<int:case_id>/remedy-policy")
def get_remedy_policy(case_id: int) -> Response:
    """What the customer is entitled to, and why each remedy is or is not within policy."""
    case = _visible_case(case_id)
    s = get_session()
    ent = remedy_ops.entitlement_of(s, case)
    return jsonify(
        {
            "purchase_date": case.purchase_date.isoformat() if case.purchase_date else None,
            "days_since_sale": ent.days,
            "repairs_so_far": ent.repairs,
            "compensation_limit": _amount(ent.compensation_limit),
            "remedies": [
                {
                    "remedy": code,
                    "within_policy": within,
                    "guaranteed": code in ent.guaranteed,
                    "reason": str(why),
                }
                for code, _label, within, why in ent.rows()
            ],
        }
    )


# --- approvals --------------------------------------------------------------------------
@bp.get("/cases/<int:case_id>/remedy-approvals")
def list_case_approvals(case_id: int) -> Response:
    """The case's approval requests, newest first."""
    case = _visible_case(case_id)
    return jsonify({"items": _approvals(remedy_ops.approvals_of(get_session(), case)), "next_cursor": None})


@bp.post("/cases/<int:case_id>/remedy-approvals")
def request_approval(case_id: int) -> Response:
    """The owner asks quality to approve a remedy beyond policy before offering it."""
    user = api_user()
    case = _load_case(case_id)
    if not permissions.can_request_remedy_approval(user, case):
        if permissions.is_owner(user, case):
            raise Conflict(
                _("An approval is asked for while analysing or agreeing the remedy."), "wrong_state"
            )
        raise Forbidden(_("Only the owner asks for an approval."))
    data = remedy_ops.validate_request(json_body(), evidence_context())
    s = get_session()
    item = remedy_ops.request_approval(s, case, user, data, evidence_context().now)
    s.commit()
    return _created(_approvals([item])[0])


@bp.get("/remedy-approvals")
def list_pending_approvals() -> Response:
    """Requests waiting for a quality decision, oldest first (quality managers)."""
    if not permissions.can_decide_remedy(api_user()):
        raise Forbidden(_("Only quality managers decide on remedies beyond policy."))
    items = [a for a, _case, _user in remedy_ops.pending_approvals(get_session())]
    return jsonify({"items": _approvals(items), "next_cursor": None})


@bp.post("/remedy-approvals/<int:approval_id>/decision")
def decide_approval(approval_id: int) -> Response:
    """A quality manager approves or refuses (with a note saying why)."""
    user = api_user()
    s = get_session()
    item = s.get(RemedyApproval, approval_id) if approval_id <= MAX_ID else None
    if item is None:
        raise NotFound(_("There is no approval request %(id)d.", id=approval_id))
    case = s.get(Case, item.case_id)
    assert case is not None
    if not permissions.can_decide_remedy(user, case):
        raise Forbidden(_("Only quality managers decide, and never on a case they own."))
    approved, note = remedy_ops.validate_decision(json_body(), evidence_context())
    remedy_ops.decide_approval(s, item, user, approved, note, evidence_context().now)
    s.commit()
    return jsonify(_approvals([item])[0])


def approval_required(e: ApprovalRequired) -> ResponseReturnValue:
    """Nothing was offered; the message says why and what to do, under the remedy field too."""
    get_session().rollback()
    return error_response(e.status, e.code, e.message, {e.field: e.message})


bp.register_error_handler(ApprovalRequired, approval_required)


# --- interim measures ---------------------------------------------------------------------
@bp.get("/cases/<int:case_id>/interim-measures")
def list_measures(case_id: int) -> Response:
    """The case's interim measures, oldest first."""
    case = _visible_case(case_id)
    items = [measure(m) for m in interim_ops.measures_of(get_session(), case)]
    return jsonify({"items": items, "next_cursor": None})


@bp.post("/cases/<int:case_id>/interim-measures")
def give_measure(case_id: int) -> Response:
    """The owner records an interim measure (from listen until the case closes)."""
    user = api_user()
    case = _load_case(case_id)
    if not permissions.can_record_interim(user, case):
        if permissions.is_owner(user, case):
            raise Conflict(
                _("Interim measures are recorded from the listening step until the case closes."),
                "wrong_state",
            )
        raise Forbidden(_("Only the owner records interim measures."))
    ctx = evidence_context()
    description, given_at = interim_ops.validate_measure(json_body(), ctx)
    s = get_session()
    item = interim_ops.give_measure(s, case, user, description, given_at, ctx.now)
    s.commit()
    return _created(measure(item))


@bp.post("/cases/<int:case_id>/interim-measures/<int:measure_id>/end")
def end_measure(case_id: int, measure_id: int) -> Response:
    """The owner marks a measure withdrawn (given back) or made permanent."""
    user = api_user()
    case = _load_case(case_id)
    s = get_session()
    item = s.get(InterimMeasure, measure_id) if measure_id <= MAX_ID else None
    if item is None or item.case_id != case.id:
        raise NotFound(_("There is no interim measure %(id)d on this case.", id=measure_id))
    if not permissions.can_end_interim(user, case):
        if permissions.is_owner(user, case):
            raise Conflict(_("The case has ended."), "wrong_state")
        raise Forbidden(_("Only the owner records interim measures."))
    ctx = evidence_context()
    outcome, at = interim_ops.validate_end(json_body(), ctx)
    interim_ops.end_measure(s, case, item, user, outcome, at, ctx.now)
    s.commit()
    return jsonify(measure(item))


# --- the OpenAPI description ---------------------------------------------------------------
def _request(fields: tuple[Field, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {f.name: field_schema(f) for f in fields},
        "required": [f.name for f in fields if f.required],
        "additionalProperties": False,
    }


def _closed(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
NULLABLE_PERSON = {"anyOf": [ref("Person"), {"type": "null"}]}


@section
def _remedies(doc: Document) -> None:
    doc.tag(
        "remedies",
        "The remedy policy (the three guarantees by default), quality approvals of remedies beyond "
        "it, and interim measures such as a loaner device.",
    )
    remedy_codes = list(next(f for f in remedy_ops.APPROVAL_FIELDS if f.name == "remedy").choices or {})
    doc.schema(
        "RemedyPolicy",
        _closed(
            {
                "purchase_date": {"type": ["string", "null"], "format": "date"},
                "days_since_sale": {"type": ["integer", "null"], "minimum": 0},
                "repairs_so_far": {"type": "integer", "minimum": 0},
                "compensation_limit": {"type": "string"},
                "remedies": {
                    "type": "array",
                    "items": _closed(
                        {
                            "remedy": {"type": "string", "enum": remedy_codes},
                            "within_policy": {"type": "boolean"},
                            "guaranteed": {"type": "boolean"},
                            "reason": {"type": "string"},
                        }
                    ),
                },
            }
        ),
    )
    doc.schema(
        "RemedyApproval",
        _closed(
            {
                "id": {"type": "integer"},
                "case_id": {"type": "integer"},
                "remedy": {"type": "string", "enum": remedy_codes},
                "remedy_detail": {"type": "string"},
                "amount": {"type": ["string", "null"]},
                "reason": {"type": "string"},
                "status": {"type": "string", "enum": ["pending", "approved", "refused"]},
                "requested_by": NULLABLE_PERSON,
                "requested_at": TIMESTAMP,
                "decided_by": NULLABLE_PERSON,
                "decided_at": NULLABLE_TIMESTAMP,
                "decision_note": {"type": ["string", "null"]},
            }
        ),
    )
    list_of(doc, "RemedyApprovalList", "RemedyApproval")
    approval_request = _request(remedy_ops.APPROVAL_FIELDS)
    approval_request["allOf"] = [
        {
            "if": {"properties": {"remedy": {"const": "compensation"}}, "required": ["remedy"]},
            "then": {"required": ["amount"]},
        }
    ]
    doc.schema("RemedyApprovalRequest", approval_request)
    decision = _request(remedy_ops.DECISION_FIELDS)
    decision["allOf"] = [
        {
            "if": {"properties": {"decision": {"const": "refuse"}}, "required": ["decision"]},
            "then": {"required": ["note"]},
        }
    ]
    doc.schema("RemedyDecision", decision)
    doc.schema(
        "InterimMeasure",
        _closed(
            {
                "id": {"type": "integer"},
                "case_id": {"type": "integer"},
                "description": {"type": "string"},
                "given_at": TIMESTAMP,
                "withdrawn_at": NULLABLE_TIMESTAMP,
                "made_permanent_at": NULLABLE_TIMESTAMP,
                "open": {"type": "boolean"},
            }
        ),
    )
    list_of(doc, "InterimMeasureList", "InterimMeasure")
    doc.schema("InterimMeasureRequest", _request(interim_ops.GIVE_FIELDS))
    doc.schema("InterimMeasureEnd", _request(interim_ops.END_FIELDS))

    doc.operation(
        "get",
        "/api/v1/cases/{case_id}/remedy-policy",
        operation_id="getRemedyPolicy",
        summary="What the customer is entitled to, and why each remedy is or is not within policy.",
        description=(
            "Judged on the day the complaint was received. A remedy with `within_policy: false` "
            "is offered (agree step) only under a quality approval: otherwise 422 `approval_required`."
        ),
        tag="remedies",
        responses={200: "RemedyPolicy"},
        errors=[403, 404],
    )
    doc.operation(
        "get",
        "/api/v1/cases/{case_id}/remedy-approvals",
        operation_id="listCaseRemedyApprovals",
        summary="The case's requests for remedies beyond policy, newest first.",
        tag="remedies",
        responses={200: "RemedyApprovalList"},
        errors=[403, 404],
    )
    doc.operation(
        "post",
        "/api/v1/cases/{case_id}/remedy-approvals",
        operation_id="requestRemedyApproval",
        summary="The owner asks quality to approve a remedy beyond policy (while analysing or agreeing).",
        description=(
            "422 `invalid` when the remedy is within policy (no approval needed); 409 `approval_pending` "
            "when a request for the same remedy is already waiting."
        ),
        tag="remedies",
        request="RemedyApprovalRequest",
        responses={201: "RemedyApproval"},
        errors=[403, 404, 409],
    )
    doc.operation(
        "get",
        "/api/v1/remedy-approvals",
        operation_id="listPendingRemedyApprovals",
        summary="Requests waiting for a quality decision, oldest first (quality managers).",
        tag="remedies",
        responses={200: "RemedyApprovalList"},
        errors=[403],
    )
    doc.operation(
        "post",
        "/api/v1/remedy-approvals/{approval_id}/decision",
        operation_id="decideRemedyApproval",
        summary="A quality manager approves or refuses a request (never on a case they own).",
        description="409 `already_decided` for a request decided before.",
        tag="remedies",
        request="RemedyDecision",
        responses={200: "RemedyApproval"},
        errors=[403, 404, 409],
    )
    doc.operation(
        "get",
        "/api/v1/cases/{case_id}/interim-measures",
        operation_id="listInterimMeasures",
        summary="The case's interim measures, oldest first.",
        tag="remedies",
        responses={200: "InterimMeasureList"},
        errors=[403, 404],
    )
    doc.operation(
        "post",
        "/api/v1/cases/{case_id}/interim-measures",
        operation_id="giveInterimMeasure",
        summary="The owner records an interim measure (from listen until the case closes).",
        description="While a measure is open the case cannot close: 409 `interim_measures_open`.",
        tag="remedies",
        request="InterimMeasureRequest",
        responses={201: "InterimMeasure"},
        errors=[403, 404, 409],
    )
    doc.operation(
        "post",
        "/api/v1/cases/{case_id}/interim-measures/{measure_id}/end",
        operation_id="endInterimMeasure",
        summary="The owner marks an interim measure withdrawn or made permanent.",
        tag="remedies",
        request="InterimMeasureEnd",
        responses={200: "InterimMeasure"},
        errors=[403, 404, 409],
    )
