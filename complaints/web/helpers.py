"""What every staff view does the same way: load or 404, refuse, bind strictly, redirect safely."""

from __future__ import annotations

from typing import TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import abort, current_app, request
from flask_babel import gettext as _
from flask_login import current_user

from complaints import clock
from complaints.db import get_session
from complaints.errors import AlreadyOwned, Forbidden, NotFound, Refused, Stale
from complaints.evidence import Context
from complaints.models import Case
from complaints.permissions import can_view_case, has_role, is_owner
from complaints.web.forms import StrictForm
from complaints.workflow import STATE_LABELS

F = TypeVar("F", bound=StrictForm)


def get_case(case_id: int) -> Case:
    """The case, or 404."""
    case = get_session().get(Case, case_id)
    if case is None:
        abort(404)
    return case


def get_viewable_case(case_id: int) -> Case:
    """The case if the user may see it; otherwise 403, naming only the owner when that is why."""
    case = get_case(case_id)
    if not can_view_case(current_user, case):
        if (
            case.owner is not None
            and not is_owner(current_user, case)
            and has_role(current_user, "responder")
        ):
            abort(403, description=_("This case is owned by %(name)s.", name=case.owner.name))
        abort(403)
    return case


def bind(form_class: type[F], **kwargs: object) -> F:
    """Bind the posted form; a field the form does not define is refused (400) by name."""
    form = form_class(**kwargs)
    unknown = form.unknown_fields(request.form)
    if unknown:
        abort(
            400,
            description=_(
                "The field “%(name)s” is not part of this form. Nothing was changed.", name=unknown[0]
            ),
        )
    return form


def evidence_context() -> Context:
    return Context(now=clock.now(), tz=ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"]))


def refusal_message(e: Refused, case: Case | None = None) -> str:
    """The refusal in the user's language (the services word theirs for logs and the API)."""
    if isinstance(e, AlreadyOwned):
        owner = case.owner.name if case is not None and case.owner is not None else "?"
        return _("Already owned by %(name)s.", name=owner)
    if isinstance(e, Stale):
        return stale_message()
    if isinstance(e, Forbidden):
        return _("You may not do this on this case.")
    if isinstance(e, NotFound):
        return _("Not found.")
    if e.code == "wrong_state" and case is not None:
        return _(
            "This is not possible while the case is at “%(state)s”. Nothing was changed.",
            state=STATE_LABELS.get(case.state, case.state),
        )
    return e.message


def stale_message() -> str:
    return _(
        "The case changed since you loaded the page, so nothing was saved. "
        "Check the case as it is now and try again."
    )


def fresh(case: Case) -> Case:
    """After a rollback: the case as the database has it now."""
    return get_session().get(Case, case.id, populate_existing=True) or case


def safe_next(target: str | None, default: str) -> str:
    """Only a path on this site: never an open redirect."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target:
        return default
    return target
