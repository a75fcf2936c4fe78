"""The hash-chained history: each event links to the one before; any edit or deletion shows.

Tampering is done as an attacker with database access would: drop the append-only trigger,
then change rows directly. It happens inside a transaction that is rolled back at the end,
so the (shared, on PostgreSQL) test database keeps its trigger.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from conftest import TZ, good_evidence
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from complaints.db import get_db
from complaints.evidence import Context, validate_step
from complaints.models import Case, Event, User
from complaints.services import cases as case_ops
from complaints.services import staff as staff_ops
from complaints.services.history import GENESIS, canonical_json, event_hash, replay, sha256, verify_case


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staff_ops, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def step(app: Flask, clock, case_id: int, user_id: int, name: str, **changes: Any) -> str:
    with app.app_context(), get_db(app).transaction() as s:
        ev = {**good_evidence(name, clock.now), **changes}
        ev = {k: v for k, v in ev.items() if v is not None}
        inp = validate_step(name, ev, Context(now=clock.now, tz=TZ))
        return case_ops.complete_step(s, s.get(Case, case_id), name, s.get(User, user_id), inp, clock.now)


def note(app: Flask, clock, case_id: int, user_id: int, body: str) -> None:
    with app.app_context(), get_db(app).transaction() as s:
        case_ops.add_note(s, s.get(Case, case_id), s.get(User, user_id), body, clock.now)


def events_of(s: Session, case_id: int) -> list[Event]:
    return list(s.scalars(select(Event).where(Event.case_id == case_id).order_by(Event.seq)))


@pytest.fixture
def three_cases(make, app, clock) -> tuple[list[int], User]:
    """Three cases with some history each: the middle one is the one tampered with."""
    owner = make.user("responder", name="Owner")
    ids = []
    for n in range(3):
        case, _ = make.case_in("confirm", owner=owner, summary=f"case {n}")
        clock.advance(minutes=5)
        note(app, clock, case.id, owner.id, f"第 {n} 号案件的内部备注")
        ids.append(case.id)
    return ids, owner


@contextmanager
def attacker(app: Flask) -> Iterator[tuple[Connection, Session]]:
    """A connection with the append-only trigger dropped, and a session reading through it."""
    engine = get_db(app).engine
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            if engine.dialect.name == "postgresql":
                conn.execute(text("DROP TRIGGER events_no_update ON events"))
                conn.execute(text("DROP TRIGGER events_no_delete ON events"))
            else:
                conn.execute(text("DROP TRIGGER events_no_update"))
                conn.execute(text("DROP TRIGGER events_no_delete"))
            s = Session(bind=conn)
            yield conn, s
            s.close()
        finally:
            trans.rollback()


def problems(s: Session, ids: list[int]) -> dict[int, tuple[int | None, str]]:
    out = {}
    for case_id in ids:
        p = verify_case(s, s.get(Case, case_id))
        if p is not None:
            assert p.case_id == case_id
            out[case_id] = (p.seq, p.reason)
    return out


# --- the chain itself ---------------------------------------------------------------
def test_each_event_links_to_the_previous_one(make, app, clock, three_cases):
    ids, _ = three_cases
    with app.app_context(), get_db(app).transaction(write=False) as s:
        for case_id in ids:
            evs = events_of(s, case_id)
            assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
            assert evs[0].prev_hash == GENESIS
            for before, after in zip(evs, evs[1:], strict=False):
                assert after.prev_hash == before.hash
            for e in evs:
                assert e.data_digest == sha256(e.data)
                assert e.data == canonical_json(json.loads(e.data))
                assert e.hash == event_hash(
                    e.prev_hash, e.case_id, e.seq, e.at, e.actor_kind, e.actor_id, e.action, e.data_digest
                )
            assert len({e.hash for e in evs}) == len(evs)
            assert s.get(Case, case_id).event_count == len(evs)
        assert problems(s, ids) == {}


def test_the_chain_does_not_hash_personal_data_itself(make, app, clock):
    """Erasure replaces the data but keeps its digest: the chain links digests only."""
    case = make.case()
    with app.app_context(), get_db(app).transaction(write=False) as s:
        (ev,) = events_of(s, case.id)
        expected = event_hash(
            GENESIS, case.id, 1, ev.at, ev.actor_kind, ev.actor_id, ev.action, ev.data_digest
        )
        assert ev.hash == expected
        assert "陈先生" not in ev.data  # the customer's name is not in the case's own history


# --- tampering --------------------------------------------------------------------
def _event_id(s: Session, case_id: int, seq: int) -> int:
    return s.scalar(select(Event.id).where(Event.case_id == case_id, Event.seq == seq))


def test_editing_an_events_data_is_found(app, three_cases):
    ids, _ = three_cases
    victim = ids[1]
    with attacker(app) as (conn, s):
        target = _event_id(s, victim, 3)
        forged = canonical_json({"note_id": 1, "body": "改过的内容"})
        conn.execute(text("UPDATE events SET data = :d WHERE id = :id"), {"d": forged, "id": target})
        assert problems(s, ids) == {victim: (3, "data altered")}


def test_editing_data_and_its_digest_is_found(app, three_cases):
    ids, _ = three_cases
    victim = ids[1]
    with attacker(app) as (conn, s):
        target = _event_id(s, victim, 2)
        forged = canonical_json({"owner_id": 999, "from": "new", "to": "apologise"})
        conn.execute(
            text("UPDATE events SET data = :d, data_digest = :g WHERE id = :id"),
            {"d": forged, "g": sha256(forged), "id": target},
        )
        assert problems(s, ids) == {victim: (2, "hash mismatch")}


def test_rewriting_an_event_with_a_fresh_hash_breaks_the_next_link(app, three_cases):
    ids, _ = three_cases
    victim = ids[1]
    with attacker(app) as (conn, s):
        ev = s.scalars(select(Event).where(Event.case_id == victim, Event.seq == 3)).one()
        forged = canonical_json(
            {**json.loads(ev.data), "step": "apologise", "evidence": {"apology": "forged"}}
        )
        digest = sha256(forged)
        new_hash = event_hash(
            ev.prev_hash, ev.case_id, ev.seq, ev.at, ev.actor_kind, ev.actor_id, ev.action, digest
        )
        conn.execute(
            text("UPDATE events SET data = :d, data_digest = :g, hash = :h WHERE id = :id"),
            {"d": forged, "g": digest, "h": new_hash, "id": ev.id},
        )
        s.expire_all()
        assert problems(s, ids) == {victim: (4, "link to previous event broken")}


@pytest.mark.parametrize(
    ("column", "value"),
    [("actor_id", None), ("action", "note_added"), ("actor_kind", "system"), ("seq_at", None)],
)
def test_editing_who_what_or_when_is_found(app, three_cases, column, value):
    ids, owner = three_cases
    victim = ids[1]
    with attacker(app) as (conn, s):
        target = _event_id(s, victim, 4)
        if column == "seq_at":
            at = s.get(Event, target).at
            conn.execute(
                text("UPDATE events SET at = :at WHERE id = :id"),
                {"at": at - timedelta(days=1), "id": target},
            )
        else:
            conn.execute(text(f"UPDATE events SET {column} = :v WHERE id = :id"), {"v": value, "id": target})
        s.expire_all()
        assert problems(s, ids) == {victim: (4, "hash mismatch")}


def test_deleting_an_event_in_the_middle_is_found(app, three_cases):
    ids, _ = three_cases
    victim = ids[1]
    with attacker(app) as (conn, s):
        conn.execute(text("DELETE FROM events WHERE id = :id"), {"id": _event_id(s, victim, 3)})
        assert problems(s, ids) == {victim: (3, "event missing")}


def test_deleting_the_last_event_is_found(app, three_cases):
    ids, _ = three_cases
    victim = ids[1]
    with attacker(app) as (conn, s):
        last = s.get(Case, victim).event_count
        conn.execute(text("DELETE FROM events WHERE id = :id"), {"id": _event_id(s, victim, last)})
        assert problems(s, ids) == {victim: (last, "event missing at the end")}


def test_deleting_a_whole_history_is_found(app, three_cases):
    ids, _ = three_cases
    victim = ids[1]
    with attacker(app) as (conn, s):
        conn.execute(text("DELETE FROM events WHERE case_id = :c"), {"c": victim})
        assert problems(s, ids) == {victim: (1, "event missing at the end")}


def test_changing_the_case_row_behind_the_historys_back_is_found(app, three_cases, make):
    """The state or owner set directly in the table no longer equals the replay."""
    ids, _ = three_cases
    other = make.user("responder", name="Intruder")
    with attacker(app) as (conn, s):
        conn.execute(text("UPDATE cases SET owner_id = :o WHERE id = :id"), {"o": other.id, "id": ids[0]})
        conn.execute(text("UPDATE cases SET state = 'analyse' WHERE id = :id"), {"id": ids[2]})
        s.expire_all()
        found = problems(s, ids)
        assert found == {
            ids[0]: (None, f"owner {other.id} but replay gives {_owner(s, ids[0])}"),
            ids[2]: (None, "state analyse but replay gives confirm"),
        }


def _owner(s: Session, case_id: int) -> int:
    claimed = s.scalars(select(Event).where(Event.case_id == case_id, Event.action == "case_claimed")).one()
    return json.loads(claimed.data)["owner_id"]


def test_tampering_is_rolled_back_and_the_trigger_is_back(app, three_cases):
    ids, _ = three_cases
    with attacker(app) as (conn, s):
        conn.execute(text("DELETE FROM events WHERE case_id = :c"), {"c": ids[0]})
    with app.app_context(), get_db(app).transaction(write=False) as s:
        assert problems(s, ids) == {}
    with pytest.raises(DBAPIError, match="append-only"), get_db(app).engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE case_id = :c"), {"c": ids[0]})


# --- replay equals state -------------------------------------------------------------
def _assert_replay_equals_state(app: Flask, case_id: int) -> None:
    with app.app_context(), get_db(app).transaction(write=False) as s:
        case = s.get(Case, case_id)
        model = replay(events_of(s, case_id))
        assert (model.state, model.owner_id, model.reopen_count, model.closed_at) == (
            case.state,
            case.owner_id,
            case.reopen_count,
            case.closed_at,
        )
        assert model.state_entered_at == case.state_entered_at
        assert model.awaiting_customer == case.awaiting_customer
        assert verify_case(s, case) is None


def test_replay_equals_state_through_every_loop(make, app, clock):
    owner = make.user("responder", name="Owner")
    case, _ = make.case_in("new", owner=owner)
    make.claim(case, owner)
    o = owner.id

    def go(name: str, **changes: Any) -> None:
        clock.advance(minutes=20)
        step(app, clock, case.id, o, name, **changes)
        _assert_replay_equals_state(app, case.id)

    _assert_replay_equals_state(app, case.id)
    go("apologise")
    go("listen")
    go("confirm", customer_response="corrected", correction="不是黑屏,是开不了机")
    go("listen")
    go("confirm", customer_response=None, via="customer_link")  # sent to the customer
    go("confirm")  # the customer then answered by phone
    go("analyse")
    go("agree", customer_response="declined", reason="想要退款")
    go("agree", customer_response="declined", reason="还是想要退款", remedy="compensation", amount="100.00")
    go("agree", remedy="refund")
    go("act")
    go("prevent", department="none", preventive_action=None, none_reason="个例")
    go("verify", satisfaction="dissatisfied", score=2)
    go("analyse")
    go("agree")
    go("act")
    go("prevent")
    go("verify", satisfaction="dissatisfied", score=1)
    go("analyse")
    go("agree")
    go("act")
    go("prevent")
    clock.advance(days=8)
    go("verify", satisfaction="no_response", score=None, comment=None, via=None)
    with app.app_context(), get_db(app).transaction(write=False) as s:
        c = s.get(Case, case.id)
        assert (c.state, c.reopen_count) == ("closed", 2)


@pytest.mark.parametrize("state", ["new", "listen", "agree", "verify"])
def test_replay_equals_state_after_withdrawal(make, app, clock, state):
    case, owner = make.case_in(state)
    clock.advance(hours=1)
    with app.app_context(), get_db(app).transaction() as s:
        who = s.get(User, owner.id if state != "new" else s.get(Case, case.id).opened_by_id)
        case_ops.withdraw_case(s, s.get(Case, case.id), who, "客户撤诉", clock.now)
    _assert_replay_equals_state(app, case.id)


def test_replay_refuses_a_history_that_skips_a_step(make, app, clock):
    """A forged step_completed that skips ahead fails replay, even with a valid chain."""
    case, owner = make.case_in("listen")
    with attacker(app) as (conn, s):
        ev = s.scalars(
            select(Event).where(Event.case_id == case.id).order_by(Event.seq.desc()).limit(1)
        ).one()
        seq = ev.seq + 1
        data = canonical_json({"step": "verify", "from": "listen", "to": "closed", "evidence": {}})
        digest = sha256(data)
        h = event_hash(ev.hash, case.id, seq, ev.at, "staff", owner.id, "step_completed", digest)
        conn.execute(
            text(
                "INSERT INTO events (case_id, seq, at, actor_kind, actor_id, action, data, data_digest, prev_hash, hash) "
                "VALUES (:c, :seq, :at, 'staff', :a, 'step_completed', :d, :g, :p, :h)"
            ),
            {
                "c": case.id,
                "seq": seq,
                "at": ev.at,
                "a": owner.id,
                "d": data,
                "g": digest,
                "p": ev.hash,
                "h": h,
            },
        )
        conn.execute(text("UPDATE cases SET event_count = :n WHERE id = :id"), {"n": seq, "id": case.id})
        s.expire_all()
        found = problems(s, [case.id])
        assert list(found) == [case.id]
        seq_found, reason = found[case.id]
        assert seq_found == seq and reason.startswith("replay refused"), found
