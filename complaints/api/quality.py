"""Audit endpoints for quality managers: the audit queue, a case's checklist, the verdict.

Every view has one shape: load or 404 -> permission predicate or 403 -> validate (422)
-> one service call -> commit -> serialize. The OpenAPI section at the end describes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, current_app, jsonify, request, url_for
from flask_babel import gettext as _

from complaints import clock, permissions, vocab
from complaints.api import bp, serialize
from complaints.api.auth import api_user
from complaints.api.inputs import json_body
from complaints.api.openapi import (
    TIMESTAMP,
    Document,
    Schema,
    list_of,
    page_parameters,
    query,
    ref,
    section,
)
from complaints.api.pagination import keyset_page
from complaints.checklist import ITEM_CODES, ITEM_LABELS, STATUSES, ItemResult, note_text
from complaints.db import get_session
from complaints.errors import Forbidden, NotFound
from complaints.models import Audit, Case, User
from complaints.services import audits as audit_ops
from complaints.workflow import REOPEN_TARGETS, TERMINAL_STATES


def _quality() -> User:
    user = api_user()
    if not permissions.can_view_audit_queue(user):
        raise Forbidden(_("Only quality managers audit cases."))
    return user


def _load_case(case_id: int) -> Case:
    case = get_session().get(Case, case_id)
    if case is None:
        raise NotFound(_("There is no case %(id)d.", id=case_id))
    return case


def checklist_json(results: Iterable[ItemResult | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each item: its code and label, the status, the deciding events, and why (code and text)."""
    out = []
    for r in results:
        data = r.to_json() if isinstance(r, ItemResult) else dict(r)
        out.append(
            {
                "item": data["item"],
                "label": str(ITEM_LABELS.get(data["item"], data["item"])),
                "status": data["status"],
                "seqs": list(data.get("seqs") or []),
                "note": data.get("note") or "",
                "text": note_text(data),
            }
        )
    return out


def audit_json(a: Audit) -> dict[str, Any]:
    return {
        "id": a.id,
        "case_id": a.case_id,
        "auditor": serialize.person(a.auditor),
        "verdict": a.verdict,
        "findings": [{"item": f.get("item"), "text": f.get("text")} for f in a.findings or []],
        "reopen_to": a.reopen_to,
        "case_closed_at": serialize.timestamp(a.case_closed_at),
        "created_at": serialize.timestamp(a.created_at),
        "checklist": checklist_json(a.checklist or []),
    }


@bp.get("/audits/queue")
def audit_queue() -> Response:
    """Closed and withdrawn cases to audit, oldest closure first, each with why it is there."""
    _quality()
    filters = audit_ops.parse_queue_filters(request.args, strict=True)
    sample = audit_ops.sample_settings()
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    s = get_session()
    page = keyset_page(
        s,
        audit_ops.queue_select(filters, sample, tz),
        [Case.closed_at, Case.id],
        [datetime, int],
        descending=False,
        serialize=lambda c: c,
    )
    cases: list[Case] = page["items"]
    reasons = audit_ops.queue_reasons(s, cases, sample)
    items = [{"case": serialize.case_summary(c), "reasons": reasons[c.id]} for c in cases]
    return jsonify({"items": items, "next_cursor": page["next_cursor"]})


@bp.get("/cases/<int:case_id>/audit")
def audit_of_case(case_id: int) -> Response:
    """The case's checklist as it stands, and its audits so far (newest first)."""
    user = _quality()
    case = _load_case(case_id)
    if not permissions.can_audit(user, case):
        raise Forbidden(_("Only quality managers audit cases."))
    s = get_session()
    return jsonify(
        {
            "case": serialize.case_summary(case),
            "auditable": case.state in TERMINAL_STATES and case.audited_closed_at != case.closed_at,
            "in_queue": audit_ops.in_queue(s, case, audit_ops.sample_settings()),
            "checklist": checklist_json(audit_ops.checklist_for(s, case, clock.now())),
            "audits": [audit_json(a) for a in audit_ops.audits_of(s, case)],
        }
    )


@bp.post("/cases/<int:case_id>/audit")
def record_audit(case_id: int) -> Response:
    """Record the verdict on the case's current closure; optionally reopen it to a step."""
    user = _quality()
    case = _load_case(case_id)
    if not permissions.can_audit(user, case):
        raise Forbidden(_("Only quality managers audit cases."))
    inp = audit_ops.validate_verdict(json_body())
    s = get_session()
    audit = audit_ops.record_audit(s, case, user, inp, clock.now())
    s.commit()
    get_session().expire(case)
    response = jsonify(audit_json(audit) | {"case": serialize.case_summary(case)})
    response.status_code = 201
    response.headers["Location"] = url_for("api.audit_of_case", case_id=case.id)
    return response


# --- the OpenAPI description ----------------------------------------------------------
def _obj(properties: Mapping[str, Schema], required: Iterable[str] | None = None, **extra: Any) -> Schema:
    out: Schema = {
        "type": "object",
        "properties": dict(properties),
        "required": list(properties) if required is None else list(required),
        "additionalProperties": False,
    }
    out.update(extra)
    return out


