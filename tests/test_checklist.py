"""The audit checklist: each item passing, failing and not applicable on constructed histories.

Two kinds of history: cases driven by the real services (with events appended through
services.history.append_event where the product's other parts will record them), and
event sequences built by hand for the paths those parts do not offer yet (answers given
on the customer link, approvals of remedies beyond policy).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import update

from complaints.checklist import (
    FAIL,
    ITEM_CODES,
    ITEMS,
    NOT_APPLICABLE,
    PASS,
    Facts,
    HistoryEvent,
    Result,
    evaluate,
    note_text,
)
from complaints.db import get_db
from complaints.models import Case, User
from complaints.services import audits as audit_ops
from complaints.services.admin import change_owner, deactivate_user
from complaints.services.cases import withdraw_case
from complaints.services.history import append_event
from complaints.workflow import Actor

T0 = datetime(2026, 3, 2, 1, 0)


# --- hand-built histories -----------------------------------------------------------
class History:
    """Events in order, one hour apart unless told otherwise."""

    def __init__(self) -> None:
        self.events: list[HistoryEvent] = []
        self.at = T0

    def add(
        self, action: str, *, after: timedelta = timedelta(hours=1), actor: str = "staff", **data: Any
    ) -> int:
        self.at += after
        actor_id = 7 if actor == "staff" else None
        self.events.append(HistoryEvent(len(self.events) + 1, self.at, actor, actor_id, action, data))
        return len(self.events)

    def step(
        self,
        step: str,
        to: str,
        evidence: dict[str, Any],
        *,
        actor: str = "staff",
        staff_recorded: bool = False,
        after: timedelta = timedelta(hours=1),
    ) -> int:
        data = {"step": step, "from": step, "to": to, "evidence": evidence, "staff_recorded": staff_recorded}
        return self.add("step_completed", after=after, actor=actor, **data)

    def ask(self, step: str) -> int:
        return self.add("sent_to_customer", step=step, evidence={"via": "customer_link"})


def good_history(h: History | None = None, *, upto: str = "closed") -> History:
    """A case handled by the book: apology first, answers on the customer's link, updates sent."""
    h = h or History()
    h.add("case_opened", after=timedelta(0), reference="C-2026-000001")
    h.add("case_claimed", owner_id=7, **{"from": "new", "to": "apologise"})
    h.step("apologise", "listen", {"method": "phone", "apology": "非常抱歉"})
    h.step("listen", "confirm", {"account": "a", "expectation": "e", "temperament": "calm"})
    h.ask("confirm")
    h.step("confirm", "analyse", {"restatement": "r", "customer_response": "confirmed"}, actor="customer")
    h.add("progress_update_sent", body="我们正在分析原因")
    h.step("analyse", "agree", {"root_cause_category": "product", "root_cause": "虚焊"})
    if upto == "agree":
        return h
    h.ask("agree")
    h.step(
        "agree",
        "act",
        {
            "remedy": "exchange",
            "remedy_detail": "换新机",
            "due_date": "2026-03-06",
            "customer_response": "accepted",
        },
        actor="customer",
    )
    h.step("act", "prevent", {"actions": [{"description": "已换新机", "done_at": "2026-03-02T12:00"}]})
    h.step("prevent", "verify", {"department": "quality", "preventive_action": "加强出厂检测"})
    h.ask("verify")
    h.step("verify", "closed", {"satisfaction": "satisfied", "score": 5}, actor="customer")
    return h


def row(**fields: Any) -> SimpleNamespace:
    """What record_complete reads of the case row."""
    values = {
        "state": "closed",
        "category": "product",
        "product": "ThinkBook 14",
        "serial_number": "PF3ABC12",
        "opened_at": T0,
        "summary": "电脑无法开机",
        "description": "按电源键没有反应。",
        "customer": SimpleNamespace(phone="13800138000", email=None, erased_at=None),
    }
    values.update(fields)
    return SimpleNamespace(**values)


def judge(h: History, case: Any = None, **kw: Any) -> dict[str, Result]:
    facts = Facts(events=h.events, case=case if case is not None else row(), **kw)
    return {r.code: r.result for r in evaluate(facts)}


