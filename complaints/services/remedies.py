"""The remedy policy applied to a case: entitlements, quality approvals, and the check of an offer.

A remedy beyond policy (complaints/remedy_policy.py) may be offered only after a quality manager
approved it for the case: the owner asks (``request_approval``), quality decides
(``decide_approval``), and ``check_offer`` — called by ``services.cases.complete_step`` for the
agree step, whether the owner records the customer's answer or sends the proposal to the
customer — refuses an unapproved offer and marks the evidence for the audit: ``within_policy``,
or ``beyond_policy`` with the ``approval_id`` it was offered under.

Repairs so far (for "exchange or return after two failed repairs"): every agree step, in any
case of the same product serial number opened before this one, that was completed with the
remedy "repair" and moved on to act; and in this case itself, each such earlier repair (a
dissatisfied customer sent the case back, so the repair did not hold; the latest one does not
count while it is still under way, from act to closure). A case without a serial number has no
repair history.

Like every service these change, append their events and flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from complaints import vocab
from complaints.errors import Conflict, Forbidden, Refused
from complaints.evidence import POLICY_KEYS, Context, EvidenceError, Field, StepInput, validate_fields
from complaints.models import Case, RemedyApproval, Setting, StepRecord, User
from complaints.remedy_policy import (
    Entitlement,
    PolicySettings,
    entitlements,
    is_within_policy,
    parse_amount,
    stronger_entitlements,
)
from complaints.services.history import append_event
from complaints.workflow import TERMINAL_STATES, Actor

SETTING_KEY = "remedy_policy"
# Deployment defaults (app config), under the quality managers' stored setting.
CONFIG_KEYS = {
    "return_days": "REMEDY_RETURN_DAYS",
    "exchange_days": "REMEDY_EXCHANGE_DAYS",
    "warranty_days": "REMEDY_WARRANTY_DAYS",
    "repairs_before_exchange": "REMEDY_REPAIRS_BEFORE_EXCHANGE",
    "compensation_limit": "REMEDY_COMPENSATION_LIMIT",
}
# After the remedy was agreed: the case's own latest agreement is the one under way.
LATER_STATES = ("act", "prevent", "verify", "closed")
# The owner asks for an approval while working out the remedy.
REQUEST_STATES = ("analyse", "agree")
DECISIONS = {"approve": _l("Approve"), "refuse": _l("Refuse")}

APPROVAL_FIELDS: tuple[Field, ...] = (
    Field("remedy", "choice", _l("Remedy"), choices=vocab.REMEDIES),
    Field("remedy_detail", "text", _l("Remedy details")),
    Field(
        "amount",
        "decimal",
        _l("Amount"),
        required=False,
        help=_l("The most that may be offered, such as 500.00; required for compensation."),
        depends=("remedy", ("compensation",)),
    ),
    Field("reason", "text", _l("Why the customer should have more than the policy gives")),
)
DECISION_FIELDS: tuple[Field, ...] = (
    Field("decision", "choice", _l("Decision"), choices=DECISIONS),
    Field(
        "note",
        "text",
        _l("Note to the owner"),
        required=False,
        help=_l("Required when refusing: say why."),
    ),
)


class ApprovalRequired(Refused):
    """The remedy is beyond policy and no quality approval covers it: nothing was offered."""

    status = 422
    code = "approval_required"
    field = "remedy"


# --- the settings -------------------------------------------------------------------------
def _configured() -> PolicySettings:
    if not has_app_context():
        return PolicySettings()
    return PolicySettings.from_mapping(
        {name: current_app.config.get(key) for name, key in CONFIG_KEYS.items()}
    )


def load_settings(s: Session) -> PolicySettings:
    """The policy in force: the quality managers' setting over the deployment's defaults."""
    with s.no_autoflush:
        stored = s.scalar(select(Setting.value).where(Setting.key == SETTING_KEY))
    return PolicySettings.from_mapping(stored if isinstance(stored, Mapping) else None, _configured())


def save_settings(s: Session, actor: User, settings: PolicySettings, now: datetime) -> PolicySettings:
    """Store the policy's numbers; offers from now on are judged by them."""
    row = s.get(Setting, SETTING_KEY)
    if row is None:
        row = Setting(key=SETTING_KEY)
        s.add(row)
    row.value = settings.to_mapping()
    row.updated_at = now
    row.updated_by_id = actor.id
    s.flush()
    return settings


