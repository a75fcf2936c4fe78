"""Operations on cases: each changes, appends its event and flushes; the caller commits."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from complaints.errors import AlreadyOwned, Conflict, Forbidden, Stale
from complaints.evidence import ANSWER_FIELD, StepInput
from complaints.models import Assistant, Case, Customer, Note, ReferenceCounter, StepRecord, User
from complaints.models.customer import normal_email, phone_digits
from complaints.services.history import append_event
from complaints.workflow import CUSTOMER_STEPS, Actor, WorkflowRefused, fire

# Target time in each state (SPEC §2 defaults); "act" runs until the agreed date.
DEFAULT_TIME_LIMITS = {
    "new": timedelta(hours=4),
    "apologise": timedelta(hours=2),
    "listen": timedelta(hours=24),
    "confirm": timedelta(hours=24),
    "analyse": timedelta(hours=72),
    "agree": timedelta(hours=48),
    "prevent": timedelta(days=14),
    "verify": timedelta(days=7),
}


def _limits() -> dict[str, timedelta]:
    return current_app.config.get("TIME_LIMITS") or DEFAULT_TIME_LIMITS


def _follow_up_window() -> timedelta:
    return current_app.config.get("FOLLOW_UP_WINDOW", timedelta(days=7))


def _set_due(case: Case, now: datetime, agreed: str | None = None) -> None:
    if not case.is_open:
        case.due_at = None
    elif case.state == "act" and agreed:
        # The agreed completion date, to the end of that day.
        case.due_at = datetime.fromisoformat(agreed) + timedelta(days=1)
    else:
        limit = _limits().get(case.state)
        case.due_at = now + limit if limit else None


def _next_reference(s: Session, year: int) -> str:
    """C-YYYY-NNNNNN, numbered per year; the counter row serialises concurrent intake."""
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    s.execute(dialect_insert(ReferenceCounter).values(year=year, value=0).on_conflict_do_nothing())
    s.execute(
        update(ReferenceCounter)
        .where(ReferenceCounter.year == year)
        .values(value=ReferenceCounter.value + 1)
        .execution_options(synchronize_session=False)
    )
    value = s.execute(select(ReferenceCounter.value).where(ReferenceCounter.year == year)).scalar_one()
    return f"C-{year}-{value:06d}"


def find_customer(s: Session, phone: str | None, email: str | None) -> Customer | None:
    """An existing customer with the same phone digits or email."""
    digits, mail = phone_digits(phone), normal_email(email)
    clauses = []
    if digits:
        clauses.append(Customer.phone_digits == digits)
    if mail:
        clauses.append(Customer.email == mail)
    if not clauses:
        return None
    return s.scalars(select(Customer).where(or_(*clauses)).order_by(Customer.id).limit(1)).first()


def open_case(s: Session, actor: User, data: dict[str, Any], now: datetime) -> Case:
    """Take a complaint in: find or create the customer, number the case, record it."""
    customer = find_customer(s, data.get("customer_phone"), data.get("customer_email"))
    if customer is None:
        customer = Customer(
            name=data["customer_name"],
            phone=data.get("customer_phone"),
            phone_digits=phone_digits(data.get("customer_phone")),
            email=normal_email(data.get("customer_email")),
            created_at=now,
        )
        s.add(customer)
    else:
        # Fill in what we did not know yet; never overwrite what we had.
        if not customer.phone and data.get("customer_phone"):
            customer.phone = data["customer_phone"]
            customer.phone_digits = phone_digits(data["customer_phone"])
        if not customer.email and data.get("customer_email"):
            customer.email = normal_email(data["customer_email"])
    case = Case(
        reference=_next_reference(s, now.year),
        state="new",
        opened_by_id=actor.id,
        customer=customer,
        channel=data["channel"],
        summary=data["summary"],
        description=data["description"],
        product=data.get("product"),
        serial_number=data.get("serial_number"),
        purchase_date=(
            datetime.fromisoformat(data["purchase_date"]).date() if data.get("purchase_date") else None
        ),
        category=data["category"],
        severity=data.get("severity", "normal"),
        opened_at=now,
        state_entered_at=now,
        reopen_count=0,
        event_count=0,
        awaiting_customer=False,
    )
    _set_due(case, now)
    s.add(case)
    s.flush()
    fields = {k: v for k, v in data.items() if not k.startswith("customer_")}
    append_event(
        s,
        case,
        "case_opened",
        Actor.staff(actor.id),
        {"reference": case.reference, "customer_id": customer.id, **fields},
        now,
    )
    return case


def claim_case(s: Session, case: Case, actor: User, now: datetime) -> Case:
    """First responder takes the case for good; exactly one of many concurrent claims wins."""
    if case.owner_id is not None:
        raise AlreadyOwned(f"Already owned by {case.owner.name if case.owner else '?'}.")
    if case.state != "new":
        raise Conflict(f"The case is {case.state}: it cannot be claimed.", "wrong_state")
    try:
        fire(case, "claim", actor=Actor.staff(actor.id), now=now)
        case.claimed_at = now
        _set_due(case, now)
        # UPDATE ... WHERE id = :id AND version = :seen — only one claimer matches.
        s.flush()
    except (StaleDataError, WorkflowRefused):
        s.rollback()
        fresh = s.get(Case, case.id, populate_existing=True)
        owner = fresh.owner.name if fresh is not None and fresh.owner else "?"
        raise AlreadyOwned(f"Already owned by {owner}.") from None
    append_event(
        s,
        case,
        "case_claimed",
        Actor.staff(actor.id),
        {"owner_id": actor.id, "from": "new", "to": case.state},
        now,
    )
    return case


def complete_step(
    s: Session,
    case: Case,
    step: str,
    actor: User,
    inp: StepInput,
    now: datetime,
    version: int | None = None,
) -> str:
    """Record a step's evidence and move on; returns "done" or "awaiting" (sent to customer)."""
    if version is not None and version != case.version:
        raise Stale(f"The case changed since you loaded it (version {case.version}, not {version}).")
    if case.owner_id != actor.id:
        raise Forbidden("Only the owner may complete a step.")
    if step != case.state:
        raise Conflict(f"The current step is '{case.state}', not '{step}'.", "wrong_state")
    staff = Actor.staff(actor.id)
    if inp.send_to_customer:
        case.awaiting_customer = True
        _flush_versioned(s)
        append_event(s, case, "sent_to_customer", staff, {"step": step, "evidence": inp.evidence}, now)
        return "awaiting"
    try:
        source, dest = fire(
            case, step, actor=staff, now=now, evidence=inp.evidence, follow_up_window=_follow_up_window()
        )
    except WorkflowRefused as e:
        raise Conflict(e.message, "wrong_state") from None
    staff_recorded = (
        step in CUSTOMER_STEPS
        and ANSWER_FIELD[step] in inp.evidence
        and (inp.evidence.get(ANSWER_FIELD[step]) != "no_response")
    )
    case.awaiting_customer = False
    _set_due(case, now, inp.evidence.get("due_date") if step == "agree" else _agreed_date(case))
    s.add(
        StepRecord(
            case=case,
            step=step,
            outcome=dest,
            evidence=inp.evidence,
            staff_recorded=staff_recorded,
            recorded_by_id=actor.id,
            recorded_at=now,
        )
    )
    _flush_versioned(s)
    append_event(
        s,
        case,
        "step_completed",
        staff,
        {
            "step": step,
            "from": source,
            "to": dest,
            "evidence": inp.evidence,
            "staff_recorded": staff_recorded,
        },
        now,
    )
    return "done"


