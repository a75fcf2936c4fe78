"""THE workflow of a complaint case: its states, the moves between them and their guards.

Nothing else in the code base defines a move. The machine is built once per process
with no model attached; every move is fired as ``fire(case, trigger, actor=..., ...)``
on any object with ``state``, ``owner_id``, ``state_entered_at``, ``closed_at`` and
``reopen_count`` attributes, which is how replaying a case's events reuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from transitions import Machine, MachineError

# The eight steps, in order, named after the state in which they are done.
STEPS = ("apologise", "listen", "confirm", "analyse", "agree", "act", "prevent", "verify")
STATES = ("new", *STEPS, "closed", "withdrawn")
OPEN_STATES = ("new", *STEPS)
TERMINAL_STATES = ("closed", "withdrawn")
# Steps whose completion is the customer's answer, recorded by staff or given on the link.
CUSTOMER_STEPS = ("confirm", "agree", "verify")

STATE_LABELS = {
    "new": _l("New (unclaimed)"),
    "apologise": _l("Apologise"),
    "listen": _l("Listen"),
    "confirm": _l("Confirm"),
    "analyse": _l("Analyse"),
    "agree": _l("Agree"),
    "act": _l("Act"),
    "prevent": _l("Prevent"),
    "verify": _l("Verify satisfaction"),
    "closed": _l("Closed"),
    "withdrawn": _l("Withdrawn"),
}


class CaseLike(Protocol):
    state: str
    owner_id: int | None
    state_entered_at: datetime | None
    closed_at: datetime | None
    reopen_count: int
    awaiting_customer: bool


@dataclass(frozen=True)
class Actor:
    """Who fires a move: a staff user (by id) or the customer on their link."""

    kind: str  # "staff" | "customer" | "system"
    id: int | None = None

    @classmethod
    def staff(cls, user_id: int) -> Actor:
        return cls("staff", user_id)


class WorkflowRefused(Exception):
    """A move that does not exist from this state, or whose guards say no."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- guards -----------------------------------------------------------------
def _kw(ev: Any) -> dict[str, Any]:
    return ev.kwargs


def _by_owner(ev: Any) -> bool:
    actor: Actor = _kw(ev)["actor"]
    return actor.kind == "staff" and actor.id is not None and actor.id == ev.model.owner_id


def _by_answerer(ev: Any) -> bool:
    """The customer's answer comes from the customer on the link, while the case awaits them,
    or from the owner, staff-recorded."""
    actor: Actor = _kw(ev)["actor"]
    if actor.kind == "customer":
        return bool(ev.model.awaiting_customer)
    return _by_owner(ev)


def _by_quality(ev: Any) -> bool:
    """Reopening after an audit is a quality manager's act (permissions check the role)."""
    actor: Actor = _kw(ev)["actor"]
    return actor.kind == "staff" and actor.id is not None


def _unowned(ev: Any) -> bool:
    actor: Actor = _kw(ev)["actor"]
    return ev.model.owner_id is None and actor.kind == "staff" and actor.id is not None


def _answer(field: str, *values: str):
    def guard(ev: Any) -> bool:
        return _kw(ev).get("evidence", {}).get(field) in values

    guard.__name__ = f"answer_{field}_{'_'.join(values)}"
    return guard


def _follow_up_window_passed(ev: Any) -> bool:
    """Only after the follow-up window may silence close the case."""
    window: timedelta = _kw(ev)["follow_up_window"]
    entered = ev.model.state_entered_at
    return entered is not None and _kw(ev)["now"] - entered >= window


def _has_reason(ev: Any) -> bool:
    return bool((_kw(ev).get("reason") or "").strip())


# --- effects (attribute changes only: no I/O) -------------------------------
def _set_owner(ev: Any) -> None:
    ev.model.owner_id = _kw(ev)["actor"].id


def _entered(ev: Any) -> None:
    if ev.transition.dest is None:  # an internal move: the state and its clock stay
        return
    ev.model.state_entered_at = _kw(ev)["now"]
    ev.model.awaiting_customer = False
    ev.model.closed_at = _kw(ev)["now"] if ev.model.state in TERMINAL_STATES else None


def _await_customer(ev: Any) -> None:
    ev.model.awaiting_customer = True


def _count_reopen(ev: Any) -> None:
    ev.model.reopen_count = (ev.model.reopen_count or 0) + 1


def _reopen_to(target: str):
    def guard(ev: Any) -> bool:
        return _kw(ev).get("evidence", {}).get("reopen_to") == target

    guard.__name__ = f"reopen_to_{target}"
    return guard


# Where an auditor may send a closed case back to: analysis or any later step.
REOPEN_TARGETS = ("analyse", "agree", "act", "prevent", "verify")