SETTINGS_FIELDS: tuple[Field, ...] = (
    Field("return_days", "int", _l("Return (refund) within days of sale"), minimum=0, maximum=3650),
    Field("exchange_days", "int", _l("Exchange within days of sale"), minimum=0, maximum=3650),
    Field("warranty_days", "int", _l("Warranty in days"), minimum=0, maximum=36500),
    Field(
        "repairs_before_exchange",
        "int",
        _l("Repairs in the warranty before exchange or return"),
        minimum=1,
        maximum=20,
    ),
    Field("compensation_limit", "decimal", _l("Compensation within policy up to")),
)


def validate_settings(data: Mapping[str, Any], ctx: Context) -> PolicySettings:
    values = validate_fields(SETTINGS_FIELDS, data, ctx)
    if values["exchange_days"] < values["return_days"]:
        raise EvidenceError({"exchange_days": _("At least the days for a return.")})
    return PolicySettings.from_mapping(values)


# --- the facts of a case ------------------------------------------------------------------
def complaint_day(case: Case) -> date:
    """The day the complaint was received, in the deployment's time zone: the three guarantees
    are judged on it, not on the day the remedy is agreed."""
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    return case.opened_at.replace(tzinfo=UTC).astimezone(tz).date()


def repairs_so_far(s: Session, case: Case) -> int:
    """Repairs agreed and carried out for this product before (see the module's docstring)."""
    if not case.serial_number:
        return 0
    earlier = select(Case.id).where(
        Case.serial_number == case.serial_number,
        (Case.opened_at < case.opened_at) | ((Case.opened_at == case.opened_at) & (Case.id < case.id)),
    )
    with s.no_autoflush:
        records = list(
            s.scalars(
                select(StepRecord)
                .where(
                    StepRecord.step == "agree",
                    StepRecord.outcome == "act",
                    (StepRecord.case_id == case.id) | StepRecord.case_id.in_(earlier),
                )
                .order_by(StepRecord.id)
            )
        )
    own = [r for r in records if r.case_id == case.id]
    if own and case.state in LATER_STATES:
        records.remove(own[-1])  # the repair under way now has not failed (yet)
    return sum(1 for r in records if (r.evidence or {}).get("remedy") == "repair")


def entitlement_of(s: Session, case: Case, settings: PolicySettings | None = None) -> Entitlement:
    """What this case's customer is entitled to."""
    settings = settings or load_settings(s)
    return entitlements(case.purchase_date, complaint_day(case), repairs_so_far(s, case), settings)


# --- approvals ----------------------------------------------------------------------------
def approvals_of(s: Session, case: Case) -> list[RemedyApproval]:
    """The case's approval requests, newest first."""
    with s.no_autoflush:
        return list(
            s.scalars(
                select(RemedyApproval)
                .where(RemedyApproval.case_id == case.id)
                .order_by(RemedyApproval.id.desc())
            )
        )


def pending_approvals(s: Session) -> list[tuple[RemedyApproval, Case, User]]:
    """Requests waiting for quality on open cases, oldest first, with their case and who asked."""
    rows = s.execute(
        select(RemedyApproval, Case, User)
        .join(Case, Case.id == RemedyApproval.case_id)
        .join(User, User.id == RemedyApproval.requested_by_id)
        .where(RemedyApproval.decided_at.is_(None), Case.state.not_in(TERMINAL_STATES))
        .order_by(RemedyApproval.requested_at, RemedyApproval.id)
    )
    return [(a, c, u) for a, c, u in rows]