def _agreed_date(case: Case) -> str | None:
    for rec in reversed(case.steps):
        if rec.step == "agree" and rec.outcome == "act":
            return rec.evidence.get("due_date")
    return None


def _flush_versioned(s: Session) -> None:
    try:
        s.flush()
    except StaleDataError:
        s.rollback()
        raise Stale("Someone else changed the case at the same time; reload and try again.") from None


def withdraw_case(s: Session, case: Case, actor: User, reason: str, now: datetime) -> Case:
    source = case.state
    try:
        fire(case, "withdraw", actor=Actor.staff(actor.id), now=now, reason=reason)
    except WorkflowRefused as e:
        raise Conflict(e.message, "wrong_state") from None
    case.withdrawn_reason = reason
    case.awaiting_customer = False
    _set_due(case, now)
    _flush_versioned(s)
    append_event(
        s,
        case,
        "case_withdrawn",
        Actor.staff(actor.id),
        {"from": source, "to": "withdrawn", "reason": reason},
        now,
    )
    return case


def invite_assistant(s: Session, case: Case, actor: User, user: User, now: datetime) -> Assistant:
    assistant = Assistant(case_id=case.id, user_id=user.id, invited_by_id=actor.id, created_at=now)
    s.add(assistant)
    append_event(s, case, "assistant_invited", Actor.staff(actor.id), {"user_id": user.id}, now)
    return assistant


def add_note(s: Session, case: Case, actor: User, body: str, now: datetime) -> Note:
    note = Note(case_id=case.id, author_id=actor.id, body=body, created_at=now)
    s.add(note)
    s.flush()
    append_event(s, case, "note_added", Actor.staff(actor.id), {"note_id": note.id, "body": body}, now)
    return note


__all__ = [
    "add_note",
    "claim_case",
    "complete_step",
    "find_customer",
    "invite_assistant",
    "open_case",
    "withdraw_case",
]