def test_every_item_is_defined_once_with_a_label():
    assert len(ITEM_CODES) == len(set(ITEM_CODES)) == 11
    assert all(str(item.label) for item in ITEMS)


def test_a_case_handled_by_the_book_passes_everything(app):
    with app.test_request_context():
        results = judge(good_history())
        assert {code: r.status for code, r in results.items()} == dict.fromkeys(ITEM_CODES, PASS)
        # Every note renders in words, with its values filled in.
        assert all(note_text(r) for r in results.values())


# --- apology first ----------------------------------------------------------------------
def test_apology_first_passes_with_the_claim_and_apology_as_evidence():
    h = good_history()
    result = judge(h)["apology_first"]
    assert result.status == PASS and result.seqs == (2, 3)


def test_contact_before_the_apology_fails():
    h = History()
    h.add("case_opened", after=timedelta(0))
    h.add("case_claimed", owner_id=7, **{"from": "new", "to": "apologise"})
    update = h.add("progress_update_sent", body="请耐心等待")
    apology = h.step("apologise", "listen", {"method": "phone", "apology": "抱歉"})
    result = judge(h)["apology_first"]
    assert result.status == FAIL and result.seqs == (2, update, apology)


def test_apology_first_not_applicable_without_a_claim_or_a_contact():
    h = History()
    h.add("case_opened", after=timedelta(0))
    h.add("case_withdrawn", reason="重复登记", **{"from": "new", "to": "withdrawn"})
    assert judge(h)["apology_first"].status == NOT_APPLICABLE
    h = History()
    h.add("case_opened", after=timedelta(0))
    h.add("case_claimed", owner_id=7, **{"from": "new", "to": "apologise"})
    h.add("case_withdrawn", reason="客户撤回", **{"from": "apologise", "to": "withdrawn"})
    assert judge(h)["apology_first"].status == NOT_APPLICABLE


# --- time limits --------------------------------------------------------------------------
def test_a_recorded_breach_fails_the_time_limits_item_and_names_the_step(app):
    h = good_history()
    seq = h.add("deadline_breached", actor="system", state="analyse", due_at="2026-03-05T01:00:00")
    result = judge(h)["time_limits"]
    assert result.status == FAIL and result.seqs == (seq,)
    with app.test_request_context():
        assert "Analyse" in note_text(result)
    assert judge(good_history())["time_limits"].status == PASS


# --- customer answers and satisfaction ----------------------------------------------------
def test_staff_recorded_answers_fail_and_customer_answers_pass():
    h = good_history(upto="agree")
    seq = h.step(
        "agree",
        "act",
        {
            "remedy": "repair",
            "remedy_detail": "维修",
            "due_date": "2026-03-06",
            "customer_response": "accepted",
            "via": "phone",
        },
        staff_recorded=True,
    )
    result = judge(h)["answers_by_customer"]
    assert result.status == FAIL and result.seqs == (seq,)
    assert judge(good_history())["answers_by_customer"].status == PASS


def test_answers_not_applicable_before_any_answer():
    h = History()
    h.add("case_opened", after=timedelta(0))
    h.add("case_claimed", owner_id=7, **{"from": "new", "to": "apologise"})
    assert judge(h)["answers_by_customer"].status == NOT_APPLICABLE


def test_satisfaction_recorded_by_staff_fails():
    h = good_history()
    h.events.pop()  # the customer's own satisfaction answer
    seq = h.step(
        "verify", "closed", {"satisfaction": "satisfied", "score": 5, "via": "phone"}, staff_recorded=True
    )
    result = judge(h)["satisfaction_by_customer"]
    assert result.status == FAIL and result.seqs == (seq,)


def test_satisfaction_not_applicable_on_no_response_or_before_verify():
    h = good_history()
    h.events.pop()
    h.step("verify", "closed", {"satisfaction": "no_response"})
    assert judge(h)["satisfaction_by_customer"].status == NOT_APPLICABLE
    assert judge(good_history(upto="agree"))["satisfaction_by_customer"].status == NOT_APPLICABLE


