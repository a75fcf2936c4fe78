"""Operations on cases: each changes, appends its event and flushes; the caller commits."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from complaints import search
from complaints.errors import AlreadyOwned, Conflict, Forbidden, Stale
from complaints.evidence import ANSWER_FIELD, StepInput
from complaints.models import Assistant, Case, Customer, Note, ReferenceCounter, StepRecord, User
from complaints.models.customer import normal_email, phone_digits
from complaints.services import deadlines, interim, remedies, updates
from complaints.services.history import FOLLOW_UP_WINDOW_KEY, append_event
from complaints.workflow import CUSTOMER_STEPS, Actor, WorkflowRefused, fire


def _follow_up_window() -> timedelta:
    return current_app.config.get("FOLLOW_UP_WINDOW", timedelta(days=7))


def _set_due(case: Case, now: datetime, agreed: str | None = None) -> None:
    """The due date of the state the case just entered (services/deadlines.py decides it)."""
    deadlines.set_clock(Session.object_session(case), case, now, agreed=agreed)  # type: ignore[arg-type]


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
    deadlines.set_clock(s, case, now)
    s.add(case)
    search.index_new_case(s, case)  # flushes; re-indexes the customer's cases if intake changed them
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
        raise AlreadyOwned(_("Already owned by %(name)s.", name=case.owner.name if case.owner else "?"))
    if case.state != "new":
        raise Conflict(_("The case is %(state)s: it cannot be claimed.", state=case.state), "wrong_state")
    before = deadlines.before_move(s, case)
    try:
        fire(case, "claim", actor=Actor.staff(actor.id), now=now)
        case.claimed_at = now
        deadlines.set_clock(s, case, now, before)
        # UPDATE ... WHERE id = :id AND version = :seen — only one claimer matches.
        s.flush()
    except (StaleDataError, WorkflowRefused):
        s.rollback()
        fresh = s.get(Case, case.id, populate_existing=True)
        if fresh is None or fresh.owner is None:
            # Changed by someone else, but not claimed: withdrawn meanwhile.
            state = fresh.state if fresh is not None else "gone"
            raise Conflict(
                _("The case is %(state)s: it cannot be claimed.", state=state), "wrong_state"
            ) from None
        raise AlreadyOwned(_("Already owned by %(name)s.", name=fresh.owner.name)) from None
    deadlines.record_clock(s, case, Actor.staff(actor.id), now, before)
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
        raise Stale(
            _(
                "The case changed since you loaded it (version %(version)d, not %(seen)d).",
                version=case.version,
                seen=version,
            )
        )
    if case.owner_id != actor.id:
        raise Forbidden(_("Only the owner may complete a step."))
    if step != case.state:
        raise Conflict(
            _("The current step is '%(current)s', not '%(step)s'.", current=case.state, step=step),
            "wrong_state",
        )
    updates.check_step_text(s, case, step, actor, inp.evidence)  # the apology, the remedy details
    remedies.check_offer(s, case, step, inp)  # beyond policy only with a quality approval
    interim.check_closure(s, case, step, inp)  # open interim measures keep the case open
    staff = Actor.staff(actor.id)
    seen = case.version
    before = deadlines.before_move(s, case)
    if inp.send_to_customer:
        try:
            fire(case, "ask_customer", actor=staff, now=now, evidence=inp.evidence)
        except WorkflowRefused as e:
            raise Conflict(e.message, "wrong_state") from None
        case.pending_step = step
        case.pending_evidence = inp.evidence
        deadlines.set_clock(s, case, now, before)  # paused while the customer has the question
        _flush_versioned(s, case, seen)
        deadlines.record_clock(s, case, staff, now, before)
        append_event(s, case, "sent_to_customer", staff, {"step": step, "evidence": inp.evidence}, now)
        return "awaiting"
    record_move(s, case, step, staff, inp, now, seen=seen, before=before)
    return "done"


def record_move(
    s: Session,
    case: Case,
    step: str,
    actor: Actor,
    inp: StepInput,
    now: datetime,
    *,
    seen: int,
    before: deadlines.ClockBefore,
) -> None:
    """Complete the current step with its evidence: by the owner, or by the customer on their link
    (services/customer_link.py); the same move, record and event either way."""
    window = _follow_up_window()
    # Read before anything changes, so the lazy load does not flush half a move.
    agreed = inp.evidence.get("due_date") if step == "agree" else _agreed_date(case)
    try:
        source, dest = fire(case, step, actor=actor, now=now, evidence=inp.evidence, follow_up_window=window)
    except WorkflowRefused as e:
        raise Conflict(e.message, "wrong_state") from None
    staff_recorded = (
        actor.kind == "staff"
        and step in CUSTOMER_STEPS
        and ANSWER_FIELD[step] in inp.evidence
        and (inp.evidence.get(ANSWER_FIELD[step]) != "no_response")
    )
    case.pending_step = case.pending_evidence = None
    _note_facts(case, step, inp.evidence, staff_recorded)
    deadlines.set_clock(s, case, now, before, agreed=agreed)
    s.add(
        StepRecord(
            case=case,
            step=step,
            outcome=dest,
            evidence=inp.evidence,
            staff_recorded=staff_recorded,
            recorded_by_id=actor.id if actor.kind == "staff" else None,
            recorded_at=now,
        )
    )
    _flush_versioned(s, case, seen)
    deadlines.record_clock(s, case, actor, now, before)
    append_event(
        s,
        case,
        "step_completed",
        actor,
        {
            "step": step,
            "from": source,
            "to": dest,
            "evidence": inp.evidence,
            "staff_recorded": staff_recorded,
            # The customer's own answer, given on their link.
            **({"via": "customer_link"} if actor.kind == "customer" else {}),
            # The window in force, so replay judges the move by the rule of its day.
            **({FOLLOW_UP_WINDOW_KEY: int(window.total_seconds())} if _is_no_response(inp) else {}),
        },
        now,
    )


def _note_facts(case: Case, step: str, evidence: dict[str, Any], staff_recorded: bool) -> None:
    """Keep on the row what lists, queues and reports need from the history."""
    if step == "analyse":
        case.root_cause_category = evidence["root_cause_category"]
    elif step == "verify":
        case.satisfaction = evidence.get("satisfaction")
        case.satisfaction_score = evidence.get("score")
    # A staff-recorded answer or a dissatisfied customer always goes to the audit queue.
    if staff_recorded or evidence.get("satisfaction") == "dissatisfied":
        case.must_audit = True


def _is_no_response(inp: StepInput) -> bool:
    return inp.evidence.get("satisfaction") == "no_response"


def _agreed_date(case: Case) -> str | None:
    for rec in reversed(case.steps):
        if rec.step == "agree" and rec.outcome == "act":
            return rec.evidence.get("due_date")
    return None


def _flush_versioned(s: Session, case: Case, seen: int) -> None:
    """Write the case as a new version, even when no column changed (a declined remedy
    stays in agree): every recorded move must win or lose against concurrent ones."""
    if case.version == seen:
        flag_modified(case, "state")
    try:
        s.flush()
    except StaleDataError:
        s.rollback()
        raise Stale(_("Someone else changed the case at the same time; reload and try again.")) from None


def withdraw_case(s: Session, case: Case, actor: User, reason: str, now: datetime) -> Case:
    source, seen = case.state, case.version
    before = deadlines.before_move(s, case)
    try:
        fire(case, "withdraw", actor=Actor.staff(actor.id), now=now, reason=reason)
    except WorkflowRefused as e:
        raise Conflict(e.message, "wrong_state") from None
    case.withdrawn_reason = reason
    case.pending_step = case.pending_evidence = None
    deadlines.set_clock(s, case, now, before)
    _flush_versioned(s, case, seen)
    deadlines.record_clock(s, case, Actor.staff(actor.id), now, before)
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
