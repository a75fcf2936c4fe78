"""Progress updates to the customer, the forbidden-phrase check of everything said to them, and
the update cadence.

Every customer-facing text (a progress update, the apology, the remedy details) is checked
against the active phrase list before it is accepted. A hit raises PhraseRefused and changes
nothing; the view then rolls back, records the refusal with ``record_refusal`` (a
``phrase_refused`` event naming the phrase and the field, never the text, and the case marked
for audit) and commits that alone: the refusal is on record, nothing else changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from complaints.errors import Conflict, Forbidden, Refused
from complaints.models import Case, ProgressUpdate, User
from complaints.services import phrase_list
from complaints.services.history import append_event
from complaints.services.outbox import enqueue_email
from complaints.workflow import OPEN_STATES, Actor

# The step evidence that is said to the customer, by step.
CUSTOMER_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "apologise": ("apology",),
    "agree": ("remedy_detail",),
}
UPDATE_FIELD = "body"


class PhraseRefused(Refused):
    """A customer-facing text says a forbidden phrase: refused, and the refusal is recorded."""

    status = 422
    code = "forbidden_phrase"

    def __init__(self, phrase: str, field: str, case_id: int, actor_id: int, context: str) -> None:
        super().__init__(
            _(
                "This says “%(phrase)s”, which is on the list of phrases never to say to a customer. "
                "Rephrase it; nothing was sent.",
                phrase=phrase,
            )
        )
        self.phrase = phrase
        self.field = field
        self.case_id = case_id
        self.actor_id = actor_id
        self.context = context


# --- the guard ----------------------------------------------------------------------------
def check_customer_text(s: Session, case: Case, actor: User, texts: Mapping[str, Any], context: str) -> None:
    """Raise PhraseRefused for the first text (in the given order) that says a forbidden phrase."""
    for field, text in texts.items():
        if not isinstance(text, str):
            continue
        phrase = phrase_list.find_forbidden(s, text)
        if phrase is not None:
            raise PhraseRefused(phrase, field, case.id, actor.id, context)


def check_step_text(s: Session, case: Case, step: str, actor: User, evidence: Mapping[str, Any]) -> None:
    """The apology and the remedy details are said to the customer: the same guard applies."""
    fields = CUSTOMER_TEXT_FIELDS.get(step, ())
    if fields:
        check_customer_text(s, case, actor, {f: evidence.get(f) for f in fields}, step)


def record_refusal(s: Session, case: Case, actor: User, refused: PhraseRefused, now: datetime) -> None:
    """The refusal on record: an event (the phrase and the field, not the text) and an audit.

    Call it in a transaction of its own (after rolling back the refused request); it does not
    change the case's version, so the form the owner is correcting stays current.
    """
    append_event(
        s,
        case,
        "phrase_refused",
        Actor.staff(actor.id),
        {"phrase": refused.phrase, "field": refused.field, "context": refused.context},
        now,
    )
    s.execute(
        update(Case)
        .where(Case.id == case.id)
        .values(must_audit=True)
        .execution_options(synchronize_session=False)
    )
    s.expire(case, ["must_audit"])


# --- progress updates -----------------------------------------------------------------------
def customer_locale() -> str:
    """Customers have no account: their emails are in the deployment's customer language."""
    config = current_app.config
    return str(config.get("CUSTOMER_LOCALE") or config["BABEL_DEFAULT_LOCALE"])


def compose_update_email(case: Case, body: str) -> tuple[str, str]:
    """The subject and text of a progress update email, in the customer's language."""
    with force_locale(customer_locale()):
        subject = _("News about your complaint %(ref)s", ref=case.reference)
        text = render_template(
            "emails/progress_update.txt",
            reference=case.reference,
            customer_name=case.customer.name,
            owner_name=case.owner.name if case.owner is not None else "",
            body=body,
        )
    return subject, text


def send_progress_update(s: Session, case: Case, actor: User, body: str, now: datetime) -> ProgressUpdate:
    """Accept a message for the customer: the update, its event, the time, and its email."""
    if case.owner_id != actor.id:
        raise Forbidden(_("Only the owner sends progress updates."))
    if not case.is_open:
        raise Conflict(_("The case is %(state)s: it takes no more updates.", state=case.state), "wrong_state")
    check_customer_text(s, case, actor, {UPDATE_FIELD: body}, "progress_update")
    item = ProgressUpdate(case_id=case.id, author_id=actor.id, body=body, created_at=now)
    s.add(item)
    # Not a change of the case's content: the version (and any step form open) stays current.
    s.execute(
        update(Case)
        .where(Case.id == case.id)
        .values(last_update_at=now)
        .execution_options(synchronize_session=False)
    )
    s.expire(case, ["last_update_at"])
    s.flush()
    append_event(
        s, case, "progress_update_sent", Actor.staff(actor.id), {"update_id": item.id, "body": body}, now
    )
    customer = case.customer
    if customer.email and customer.erased_at is None:
        subject, text = compose_update_email(case, body)
        enqueue_email(
            s,
            to=customer.email,
            subject=subject,
            body_text=text,
            kind="progress_update",
            now=now,
            case_id=case.id,
        )
    return item


def updates_of(s: Session, case: Case) -> list[ProgressUpdate]:
    """A case's progress updates, oldest first."""
    return list(
        s.scalars(select(ProgressUpdate).where(ProgressUpdate.case_id == case.id).order_by(ProgressUpdate.id))
    )


# --- cadence --------------------------------------------------------------------------------
def update_cadence() -> timedelta:
    """How often the owner must update the customer while the case is open (UPDATE_CADENCE_DAYS)."""
    return timedelta(days=float(current_app.config.get("UPDATE_CADENCE_DAYS", 2)))


def next_update_due(case: Case) -> datetime | None:
    """When the next update is due: N days after the later of the claim and the last update."""
    if not case.is_open or case.owner_id is None or case.claimed_at is None:
        return None
    start = max(case.claimed_at, case.last_update_at or case.claimed_at)
    return start + update_cadence()


def update_overdue(case: Case, now: datetime) -> bool:
    """Whether the owner is behind on updates to the customer."""
    due = next_update_due(case)
    return due is not None and now > due


def update_overdue_clause(now: datetime) -> ColumnElement[bool]:
    """The SQL twin of update_overdue, for lists."""
    cutoff = now - update_cadence()
    return and_(
        Case.state.in_(OPEN_STATES),
        Case.owner_id.is_not(None),
        Case.claimed_at < cutoff,
        or_(Case.last_update_at.is_(None), Case.last_update_at < cutoff),
    )


__all__ = [
    "CUSTOMER_TEXT_FIELDS",
    "PhraseRefused",
    "check_customer_text",
    "check_step_text",
    "compose_update_email",
    "next_update_due",
    "record_refusal",
    "send_progress_update",
    "update_cadence",
    "update_overdue",
    "update_overdue_clause",
    "updates_of",
]