def test_a_dissatisfied_customer_answer_is_still_by_the_customer():
    h = good_history()
    h.events.pop()
    h.step("verify", "analyse", {"satisfaction": "dissatisfied", "score": 1}, actor="customer")
    assert judge(h)["satisfaction_by_customer"].status == PASS


# --- remedy policy ------------------------------------------------------------------------
def _offer(h: History, **extra: Any) -> int:
    evidence = {
        "remedy": "refund",
        "remedy_detail": "全额退款",
        "due_date": "2026-03-06",
        "customer_response": "accepted",
    }
    return h.step("agree", "act", {**evidence, **extra}, actor="customer")


def test_remedy_beyond_policy_without_approval_fails():
    h = good_history(upto="agree")
    seq = _offer(h, beyond_policy=True)
    result = judge(h)["remedy_policy"]
    assert result.status == FAIL and result.seqs == (seq,)


def test_remedy_beyond_policy_approved_before_the_offer_passes():
    h = good_history(upto="agree")
    approved = h.add("remedy_approved", approval_id=3, remedy="refund")
    offer = _offer(h, beyond_policy=True, approval_id=3)
    result = judge(h)["remedy_policy"]
    assert result.status == PASS and result.seqs == (approved, offer)


def test_remedy_refused_by_quality_and_offered_anyway_fails():
    h = good_history(upto="agree")
    refused = h.add("remedy_refused", remedy="refund", remedy_detail="全额退款")
    offer = _offer(h)
    result = judge(h)["remedy_policy"]
    assert result.status == FAIL and set(result.seqs) == {refused, offer}


def test_remedy_within_policy_passes_and_no_remedy_is_not_applicable():
    assert judge(good_history())["remedy_policy"].status == PASS
    h = History()
    h.add("case_opened", after=timedelta(0))
    assert judge(h)["remedy_policy"].status == NOT_APPLICABLE


# --- prevention ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("evidence", "status"),
    [
        ({"department": "quality", "preventive_action": "加强检测"}, PASS),
        ({"department": "none", "none_reason": "个别运输损坏,无系统原因"}, PASS),
        ({"department": "quality", "preventive_action": " "}, FAIL),
        ({"department": "none"}, FAIL),
        ({}, FAIL),
    ],
)
def test_prevention_routed_or_reasoned(evidence, status):
    h = good_history(upto="agree")
    seq = h.step("prevent", "verify", evidence)
    result = judge(h)["prevention_routed"]
    assert result.status == status and result.seqs == (seq,)


def test_prevention_not_applicable_before_the_step():
    assert judge(good_history(upto="agree"))["prevention_routed"].status == NOT_APPLICABLE


# --- progress updates ---------------------------------------------------------------------
def _claimed() -> History:
    h = History()
    h.add("case_opened", after=timedelta(0))
    h.add("case_claimed", owner_id=7, **{"from": "new", "to": "apologise"})
    return h


def test_updates_every_two_days_pass():
    h = _claimed()
    h.add("progress_update_sent", after=timedelta(days=1, hours=20), body="进展")
    h.add("progress_update_sent", after=timedelta(days=1, hours=20), body="进展")
    h.add(
        "case_withdrawn", after=timedelta(days=1), reason="客户撤回", **{"from": "analyse", "to": "withdrawn"}
    )
    assert judge(h)["progress_updates"].status == PASS


def test_a_silence_longer_than_the_interval_fails_with_its_ends():
    h = _claimed()
    late = h.add("progress_update_sent", after=timedelta(days=2, hours=1), body="进展")
    end = h.add(
        "case_withdrawn", after=timedelta(days=3), reason="撤回", **{"from": "analyse", "to": "withdrawn"}
    )
    result = judge(h)["progress_updates"]
    assert result.status == FAIL and result.seqs == (2, late, end)
    assert result.params["count"] == 2


