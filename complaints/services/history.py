"""Appending to a case's hash-chained history, replaying it, and verifying it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from complaints.models import Case, Event
from complaints.workflow import Actor, ReplayCase, WorkflowRefused, fire, trigger_of

GENESIS = "0" * 64
# In a "no response" closure's event: the follow-up window (seconds) in force when it was made.
FOLLOW_UP_WINDOW_KEY = "follow_up_window_seconds"


def canonical_json(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def event_hash(
    prev_hash: str,
    case_id: int,
    seq: int,
    at: datetime,
    actor_kind: str,
    actor_id: int | None,
    action: str,
    data_digest: str,
) -> str:
    """The link: every stored value of the event except the personal data itself."""
    parts = [
        prev_hash,
        str(case_id),
        str(seq),
        at.isoformat(timespec="microseconds"),
        actor_kind,
        "" if actor_id is None else str(actor_id),
        action,
        data_digest,
    ]
    return sha256("\n".join(parts))


def append_event(
    s: Session,
    case: Case,
    action: str,
    actor: Actor,
    data: dict[str, Any],
    at: datetime,
) -> Event:
    """Append one event in the caller's transaction; the case row serialises appenders."""
    if case.id is None:
        s.flush()
    # The UPDATE locks the case row until commit (PostgreSQL) and hands out the next seq.
    s.execute(
        update(Case)
        .where(Case.id == case.id)
        .values(event_count=Case.event_count + 1)
        .execution_options(synchronize_session=False)
    )
    seq = s.execute(select(Case.event_count).where(Case.id == case.id)).scalar_one()
    prev = GENESIS
    if seq > 1:
        prev = s.execute(
            select(Event.hash).where(Event.case_id == case.id, Event.seq == seq - 1)
        ).scalar_one()
    text = canonical_json(data)
    digest = sha256(text)
    at = at.replace(tzinfo=None)
    ev = Event(
        case_id=case.id,
        seq=seq,
        at=at,
        actor_kind=actor.kind,
        actor_id=actor.id if actor.kind == "staff" else None,
        action=action,
        data=text,
        data_digest=digest,
        prev_hash=prev,
        hash=event_hash(
            prev, case.id, seq, at, actor.kind, actor.id if actor.kind == "staff" else None, action, digest
        ),
    )
    s.add(ev)
    s.flush()
    s.expire(case, ["event_count"])
    return ev


@dataclass
class ChainProblem:
    case_id: int
    seq: int | None
    reason: str


class ReplayRefused(WorkflowRefused):
    """Replay stopped at an event: the first event whose move the workflow does not allow."""

    def __init__(self, seq: int, message: str) -> None:
        super().__init__("replay", message)
        self.seq = seq


def _actor_of(ev: Event) -> Actor:
    return Actor(ev.actor_kind, ev.actor_id)


def replay(events: Sequence[Event], follow_up_window: timedelta = timedelta(days=7)) -> ReplayCase:
    """Run the recorded moves through the workflow again, from nothing."""
    model = ReplayCase()
    for ev in events:
        data = json.loads(ev.data)
        if ev.action == "owner_changed":
            model.owner_id = data["to"]
            continue
        trig = trigger_of(ev.action, data)
        if trig is None:
            continue
        try:
            fire(
                model,
                trig,
                actor=_actor_of(ev),
                now=ev.at,
                evidence=data.get("evidence") or {},
                reason=data.get("reason"),
                follow_up_window=(
                    timedelta(seconds=data[FOLLOW_UP_WINDOW_KEY])
                    if FOLLOW_UP_WINDOW_KEY in data
                    else follow_up_window
                ),
            )
        except WorkflowRefused as e:
            raise ReplayRefused(
                ev.seq, _("event %(seq)d (%(action)s): %(why)s", seq=ev.seq, action=ev.action, why=e.message)
            ) from None
        if "to" in data and model.state != data["to"]:
            raise ReplayRefused(
                ev.seq,
                _(
                    "event %(seq)d says %(state)s, replay gives %(replayed)s",
                    seq=ev.seq,
                    state=data["to"],
                    replayed=model.state,
                ),
            )
    return model


def verify_case(
    s: Session, case: Case, follow_up_window: timedelta = timedelta(days=7)
) -> ChainProblem | None:
    """The first thing wrong with a case's history, or None when it is intact."""
    events = list(s.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.seq)))
    prev = GENESIS
    for expected_seq, ev in enumerate(events, start=1):
        if ev.seq != expected_seq:
            return ChainProblem(case.id, expected_seq, _("event missing"))
        if ev.prev_hash != prev:
            return ChainProblem(case.id, ev.seq, _("link to previous event broken"))
        if sha256(ev.data) != ev.data_digest:
            return ChainProblem(case.id, ev.seq, _("data altered"))
        expected = event_hash(
            prev, ev.case_id, ev.seq, ev.at, ev.actor_kind, ev.actor_id, ev.action, ev.data_digest
        )
        if ev.hash != expected:
            return ChainProblem(case.id, ev.seq, _("hash mismatch"))
        prev = ev.hash
    if len(events) != case.event_count:
        return ChainProblem(case.id, len(events) + 1, _("event missing at the end"))
    try:
        model = replay(events, follow_up_window)
    except WorkflowRefused as e:
        return ChainProblem(case.id, getattr(e, "seq", None), _("replay refused: %(why)s", why=e.message))
    if model.state != case.state:
        return ChainProblem(
            case.id,
            None,
            _("state %(state)s but replay gives %(replayed)s", state=case.state, replayed=model.state),
        )
    if model.owner_id != case.owner_id:
        return ChainProblem(
            case.id,
            None,
            _("owner %(owner)s but replay gives %(replayed)s", owner=case.owner_id, replayed=model.owner_id),
        )
    return None
