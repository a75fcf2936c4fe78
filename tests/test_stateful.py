"""Random sequences of actions by random users at several cases, through the real services.

A Hypothesis state machine plays staff at work: opening, claiming, completing steps with
valid or invalid evidence (loops included), sending questions to the customer, withdrawing,
adding notes and inviting assistants. Each action goes the way a view takes it (permission
check, validation, service, commit) on the real database, fresh for every example. After
every action it checks: each case's state equals the replay of its events (verify_case),
the owner never changes after the claim, each event links to the one before, refused actions
change nothing, and the outcome is the one an independent model of SPEC §2 predicts.

COMPLAINTS_STATEFUL_EXAMPLES (default 20) and COMPLAINTS_STATEFUL_STEPS (default 25) size it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from conftest import BACKEND, TZ, Clock, good_evidence
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from complaints import permissions
from complaints.db import Base, get_db
from complaints.errors import AlreadyOwned, Forbidden, Refused, Stale
from complaints.evidence import Context, EvidenceError, validate_intake, validate_reason, validate_step
from complaints.models import Assistant, Case, Event, Note, User
from complaints.services import cases as case_ops
from complaints.services import staff as staff_ops
from complaints.services.history import GENESIS, verify_case
from complaints.workflow import CUSTOMER_STEPS, STEPS, TERMINAL_STATES

EXAMPLES = int(os.environ.get("COMPLAINTS_STATEFUL_EXAMPLES", "20"))
STEP_COUNT = int(os.environ.get("COMPLAINTS_STATEFUL_STEPS", "25"))
MAX_CASES = 4
START = datetime(2026, 11, 23, 1, 0)
NEXT = dict(zip(STEPS, (*STEPS[1:], "closed"), strict=True))
USERS = {
    "r1": ("responder",),
    "r2": ("responder",),
    "r3": ("responder",),
    "front": ("frontline",),
    "both": ("frontline", "responder"),
    "quality": ("quality",),
}
INTAKE = {
    "customer_name": "陈先生",
    "customer_phone": "138 0013 8000",
    "channel": "phone",
    "summary": "电脑无法开机",
    "description": "新买的笔记本电脑按电源键没有反应。",
    "category": "product",
    "severity": "normal",
}
VARIANTS = ("good", "loop", "send", "invalid", "unknown_field", "stale", "no_response")
# What an owner working through a case mostly does: move on, loop back, ask the customer.
DRIVE_VARIANTS = ("good", "good", "good", "loop", "send", "no_response", "invalid")


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staff_ops, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


# --- a fresh database per example ------------------------------------------------------
class Fresh:
    """Brings the database back to 'staff only' before each example, quickly."""

    def __init__(self, app: Flask, tmp: Path) -> None:
        self.app = app
        self.url = app.config["DATABASE_URL"]
        self.seed: Path | None = None
        if BACKEND != "postgresql":
            self.path = Path(make_url(self.url).database)
            self.seed = tmp / "seed.db"

    def snapshot(self) -> None:
        """Keep the current database (staff accounts made) as every example's start."""
        if self.seed is not None:
            get_db(self.app).dispose()
            shutil.copyfile(self.path, self.seed)

    def reset(self) -> None:
        db = get_db(self.app)
        db.dispose()
        if self.seed is not None:
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(self.seed, self.path)
            return
        # Deleting a few rows is much faster than TRUNCATE; replica mode skips the triggers
        # (events are append-only) and foreign-key checks for this one transaction.
        with db.engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for table in _case_tables():
                conn.execute(text(f'DELETE FROM "{table}"'))


def _case_tables() -> list[str]:
    """Every table whose rows belong to cases or customers, directly or not; staff stay."""
    found = {"cases", "customers", "reference_counters"}
    grew = True
    while grew:
        grew = False
        for table in Base.metadata.sorted_tables:
            if table.name not in found and any(fk.column.table.name in found for fk in table.foreign_keys):
                found.add(table.name)
                grew = True
    return sorted(found)


# --- the independent model -----------------------------------------------------------
@dataclass
class Model:
    state: str = "new"
    owner: str | None = None
    opener: str = ""
    assistants: set[str] = field(default_factory=set)
    reopens: int = 0
    awaiting: bool = False
    notes: int = 0


