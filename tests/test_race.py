"""Races on a real database: many threads, each with its own connection, released at once.

Trials and thread counts come from the environment so CI can turn them up (issue 6 asks for
50 claimers x 100 trials); the defaults keep the suite fast:
COMPLAINTS_RACE_TRIALS (default 3) and COMPLAINTS_RACE_THREADS (default 20).
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from argon2 import PasswordHasher
from conftest import TZ, good_evidence
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from complaints.db import get_db
from complaints.errors import AlreadyOwned, Conflict, Stale
from complaints.evidence import Context, validate_intake, validate_step
from complaints.models import Case, Event, Note, User
from complaints.services import cases as case_ops
from complaints.services import staff as staff_ops
from complaints.services.history import GENESIS, verify_case

TRIALS = int(os.environ.get("COMPLAINTS_RACE_TRIALS", "3"))
THREADS = int(os.environ.get("COMPLAINTS_RACE_THREADS", "20"))
TIMEOUT = 120  # seconds a thread waits at the barrier before the test fails instead of hanging


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staff_ops, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@dataclass
class Outcome:
    index: int
    result: Any = None
    error: BaseException | None = None


def race(
    app: Flask,
    n: int,
    act: Callable[[Session, int, Any], Any],
    prepare: Callable[[Session, int], Any] | None = None,
) -> list[Outcome]:
    """Run ``act`` in ``n`` threads, each in its own app context and session, released together.

    ``prepare`` runs first in each thread (its transaction ended before the barrier, so a
    thread never holds a lock while it waits); ``act`` then commits, or the session rolls back.
    """
    barrier = threading.Barrier(n, timeout=TIMEOUT)
    outcomes = [Outcome(i) for i in range(n)]

    def run(i: int) -> None:
        with app.app_context():
            s = get_db(app).new_session()
            try:
                prepared = None
                if prepare is not None:
                    prepared = prepare(s, i)
                    s.commit()  # objects stay loaded: the factory has expire_on_commit=False
                barrier.wait()
                outcomes[i].result = act(s, i, prepared)
                s.commit()
            except BaseException as e:  # noqa: BLE001 - reported by the test
                outcomes[i].error = e
                s.rollback()
            finally:
                s.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 2)
        assert not t.is_alive(), "a racing thread hung"
    for o in outcomes:
        if o.error is not None:
            assert "locked" not in str(o.error).lower(), f"thread {o.index}: {o.error!r}"
            assert not isinstance(o.error, threading.BrokenBarrierError), "threads were not released together"
    return outcomes


def check_history(s: Session, case_id: int) -> list[Event]:
    """The chain is linear (no fork), contiguous and verifies; returns its events."""
    case = s.get(Case, case_id, populate_existing=True)
    events = list(s.scalars(select(Event).where(Event.case_id == case_id).order_by(Event.seq)))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.prev_hash for e in events] == [GENESIS] + [e.hash for e in events[:-1]]
    assert case.event_count == len(events)
    assert verify_case(s, case) is None
    return events


def session(app: Flask):
    return get_db(app).transaction(write=False)


@pytest.fixture
def claimers(make) -> list[User]:
    return [make.user("responder", name=f"Responder {i:02d}") for i in range(THREADS)]


# --- claims -------------------------------------------------------------------------
def _assert_one_claim(app: Flask, case_id: int, outcomes: list[Outcome], claimers: list[User]) -> None:
    winners = [o for o in outcomes if o.error is None]
    assert len(winners) == 1, [repr(o.error) for o in outcomes]
    winner = claimers[winners[0].index]
    losers = [o for o in outcomes if o.error is not None]
    assert len(losers) == len(outcomes) - 1
    for o in losers:
        assert isinstance(o.error, AlreadyOwned), repr(o.error)
        assert o.error.message == f"Already owned by {winner.name}."
        assert o.error.status == 409
    with app.app_context(), session(app) as s:
        case = s.get(Case, case_id)
        assert (case.state, case.owner_id) == ("apologise", winner.id)
        events = check_history(s, case_id)
        claims = [e for e in events if e.action == "case_claimed"]
        assert len(claims) == 1
        assert claims[0].actor_id == winner.id
        assert [e.action for e in events] == ["case_opened", "case_claimed"]


@pytest.mark.parametrize("trial", range(TRIALS))
def test_claim_race_decided_by_the_database(make, app, clock, claimers, trial):
    """All claimers loaded the case while it was unowned: only the conditional UPDATE decides."""
    case = make.case()

    def prepare(s: Session, i: int):
        return s.get(Case, case.id), s.get(User, claimers[i].id)

    def act(s: Session, i: int, loaded):
        c, user = loaded
        assert c.owner_id is None
        return case_ops.claim_case(s, c, user, clock.now)

    _assert_one_claim(app, case.id, race(app, THREADS, act, prepare), claimers)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_claim_race_as_requests_do_it(make, app, clock, claimers, trial):
    """Each claimer loads the case after the start, as a request would."""
    case = make.case()

    def act(s: Session, i: int, _):
        return case_ops.claim_case(s, s.get(Case, case.id), s.get(User, claimers[i].id), clock.now)

    _assert_one_claim(app, case.id, race(app, THREADS, act), claimers)


def test_claim_race_against_withdrawal(make, app, clock, claimers):
    """The opener withdraws while responders claim: one of the two kinds wins, never both."""
    opener = make.user("frontline", name="Opener")
    case = make.case(opener)

    def prepare(s: Session, i: int):
        return s.get(Case, case.id), s.get(User, opener.id if i == 0 else claimers[i].id)

    def act(s: Session, i: int, loaded):
        c, user = loaded
        if i == 0:
            return case_ops.withdraw_case(s, c, user, "客户撤诉", clock.now)
        return case_ops.claim_case(s, c, user, clock.now)

    outcomes = race(app, THREADS, act, prepare)
    won = [o.index for o in outcomes if o.error is None]
    assert len(won) == 1, [repr(o.error) for o in outcomes]
    for o in outcomes:
        if o.error is not None:
            assert isinstance(o.error, Conflict), repr(o.error)
    with app.app_context(), session(app) as s:
        c = s.get(Case, case.id)
        events = check_history(s, case.id)
        if won == [0]:
            assert (c.state, c.owner_id) == ("withdrawn", None)
            # Nobody owns it: the refused claimers are not told it is owned.
            assert all(not isinstance(o.error, AlreadyOwned) for o in outcomes[1:])
        else:
            assert (c.state, c.owner_id) == ("apologise", claimers[won[0]].id)
        assert len(events) == 2


# --- step submissions ---------------------------------------------------------------
def _evidence(step: str, now, i: int) -> dict[str, Any]:
    ev = good_evidence(step, now)
    if step == "agree":
        ev = {**ev, "customer_response": "declined", "reason": f"第 {i} 个理由"}
    return ev


@pytest.mark.parametrize("trial", range(TRIALS))
@pytest.mark.parametrize(("state", "with_version"), [("apologise", True), ("agree", True), ("listen", False)])
def test_concurrent_steps_on_one_version(make, app, clock, trial, state, with_version):
    """Every submission was made against the same version: exactly one is recorded."""
    case, owner = make.case_in(state)
    with app.app_context(), session(app) as s:
        version = s.get(Case, case.id).version

    def prepare(s: Session, i: int):
        inp = validate_step(state, _evidence(state, clock.now, i), Context(now=clock.now, tz=TZ))
        return s.get(Case, case.id), s.get(User, owner.id), inp

    def act(s: Session, i: int, loaded):
        c, user, inp = loaded
        return case_ops.complete_step(
            s, c, state, user, inp, clock.now, version=version if with_version else None
        )

    outcomes = race(app, THREADS, act, prepare)
    done = [o for o in outcomes if o.error is None]
    assert len(done) == 1, [repr(o.error) for o in outcomes]
    assert done[0].result == "done"
    for o in outcomes:
        if o.error is not None:
            assert isinstance(o.error, Stale | Conflict), repr(o.error)
            if with_version:
                assert isinstance(o.error, Stale), repr(o.error)
    with app.app_context(), session(app) as s:
        c = s.get(Case, case.id)
        assert c.version > version
        events = check_history(s, case.id)
        steps = [e for e in events if e.action == "step_completed"]
        assert [e.seq for e in steps][-1] == len(events)
        # The one recorded submission is the winner's own evidence.
        if state == "agree":
            assert f"第 {done[0].index} 个理由" in steps[-1].data
            assert c.state == "agree"
        recorded = [e for e in steps if f'"step":"{state}"' in e.data]
        assert len(recorded) == 1


def test_a_request_that_loaded_late_sees_the_new_version(make, app, clock):
    """Requests that load after the winner committed are refused as stale, not applied twice."""
    case, owner = make.case_in("apologise")
    with app.app_context(), session(app) as s:
        version = s.get(Case, case.id).version
    inp = validate_step("apologise", good_evidence("apologise", clock.now), Context(now=clock.now, tz=TZ))

    def act(s: Session, i: int, _):
        c = s.get(Case, case.id)
        return case_ops.complete_step(
            s, c, "apologise", s.get(User, owner.id), inp, clock.now, version=version
        )

    outcomes = race(app, THREADS, act)
    assert sum(o.error is None for o in outcomes) == 1
    assert all(isinstance(o.error, Stale) for o in outcomes if o.error is not None)
    with app.app_context(), session(app) as s:
        assert s.get(Case, case.id).state == "listen"
        check_history(s, case.id)


# --- many writers appending events ----------------------------------------------------
NOTES_EACH = 3


def test_concurrent_notes_on_one_case_and_on_many(make, app, clock):
    """Half the writers add notes to one case, the others each to their own: no fork, none lost."""
    owner = make.user("responder", name="Owner")
    shared, _ = make.case_in("apologise", owner=owner)
    own = [make.case_in("apologise", owner=owner)[0] for _ in range(THREADS // 2)]
    targets = [shared.id if i % 2 == 0 else own[i // 2].id for i in range(THREADS)]

    def act(s: Session, i: int, _):
        user = s.get(User, owner.id)
        for n in range(NOTES_EACH):
            case_ops.add_note(s, s.get(Case, targets[i]), user, f"writer {i} note {n}", clock.now)
            s.commit()  # one transaction per note: writers interleave
        return i

    outcomes = race(app, THREADS, act)
    assert [o.error for o in outcomes] == [None] * THREADS
    with app.app_context(), session(app) as s:
        for case_id, writers in Counter(targets).items():
            events = check_history(s, case_id)
            notes = [e for e in events if e.action == "note_added"]
            assert len(notes) == writers * NOTES_EACH
            bodies = {n.body for n in s.scalars(select(Note).where(Note.case_id == case_id))}
            expected = {
                f"writer {i} note {n}"
                for i in range(THREADS)
                if targets[i] == case_id
                for n in range(NOTES_EACH)
            }
            assert bodies == expected
        total = s.scalar(select(func.count()).select_from(Note))
        assert total == THREADS * NOTES_EACH


def test_concurrent_steps_and_notes_on_one_case(make, app, clock):
    """Notes by assistants interleave with the owner's steps; the chain stays one line."""
    owner = make.user("responder", name="Owner")
    case, _ = make.case_in("apologise", owner=owner)
    helpers = [make.user("responder", name=f"Helper {i}") for i in range(THREADS - 1)]
    with app.app_context(), get_db(app).transaction() as s:
        for h in helpers:
            case_ops.invite_assistant(
                s, s.get(Case, case.id), s.get(User, owner.id), s.get(User, h.id), clock.now
            )

    def act(s: Session, i: int, _):
        if i == 0:
            for name in ("apologise", "listen", "confirm", "analyse"):
                inp = validate_step(name, good_evidence(name, clock.now), Context(now=clock.now, tz=TZ))
                case_ops.complete_step(s, s.get(Case, case.id), name, s.get(User, owner.id), inp, clock.now)
                s.commit()
            return "steps"
        for n in range(NOTES_EACH):
            case_ops.add_note(s, s.get(Case, case.id), s.get(User, helpers[i - 1].id), f"{i}/{n}", clock.now)
            s.commit()
        return "notes"

    outcomes = race(app, THREADS, act)
    assert [o.error for o in outcomes] == [None] * THREADS
    with app.app_context(), session(app) as s:
        assert s.get(Case, case.id).state == "agree"
        events = check_history(s, case.id)
        assert Counter(e.action for e in events)["note_added"] == (THREADS - 1) * NOTES_EACH
        assert Counter(e.action for e in events)["step_completed"] == 4


