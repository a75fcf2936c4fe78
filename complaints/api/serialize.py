"""Models to JSON, in the shapes openapi.py documents; timestamps ISO 8601 UTC with "Z"."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from complaints.evidence import INTAKE_FIELDS, STEP_FIELDS
from complaints.models import Assistant, Case, Customer, Event, Note, StepRecord, User

# Intake fields that are the customer's, posted as customer{name, phone, email}:
# {"name": "customer_name", ...}, and their names in the API's error messages.
CUSTOMER_PREFIX = "customer_"
CUSTOMER_FIELDS = {
    f.name.removeprefix(CUSTOMER_PREFIX): f for f in INTAKE_FIELDS if f.name.startswith(CUSTOMER_PREFIX)
}
API_FIELD_NAMES = {f.name: f"customer.{short}" for short, f in CUSTOMER_FIELDS.items()}
CASE_FIELDS = tuple(f.name for f in INTAKE_FIELDS if not f.name.startswith(CUSTOMER_PREFIX))
# The list leaves out the long text; the case itself has everything.
SUMMARY_FIELDS = tuple(name for name in CASE_FIELDS if name != "description")


def timestamp(value: datetime | None) -> str | None:
    """Naive UTC as stored -> '2026-03-01T08:30:00.000000Z'."""
    if value is None:
        return None
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def person(user: User | None) -> dict[str, Any] | None:
    return None if user is None else {"id": user.id, "name": user.name}


def customer(c: Customer) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "phone": c.phone, "email": c.email}


def case_summary(case: Case) -> dict[str, Any]:
    """A list item: who, what and where it stands."""
    out: dict[str, Any] = {
        "id": case.id,
        "reference": case.reference,
        "state": case.state,
        "owner": person(case.owner),
        "opened_by": person(case.opened_by),
        "customer": customer(case.customer),
        "opened_at": timestamp(case.opened_at),
        "closed_at": timestamp(case.closed_at),
        "due_at": timestamp(case.due_at),
        "awaiting_customer": bool(case.awaiting_customer),
        "version": case.version,
        "reopen_count": case.reopen_count,
    }
    for name in SUMMARY_FIELDS:
        out[name] = _plain(getattr(case, name))
    return out


def case_detail(case: Case) -> dict[str, Any]:
    """The case with its intake, its assistants and the evidence of every completed step."""
    out = case_summary(case)
    for name in CASE_FIELDS:
        out[name] = _plain(getattr(case, name))
    out["claimed_at"] = timestamp(case.claimed_at)
    out["withdrawn_reason"] = case.withdrawn_reason
    out["assistants"] = [person(a.user) for a in case.assistants]
    out["steps"] = [step_record(r) for r in case.steps]
    return out


def _datetime_text(value: Any) -> Any:
    """Evidence keeps naive-UTC ISO text; the API shows it with its "Z"."""
    if not isinstance(value, str):
        return value
    try:
        return timestamp(datetime.fromisoformat(value))
    except ValueError:
        return value


def evidence(step: str, ev: dict[str, Any]) -> dict[str, Any]:
    """A step's evidence as stored, with its date-times marked as UTC."""
    kinds = {f.name: f.kind for f in STEP_FIELDS.get(step, ())}
    out: dict[str, Any] = {}
    for key, value in ev.items():
        kind = kinds.get(key)
        if kind == "datetime":
            value = _datetime_text(value)
        elif kind == "actions" and isinstance(value, list):
            value = [
                {**a, "done_at": _datetime_text(a.get("done_at"))} if isinstance(a, dict) else a
                for a in value
            ]
        out[key] = value
    return out


def step_record(r: StepRecord) -> dict[str, Any]:
    return {
        "step": r.step,
        "outcome": r.outcome,
        "evidence": evidence(r.step, r.evidence or {}),
        "staff_recorded": bool(r.staff_recorded),
        "recorded_by": person(r.recorded_by),
        "recorded_at": timestamp(r.recorded_at),
    }


def event(ev: Event) -> dict[str, Any]:
    """One history entry; ``data`` exactly as stored and hashed, parsed."""
    return {
        "seq": ev.seq,
        "at": timestamp(ev.at),
        "actor": {
            "kind": ev.actor_kind,
            "id": ev.actor_id,
            "name": ev.actor.name if ev.actor is not None else None,
        },
        "action": ev.action,
        "data": json.loads(ev.data),
        "hash": ev.hash,
        "prev_hash": ev.prev_hash,
    }


def assistant(a: Assistant, invited_by: User) -> dict[str, Any]:
    return {
        "case_id": a.case_id,
        "user": person(a.user),
        "invited_by": person(invited_by),
        "created_at": timestamp(a.created_at),
    }


def note(n: Note) -> dict[str, Any]:
    return {
        "id": n.id,
        "case_id": n.case_id,
        "author": person(n.author),
        "body": n.body,
        "created_at": timestamp(n.created_at),
    }
