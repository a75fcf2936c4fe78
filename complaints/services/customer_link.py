"""The customer link: an unguessable, expiring address for one case, and the customer's answers on it.

The token (``secrets.token_urlsafe(32)``, 256 bits) exists only in the URL handed to the owner
or emailed to the customer when the link is made; the database keeps its SHA-256. A new link
replaces (revokes) the case's older ones. The customer's answer is their own act: the same
workflow move the owner's staff-recorded answer makes, by ``Actor("customer")``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from complaints import vocab
from complaints.errors import Conflict, NotFound
from complaints.evidence import Context, customer_answer_step, validate_customer_answer
from complaints.models import Case, CustomerLink, InterimMeasure, ProgressUpdate, User
from complaints.services import cases as case_ops
from complaints.services import deadlines, interim
from complaints.services.history import append_event
from complaints.services.outbox import enqueue_email
from complaints.workflow import CUSTOMER_STEPS, Actor

TOKEN_BYTES = 32
# token_urlsafe(32) gives 43 characters; anything else is no token of ours.
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,100}")

# The email that carries the link when the owner sends a step's question.
QUESTION_EMAIL = {"confirm": "customer_link", "agree": "remedy_offer", "verify": "satisfaction_question"}

# What the customer reads about where their case stands: plain words, never state names.
STAGES: tuple[tuple[str, Any, tuple[str, ...]], ...] = (
    ("received", _l("We have received your complaint"), ("new",)),
    ("listening", _l("We have apologised and are listening"), ("apologise", "listen", "confirm")),
    ("investigating", _l("We are looking for the cause"), ("analyse",)),
    ("remedy", _l("We are agreeing a remedy with you"), ("agree",)),
    ("fixing", _l("We are putting things right"), ("act", "prevent")),
    ("checking", _l("We are checking that you are satisfied"), ("verify",)),
    ("done", _l("Done"), ("closed",)),
)
STAGE_OF = {state: code for code, _text, states in STAGES for state in states}
# What of the question the customer sees: only these fields of the pending evidence.
QUESTION_FIELDS = {
    "confirm": ("restatement",),
    "agree": ("remedy", "remedy_detail", "due_date"),
    "verify": (),
}

UrlFor = Callable[[str], str]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _valid_until(now: datetime) -> datetime:
    return now + timedelta(days=int(current_app.config.get("CUSTOMER_LINK_DAYS", 30)))


def _context(now: datetime) -> Context:
    return Context(now=now, tz=ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"]))


def usable(link: CustomerLink | None, case: Case | None, now: datetime) -> bool:
    """A link works while it is the case's current one, unexpired, and the case is open."""
    return (
        link is not None
        and case is not None
        and link.case_id == case.id
        and link.revoked_at is None
        and link.expires_at > now
        and case.is_open
    )


def find_link(s: Session, token: str, now: datetime) -> tuple[CustomerLink, Case] | None:
    """The link and its case for a token, or None: unknown, replaced, expired, or case ended."""
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        return None
    link = s.scalars(select(CustomerLink).where(CustomerLink.token_hash == hash_token(token))).first()
    case = s.get(Case, link.case_id) if link is not None else None
    if not usable(link, case, now):
        return None
    assert link is not None and case is not None
    return link, case


def current_link(s: Session, case: Case, now: datetime) -> CustomerLink | None:
    """The case's working link (for staff: when it was made, until when, last used)."""
    link = s.scalars(
        select(CustomerLink)
        .where(CustomerLink.case_id == case.id, CustomerLink.revoked_at.is_(None))
        .order_by(CustomerLink.id.desc())
        .limit(1)
    ).first()
    return link if usable(link, case, now) else None


# --- making links ------------------------------------------------------------------------
@dataclass
class NewLink:
    """A link just made: the only moment its token (and so its URL) is known."""

    link: CustomerLink
    url: str
    emailed: bool


def _customer_email(case: Case) -> str | None:
    customer = case.customer
    if customer is None or customer.erased_at is not None:
        return None
    return customer.email or None


def _email(case: Case, kind: str, url: str, expires_at: datetime) -> tuple[str, str]:
    """Subject and text of a customer email, in the deployment's default language."""
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        subjects = {
            "customer_link": _("Your complaint %(ref)s: please check what we understood", ref=case.reference),
            "remedy_offer": _("Your complaint %(ref)s: our proposal to put it right", ref=case.reference),
            "satisfaction_question": _("Your complaint %(ref)s: are you satisfied?", ref=case.reference),
            "link": _("Your complaint %(ref)s: your personal page", ref=case.reference),
        }
        body = render_template(
            f"emails/{kind if kind in QUESTION_EMAIL.values() else 'customer_link'}.txt",
            case=case,
            url=url,
            expires_at=expires_at,
            asking=kind != "link",
            owner_name=case.owner.name if case.owner else None,
            customer_name=case.customer.name if case.customer else "",
            tz=current_app.config["BABEL_DEFAULT_TIMEZONE"],
        )
        return subjects[kind], body


