"""Administrators' acts: deactivating a staff account, and the one exceptional owner change.

Ownership never moves by hand-over, transfer or assignment. The single exception (SPEC §2)
is here: an administrator gives a case whose owner's account is deactivated to an active
first responder, with a written reason; the history records it and it always goes to audit.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from complaints.errors import Conflict, Forbidden, Stale
from complaints.evidence import EvidenceError, validate_reason
from complaints.models import ApiToken, Case, User
from complaints.services.history import append_event
from complaints.workflow import Actor


def _require_admin(user: User) -> None:
    if not user.active or not user.has_role("admin"):
        raise Forbidden(_("Only an administrator may do this."))


def deactivate_user(s: Session, admin: User, user: User, now: datetime) -> User:
    """The account can no longer log in: its sessions end and its API tokens are revoked."""
    _require_admin(admin)
    if user.id == admin.id:
        raise Conflict(_("You cannot deactivate your own account."), "own_account")
    if not user.active:
        raise Conflict(_("The account is deactivated already."), "already_deactivated")
    user.active = False
    user.session_version = (user.session_version or 1) + 1  # every old cookie stops working
    s.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    s.flush()
    return user


def owner_candidates(s: Session, case: Case) -> list[User]:
    """Who may receive the case: active first responders other than the current owner."""
    users = s.scalars(select(User).where(User.active.is_(True)).order_by(User.name, User.id))
    return [u for u in users if u.has_role("responder") and u.id != case.owner_id]


def change_owner(
    s: Session, case: Case, admin: User, new_owner: User | None, reason: str, now: datetime
) -> Case:
    """Give the case of a deactivated owner to an active first responder; recorded, always audited."""
    _require_admin(admin)
    reason = validate_reason(reason)
    if not case.is_open or case.owner_id is None:
        raise Conflict(_("Only an open case with an owner can change owner."), "wrong_state")
    old_owner = case.owner
    if old_owner is not None and old_owner.active:
        raise Conflict(
            _("The owner's account is active: a case stays with its first responder."), "owner_active"
        )
    if new_owner is None or not new_owner.active or not new_owner.has_role("responder"):
        raise EvidenceError({"new_owner_id": _("Choose an active first responder.")})
    if new_owner.id == case.owner_id:
        raise EvidenceError({"new_owner_id": _("Choose someone other than the current owner.")})
    previous = case.owner_id
    case.owner_id = new_owner.id
    case.must_audit = True
    try:
        s.flush()  # versioned: a concurrent change of the same case loses
    except StaleDataError:
        s.rollback()
        raise Stale(_("Someone else changed the case at the same time; reload and try again.")) from None
    append_event(
        s,
        case,
        "owner_changed",
        Actor.staff(admin.id),
        {"from": previous, "to": new_owner.id, "reason": reason},
        now,
    )
    s.refresh(case, ["owner"])
    return case


__all__ = ["change_owner", "deactivate_user", "owner_candidates"]