def _covers(approval: RemedyApproval, remedy: str, amount: Decimal | None) -> bool:
    if not approval.approved or approval.remedy != remedy:
        return False
    if approval.amount is None or amount is None:
        return approval.amount is None or remedy != "compensation"
    return amount <= approval.amount


def matching_approval(s: Session, case: Case, remedy: str, amount: Any) -> RemedyApproval | None:
    """The latest approval of this case that covers the remedy (and at least the amount)."""
    value = parse_amount(amount)
    return next((a for a in approvals_of(s, case) if _covers(a, remedy, value)), None)


def validate_request(data: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    """An approval request's fields; compensation needs its amount."""
    values = validate_fields(APPROVAL_FIELDS, data, ctx)
    if values["remedy"] == "compensation" and "amount" not in values:
        raise EvidenceError({"amount": _("Give the amount of the compensation.")})
    return values


def validate_decision(data: Mapping[str, Any], ctx: Context) -> tuple[bool, str | None]:
    """(approved, note); a refusal says why."""
    values = validate_fields(DECISION_FIELDS, data, ctx)
    if values["decision"] == "refuse" and "note" not in values:
        raise EvidenceError({"note": _("Say why the request is refused.")})
    return values["decision"] == "approve", values.get("note")


def _proposal(approval: RemedyApproval) -> dict[str, Any]:
    return {
        "remedy": approval.remedy,
        "remedy_detail": approval.remedy_detail,
        **({"amount": f"{approval.amount:.2f}"} if approval.amount is not None else {}),
    }


def request_approval(
    s: Session, case: Case, actor: User, data: Mapping[str, Any], now: datetime
) -> RemedyApproval:
    """The owner asks quality to approve a remedy beyond policy, before offering it."""
    if case.owner_id != actor.id:
        raise Conflict(_("Only the owner may ask for an approval."), "not_owner")
    if case.state not in REQUEST_STATES:
        raise Conflict(
            _("An approval is asked for while analysing or agreeing the remedy."),
            "wrong_state",
        )
    remedy, amount = data["remedy"], parse_amount(data.get("amount"))
    settings = load_settings(s)
    entitlement = entitlement_of(s, case, settings)
    if is_within_policy(remedy, data.get("amount"), entitlement, settings):
        raise EvidenceError({"remedy": _("This remedy is within policy: it needs no approval.")})
    for other in approvals_of(s, case):
        if other.decided_at is None and other.remedy == remedy:
            raise Conflict(_("A request for this remedy is already waiting for quality."), "approval_pending")
    approval = RemedyApproval(
        case_id=case.id,
        remedy=remedy,
        remedy_detail=data["remedy_detail"],
        amount=amount.quantize(Decimal("0.01")) if amount is not None else None,
        reason=data["reason"],
        requested_by_id=actor.id,
        requested_at=now,
    )
    approval.proposal = _proposal(approval)
    s.add(approval)
    s.flush()
    append_event(
        s,
        case,
        "remedy_approval_requested",
        Actor.staff(actor.id),
        {"approval_id": approval.id, **approval.proposal, "reason": approval.reason},
        now,
    )
    return approval


def decide_approval(
    s: Session, approval: RemedyApproval, actor: User, approved: bool, note: str | None, now: datetime
) -> RemedyApproval:
    """Quality approves or refuses a request; either way it is on the case's record."""
    case = s.get(Case, approval.case_id)
    assert case is not None
    if approval.decided_at is not None:
        raise Conflict(_("This request has been decided already."), "already_decided")
    if not case.is_open:
        raise Conflict(_("The case has ended: there is nothing to approve."), "wrong_state")
    if case.owner_id == actor.id or approval.requested_by_id == actor.id:
        raise Forbidden(_("Nobody decides on their own request."))
    approval.approved = approved
    approval.decided_by_id = actor.id
    approval.decided_at = now
    approval.decision_note = note
    s.flush()
    append_event(
        s,
        case,
        "remedy_approved" if approved else "remedy_refused",
        Actor.staff(actor.id),
        {"approval_id": approval.id, **_proposal(approval), **({"note": note} if note else {})},
        now,
    )
    return approval


# --- the offer ----------------------------------------------------------------------------
def _refusal_message(s: Session, case: Case, remedy: str, amount: Any, entitlement: Entitlement) -> str:
    label = vocab.REMEDIES.get(remedy, remedy)
    value = parse_amount(amount)
    if remedy == "compensation" and value is not None and remedy in entitlement.remedies:
        why = _(
            "Compensation of %(amount)s is above the policy's limit of %(limit)s.",
            amount=f"{value:.2f}",
            limit=f"{entitlement.compensation_limit:.2f}",
        )
    else:
        why = _(
            "“%(remedy)s” is beyond the remedy policy for this case: %(reason)s",
            remedy=label,
            reason=str(entitlement.reasons[remedy]),
        )
    same = [a for a in approvals_of(s, case) if a.remedy == remedy]
    if any(a.decided_at is None for a in same):
        then = _("The request for approval is waiting for quality; offer it once approved.")
    elif any(a.approved is False for a in same) and not any(a.approved for a in same):
        then = _("Quality refused it; propose another remedy, or ask again with new reasons.")
    elif any(a.approved for a in same):
        then = _("The approval does not cover this amount; ask quality for a new approval.")
    else:
        then = _("Ask quality for an approval before offering it.")
    return f"{why} {then}"


def check_offer(s: Session, case: Case, step: str, inp: StepInput) -> None:
    """Before a remedy is offered: beyond policy only with a quality approval; the evidence says
    which (``within_policy``, or ``beyond_policy`` with the ``approval_id``) for the audit."""
    if step != "agree" or "remedy" not in inp.evidence:
        return
    ev = inp.evidence
    for key in POLICY_KEYS:  # only this check says so
        ev.pop(key, None)
    remedy, amount = ev["remedy"], ev.get("amount")
    settings = load_settings(s)
    entitlement = entitlement_of(s, case, settings)
    if is_within_policy(remedy, amount, entitlement, settings):
        ev["within_policy"] = True
        return
    approval = matching_approval(s, case, remedy, amount)
    if approval is None:
        raise ApprovalRequired(_refusal_message(s, case, remedy, amount, entitlement))
    ev["beyond_policy"] = True
    ev["approval_id"] = approval.id


def under_promised(s: Session, case: Case, evidence: Mapping[str, Any]) -> tuple[str, ...]:
    """The guarantees the customer is entitled to that are stronger than the remedy offered."""
    remedy = evidence.get("remedy")
    if not isinstance(remedy, str):
        return ()
    return stronger_entitlements(remedy, entitlement_of(s, case))


def under_promise_warning(s: Session, case: Case, step: str, evidence: Mapping[str, Any]) -> str | None:
    """A warning (the offer is allowed) when the remedy is less than the customer is entitled to.
    Worked out before the step is recorded: an accepted repair would count as one more repair."""
    if step != "agree":
        return None
    stronger = under_promised(s, case, evidence)
    if not stronger:
        return None
    return _(
        "Note: the customer is entitled to %(remedies)s, more than the %(offered)s offered. "
        "Offering less is allowed, but make sure they know what they are entitled to.",
        remedies=", ".join(str(vocab.REMEDIES[r]) for r in stronger),
        offered=str(vocab.REMEDIES.get(evidence["remedy"], evidence["remedy"])),
    )


__all__ = [
    "ApprovalRequired",
    "approvals_of",
    "check_offer",
    "decide_approval",
    "entitlement_of",
    "load_settings",
    "matching_approval",
    "pending_approvals",
    "repairs_so_far",
    "request_approval",
    "save_settings",
    "under_promise_warning",
    "under_promised",
]