def _evidence(step: str, variant: str, now: datetime) -> dict[str, Any]:
    ev = good_evidence(step, now)
    if variant == "loop":
        if step == "confirm":
            ev.update(customer_response="corrected", correction="不是黑屏,是开不了机")
        elif step == "agree":
            ev.update(customer_response="declined", reason="想要退款")
        elif step == "verify":
            ev.update(satisfaction="dissatisfied", score=2)
    elif variant == "send":
        for key in ("customer_response", "satisfaction", "score", "comment"):
            ev.pop(key, None)
        ev["via"] = "customer_link"
    elif variant == "invalid":
        first_required = next(iter(ev))
        ev.pop(first_required)
    elif variant == "unknown_field":
        ev["owner_id"] = 1
    elif variant == "no_response":
        ev = {"satisfaction": "no_response"}
    return ev


def _evidence_is_valid(step: str, variant: str) -> bool:
    if variant in ("invalid", "unknown_field"):
        return False
    if variant == "send":
        return step in CUSTOMER_STEPS
    if variant == "no_response":
        return step == "verify"
    return True


def _snapshot(s: Session) -> dict[int, tuple[Any, ...]]:
    """Everything about every case that a refused action must leave as it was (three queries)."""
    notes = dict(s.execute(select(Note.case_id, func.count()).group_by(Note.case_id)).all())
    helpers: dict[int, list[int]] = {}
    for case_id, user_id in s.execute(
        select(Assistant.case_id, Assistant.user_id).order_by(Assistant.user_id)
    ):
        helpers.setdefault(case_id, []).append(user_id)
    rows = s.execute(
        select(
            Case.id,
            Case.state,
            Case.version,
            Case.owner_id,
            Case.event_count,
            Case.reopen_count,
            Case.closed_at,
            Case.awaiting_customer,
            Case.state_entered_at,
        ).order_by(Case.id)
    )
    return {r[0]: (*r[1:], notes.get(r[0], 0), tuple(helpers.get(r[0], ()))) for r in rows}


class Refusal(Exception):
    """A permission check of the view layer said no (the test's stand-in for a 403)."""