def create_link(
    s: Session, case: Case, actor: User, now: datetime, url_for_token: UrlFor, *, email: str | None = "link"
) -> NewLink:
    """A fresh link for the case, replacing older ones; emailed when the customer has an address.

    ``email`` is the kind of message ("link", or a question's kind from QUESTION_EMAIL), or None.
    """
    if not case.is_open:
        raise Conflict(_("The case has ended: it has no customer link."), "wrong_state")
    s.execute(
        update(CustomerLink)
        .where(CustomerLink.case_id == case.id, CustomerLink.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = CustomerLink(
        case_id=case.id,
        token_hash=hash_token(token),
        created_by_id=actor.id,
        created_at=now,
        expires_at=_valid_until(now),
    )
    s.add(link)
    s.flush()
    url = url_for_token(token)
    address = _customer_email(case) if email else None
    emailed = False
    if address and email:
        subject, body = _email(case, email, url, link.expires_at)
        try:
            enqueue_email(
                s,
                to=address,
                subject=subject,
                body_text=body,
                kind="customer_link" if email == "link" else email,
                now=now,
                case_id=case.id,
            )
            emailed = True
        except ValueError:  # an address the mail system cannot use: the owner passes the link on
            emailed = False
    append_event(
        s,
        case,
        "customer_link_created",
        Actor.staff(actor.id),
        # Never the token: only which link, until when, and whether it went by email.
        {
            "link_id": link.id,
            "expires_at": link.expires_at.isoformat(),
            "emailed": emailed,
            **({"email_kind": "customer_link" if email == "link" else email} if emailed else {}),
        },
        now,
    )
    return NewLink(link, url, emailed)


def question_sent(
    s: Session, case: Case, actor: User, now: datetime, url_for_token: UrlFor
) -> NewLink | None:
    """After the owner sent a step's question: email it with a fresh link when the customer has
    an address (a token cannot be read back, so the email brings a new one and says so)."""
    step = case.pending_step
    if not case.awaiting_customer or step not in QUESTION_EMAIL or _customer_email(case) is None:
        return None
    return create_link(s, case, actor, now, url_for_token, email=QUESTION_EMAIL[step])


# --- the customer's side -----------------------------------------------------------------
@dataclass
class Stage:
    code: str
    text: str
    status: str  # done | current | upcoming


@dataclass
class CustomerView:
    """Everything the customer may see of their case, and nothing more."""

    reference: str
    opened_at: datetime
    owner_name: str | None
    stage: Stage
    stages: list[Stage]
    updates: list[ProgressUpdate]
    interim_measures: list[InterimMeasure]
    awaiting: str | None
    question: dict[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None

    @property
    def remedy_label(self) -> str | None:
        code = self.question.get("remedy")
        return str(vocab.REMEDIES.get(code, code)) if code else None

    @property
    def due_date(self) -> date | None:
        value = self.question.get("due_date")
        return date.fromisoformat(value) if value else None


def awaiting(case: Case) -> str | None:
    """The step whose question waits for the customer, if any."""
    step = case.pending_step
    if case.is_open and case.awaiting_customer and step in CUSTOMER_STEPS and step == case.state:
        return step
    return None


def _stages(case: Case) -> list[Stage]:
    current = STAGE_OF.get(case.state, "received")
    codes = [code for code, _text, _states in STAGES]
    at = codes.index(current)
    return [
        Stage(code, str(text), "done" if i < at else "current" if i == at else "upcoming")
        for i, (code, text, _states) in enumerate(STAGES)
    ]


def customer_view(s: Session, case: Case, link: CustomerLink | None = None) -> CustomerView:
    """The customer's page: reference, plain-words progress, updates, interim measures, question."""
    stages = _stages(case)
    step = awaiting(case)
    pending = case.pending_evidence or {}
    question = {name: pending[name] for name in QUESTION_FIELDS.get(step or "", ()) if name in pending}
    updates = list(
        s.scalars(select(ProgressUpdate).where(ProgressUpdate.case_id == case.id).order_by(ProgressUpdate.id))
    )
    measures = [
        m
        for m in s.scalars(
            select(InterimMeasure).where(InterimMeasure.case_id == case.id).order_by(InterimMeasure.id)
        )
        if m.is_open
    ]
    return CustomerView(
        reference=case.reference,
        opened_at=case.opened_at,
        owner_name=case.owner.name if case.owner else None,
        stage=next(st for st in stages if st.status == "current"),
        stages=stages,
        updates=updates,
        interim_measures=measures,
        awaiting=step,
        question=question,
        expires_at=link.expires_at if link is not None else None,
    )


def customer_answer(
    s: Session,
    case: Case,
    link: CustomerLink,
    answer: Mapping[str, Any],
    now: datetime,
    *,
    step: str | None = None,
) -> str:
    """The customer's own answer on their link; returns the state it led to.

    404 when the link no longer works; 409 when nothing awaits this answer (``step`` names the
    question a form was for; otherwise the answer's content tells); 422 when it is invalid.
    """
    if not usable(link, case, now):
        raise NotFound(_("This link is not valid any more."))
    waiting = awaiting(case)
    asked = step or customer_answer_step(answer) or waiting
    if waiting is None or asked != waiting:
        raise Conflict(_("Nothing is waiting for this answer; the page may be out of date."), "not_awaited")
    inp = validate_customer_answer(waiting, case.pending_evidence or {}, answer, _context(now))
    interim.check_closure(s, case, waiting, inp)  # open interim measures keep the case open
    seen = case.version
    before = deadlines.before_move(s, case)
    link.last_used_at = now
    case_ops.record_move(s, case, waiting, Actor("customer"), inp, now, seen=seen, before=before)
    return case.state


__all__ = [
    "STAGES",
    "CustomerView",
    "NewLink",
    "awaiting",
    "create_link",
    "current_link",
    "customer_answer",
    "customer_view",
    "find_link",
    "hash_token",
    "question_sent",
]
