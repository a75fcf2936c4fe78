"""THE audit checklist: one definition per item, each judged from the case's history.

Every item reads the case's events (and ``record_complete`` also the case row) and answers
pass, fail or not applicable, with the sequence numbers of the events that decide it.
The functions are pure: the audit service loads the events and verifies the hash chain.

Events that other parts of the product add as they land are read by name here
(``deadline_breached``, ``phrase_refused``, ``progress_update_sent``, ``clock_paused`` …);
a history without them simply has nothing that fails on their account.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l

from complaints.workflow import CUSTOMER_STEPS, STATE_LABELS, TERMINAL_STATES

PASS = "pass"  # noqa: S105 - a status, not a password
FAIL = "fail"
NOT_APPLICABLE = "not_applicable"
STATUSES = (PASS, FAIL, NOT_APPLICABLE)
STATUS_LABELS = {
    PASS: _l("Pass"),
    FAIL: _l("Fail"),
    NOT_APPLICABLE: _l("Not applicable"),
}

# The field carrying the customer's answer in each customer step's evidence.
_ANSWER = {"confirm": "customer_response", "agree": "customer_response", "verify": "satisfaction"}
# Events that complete a step (the customer's own answer may come as customer_answered).
_STEP_ACTIONS = ("step_completed", "customer_answered")
# Events in which staff reach the customer.
_CONTACT_ACTIONS = (
    "sent_to_customer",
    "progress_update_sent",
    "customer_link_created",
    "customer_link_sent",
)
_REMEDY_APPROVED = ("remedy_approved",)
_REMEDY_REFUSED = ("remedy_refused", "remedy_rejected")
# Categories whose record must name the product and its serial number.
PRODUCT_CATEGORIES = ("product", "installation", "spare_parts")


@dataclass(frozen=True)
class HistoryEvent:
    """One event as the checklist reads it: the stored values, the data parsed."""

    seq: int
    at: datetime
    actor_kind: str
    actor_id: int | None
    action: str
    data: Mapping[str, Any]

    @classmethod
    def of(cls, ev: Any) -> HistoryEvent:
        """From a stored Event row (its data is canonical JSON text)."""
        data = json.loads(ev.data) if isinstance(ev.data, str) else dict(ev.data or {})
        return cls(ev.seq, ev.at, ev.actor_kind, ev.actor_id, ev.action, data)

    @property
    def step(self) -> str | None:
        return self.data.get("step") if self.action in _STEP_ACTIONS else None

    @property
    def evidence(self) -> Mapping[str, Any]:
        ev = self.data.get("evidence")
        return ev if isinstance(ev, Mapping) else {}


@dataclass(frozen=True)
class Facts:
    """What the items judge: the history, the case row, and what the service worked out."""

    events: Sequence[HistoryEvent]
    case: Any = None  # the Case row, for record_complete
    # The first thing wrong with the hash chain (services.history.verify_case), or None.
    chain_problem: Any = None
    # The owner must send the customer a progress update at least this often while open.
    update_interval: timedelta = timedelta(days=2)
    # For a case still open: where "now" is when judging the progress updates.
    now: datetime | None = None


@dataclass(frozen=True)
class Result:
    """One item's answer: a status, the deciding events, and why (a note code and its values)."""

    status: str
    seqs: tuple[int, ...] = ()
    note: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Item:
    code: str
    label: Any  # lazy, translated when shown
    check: Callable[[Facts], Result]