def test_the_interval_is_configurable_and_waiting_for_the_customer_still_counts(app):
    h = _claimed()
    h.add("clock_paused", after=timedelta(days=1))
    h.add("clock_resumed", after=timedelta(days=1))
    h.add("case_withdrawn", after=timedelta(hours=12), reason="撤回", **{"from": "agree", "to": "withdrawn"})
    assert judge(h)["progress_updates"].status == FAIL
    assert judge(h, update_interval=timedelta(days=3))["progress_updates"].status == PASS
    # The service reads the same cadence the case pages use (UPDATE_CADENCE_DAYS).
    app.config["UPDATE_CADENCE_DAYS"] = 3
    with app.app_context():
        assert audit_ops.update_interval() == timedelta(days=3)


def test_a_reopen_starts_the_count_again_and_closed_time_does_not_count():
    h = good_history()
    h.add("case_audited", after=timedelta(days=30), verdict="findings")
    h.add("case_reopened", **{"from": "closed", "to": "analyse", "evidence": {"reopen_to": "analyse"}})
    h.add("progress_update_sent", after=timedelta(days=1), body="重新处理中")
    h.step("analyse", "agree", {"root_cause_category": "product", "root_cause": "r"}, after=timedelta(days=1))
    assert judge(h)["progress_updates"].status == PASS
    h.add("case_withdrawn", after=timedelta(days=3), reason="撤回", **{"from": "agree", "to": "withdrawn"})
    assert judge(h)["progress_updates"].status == FAIL


def test_progress_updates_not_applicable_when_never_claimed():
    h = History()
    h.add("case_opened", after=timedelta(0))
    h.add("case_withdrawn", after=timedelta(days=9), reason="重复", **{"from": "new", "to": "withdrawn"})
    assert judge(h)["progress_updates"].status == NOT_APPLICABLE


# --- owner, phrases, chain -----------------------------------------------------------------
def test_an_owner_change_fails_owner_unchanged():
    h = good_history(upto="agree")
    seq = h.add("owner_changed", **{"from": 7, "to": 8, "reason": "离职"})
    result = judge(h)["owner_unchanged"]
    assert result.status == FAIL and result.seqs == (seq,)
    assert judge(good_history())["owner_unchanged"].status == PASS


def test_a_refused_phrase_fails():
    h = good_history()
    seq = h.add("phrase_refused", phrase="这不归我管")
    result = judge(h)["no_forbidden_phrase"]
    assert result.status == FAIL and result.seqs == (seq,)


def test_a_broken_chain_fails_with_the_first_bad_event():
    problem = SimpleNamespace(seq=4, reason="data altered")
    result = judge(good_history(), chain_problem=problem)["history_intact"]
    assert result.status == FAIL and result.seqs == (4,)


# --- record complete -------------------------------------------------------------------------
def test_record_incomplete_names_what_is_missing(app):
    case = row(serial_number=None, customer=SimpleNamespace(phone=None, email=None, erased_at=None))
    result = judge(good_history(), case)["record_complete"]
    assert result.status == FAIL and result.params["missing"] == ["serial_number", "contact"]
    with app.test_request_context():
        assert "serial number" in note_text(result)


def test_record_of_a_service_complaint_needs_no_product_and_erasure_keeps_contact():
    case = row(
        category="billing",
        product=None,
        serial_number=None,
        customer=SimpleNamespace(phone=None, email=None, erased_at=T0),
    )
    assert judge(good_history(), case)["record_complete"].status == PASS


def test_record_needs_root_cause_corrective_action_and_reply_when_closed():
    h = History()
    h.add("case_opened", after=timedelta(0))
    h.add("case_claimed", owner_id=7, **{"from": "new", "to": "apologise"})
    h.step("verify", "closed", {"satisfaction": "satisfied"}, actor="customer")  # a mangled history
    result = judge(h)["record_complete"]
    assert result.status == FAIL
    assert result.params["missing"] == ["root_cause", "corrective_action", "reply"]


def test_a_reasoned_withdrawal_stands_for_the_decision_not_to_investigate():
    h = History()
    h.add("case_opened", after=timedelta(0))
    seq = h.add("case_withdrawn", reason="重复登记,见 C-2026-000002", **{"from": "new", "to": "withdrawn"})
    result = judge(h, row(state="withdrawn"))["record_complete"]
    assert result.status == PASS and seq in result.seqs