def _owner_step(source: str, dest: str) -> dict[str, Any]:
    return {"trigger": source, "source": source, "dest": dest, "conditions": [_by_owner]}


TRANSITIONS: list[dict[str, Any]] = [
    {
        "trigger": "claim",
        "source": "new",
        "dest": "apologise",
        "conditions": [_unowned],
        "before": [_set_owner],
    },
    _owner_step("apologise", "listen"),
    _owner_step("listen", "confirm"),
    {
        "trigger": "confirm",
        "source": "confirm",
        "dest": "analyse",
        "conditions": [_by_answerer, _answer("customer_response", "confirmed")],
    },
    {
        "trigger": "confirm",
        "source": "confirm",
        "dest": "listen",
        "conditions": [_by_answerer, _answer("customer_response", "corrected")],
    },
    _owner_step("analyse", "agree"),
    {
        "trigger": "agree",
        "source": "agree",
        "dest": "act",
        "conditions": [_by_answerer, _answer("customer_response", "accepted")],
    },
    # A declined remedy stays in agree, for a new proposal.
    {
        "trigger": "agree",
        "source": "agree",
        "dest": "agree",
        "conditions": [_by_answerer, _answer("customer_response", "declined")],
    },
    _owner_step("act", "prevent"),
    _owner_step("prevent", "verify"),
    {
        "trigger": "verify",
        "source": "verify",
        "dest": "closed",
        "conditions": [_by_answerer, _answer("satisfaction", "satisfied", "neutral")],
    },
    {
        "trigger": "verify",
        "source": "verify",
        "dest": "closed",
        "conditions": [_by_owner, _answer("satisfaction", "no_response"), _follow_up_window_passed],
    },
    # A dissatisfied customer sends the case back to analysis: a reopen cycle.
    {
        "trigger": "verify",
        "source": "verify",
        "dest": "analyse",
        "conditions": [_by_answerer, _answer("satisfaction", "dissatisfied")],
        "after": [_count_reopen],
    },
    # The owner sends the step's question to the customer: an internal move, the case waits.
    {
        "trigger": "ask_customer",
        "source": list(CUSTOMER_STEPS),
        "dest": None,
        "conditions": [_by_owner],
        "after": [_await_customer],
    },
    {"trigger": "withdraw", "source": list(OPEN_STATES), "dest": "withdrawn", "conditions": [_has_reason]},
    # An auditor sends a closed case back to a chosen step for its owner: a reopen cycle.
    *(
        {
            "trigger": "reopen",
            "source": "closed",
            "dest": target,
            "conditions": [_by_quality, _reopen_to(target)],
            "after": [_count_reopen],
        }
        for target in REOPEN_TARGETS
    ),
]

WORKFLOW = Machine(
    model=None,
    states=list(STATES),
    initial="new",
    transitions=TRANSITIONS,
    auto_transitions=False,
    send_event=True,
    after_state_change=[_entered],
)


def fire(
    case: CaseLike,
    trigger: str,
    *,
    actor: Actor,
    now: datetime,
    evidence: dict[str, Any] | None = None,
    reason: str | None = None,
    follow_up_window: timedelta = timedelta(days=7),
) -> tuple[str, str]:
    """Make one move or refuse it; returns (from_state, to_state)."""
    source = case.state
    event = WORKFLOW.events.get(trigger)
    if event is None:
        raise WorkflowRefused("wrong_state", _("No such move: %(move)s", move=trigger))
    try:
        ok = event.trigger(
            case,
            actor=actor,
            now=now,
            evidence=evidence or {},
            reason=reason,
            follow_up_window=follow_up_window,
        )
    except MachineError:
        ok = False
    if not ok:
        raise WorkflowRefused(
            "wrong_state",
            _("The case is in '%(state)s': '%(move)s' is not possible now.", state=source, move=trigger),
        )
    return source, case.state


def current_step(state: str) -> str | None:
    return state if state in STEPS else None


def step_number(state: str) -> int:
    """1..8 for the steps, 0 for new, 9 once closed."""
    if state in STEPS:
        return STEPS.index(state) + 1
    return 9 if state == "closed" else 0


@dataclass
class ReplayCase:
    """What replay needs of a case: enough for the machine's guards and effects."""

    state: str = "new"
    owner_id: int | None = None
    state_entered_at: datetime | None = None
    closed_at: datetime | None = None
    reopen_count: int = 0
    awaiting_customer: bool = False


# Which recorded event is which move.
EVENT_TRIGGERS = {
    "case_claimed": "claim",
    "case_withdrawn": "withdraw",
    "sent_to_customer": "ask_customer",
    "case_reopened": "reopen",
}


def trigger_of(action: str, data: dict[str, Any]) -> str | None:
    if action == "step_completed":
        return data.get("step")
    return EVENT_TRIGGERS.get(action)