# Why an item came out as it did, per note code; the values fill the placeholders.
NOTES: dict[str, Any] = {
    "never_claimed": _l("The case was never claimed."),
    "apology_first": _l("The apology was the first contact after the claim."),
    "contact_before_apology": _l("The customer was contacted before the apology."),
    "no_contact": _l("The case ended before any contact with the customer."),
    "no_breach": _l("No time limit was breached."),
    "breached": _l("Time limit breached at: %(states)s."),
    "no_answers": _l("No answer of the customer was recorded."),
    "answers_by_customer": _l("Every answer was given by the customer."),
    "staff_recorded": _l("Answers recorded by staff on the customer's word: %(steps)s."),
    "no_remedy": _l("No remedy was proposed."),
    "remedy_within_policy": _l("The remedy was within policy."),
    "remedy_approved": _l("The remedy beyond policy was approved before it was offered."),
    "remedy_not_approved": _l("A remedy beyond policy was offered without approval."),
    "remedy_refused_offered": _l("A remedy refused by quality was offered anyway."),
    "no_prevention": _l("The case did not reach prevention."),
    "prevention_ok": _l("Prevention was routed to a department or the decision was reasoned."),
    "prevention_missing": _l("Prevention was neither routed to a department nor reasoned."),
    "no_verification": _l("The case did not reach the satisfaction question."),
    "no_response": _l("The customer did not answer; the case closed as no response."),
    "satisfaction_by_customer": _l("The customer gave the satisfaction answer."),
    "satisfaction_staff_recorded": _l("The satisfaction answer was recorded by staff."),
    "updates_on_time": _l("Progress updates were sent at least every %(days)s days."),
    "updates_late": _l("Longer than %(days)s days without a progress update (%(count)d times)."),
    "owner_unchanged": _l("The first responder kept the case to the end."),
    "owner_changed": _l("The owner was changed by an administrator (%(count)d times)."),
    "no_phrase_refused": _l("No message was refused for a forbidden phrase."),
    "phrase_refused": _l("Messages refused for a forbidden phrase: %(count)d."),
    "chain_intact": _l("The hash chain is intact and the state equals the replay."),
    "chain_broken": _l("The history does not verify: %(reason)s."),
    "record_complete": _l("The record has everything a complaint file needs."),
    "record_incomplete": _l("Missing from the record: %(missing)s."),
}

# The parts of a complete record, named in record_incomplete.
RECORD_PARTS: dict[str, Any] = {
    "product": _l("product"),
    "serial_number": _l("serial number"),
    "received": _l("date received"),
    "contact": _l("complainant contact"),
    "nature": _l("nature and details"),
    "root_cause": _l("root cause or a reasoned decision not to investigate"),
    "corrective_action": _l("corrective action"),
    "reply": _l("the reply to the complainant"),
}


def note_text(result: Mapping[str, Any] | Result) -> str:
    """The note in the user's language, from a Result or its stored form."""
    code = result.note if isinstance(result, Result) else result.get("note", "")
    params = dict(result.params if isinstance(result, Result) else result.get("params") or {})
    template = NOTES.get(code)
    if template is None:
        return ""
    if code == "record_incomplete":
        params["missing"] = ", ".join(str(RECORD_PARTS.get(p, p)) for p in params.get("missing", []))
    elif code == "breached":
        params["states"] = ", ".join(str(STATE_LABELS.get(s, s)) for s in params.get("states", []))
    elif code == "staff_recorded":
        params["steps"] = ", ".join(str(STATE_LABELS.get(s, s)) for s in params.get("steps", []))
    return str(template) % params if params else str(template)


# --- reading the history ------------------------------------------------------------
def _seqs(events: Iterable[HistoryEvent]) -> tuple[int, ...]:
    return tuple(sorted({e.seq for e in events}))


def _of(facts: Facts, *actions: str) -> list[HistoryEvent]:
    return [e for e in facts.events if e.action in actions]


def _steps(facts: Facts, step: str) -> list[HistoryEvent]:
    return [e for e in facts.events if e.step == step]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


def is_answer(e: HistoryEvent) -> bool:
    """A step event that carries the customer's answer (closing as "no response" is none)."""
    step = e.step
    if step not in CUSTOMER_STEPS:
        return False
    answer = e.evidence.get(_ANSWER[step])
    return not _blank(answer) and answer != "no_response"


def by_customer(e: HistoryEvent) -> bool:
    """The customer's own act on their link, not staff recording it on their word."""
    if e.actor_kind == "customer":
        return True
    return not e.data.get("staff_recorded") and e.evidence.get("via") == "customer_link"


def _is_contact(e: HistoryEvent) -> bool:
    return e.action in _CONTACT_ACTIONS or e.step is not None


