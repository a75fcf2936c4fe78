"""Deadlines on cases: the limits in force, the clock of each state entry, pauses, breaches.

The rules are in complaints/time_limits.py (the limits and their defaults) and
complaints/calendar.py (business-time arithmetic); this module keeps the case rows and the
history in step with them. Like every service it flushes and appends events, never commits.

Every move of a case goes through three small calls (claim, steps, loops, withdraw, and the
customer's answer on the link alike)::

    before = deadlines.before_move(s, case)          # before firing the move
    fire(case, ...)
    deadlines.set_clock(s, case, now, before, agreed=...)   # before the versioned flush
    flush
    deadlines.record_clock(s, case, actor, now, before)     # after it: the clock's events

``set_clock`` gives the state just entered its due date; while the case awaits the
customer the clock is paused (``clock_paused_at`` set, ``due_at`` NULL, shown as "paused —
awaiting customer"); when the answer moves the case, the next state's clock starts. A resume
without a new state entry (an internal move) continues the same clock: the paused time is
not counted. ``record_clock`` appends ``clock_paused`` / ``clock_resumed`` (with the paused
time) and, when the clock being stopped had already run out unnoticed, the
``deadline_breached`` event the background check would have recorded.

``check_deadlines`` (the ``check-deadlines`` command and the worker) records each breach
once: one conditional UPDATE per case decides, so concurrent runners never both record it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import current_app, g, has_app_context
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified, set_committed_value

from complaints.calendar import DEFAULT_TIMEZONE, Pause, TimeLimit, WorkingCalendar
from complaints.db import Database
from complaints.models import Case, Event, Setting, User
from complaints.services.history import append_event
from complaints.time_limits import (
    TimePolicy,
    calendar_to_setting,
    limits_to_setting,
    policy_from_settings,
)
from complaints.workflow import OPEN_STATES, Actor

LIMITS_KEY = "time_limits"
CALENDAR_KEY = "working_calendar"
SYSTEM = Actor("system")
_G_KEY = "time_policy"


# --- the settings -------------------------------------------------------------------------
def _timezone() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"] if has_app_context() else DEFAULT_TIMEZONE


def load_policy(s: Session) -> TimePolicy:
    """The limits and calendar in force, read from the settings (defaults where none)."""
    with s.no_autoflush:
        rows = dict(
            s.execute(
                select(Setting.key, Setting.value).where(Setting.key.in_((LIMITS_KEY, CALENDAR_KEY)))
            ).all()
        )
    return policy_from_settings(rows.get(LIMITS_KEY), rows.get(CALENDAR_KEY), _timezone())


def policy(s: Session) -> TimePolicy:
    """The policy, read once per request (cached on flask.g)."""
    if not has_app_context():
        return load_policy(s)
    cached = g.get(_G_KEY)
    if cached is None:
        cached = load_policy(s)
        setattr(g, _G_KEY, cached)
    return cached


def _save(s: Session, key: str, value: Any, actor: User, now: datetime) -> None:
    row = s.get(Setting, key)
    if row is None:
        row = Setting(key=key)
        s.add(row)
    row.value = value
    row.updated_at = now
    row.updated_by_id = actor.id
    s.flush()
    if has_app_context():
        g.pop(_G_KEY, None)


def save_time_limits(s: Session, actor: User, limits: Mapping[str, TimeLimit], now: datetime) -> TimePolicy:
    """Store validated limits (time_limits.parse_limits); cases entering a state from now on
    get them, running clocks keep the due date they were given."""
    _save(s, LIMITS_KEY, limits_to_setting(limits), actor, now)
    return policy(s)


def save_calendar(s: Session, actor: User, calendar: WorkingCalendar, now: datetime) -> TimePolicy:
    """Store a validated working calendar (time_limits.parse_calendar)."""
    _save(s, CALENDAR_KEY, calendar_to_setting(calendar), actor, now)
    return policy(s)


def settings_meta(s: Session) -> dict[str, Setting]:
    """Who last changed each setting and when (for the settings page)."""
    rows = s.scalars(select(Setting).where(Setting.key.in_((LIMITS_KEY, CALENDAR_KEY))))
    return {row.key: row for row in rows}


# --- the clock of a case ------------------------------------------------------------------
@dataclass(frozen=True)
class ClockBefore:
    """The clock as it was before a move: what the move may have stopped or paused."""

    state: str
    entered_at: datetime | None
    due_at: datetime | None
    paused_at: datetime | None
    breach_recorded_at: datetime | None
    pending_evidence: Mapping[str, Any] | None

    @property
    def running(self) -> bool:
        return self.due_at is not None and self.paused_at is None

    @property
    def breach_recorded(self) -> bool:
        return self.breach_recorded_at is not None and (
            self.entered_at is None or self.breach_recorded_at >= self.entered_at
        )


def before_move(s: Session, case: Case) -> ClockBefore:
    """Take the clock's reading before firing a move (and read the policy while nothing is
    pending, so no half-made move is flushed by the query)."""
    policy(s)
    return ClockBefore(
        state=case.state,
        entered_at=case.state_entered_at,
        due_at=case.due_at,
        paused_at=case.clock_paused_at,
        breach_recorded_at=case.breach_recorded_at,
        pending_evidence=dict(case.pending_evidence) if case.pending_evidence else None,
    )


def set_clock(
    s: Session,
    case: Case,
    now: datetime,
    before: ClockBefore | None = None,
    *,
    agreed: date | str | None = None,
) -> None:
    """Give the case the due date of where it now stands: a new state entry starts a clock,
    awaiting the customer pauses it, a closed case has none. Changes the row only."""
    pol = policy(s)
    if not case.is_open:
        case.due_at = None
        case.clock_paused_at = None
        return
    entered = case.state_entered_at or now
    same_entry = before is not None and before.state == case.state and before.entered_at == entered
    if case.awaiting_customer:
        if case.clock_paused_at is None:
            case.clock_paused_at = now
            # None while time is left; a clock that had already run out keeps its due date.
            pauses = [*_pauses_in_entry(s, case, entered), (now, None)]
            case.due_at = pol.due(case.state, entered, pauses)
        return
    if before is not None and before.paused_at is not None and same_entry:
        # Resumed without leaving the state: the same clock goes on, less the paused time.
        case.clock_paused_at = None
        pauses = [*_pauses_in_entry(s, case, entered), (before.paused_at, now)]
        case.due_at = pol.due(case.state, entered, pauses, agreed=_agreed(s, case, before, agreed))
        return
    case.clock_paused_at = None
    if not same_entry:
        case.breach_recorded_at = None
        flag_modified(case, "breach_recorded_at")  # written even if unchanged: this entry is new
    case.due_at = pol.due(case.state, entered, agreed=_agreed(s, case, before, agreed))


def record_clock(s: Session, case: Case, actor: Actor, now: datetime, before: ClockBefore | None) -> None:
    """After the move is flushed: the events of what happened to the clock."""
    if before is None:
        return
    stopped = (
        not case.is_open
        or case.state != before.state
        or case.state_entered_at != before.entered_at
        or case.clock_paused_at is not None
    )
    if before.running and stopped and _ran_out(s, case, before, now):
        # Left (or paused) after the limit ran out, before the background check saw it.
        record_breach_event(s, case, before.state, before.due_at, now)  # type: ignore[arg-type]
        values: dict[str, Any] = {"must_audit": True}
        if case.is_open and case.state_entered_at == before.entered_at:
            values["breach_recorded_at"] = now  # the same entry goes on, paused
        _set_quietly(s, case, values)
    if before.paused_at is None and case.clock_paused_at is not None:
        append_event(
            s,
            case,
            "clock_paused",
            actor,
            {"state": case.state, "due_at": _iso(before.due_at)},
            now,
        )
    elif before.paused_at is not None and case.clock_paused_at is None and case.is_open:
        append_event(
            s,
            case,
            "clock_resumed",
            actor,
            {
                "state": before.state,
                "paused_seconds": int((now - before.paused_at).total_seconds()),
                "due_at": _iso(case.due_at),
            },
            now,
        )


def _ran_out(s: Session, case: Case, before: ClockBefore, now: datetime) -> bool:
    if before.due_at is None or now <= before.due_at or before.breach_recorded:
        return False
    # A concurrent check may have recorded it since the case was read (the row is ours now).
    recorded = s.scalar(
        select(Event.id)
        .where(
            Event.case_id == case.id,
            Event.action == "deadline_breached",
            Event.at >= (before.entered_at or before.due_at),
        )
        .limit(1)
    )
    return recorded is None


def _set_quietly(s: Session, case: Case, values: dict[str, Any]) -> None:
    """Bookkeeping columns, written without a new case version (as the event count is)."""
    s.execute(
        update(Case).where(Case.id == case.id).values(**values).execution_options(synchronize_session=False)
    )
    for key, value in values.items():
        set_committed_value(case, key, value)


def _agreed(s: Session, case: Case, before: ClockBefore | None, agreed: date | str | None) -> Any:
    """The date agreed with the customer, when the case is acting on it."""
    if case.state != "act" or agreed:
        return agreed
    if before is not None and before.pending_evidence and before.pending_evidence.get("due_date"):
        return before.pending_evidence["due_date"]
    with s.no_autoflush:
        for rec in reversed(case.steps):
            if rec.step == "agree" and rec.outcome == "act":
                return rec.evidence.get("due_date")
    return None


def _pauses_in_entry(s: Session, case: Case, entered: datetime) -> list[Pause]:
    """The finished pauses of this state entry, from the history."""
    if case.id is None:
        return []
    with s.no_autoflush:
        rows = s.execute(
            select(Event.action, Event.at)
            .where(
                Event.case_id == case.id,
                Event.action.in_(("clock_paused", "clock_resumed")),
                Event.at >= entered,
            )
            .order_by(Event.seq)
        ).all()
    pauses: list[Pause] = []
    started: datetime | None = None
    for action, at in rows:
        if action == "clock_paused" and started is None:
            started = at
        elif action == "clock_resumed" and started is not None:
            pauses.append((started, at))
            started = None
    return pauses


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- breaches -----------------------------------------------------------------------------
def record_breach_event(s: Session, case: Case, state: str, due_at: datetime, now: datetime) -> None:
    append_event(s, case, "deadline_breached", SYSTEM, {"state": state, "due_at": due_at.isoformat()}, now)


def _unrecorded() -> Any:
    return or_(Case.breach_recorded_at.is_(None), Case.breach_recorded_at < Case.state_entered_at)


def record_breach(s: Session, case_id: int, state: str, due_at: datetime, now: datetime) -> bool:
    """Record one case's breach if it is still unrecorded; False when someone else did, or the
    case moved on. The conditional UPDATE is the lock: of two runners, one matches."""
    result = s.execute(
        update(Case)
        .where(
            Case.id == case_id,
            Case.state == state,
            Case.due_at == due_at,
            Case.due_at < now,
            _unrecorded(),
        )
        .values(breach_recorded_at=now, must_audit=True)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    case = s.get(Case, case_id, populate_existing=True)
    assert case is not None
    record_breach_event(s, case, state, due_at, now)
    return True


def check_deadlines(db: Database, now: datetime, *, batch: int = 500) -> int:
    """Record every breach not yet recorded, each case in its own short transaction."""
    recorded = 0
    after: tuple[datetime, int] | None = None
    while True:
        with db.transaction(write=False) as s:
            q = (
                select(Case.id, Case.state, Case.due_at)
                .where(Case.due_at < now, Case.state.in_(OPEN_STATES), _unrecorded())
                .order_by(Case.due_at, Case.id)
                .limit(batch)
            )
            if after is not None:
                q = q.where(or_(Case.due_at > after[0], and_(Case.due_at == after[0], Case.id > after[1])))
            rows = s.execute(q).all()
        for case_id, state, due_at in rows:
            with db.transaction() as s:
                if record_breach(s, case_id, state, due_at, now):
                    recorded += 1
        if len(rows) < batch:
            return recorded
        after = (rows[-1][2], rows[-1][0])


__all__ = [
    "CALENDAR_KEY",
    "LIMITS_KEY",
    "ClockBefore",
    "before_move",
    "check_deadlines",
    "load_policy",
    "policy",
    "record_breach",
    "record_clock",
    "save_calendar",
    "save_time_limits",
    "set_clock",
]