def make_machine(app: Flask, clock: Clock, fresh: Fresh, users: dict[str, int]):
    db = get_db(app)
    names = sorted(users)
    follow_up = app.config["FOLLOW_UP_WINDOW"]

    class Desk(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            fresh.reset()
            clock.now = START
            self.cases: list[int] = []
            self.model: dict[int, Model] = {}
            self.first_owner: dict[int, int] = {}
            self.touched: set[int] = set()
            self.snap: dict[int, tuple[Any, ...]] | None = None

        # -- running one action the way a view does ---------------------------------
        def attempt(self, expect_ok: bool, action, allowed_errors=(Refused, EvidenceError, Refusal)):
            with app.app_context():
                s = db.new_session()
                try:
                    before = self.snapshot()
                    try:
                        result = action(s)
                        s.commit()
                    except allowed_errors as e:
                        s.rollback()
                        assert not expect_ok, f"refused but should succeed: {e!r}"
                        assert _snapshot(s) == before, f"a refused action changed something: {e!r}"
                        s.rollback()
                        return None, e
                    self.snap = None
                    assert expect_ok, "succeeded but the model says it must be refused"
                    return result, None
                finally:
                    s.close()

        def snapshot(self) -> dict[int, tuple[Any, ...]]:
            """All cases as they are now (kept from the last look while nothing changed)."""
            if self.snap is None:
                with app.app_context(), db.transaction(write=False) as s:
                    self.snap = _snapshot(s)
            return self.snap

        def user(self, s: Session, who: str) -> User:
            return s.get(User, users[who])

        def pick(self, i: int) -> int:
            case_id = self.cases[i % len(self.cases)]
            self.touched.add(case_id)
            return case_id

        # -- rules -------------------------------------------------------------------
        @initialize()
        def start(self) -> None:
            self.open_case("front")

        @precondition(lambda self: len(self.cases) < MAX_CASES)
        @rule(who=st.sampled_from(names))
        def open_case(self, who: str) -> None:
            allowed = "frontline" in USERS[who] or "responder" in USERS[who]

            def act(s: Session) -> int:
                u = self.user(s, who)
                if not permissions.can_open_case(u):
                    raise Refusal("open")
                data = validate_intake(INTAKE, Context(now=clock.now, tz=TZ))
                return case_ops.open_case(s, u, data, clock.now).id

            case_id, _ = self.attempt(allowed, act)
            if case_id is not None:
                self.cases.append(case_id)
                self.touched.add(case_id)
                self.model[case_id] = Model(opener=who)

        @precondition(lambda self: self.cases)
        @rule(i=st.integers(0, MAX_CASES - 1), who=st.sampled_from(names))
        def claim(self, i: int, who: str) -> None:
            case_id = self.pick(i)
            m = self.model[case_id]
            ok = "responder" in USERS[who] and m.state == "new"

            def act(s: Session) -> None:
                u = self.user(s, who)
                if not permissions.has_role(u, "responder"):
                    raise Refusal("claim")
                case_ops.claim_case(s, s.get(Case, case_id), u, clock.now)

            _, err = self.attempt(ok, act)
            if err is None:
                m.state, m.owner = "apologise", who
            elif "responder" in USERS[who] and m.owner is not None:
                assert isinstance(err, AlreadyOwned)
                assert err.message == f"Already owned by {who_name(m.owner)}."

        @precondition(lambda self: self.cases)
        @rule(
            i=st.integers(0, MAX_CASES - 1),
            who=st.sampled_from(names),
            step=st.sampled_from(STEPS),
            variant=st.sampled_from(VARIANTS),
            current=st.booleans(),
        )
        def complete_step(self, i: int, who: str, step: str, variant: str, current: bool) -> None:
            case_id = self.pick(i)
            m = self.model[case_id]
            if current and m.state in STEPS:
                step = m.state  # most attempts aim at the current step, as real users do
            self.try_step(case_id, who, step, variant)

        @precondition(lambda self: self.cases)
        @rule(
            i=st.integers(0, MAX_CASES - 1),
            claimer=st.sampled_from(["r1", "r2", "r3", "both"]),
            variants=st.lists(st.sampled_from(DRIVE_VARIANTS), min_size=1, max_size=6),
        )
        def owner_drives(self, i: int, claimer: str, variants: list[str]) -> None:
            """The owner works through the current steps (claiming first if nobody owns it)."""
            case_id = self.pick(i)
            m = self.model[case_id]
            if m.state == "new":
                self.claim(i, claimer)
            for variant in variants:
                if m.owner is None or m.state not in STEPS:
                    return
                self.try_step(case_id, m.owner, m.state, variant)

        def try_step(self, case_id: int, who: str, step: str, variant: str) -> None:
            m = self.model[case_id]
            row = self.snapshot()[case_id]
            version, entered = row[1], row[7]
            window_passed = entered is not None and clock.now - entered >= follow_up
            ok = (
                variant != "stale"
                and who == m.owner
                and step == m.state
                and _evidence_is_valid(step, variant)
                and (variant != "no_response" or window_passed)
            )

            def act(s: Session) -> str:
                ev = _evidence(step, variant, clock.now)
                inp = validate_step(step, ev, Context(now=clock.now, tz=TZ))
                return case_ops.complete_step(
                    s,
                    s.get(Case, case_id),
                    step,
                    self.user(s, who),
                    inp,
                    clock.now,
                    version=version - 1 if variant == "stale" else version,
                )

            result, err = self.attempt(ok, act)
            if err is not None:
                if variant == "stale":
                    assert isinstance(err, Stale | EvidenceError), repr(err)
                elif who != m.owner and _evidence_is_valid(step, variant):
                    assert isinstance(err, Forbidden), repr(err)
                return
            if variant == "send":
                assert result == "awaiting"
                m.awaiting = True
                return
            assert result == "done"
            m.awaiting = False
            if variant == "loop" and step == "confirm":
                m.state = "listen"
            elif variant == "loop" and step == "verify":
                m.state, m.reopens = "analyse", m.reopens + 1
            elif variant == "loop" and step == "agree":
                m.state = "agree"
            else:
                m.state = NEXT[step]

        @precondition(lambda self: self.cases)
        @rule(
            i=st.integers(0, MAX_CASES - 1),
            who=st.sampled_from(names),
            reason=st.sampled_from(["客户撤诉", "  ", ""]),
        )
        def withdraw(self, i: int, who: str, reason: str) -> None:
            case_id = self.pick(i)
            m = self.model[case_id]
            may = m.state not in TERMINAL_STATES and (
                who == m.owner
                or (
                    m.state == "new"
                    and who == m.opener
                    and ("frontline" in USERS[who] or "responder" in USERS[who])
                )
            )
            ok = may and bool(reason.strip())

            def act(s: Session) -> None:
                u, c = self.user(s, who), s.get(Case, case_id)
                if not permissions.can_withdraw(u, c):
                    raise Refusal("withdraw")
                case_ops.withdraw_case(s, c, u, validate_reason(reason), clock.now)

            _, err = self.attempt(ok, act)
            if err is None:
                m.state, m.awaiting = "withdrawn", False

        @precondition(lambda self: self.cases)
        @rule(i=st.integers(0, MAX_CASES - 1), who=st.sampled_from(names))
        def add_note(self, i: int, who: str) -> None:
            case_id = self.pick(i)
            m = self.model[case_id]
            ok = who == m.owner or who in m.assistants

            def act(s: Session) -> None:
                u, c = self.user(s, who), s.get(Case, case_id)
                if not permissions.can_add_note(u, c):
                    raise Refusal("note")
                case_ops.add_note(s, c, u, f"{who} 的内部备注", clock.now)

            _, err = self.attempt(ok, act)
            if err is None:
                m.notes += 1

        @precondition(lambda self: self.cases)
        @rule(i=st.integers(0, MAX_CASES - 1), who=st.sampled_from(names), invitee=st.sampled_from(names))
        def invite_assistant(self, i: int, who: str, invitee: str) -> None:
            case_id = self.pick(i)
            m = self.model[case_id]
            ok = (
                who == m.owner
                and m.state not in TERMINAL_STATES
                and invitee != m.owner
                and invitee not in m.assistants
                and ("responder" in USERS[invitee] or "frontline" in USERS[invitee])
            )

            def act(s: Session) -> None:
                u, c, other = self.user(s, who), s.get(Case, case_id), self.user(s, invitee)
                if not (permissions.can_invite_assistant(u, c) and permissions.can_be_assistant(other, c)):
                    raise Refusal("invite")
                case_ops.invite_assistant(s, c, u, other, clock.now)

            _, err = self.attempt(ok, act)
            if err is None:
                m.assistants.add(invitee)

        @rule(hours=st.sampled_from([1, 30, 24 * 8]))
        def time_passes(self, hours: int) -> None:
            clock.advance(hours=hours)

        # -- invariants --------------------------------------------------------------
        @invariant()
        def every_case_is_as_the_model_says(self) -> None:
            """One look at all cases: an action on one case never changes another."""
            self.snap = None
            snap = self.snapshot()
            assert sorted(snap) == sorted(self.cases)
            for case_id, row in snap.items():
                m = self.model[case_id]
                state, _version, owner_id, _events, reopens, closed_at, awaiting, _entered, notes, helpers = (
                    row
                )
                assert state == m.state
                assert owner_id == (users[m.owner] if m.owner else None)
                assert reopens == m.reopens
                assert bool(awaiting) == m.awaiting
                assert (closed_at is not None) == (state in TERMINAL_STATES)
                assert notes == m.notes
                assert set(helpers) == {users[a] for a in m.assistants}
                # The owner never changes after the claim.
                if owner_id is not None:
                    assert self.first_owner.setdefault(case_id, owner_id) == owner_id
                else:
                    assert case_id not in self.first_owner

        @invariant()
        def history_replays_to_the_state(self) -> None:
            """Chain and replay of every case an action touched (the others did not change)."""
            with app.app_context(), db.transaction(write=False) as s:
                for case_id in sorted(self.touched):
                    c = s.get(Case, case_id)
                    assert verify_case(s, c, follow_up) is None
                    events = list(
                        s.scalars(select(Event).where(Event.case_id == case_id).order_by(Event.seq))
                    )
                    assert [e.seq for e in events] == list(range(1, c.event_count + 1))
                    assert [e.prev_hash for e in events] == [GENESIS] + [e.hash for e in events[:-1]]
            self.touched.clear()

    def who_name(key: str) -> str:
        return f"Staff {key}"

    return Desk


def test_random_desk_work_keeps_every_invariant(app: Flask, clock: Clock, tmp_path: Path) -> None:
    users = {}
    with app.app_context(), get_db(app).transaction() as s:
        for key, roles in USERS.items():
            users[key] = staff_ops.create_user(
                s, f"{key}@example.com", f"Staff {key}", roles, "password-1"
            ).id
    fresh = Fresh(app, tmp_path)
    fresh.snapshot()
    Desk = make_machine(app, clock, fresh, users)
    run_state_machine_as_test(
        Desk,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEP_COUNT,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