def _ends_open_period(e: HistoryEvent) -> bool:
    return e.data.get("to") in TERMINAL_STATES


# --- the items ----------------------------------------------------------------------
def check_apology_first(facts: Facts) -> Result:
    """Apology first (先道歉): after the claim, the first thing the customer hears is the apology."""
    claims = _of(facts, "case_claimed")
    if not claims:
        return Result(NOT_APPLICABLE, note="never_claimed")
    claim = claims[0]
    contacts = [e for e in facts.events if e.seq > claim.seq and _is_contact(e)]
    apology = next((e for e in contacts if e.step == "apologise"), None)
    if not contacts:
        return Result(NOT_APPLICABLE, (claim.seq,), "no_contact")
    first = contacts[0]
    if apology is not None and first.seq == apology.seq:
        return Result(PASS, (claim.seq, apology.seq), "apology_first")
    deciding = [claim, first] + ([apology] if apology else [])
    return Result(FAIL, _seqs(deciding), "contact_before_apology")


def check_time_limits(facts: Facts) -> Result:
    """Each step within its time limit: the history records every breach when it happens."""
    breaches = _of(facts, "deadline_breached")
    if not breaches:
        return Result(PASS, note="no_breach")
    states = list(dict.fromkeys(str(e.data.get("state", "?")) for e in breaches))
    return Result(FAIL, _seqs(breaches), "breached", {"states": states})


def check_answers_by_customer(facts: Facts) -> Result:
    """Never sign on the customer's behalf: confirmations and acceptances are theirs."""
    answers = [e for e in facts.events if is_answer(e)]
    if not answers:
        return Result(NOT_APPLICABLE, note="no_answers")
    staff = [e for e in answers if not by_customer(e)]
    if staff:
        steps = list(dict.fromkeys(e.step for e in staff))
        return Result(FAIL, _seqs(staff), "staff_recorded", {"steps": steps})
    return Result(PASS, _seqs(answers), "answers_by_customer")


def _beyond_policy(e: HistoryEvent) -> bool:
    ev = e.evidence
    return ev.get("beyond_policy") is True or ev.get("within_policy") is False or "approval_id" in ev


def _same_remedy(refusal: HistoryEvent, offer: HistoryEvent) -> bool:
    refused = refusal.data.get("proposal") or refusal.data
    keys = [k for k in ("remedy", "remedy_detail") if k in refused]
    return bool(keys) and all(refused.get(k) == offer.evidence.get(k) for k in keys)


def check_remedy_within_policy(facts: Facts) -> Result:
    """A remedy beyond policy is offered only after a quality manager approved it."""
    offers = [
        e
        for e in facts.events
        if e.step == "agree" or (e.action == "sent_to_customer" and e.data.get("step") == "agree")
    ]
    if not offers:
        return Result(NOT_APPLICABLE, note="no_remedy")
    approvals = _of(facts, *_REMEDY_APPROVED)
    refusals = _of(facts, *_REMEDY_REFUSED)
    unapproved = [
        o
        for o in offers
        if _beyond_policy(o)
        and not any(
            a.seq < o.seq
            and (
                o.evidence.get("approval_id") is None
                or a.data.get("approval_id") == o.evidence["approval_id"]
            )
            for a in approvals
        )
    ]
    if unapproved:
        return Result(FAIL, _seqs(unapproved), "remedy_not_approved")
    against = [o for o in offers for r in refusals if r.seq < o.seq and _same_remedy(r, o)]
    if against:
        return Result(FAIL, _seqs(against + refusals), "remedy_refused_offered")
    if approvals:
        return Result(PASS, _seqs(approvals + offers), "remedy_approved")
    return Result(PASS, _seqs(offers), "remedy_within_policy")


def _prevention_ok(e: HistoryEvent) -> bool:
    ev = e.evidence
    department = ev.get("department")
    if _blank(department):
        return False
    if department == "none":
        return not _blank(ev.get("none_reason"))
    return not _blank(ev.get("preventive_action"))