# --- on cases driven by the real services ---------------------------------------------------
def checklist(app, case_id: int) -> dict[str, Result]:
    with app.app_context():
        s = get_db(app).new_session()
        try:
            case = s.get(Case, case_id)
            return {r.code: r.result for r in audit_ops.checklist_for(s, case)}
        finally:
            s.close()


def append(
    app, case_id: int, action: str, data: dict[str, Any], at: datetime, actor: Actor | None = None
) -> int:
    """Record what another part of the product records (a breach, a refused phrase …)."""
    with app.app_context(), get_db(app).transaction() as s:
        case = s.get(Case, case_id)
        return append_event(s, case, action, actor or Actor("system"), data, at).seq


def test_a_case_closed_through_the_services(app, make, clock):
    case, owner = make.case_in("closed")
    results = checklist(app, case.id)
    # The owner recorded every answer on the customer's word (via phone), in one sitting.
    assert results["answers_by_customer"].status == FAIL
    assert results["satisfaction_by_customer"].status == FAIL
    for code in (
        "apology_first",
        "time_limits",
        "remedy_policy",
        "prevention_routed",
        "progress_updates",
        "owner_unchanged",
        "no_forbidden_phrase",
        "history_intact",
        "record_complete",
    ):
        assert results[code].status == PASS, (code, results[code])


def test_breach_and_refused_phrase_recorded_in_the_history_fail(app, make, clock):
    case, owner = make.case_in("analyse")
    breach = append(
        app, case.id, "deadline_breached", {"state": "analyse", "due_at": clock.now.isoformat()}, clock.now
    )
    refused = append(
        app, case.id, "phrase_refused", {"phrase": "这不归我管"}, clock.now, Actor.staff(owner.id)
    )
    results = checklist(app, case.id)
    assert results["time_limits"].status == FAIL and results["time_limits"].seqs == (breach,)
    assert results["no_forbidden_phrase"].status == FAIL and results["no_forbidden_phrase"].seqs == (refused,)
    assert results["history_intact"].status == PASS  # appended properly, the chain holds


def test_a_tampered_case_fails_history_intact(app, make):
    case, _owner = make.case_in("listen")
    with app.app_context(), get_db(app).transaction() as s:
        # An event count that promises more events than there are: one went missing.
        s.execute(update(Case).where(Case.id == case.id).values(event_count=Case.event_count + 1))
    result = checklist(app, case.id)["history_intact"]
    assert result.status == FAIL and result.seqs


def test_an_admin_owner_change_fails_owner_unchanged(app, make, clock):
    case, owner = make.case_in("agree")
    admin = make.user("admin")
    successor = make.user("responder")
    with app.app_context(), get_db(app).transaction() as s:
        deactivate_user(s, s.get(User, admin.id), s.get(User, owner.id), clock.now)
    with app.app_context(), get_db(app).transaction() as s:
        change_owner(
            s,
            s.get(Case, case.id),
            s.get(User, admin.id),
            s.get(User, successor.id),
            "原负责人离职",
            clock.now,
        )
    results = checklist(app, case.id)
    assert results["owner_unchanged"].status == FAIL
    assert results["history_intact"].status == PASS


def test_withdrawn_before_claim_has_a_complete_record(app, make, clock):
    opener = make.user("frontline")
    case = make.case(opener)
    with app.app_context(), get_db(app).transaction() as s:
        withdraw_case(s, s.get(Case, case.id), s.get(User, opener.id), "客户来电撤回投诉", clock.now)
    results = checklist(app, case.id)
    assert results["record_complete"].status == PASS
    assert results["apology_first"].status == NOT_APPLICABLE
    assert results["answers_by_customer"].status == NOT_APPLICABLE


def test_record_incomplete_for_a_product_without_serial(app, make):
    case, _owner = make.case_in("closed", serial_number=None)
    result = checklist(app, case.id)["record_complete"]
    assert result.status == FAIL and result.params["missing"] == ["serial_number"]