def test_concurrent_intake_numbers_every_case_once(make, app, clock):
    """Cases opened at once get distinct, gap-free references."""
    opener = make.user("frontline")
    data = {
        "customer_name": "陈先生",
        "customer_phone": "138 0013 8000",
        "channel": "phone",
        "summary": "电脑无法开机",
        "description": "按电源键没有反应。",
        "category": "product",
        "severity": "normal",
    }
    clean = validate_intake(data, Context(now=clock.now, tz=TZ))

    def act(s: Session, i: int, _):
        return case_ops.open_case(s, s.get(User, opener.id), dict(clean), clock.now).reference

    outcomes = race(app, THREADS, act)
    assert [o.error for o in outcomes] == [None] * THREADS
    refs = sorted(o.result for o in outcomes)
    year = clock.now.year
    assert refs == [f"C-{year}-{n:06d}" for n in range(1, THREADS + 1)]
    with app.app_context(), session(app) as s:
        ids = list(s.scalars(select(Case.id)))
        assert len(ids) == THREADS
        for case_id in ids:
            check_history(s, case_id)


# --- the same interleavings, one step at a time ------------------------------------------
@pytest.mark.parametrize("meanwhile", ["claimed", "withdrawn"])
def test_a_claim_from_a_stale_page(make, app, clock, claimers, meanwhile):
    """The claimer loaded the case unowned; by the time it claims, someone else acted."""
    opener = make.user("frontline", name="Opener")
    case = make.case(opener)
    with app.app_context():
        stale = get_db(app).new_session()
        try:
            loaded, me = stale.get(Case, case.id), stale.get(User, claimers[0].id)
            stale.commit()
            with get_db(app).transaction() as s:
                if meanwhile == "claimed":
                    case_ops.claim_case(s, s.get(Case, case.id), s.get(User, claimers[1].id), clock.now)
                else:
                    case_ops.withdraw_case(
                        s, s.get(Case, case.id), s.get(User, opener.id), "重复登记", clock.now
                    )
            with pytest.raises(Conflict) as info:
                case_ops.claim_case(stale, loaded, me, clock.now)
            stale.rollback()
        finally:
            stale.close()
    if meanwhile == "claimed":
        assert isinstance(info.value, AlreadyOwned)
        assert info.value.message == f"Already owned by {claimers[1].name}."
    else:
        # Nobody owns it: "already owned by ?" would be wrong.
        assert not isinstance(info.value, AlreadyOwned)
        assert info.value.code == "wrong_state"
    with app.app_context(), session(app) as s:
        assert len(check_history(s, case.id)) == 2