@section
def _audits(doc: Document) -> None:
    doc.tag("audits", "Quality managers: the audit queue, the automatic checklist, verdicts and reopening.")
    item_code = {"type": "string", "enum": list(ITEM_CODES), "description": "A checklist item."}
    text = {"type": "string", "minLength": 1, "maxLength": 4000}
    doc.schema(
        "ChecklistItem",
        _obj(
            {
                "item": item_code,
                "label": {"type": "string"},
                "status": {"type": "string", "enum": list(STATUSES)},
                "seqs": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1},
                    "description": "The `seq` of the events that decide the item.",
                },
                "note": {"type": "string", "description": "Why, as a code."},
                "text": {"type": "string", "description": "Why, in words."},
            }
        ),
    )
    doc.schema("Finding", _obj({"item": item_code, "text": text}))
    audit_props: dict[str, Schema] = {
        "id": {"type": "integer"},
        "case_id": {"type": "integer"},
        "auditor": ref("Person"),
        "verdict": {"type": "string", "enum": list(audit_ops.VERDICTS)},
        "findings": {"type": "array", "items": ref("Finding")},
        "reopen_to": {"type": ["string", "null"], "enum": [*REOPEN_TARGETS, None]},
        "case_closed_at": {**TIMESTAMP, "description": "The closure this audit covers."},
        "created_at": TIMESTAMP,
        "checklist": {
            "type": "array",
            "items": ref("ChecklistItem"),
            "description": "The checklist as it stood when the verdict was given.",
        },
    }
    doc.schema("Audit", _obj(audit_props))
    doc.schema("AuditRecorded", _obj({**audit_props, "case": ref("CaseSummary")}))
    doc.schema(
        "AuditRequest",
        _obj(
            {
                "verdict": {"type": "string", "enum": list(audit_ops.VERDICTS)},
                "findings": {
                    "description": "Required (at least one) for `findings`; none for `compliant`.",
                    "anyOf": [
                        {"type": "array", "maxItems": audit_ops.MAX_FINDINGS, "items": ref("Finding")},
                        {
                            "type": "object",
                            "propertyNames": {"enum": list(ITEM_CODES)},
                            "additionalProperties": {"type": ["string", "null"], "maxLength": 4000},
                        },
                        {"type": "null"},
                    ],
                },
                "reopen_to": {
                    "type": ["string", "null"],
                    "enum": [*REOPEN_TARGETS, None],
                    "description": "With findings on a closed case: the step its owner gets it back at.",
                },
            },
            ["verdict"],
            title="Verdict",
        ),
    )
    doc.schema(
        "QueueItem",
        _obj(
            {
                "case": ref("CaseSummary"),
                "reasons": {
                    "type": "array",
                    "items": {"type": "string", "enum": list(audit_ops.REASONS)},
                    "description": "Why the case is in the queue.",
                },
            }
        ),
    )
    list_of(doc, "AuditQueue", "QueueItem")
    doc.schema(
        "CaseAudit",
        _obj(
            {
                "case": ref("CaseSummary"),
                "auditable": {
                    "type": "boolean",
                    "description": "Closed or withdrawn, this closure not audited.",
                },
                "in_queue": {"type": "boolean"},
                "checklist": {"type": "array", "items": ref("ChecklistItem")},
                "audits": {"type": "array", "items": ref("Audit"), "description": "Newest first."},
            }
        ),
    )
    day = {"type": "string", "format": "date"}
    doc.operation(
        "get",
        "/api/v1/audits/queue",
        operation_id="auditQueue",
        summary="The audit queue (quality managers), oldest closure first.",
        description=(
            "Closed and withdrawn cases whose current closure is not audited: every case with a "
            "dissatisfied or staff-recorded answer, a reopen, an owner change, a refused forbidden "
            "phrase or a breached time limit, and a reproducible random sample of the rest."
        ),
        tag="audits",
        parameters=[
            query("from", day, "Closed on or after this day (in the service's time zone)."),
            query("to", day, "Closed on or before this day."),
            query("owner", {"type": "integer", "minimum": 1}, "The owner's user id."),
            query("category", {"type": "string", "enum": list(vocab.CATEGORIES)}, "The case category."),
            query("product", {"type": "string", "maxLength": 200}, "Text in the product name."),
            *page_parameters(),
        ],
        responses={200: "AuditQueue"},
        errors=[403, 422],
    )
    doc.operation(
        "get",
        "/api/v1/cases/{case_id}/audit",
        operation_id="getCaseAudit",
        summary="A case's automatic checklist and its audits (quality managers).",
        tag="audits",
        responses={200: "CaseAudit"},
        errors=[403, 404],
    )
    doc.operation(
        "post",
        "/api/v1/cases/{case_id}/audit",
        operation_id="recordAudit",
        summary="Record a verdict on the case's current closure (quality managers).",
        description=(
            "`compliant`, or `findings` per checklist item; with `reopen_to` the closed case goes "
            "back to that step for its owner and returns to the queue when it closes again. "
            "409 `wrong_state` when the case is not closed or withdrawn, `already_audited` when "
            "this closure has a verdict."
        ),
        tag="audits",
        request="AuditRequest",
        responses={201: "AuditRecorded"},
        errors=[403, 404, 409],
    )
