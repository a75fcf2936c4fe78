"""The workflow through the real services: every move it allows, and every move it refuses.

Refusals are checked as (state x action x role/relation) tables; each refused move must
raise the right domain error and leave the case exactly as it was.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from conftest import (
    BACKEND,
    TZ,
    Clock,
    Factory,
    _create_pg_database,
    _drop_pg_database,
    case_snapshot,
    good_evidence,
)
from flask import Flask
from sqlalchemy import func, select

from complaints import create_app
from complaints.config import TestConfig
from complaints.db import get_db, make_engine
from complaints.errors import AlreadyOwned, Conflict, Forbidden, Refused, Stale
from complaints.evidence import Context, EvidenceError, validate_reason, validate_step
from complaints.migrate import upgrade
from complaints.models import Case, Event, StepRecord, User
from complaints.services import cases as case_ops
from complaints.services import staff as staff_ops
from complaints.services.history import verify_case
from complaints.workflow import (
    CUSTOMER_STEPS,
    OPEN_STATES,
    STATES,
    STEPS,
    WORKFLOW,
    Actor,
    ReplayCase,
    WorkflowRefused,
    fire,
)

PACKAGE = Path(__file__).resolve().parent.parent / "complaints"
# The forward path: the state each step leads to with the evidence of good_evidence().
NEXT = dict(zip(STEPS, (*STEPS[1:], "closed"), strict=True))


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 with minimal cost: these tests make many users and never log in."""
    monkeypatch.setattr(staff_ops, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


# --- helpers ---------------------------------------------------------------------
def full_snapshot(app: Flask, case_id: int) -> tuple[Any, ...]:
    """Everything a refused move must leave as it was."""
    basic = case_snapshot(app, case_id)
    with app.app_context(), get_db(app).transaction(write=False) as s:
        c = s.get(Case, case_id)
        assert c is not None
        records = s.scalar(select(func.count()).select_from(StepRecord).where(StepRecord.case_id == c.id))
        events = s.scalar(select(func.count()).select_from(Event).where(Event.case_id == c.id))
        return (basic, c.closed_at, c.reopen_count, c.awaiting_customer, c.withdrawn_reason, records, events)


def run(app: Flask, fn, *args: Any) -> Any:
    """Call a service in its own committed transaction, as a view would."""
    with app.app_context(), get_db(app).transaction() as s:
        return fn(s, *args)


def step(app: Flask, clock, case_id: int, user_id: int, name: str, evidence=None, version=None) -> str:
    def go(s):
        ctx = Context(now=clock.now, tz=TZ)
        ev = evidence if evidence is not None else good_evidence(name, clock.now)
        inp = validate_step(name, ev, ctx)
        return case_ops.complete_step(
            s, s.get(Case, case_id), name, s.get(User, user_id), inp, clock.now, version=version
        )

    return run(app, go)


def claim(app: Flask, clock, case_id: int, user_id: int) -> Case:
    return run(app, lambda s: case_ops.claim_case(s, s.get(Case, case_id), s.get(User, user_id), clock.now))


def withdraw(app: Flask, clock, case_id: int, user_id: int, reason: Any) -> Case:
    return run(
        app,
        lambda s: case_ops.withdraw_case(s, s.get(Case, case_id), s.get(User, user_id), reason, clock.now),
    )


def invite(app: Flask, clock, case_id: int, owner_id: int, user_id: int) -> None:
    run(
        app,
        lambda s: case_ops.invite_assistant(
            s, s.get(Case, case_id), s.get(User, owner_id), s.get(User, user_id), clock.now
        ),
    )


def load(app: Flask, case_id: int) -> Case:
    with app.app_context():
        s = get_db(app).new_session()
        try:
            c = s.get(Case, case_id)
            assert c is not None
            return c
        finally:
            s.close()


def assert_refused(app: Flask, case_id: int, exc: type[Exception], fn, *args: Any, code: str | None = None):
    """The move raises ``exc`` and changes nothing at all."""
    before = full_snapshot(app, case_id)
    with pytest.raises(exc) as info:
        fn(*args)
    assert full_snapshot(app, case_id) == before
    if code is not None:
        assert getattr(info.value, "code", None) == code
    return info.value


def chain_ok(app: Flask, case_id: int) -> None:
    with app.app_context():
        s = get_db(app).new_session()
        try:
            assert verify_case(s, s.get(Case, case_id)) is None
        finally:
            s.close()


@pytest.fixture
def people(make) -> dict[str, User]:
    return make_people(make)


def make_people(make) -> dict[str, User]:
    return {
        "opener": make.user("frontline", name="Opener Frontline"),
        "owner": make.user("responder", name="Owner Responder"),
        "responder": make.user("responder", name="Other Responder"),
        "frontline": make.user("frontline", name="Other Frontline"),
        "quality": make.user("quality", name="Quality Manager"),
        "admin": make.user("admin", name="Admin"),
        "assistant": make.user("responder", name="Invited Assistant"),
    }


def case_in(make, app, clock, people, state: str) -> Case:
    """A case driven by the real services to ``state`` (withdrawn: from apologise)."""
    if state == "withdrawn":
        case, _ = make.case_in("apologise", owner=people["owner"], opener=people["opener"])
        withdraw(app, clock, case.id, people["owner"].id, "客户撤回投诉")
    else:
        case, _ = make.case_in(state, owner=people["owner"], opener=people["opener"])
    if state != "new":
        invite(app, clock, case.id, people["owner"].id, people["assistant"].id)
    assert load(app, case.id).state == state
    return case


@dataclass
class World:
    """Cases in every state, made once for the refusal tables: a refused move changes nothing,
    so every row of a table can try its move on the same cases (and checks it changed nothing)."""

    app: Flask
    clock: Clock
    people: dict[str, User]
    cases: dict[str, int]


@pytest.fixture(scope="module")
def world(migrated_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if BACKEND == "postgresql":
        url = _create_pg_database("complaints_world")
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
    else:
        path = tmp_path_factory.mktemp("world") / "world.db"
        shutil.copyfile(migrated_template, path)
        url = f"sqlite:///{path}"
    clock = Clock()
    overrides = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    app = create_app({**overrides, "DATABASE_URL": url, "CLOCK": clock})
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(staff_ops, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
            make = Factory(app, clock)
            people = make_people(make)
            cases = {
                state: case_in(make, app, clock, people, state).id
                for state in ("new", *STEPS, "closed", "withdrawn")
            }
        yield World(app, clock, people, cases)
    finally:
        get_db(app).dispose()
        if BACKEND == "postgresql":
            _drop_pg_database(url)


# --- non-owners completing the current step --------------------------------------------
NON_OWNERS = ["responder", "frontline", "opener", "quality", "admin", "assistant"]


@pytest.mark.parametrize("who", NON_OWNERS)
@pytest.mark.parametrize("state", STEPS)
def test_only_the_owner_completes_a_step(world, state, who):
    app, clock, case_id = world.app, world.clock, world.cases[state]
    err = assert_refused(
        app, case_id, Forbidden, step, app, clock, case_id, world.people[who].id, state, code="forbidden"
    )
    assert err.status == 403


@pytest.mark.parametrize("who", ["owner", *NON_OWNERS])
def test_nobody_completes_a_step_on_an_unclaimed_case(world, who):
    app, clock, case_id = world.app, world.clock, world.cases["new"]
    for name in STEPS:
        assert_refused(app, case_id, Forbidden, step, app, clock, case_id, world.people[who].id, name)


# --- skipping and repeating -----------------------------------------------------------
SKIPS = [(state, name) for state in (*STEPS, "closed", "withdrawn") for name in STEPS if name != state]


@pytest.mark.parametrize(("state", "name"), SKIPS)
def test_the_owner_cannot_skip_or_repeat_a_step(world, state, name):
    app, clock, case_id = world.app, world.clock, world.cases[state]
    owner = world.people["owner"].id
    err = assert_refused(app, case_id, Conflict, step, app, clock, case_id, owner, name, code="wrong_state")
    assert not isinstance(err, Stale)
    assert err.status == 409


@pytest.mark.parametrize("name", STEPS)
def test_a_completed_step_cannot_be_repeated(make, app, clock, people, name):
    case = case_in(make, app, clock, people, name)
    assert step(app, clock, case.id, people["owner"].id, name) == "done"
    assert load(app, case.id).state == NEXT[name]
    assert_refused(app, case.id, Conflict, step, app, clock, case.id, people["owner"].id, name)


@pytest.mark.parametrize("name", STEPS)
def test_a_step_with_invalid_evidence_changes_nothing(world, name):
    app, clock, case_id, people = world.app, world.clock, world.cases[name], world.people
    bad = dict(good_evidence(name, clock.now), owner_id=people["responder"].id)
    err = assert_refused(
        app, case_id, EvidenceError, step, app, clock, case_id, people["owner"].id, name, bad
    )
    assert err.fields == {"owner_id": "Unknown field."}
    assert load(app, case_id).owner_id == people["owner"].id


def test_a_stale_version_is_refused(make, app, clock, people):
    case = case_in(make, app, clock, people, "apologise")
    seen = load(app, case.id).version
    invite(app, clock, case.id, people["owner"].id, people["responder"].id)
    step(app, clock, case.id, people["owner"].id, "apologise", version=seen)
    now = load(app, case.id)
    assert now.state == "listen"
    assert_refused(app, case.id, Stale, step, app, clock, case.id, people["owner"].id, "listen", None, seen)
    err = assert_refused(
        app, case.id, Stale, step, app, clock, case.id, people["owner"].id, "listen", None, now.version - 1
    )
    assert err.code == "stale"


# --- claims ---------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["owner", "responder", "assistant"])
@pytest.mark.parametrize("state", [*STEPS, "closed", "withdrawn"])
def test_an_owned_case_cannot_be_claimed(world, state, who):
    app, clock, case_id = world.app, world.clock, world.cases[state]
    err = assert_refused(app, case_id, AlreadyOwned, claim, app, clock, case_id, world.people[who].id)
    assert err.code == "already_owned"
    assert err.message == "Already owned by Owner Responder."
    assert err.status == 409


def test_a_case_withdrawn_before_claim_cannot_be_claimed(make, app, clock, people):
    case = case_in(make, app, clock, people, "new")
    withdraw(app, clock, case.id, people["opener"].id, "duplicate")
    err = assert_refused(app, case.id, Conflict, claim, app, clock, case.id, people["responder"].id)
    assert not isinstance(err, AlreadyOwned)
    assert err.code == "wrong_state"


def test_claim_makes_the_claimer_owner_once(make, app, clock, people):
    case = case_in(make, app, clock, people, "new")
    claimed = claim(app, clock, case.id, people["responder"].id)
    assert (claimed.state, claimed.owner_id, claimed.claimed_at) == (
        "apologise",
        people["responder"].id,
        clock.now,
    )
    err = assert_refused(app, case.id, AlreadyOwned, claim, app, clock, case.id, people["owner"].id)
    assert "Other Responder" in err.message
    chain_ok(app, case.id)


# --- withdrawing --------------------------------------------------------------------
@pytest.mark.parametrize("reason", ["", "   ", "\n\t", None])
@pytest.mark.parametrize("state", OPEN_STATES)
def test_withdraw_needs_a_reason(world, state, reason):
    app, clock, case_id = world.app, world.clock, world.cases[state]
    who = world.people["opener"] if state == "new" else world.people["owner"]
    assert_refused(app, case_id, Refused, withdraw, app, clock, case_id, who.id, reason)
    with pytest.raises(EvidenceError) as info:
        validate_reason(reason)
    assert info.value.fields == {"reason": "This field is required."}


@pytest.mark.parametrize("state", ["closed", "withdrawn"])
def test_a_closed_or_withdrawn_case_cannot_be_withdrawn(world, state):
    app, clock, case_id = world.app, world.clock, world.cases[state]
    assert_refused(app, case_id, Conflict, withdraw, app, clock, case_id, world.people["owner"].id, "again")


@pytest.mark.parametrize("state", OPEN_STATES)
def test_withdraw_from_every_open_state(make, app, clock, people, state):
    case = case_in(make, app, clock, people, state)
    who = people["opener"] if state == "new" else people["owner"]
    clock.advance(hours=1)
    done = withdraw(app, clock, case.id, who.id, "  客户不再追究  ")
    assert (done.state, done.closed_at, done.due_at) == ("withdrawn", clock.now, None)
    assert done.owner_id == (None if state == "new" else people["owner"].id)
    chain_ok(app, case.id)
    for name in STEPS:
        assert_refused(app, case.id, Refused, step, app, clock, case.id, people["owner"].id, name)


# --- verify: no response -------------------------------------------------------------
NO_RESPONSE = {"satisfaction": "no_response"}


def test_no_response_closes_only_after_the_follow_up_window(make, app, clock, people):
    case = case_in(make, app, clock, people, "verify")
    owner = people["owner"].id
    assert_refused(app, case.id, Conflict, step, app, clock, case.id, owner, "verify", NO_RESPONSE)
    clock.advance(days=6, hours=23)
    assert_refused(app, case.id, Conflict, step, app, clock, case.id, owner, "verify", NO_RESPONSE)
    clock.advance(days=1, hours=1)  # eight days after entering verify
    assert step(app, clock, case.id, owner, "verify", NO_RESPONSE) == "done"
    closed = load(app, case.id)
    assert (closed.state, closed.closed_at, closed.due_at) == ("closed", clock.now, None)
    with app.app_context():
        s = get_db(app).new_session()
        record = s.scalars(
            select(StepRecord).where(StepRecord.case_id == case.id).order_by(StepRecord.id)
        ).all()[-1]
        assert (record.step, record.outcome, record.staff_recorded) == ("verify", "closed", False)
        assert record.evidence == {"satisfaction": "no_response"}
        s.close()
    chain_ok(app, case.id)


def test_no_response_is_never_the_customers_own_answer(make, app, clock, people):
    """Silence cannot be 'given' on the customer link: the model refuses it as a customer act."""
    model = ReplayCase(state="verify", owner_id=1, state_entered_at=clock.now - timedelta(days=30))
    with pytest.raises(WorkflowRefused):
        fire(model, "verify", actor=Actor("customer"), now=clock.now, evidence=NO_RESPONSE)
    assert model.state == "verify"


def test_no_response_follows_the_configured_window(make, app, clock, people):
    app.config["FOLLOW_UP_WINDOW"] = timedelta(days=2)
    case = case_in(make, app, clock, people, "verify")
    clock.advance(days=1)
    assert_refused(
        app, case.id, Conflict, step, app, clock, case.id, people["owner"].id, "verify", NO_RESPONSE
    )
    clock.advance(days=1)
    assert step(app, clock, case.id, people["owner"].id, "verify", NO_RESPONSE) == "done"
    assert load(app, case.id).state == "closed"
    chain_ok(app, case.id)


# --- loops ---------------------------------------------------------------------------
def test_a_corrected_restatement_goes_back_to_listen(make, app, clock, people):
    case = case_in(make, app, clock, people, "confirm")
    owner = people["owner"].id
    ev = dict(
        good_evidence("confirm", clock.now), customer_response="corrected", correction="是开不了机,不是黑屏"
    )
    before = load(app, case.id)
    assert step(app, clock, case.id, owner, "confirm", ev) == "done"
    after = load(app, case.id)
    assert (after.state, after.reopen_count, after.version) == ("listen", 0, before.version + 1)
    step(app, clock, case.id, owner, "listen")
    step(app, clock, case.id, owner, "confirm")
    assert load(app, case.id).state == "analyse"
    chain_ok(app, case.id)


def test_a_declined_remedy_stays_in_agree(make, app, clock, people):
    case = case_in(make, app, clock, people, "agree")
    owner = people["owner"].id
    ev = dict(good_evidence("agree", clock.now), customer_response="declined", reason="想要退款")
    before = load(app, case.id)
    assert step(app, clock, case.id, owner, "agree", ev) == "done"
    after = load(app, case.id)
    assert (after.state, after.version, after.reopen_count) == ("agree", before.version + 1, 0)
    assert after.event_count == before.event_count + 1
    step(app, clock, case.id, owner, "agree", dict(good_evidence("agree", clock.now), remedy="refund"))
    assert load(app, case.id).state == "act"
    chain_ok(app, case.id)


def test_a_dissatisfied_customer_reopens_the_case_to_analyse(make, app, clock, people):
    case = case_in(make, app, clock, people, "verify")
    owner = people["owner"].id
    unhappy = {"satisfaction": "dissatisfied", "score": 1, "comment": "还是坏的", "via": "phone"}
    for cycle in (1, 2):
        assert step(app, clock, case.id, owner, "verify", unhappy) == "done"
        back = load(app, case.id)
        assert (back.state, back.reopen_count, back.closed_at) == ("analyse", cycle, None)
        for name in ("analyse", "agree", "act", "prevent"):
            step(app, clock, case.id, owner, name)
        assert load(app, case.id).state == "verify"
    step(app, clock, case.id, owner, "verify")
    final = load(app, case.id)
    assert (final.state, final.reopen_count, final.closed_at) == ("closed", 2, clock.now)
    chain_ok(app, case.id)


# --- the forward path ------------------------------------------------------------------
def test_the_full_forward_path_ends_closed(make, app, clock, people):
    case = case_in(make, app, clock, people, "new")
    owner = people["owner"].id
    claim(app, clock, case.id, owner)
    for name in STEPS:
        clock.advance(minutes=30)
        before = load(app, case.id)
        assert before.state == name
        assert before.closed_at is None
        assert step(app, clock, case.id, owner, name, version=before.version) == "done"
        after = load(app, case.id)
        assert (after.state, after.version) == (NEXT[name], before.version + 1)
        assert after.state_entered_at == clock.now
    done = load(app, case.id)
    assert (done.state, done.closed_at, done.owner_id, done.reopen_count) == ("closed", clock.now, owner, 0)
    assert done.due_at is None and not done.awaiting_customer
    with app.app_context():
        s = get_db(app).new_session()
        records = s.scalars(
            select(StepRecord).where(StepRecord.case_id == case.id).order_by(StepRecord.id)
        ).all()
        assert [(r.step, r.outcome) for r in records] == list(NEXT.items())
        assert [r.staff_recorded for r in records] == [n in CUSTOMER_STEPS for n in STEPS]
        actions = s.scalars(select(Event.action).where(Event.case_id == case.id).order_by(Event.seq)).all()
        assert actions == ["case_opened", "case_claimed", *["step_completed"] * 8]
        s.close()
    chain_ok(app, case.id)


@pytest.mark.parametrize("name", CUSTOMER_STEPS)
def test_sending_the_question_to_the_customer_waits(make, app, clock, people, name):
    case = case_in(make, app, clock, people, name)
    ev = {
        k: v
        for k, v in good_evidence(name, clock.now).items()
        if k not in ("customer_response", "satisfaction", "score", "comment")
    }
    ev["via"] = "customer_link"
    before = load(app, case.id)
    assert step(app, clock, case.id, people["owner"].id, name, ev) == "awaiting"
    after = load(app, case.id)
    assert (after.state, after.awaiting_customer) == (name, True)
    assert after.event_count == before.event_count + 2  # sent_to_customer, clock_paused
    # The owner may still record an answer the customer gave by phone.
    step(app, clock, case.id, people["owner"].id, name)
    done = load(app, case.id)
    assert (done.state, done.awaiting_customer) == (NEXT[name], False)
    chain_ok(app, case.id)


# --- the machine itself (pure: no database) ---------------------------------------------
OWNER, OTHER = 7, 8
ACTORS = {
    "owner": Actor.staff(OWNER),
    "other_staff": Actor.staff(OTHER),
    "customer": Actor("customer"),
    "system": Actor("system"),
}
TRIGGERS = ("claim", *STEPS, "withdraw", "ask_customer", "reopen")


def _expected(state: str, trigger: str, actor: str, awaiting: bool) -> str | None:
    """The destination an independent reading of SPEC §2 gives, or None when refused."""
    staff = actor in ("owner", "other_staff")
    if trigger == "claim":
        return "apologise" if state == "new" and staff else None
    if trigger == "withdraw":
        return "withdrawn" if state in OPEN_STATES else None
    if trigger == "reopen":
        # An auditor's act (permissions check the quality role): closed cases only.
        return "analyse" if state == "closed" and staff else None
    if trigger == "ask_customer":
        return state if state in CUSTOMER_STEPS and actor == "owner" else None
    if trigger != state:
        return None
    if actor == "owner" or (actor == "customer" and trigger in CUSTOMER_STEPS and awaiting):
        return NEXT[trigger]
    return None


def _fields(model: ReplayCase) -> tuple[Any, ...]:
    return (
        model.state,
        model.owner_id,
        model.closed_at,
        model.reopen_count,
        model.state_entered_at,
        model.awaiting_customer,
    )


TABLE = [
    pytest.param(
        state, trigger, actor, awaiting, id=f"{state}-{trigger}-{actor}{'-awaiting' if awaiting else ''}"
    )
    for state in STATES
    for trigger in TRIGGERS
    for actor in ACTORS
    # Only a customer step can be awaiting the customer.
    for awaiting in ((False, True) if state in CUSTOMER_STEPS else (False,))
]


@pytest.mark.parametrize(("state", "trigger", "actor", "awaiting"), TABLE)
def test_machine_table(state, trigger, actor, awaiting):
    from complaints.db import utcnow

    now = utcnow()
    owner = None if state == "new" else OWNER
    model = ReplayCase(state=state, owner_id=owner, state_entered_at=now - timedelta(hours=1))
    model.awaiting_customer = awaiting
    if state in ("closed", "withdrawn"):
        model.closed_at = now - timedelta(hours=1)
    evidence = good_evidence(trigger, now) if trigger in STEPS else {}
    if trigger == "reopen":
        evidence = {"reopen_to": "analyse"}
    before = _fields(model)
    expected = _expected(state, trigger, actor, awaiting)
    if expected is None:
        with pytest.raises(WorkflowRefused):
            fire(model, trigger, actor=ACTORS[actor], now=now, evidence=evidence, reason="r")
        assert _fields(model) == before
        return
    result = fire(model, trigger, actor=ACTORS[actor], now=now, evidence=evidence, reason="r")
    assert result == (state, expected)
    if trigger == "ask_customer":
        # Waiting for the customer is not a move: the step and its clock stay.
        assert model.awaiting_customer is True
        assert _fields(model)[:5] == before[:5]
        return
    assert model.state_entered_at == now
    assert model.awaiting_customer is False
    assert (model.closed_at == now) == (expected in ("closed", "withdrawn"))
    if expected not in ("closed", "withdrawn"):
        assert model.closed_at is None
    assert model.reopen_count == (1 if trigger == "reopen" else 0)
    if trigger == "claim":
        assert model.owner_id == ACTORS[actor].id
    else:
        assert model.owner_id == owner


@pytest.mark.parametrize("state", STEPS)
def test_machine_refuses_a_step_without_its_answer(state):
    """The customer steps move only on a recorded answer; the others move on the owner's word."""
    from complaints.db import utcnow

    model = ReplayCase(state=state, owner_id=OWNER)
    if state in CUSTOMER_STEPS:
        with pytest.raises(WorkflowRefused):
            fire(model, state, actor=ACTORS["owner"], now=utcnow(), evidence={})
        assert model.state == state
    else:
        assert fire(model, state, actor=ACTORS["owner"], now=utcnow(), evidence={})[1] == NEXT[state]


def test_the_machine_defines_exactly_the_documented_moves():
    assert set(WORKFLOW.events) == set(TRIGGERS)
    assert not [name for name in WORKFLOW.events if name.startswith("to_")]
    assert WORKFLOW.auto_transitions is False
    # Built once, with no models attached (never add_model per request).
    assert WORKFLOW.models == []
    assert list(WORKFLOW.states) == list(STATES)


@pytest.mark.parametrize(
    "trigger", ["to_closed", "to_withdrawn", "close", "assign", "transfer", "reassign", ""]
)
def test_fire_refuses_unknown_triggers(trigger):
    from complaints.db import utcnow

    model = ReplayCase(state="verify", owner_id=OWNER)
    with pytest.raises(WorkflowRefused) as info:
        fire(model, trigger, actor=ACTORS["owner"], now=utcnow())
    assert info.value.code == "wrong_state"
    assert (model.state, model.owner_id, model.closed_at) == ("verify", OWNER, None)


def _assigned_attributes(tree: ast.AST) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for t in targets:
            if isinstance(t, ast.Attribute) and t.attr == "state":
                found.append((t.attr, node.lineno))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr":
            if (
                len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value == "state"
            ):
                found.append(("state", node.lineno))
    return found


def test_no_code_outside_the_workflow_moves_a_case():
    """Only workflow.py assigns a case's state; nothing else builds a state machine."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        rel = path.relative_to(PACKAGE.parent)
        if path.name == "workflow.py":
            continue
        if "Machine(" in source or "add_model" in source:
            offenders.append(f"{rel}: builds a state machine")
        offenders += [
            f"{rel}:{line}: assigns .{attr}" for attr, line in _assigned_attributes(ast.parse(source))
        ]
    assert offenders == []


def test_act_is_due_at_the_end_of_the_agreed_day_where_the_customer_is(make, app, clock, people):
    """The agreed date is a local date: due at local midnight after it (16:00 UTC in Shanghai)."""
    case = case_in(make, app, clock, people, "agree")
    step(
        app,
        clock,
        case.id,
        people["owner"].id,
        "agree",
        dict(good_evidence("agree", clock.now), due_date="2030-05-17"),
    )
    acting = load(app, case.id)
    assert acting.state == "act"
    assert acting.due_at == datetime(2030, 5, 17, 16, 0)