def check_prevention_routed(facts: Facts) -> Result:
    """Prevention went to a department with an action, or "none" says why."""
    prevents = _steps(facts, "prevent")
    if not prevents:
        return Result(NOT_APPLICABLE, note="no_prevention")
    bad = [e for e in prevents if not _prevention_ok(e)]
    if bad:
        return Result(FAIL, _seqs(bad), "prevention_missing")
    return Result(PASS, _seqs(prevents), "prevention_ok")


def check_satisfaction_by_customer(facts: Facts) -> Result:
    """Never force or declare satisfaction for the customer (不得强迫客户表示满意)."""
    verifies = [e for e in _steps(facts, "verify") if not _blank(e.evidence.get("satisfaction"))]
    if not verifies:
        return Result(NOT_APPLICABLE, note="no_verification")
    answered = [e for e in verifies if is_answer(e)]
    if not answered:
        return Result(NOT_APPLICABLE, _seqs(verifies), "no_response")
    staff = [e for e in answered if not by_customer(e)]
    if staff:
        return Result(FAIL, _seqs(staff), "satisfaction_staff_recorded")
    return Result(PASS, _seqs(answered), "satisfaction_by_customer")


def check_progress_updates(facts: Facts) -> Result:
    """While the case is open and owned, the customer hears from the owner at least every N days.

    The count starts at the claim (and again at a reopen), restarts at each update and ends
    when the case closes; like the overdue mark on open cases, it runs on while the case
    awaits the customer.
    """
    interval = facts.update_interval
    days = f"{interval / timedelta(days=1):g}"
    late: list[tuple[int, int]] = []
    updates: list[HistoryEvent] = []
    started = False
    mark: HistoryEvent | None = None  # the event the current silence started with
    for e in facts.events:
        if (e.action == "case_claimed" and mark is None) or e.action == "case_reopened":
            mark, started = e, True
        elif mark is None:
            continue
        elif e.action == "progress_update_sent":
            updates.append(e)
            if e.at - mark.at > interval:
                late.append((mark.seq, e.seq))
            mark = e
        elif _ends_open_period(e):
            if e.at - mark.at > interval:
                late.append((mark.seq, e.seq))
            mark = None
    if mark is not None and facts.now is not None and facts.now - mark.at > interval:
        late.append((mark.seq, mark.seq))
    if not started:
        return Result(NOT_APPLICABLE, note="never_claimed")
    if late:
        seqs = tuple(sorted({s for pair in late for s in pair}))
        return Result(FAIL, seqs, "updates_late", {"days": days, "count": len(late)})
    return Result(PASS, _seqs(updates), "updates_on_time", {"days": days})


def check_owner_unchanged(facts: Facts) -> Result:
    """First-responder ownership (首问负责制): the owner who claimed it closed it."""
    changes = _of(facts, "owner_changed")
    if changes:
        return Result(FAIL, _seqs(changes), "owner_changed", {"count": len(changes)})
    return Result(PASS, _seqs(_of(facts, "case_claimed")), "owner_unchanged")


def check_no_phrase_refused(facts: Facts) -> Result:
    """No customer message was stopped for a forbidden phrase (服务禁语)."""
    refused = _of(facts, "phrase_refused")
    if refused:
        return Result(FAIL, _seqs(refused), "phrase_refused", {"count": len(refused)})
    return Result(PASS, note="no_phrase_refused")


def check_history_intact(facts: Facts) -> Result:
    """The hash chain verifies and the case's state is what replaying its events gives."""
    problem = facts.chain_problem
    if problem is None:
        return Result(PASS, note="chain_intact")
    seqs = (problem.seq,) if getattr(problem, "seq", None) is not None else ()
    return Result(FAIL, seqs, "chain_broken", {"reason": getattr(problem, "reason", str(problem))})


def _last(events: Sequence[HistoryEvent]) -> HistoryEvent | None:
    return events[-1] if events else None


