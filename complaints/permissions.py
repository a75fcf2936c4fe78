"""Who may do what: the only place roles and relations to a case are interpreted.

Every view calls one of these before acting; templates call the same ones to decide
which actions to show. The server never trusts the page.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true

from complaints.models import Assistant, Case, User
from complaints.workflow import STEPS


def _staff(user: Any) -> User | None:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return user


def has_role(user: Any, *roles: str) -> bool:
    u = _staff(user)
    return u is not None and any(u.has_role(r) for r in roles)


def is_owner(user: Any, case: Case) -> bool:
    u = _staff(user)
    return u is not None and case.owner_id == u.id


def is_assistant(user: Any, case: Case) -> bool:
    u = _staff(user)
    return u is not None and u.id in case.assistant_ids


def is_opener(user: Any, case: Case) -> bool:
    u = _staff(user)
    return u is not None and case.opened_by_id == u.id


def can_open_case(user: Any) -> bool:
    return has_role(user, "frontline", "responder")


def can_read_all(user: Any) -> bool:
    return has_role(user, "quality", "admin")


def can_view_case(user: Any, case: Case) -> bool:
    if _staff(user) is None:
        return False
    if can_read_all(user) or is_owner(user, case) or is_assistant(user, case):
        return True
    if is_opener(user, case) and has_role(user, "frontline", "responder"):
        return True
    # Responders see the unclaimed queue, so they may look before claiming.
    return case.state == "new" and has_role(user, "responder")


def can_claim(user: Any, case: Case) -> bool:
    return has_role(user, "responder") and case.state == "new" and case.owner_id is None


def can_complete_step(user: Any, case: Case) -> bool:
    return is_owner(user, case) and case.state in STEPS


def can_withdraw(user: Any, case: Case) -> bool:
    if not case.is_open:
        return False
    if is_owner(user, case):
        return True
    return case.state == "new" and is_opener(user, case) and has_role(user, "frontline", "responder")


def can_invite_assistant(user: Any, case: Case) -> bool:
    return is_owner(user, case) and case.is_open


def can_be_assistant(user: User, case: Case) -> bool:
    return (
        user.active
        and user.id != case.owner_id
        and user.id not in case.assistant_ids
        and (user.has_role("responder") or user.has_role("frontline"))
    )


def can_add_note(user: Any, case: Case) -> bool:
    return is_owner(user, case) or is_assistant(user, case)


def can_view_history(user: Any, case: Case) -> bool:
    return can_view_case(user, case)


def visible_cases_clause(user: Any) -> ColumnElement[bool]:
    """The SQL twin of can_view_case, for lists and search."""
    u = _staff(user)
    if u is None:
        return false()
    if can_read_all(u):
        return true()
    clauses: list[ColumnElement[bool]] = []
    if has_role(u, "frontline", "responder"):
        clauses.append(Case.opened_by_id == u.id)
    clauses.append(Case.owner_id == u.id)
    clauses.append(Case.id.in_(select(Assistant.case_id).where(Assistant.user_id == u.id)))
    if has_role(u, "responder"):
        clauses.append(Case.state == "new")
    return or_(*clauses)
