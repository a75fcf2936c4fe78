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


def can_create_customer_link(user: Any, case: Case) -> bool:
    """The owner hands the customer their link, while the case is open."""
    return is_owner(user, case) and case.is_open


def can_view_reports(user: Any) -> bool:
    """Reports cover every case and every responder: quality managers only."""
    return has_role(user, "quality")


def can_view_history(user: Any, case: Case) -> bool:
    return can_view_case(user, case)


def can_view_audit_queue(user: Any) -> bool:
    return has_role(user, "quality")


def can_audit(user: Any, case: Case | None = None) -> bool:
    """Quality managers audit, never a case they own themselves (whether the case can be
    audited now is the service's call)."""
    if not has_role(user, "quality"):
        return False
    return case is None or not is_owner(user, case)


def can_view_audits(user: Any, case: Case) -> bool:
    """The auditors' findings: for quality and admin, and for the owner who must act on them."""
    return can_read_all(user) or is_owner(user, case) or is_assistant(user, case)


def can_manage_staff(user: Any) -> bool:
    return has_role(user, "admin")


def can_change_owner(user: Any, case: Case | None = None) -> bool:
    """Only an admin, and for a given case only while its owner's account is deactivated."""
    if not has_role(user, "admin"):
        return False
    if case is None:
        return True
    return case.is_open and case.owner is not None and not case.owner.active


def can_post_update(user: Any, case: Case) -> bool:
    """Progress updates to the customer come from the owner, while the case is open."""
    return is_owner(user, case) and case.is_open


def can_edit_phrases(user: Any) -> bool:
    """The forbidden-phrase list is the quality managers' (add, deactivate, reactivate)."""
    return has_role(user, "quality")


def can_delete_phrase(user: Any, phrase: Any) -> bool:
    """Only a phrase one added oneself; built-in phrases are deactivated, never deleted."""
    u = _staff(user)
    return can_edit_phrases(u) and not phrase.builtin and u is not None and phrase.created_by_id == u.id


def can_edit_settings(user: Any) -> bool:
    """Time limits and the working calendar are the quality managers' to set."""
    return has_role(user, "quality")


def can_request_remedy_approval(user: Any, case: Case) -> bool:
    """The owner asks quality to approve a remedy beyond policy while working out the remedy."""
    return is_owner(user, case) and case.state in ("analyse", "agree")


def can_decide_remedy(user: Any, case: Case | None = None) -> bool:
    """Quality managers approve or refuse remedies beyond policy, never on a case they own."""
    if not has_role(user, "quality"):
        return False
    return case is None or not is_owner(user, case)


def can_record_interim(user: Any, case: Case) -> bool:
    """The owner records interim measures (a loaner device) from listen until the case closes."""
    return is_owner(user, case) and case.state in STEPS[STEPS.index("listen") :]


def can_end_interim(user: Any, case: Case) -> bool:
    """The owner marks an interim measure withdrawn or made permanent while the case is open."""
    return is_owner(user, case) and case.is_open


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