def check_record_complete(facts: Facts) -> Result:
    """What a regulator's complaint file needs: product and serial, date received, contact,
    nature and details, root cause (or the reasoned decision not to investigate, and who
    decided), corrective action, and the reply to the complainant."""
    case = facts.case
    missing: list[str] = []
    deciding: list[HistoryEvent] = []
    opened = _of(facts, "case_opened")
    deciding += opened[:1]
    if case is not None and case.category in PRODUCT_CATEGORIES:
        if _blank(case.product):
            missing.append("product")
        if _blank(case.serial_number):
            missing.append("serial_number")
    if not opened or case is None or case.opened_at is None:
        missing.append("received")
    customer = getattr(case, "customer", None)
    erased = getattr(customer, "erased_at", None) is not None
    if customer is None or (_blank(customer.phone) and _blank(customer.email) and not erased):
        missing.append("contact")
    if case is None or _blank(case.summary) or _blank(case.description):
        missing.append("nature")

    withdrawals = [e for e in _of(facts, "case_withdrawn") if not _blank(e.data.get("reason"))]
    # Withdrawing with a reason is the decision not to investigate further, and its actor decided.
    decision = next(
        (e for e in reversed(withdrawals) if e.actor_id is not None or e.actor_kind != "staff"), None
    )
    analysis = _last([e for e in _steps(facts, "analyse") if not _blank(e.evidence.get("root_cause"))])
    if analysis is not None:
        deciding.append(analysis)
    elif decision is not None:
        deciding.append(decision)
    else:
        missing.append("root_cause")
    closed = case is not None and case.state == "closed"
    action = _last([e for e in _steps(facts, "act") if not _blank(e.evidence.get("actions"))])
    if action is not None:
        deciding.append(action)
    elif closed or decision is None:
        missing.append("corrective_action")
    reply = _last(
        [
            e
            for e in _steps(facts, "agree")
            if e.evidence.get("customer_response") == "accepted"
            and not _blank(e.evidence.get("remedy_detail"))
        ]
    )
    if reply is not None:
        deciding.append(reply)
    elif closed or decision is None:
        missing.append("reply")
    if missing:
        return Result(FAIL, _seqs(deciding), "record_incomplete", {"missing": missing})
    return Result(PASS, _seqs(deciding), "record_complete")


ITEMS: tuple[Item, ...] = (
    Item("apology_first", _l("Apology was the first contact after the claim"), check_apology_first),
    Item("time_limits", _l("Each step within its time limit"), check_time_limits),
    Item("answers_by_customer", _l("Customer answers given by the customer"), check_answers_by_customer),
    Item("remedy_policy", _l("Remedy within policy or approved"), check_remedy_within_policy),
    Item("prevention_routed", _l("Prevention routed to a department or reasoned"), check_prevention_routed),
    Item(
        "satisfaction_by_customer",
        _l("Satisfaction answered by the customer"),
        check_satisfaction_by_customer,
    ),
    Item("progress_updates", _l("Progress updates on time"), check_progress_updates),
    Item("owner_unchanged", _l("Owner never changed"), check_owner_unchanged),
    Item("no_forbidden_phrase", _l("No forbidden phrase refused"), check_no_phrase_refused),
    Item("history_intact", _l("History chain intact"), check_history_intact),
    Item("record_complete", _l("Record complete"), check_record_complete),
)
ITEM_CODES = tuple(item.code for item in ITEMS)
ITEM_LABELS = {item.code: item.label for item in ITEMS}


@dataclass(frozen=True)
class ItemResult:
    code: str
    result: Result

    @property
    def label(self) -> str:
        return str(ITEM_LABELS.get(self.code, self.code))

    @property
    def status(self) -> str:
        return self.result.status

    @property
    def seqs(self) -> tuple[int, ...]:
        return self.result.seqs

    @property
    def note(self) -> str:
        return note_text(self.result)

    def to_json(self) -> dict[str, Any]:
        """As stored with an audit and returned by the API: codes and values, no language."""
        return {
            "item": self.code,
            "status": self.result.status,
            "seqs": list(self.result.seqs),
            "note": self.result.note,
            "params": dict(self.result.params),
        }


def evaluate(facts: Facts) -> list[ItemResult]:
    """Every item, in the checklist's order."""
    return [ItemResult(item.code, item.check(facts)) for item in ITEMS]
