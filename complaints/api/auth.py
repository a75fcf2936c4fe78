"""Bearer tokens: the API's only credential. A session cookie never authenticates an API call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request
from flask_babel import gettext as _

from complaints.api.errors import ApiError
from complaints.auth import login_manager
from complaints.db import get_session
from complaints.models import User
from complaints.services.staff import user_for_token

F = TypeVar("F", bound=Callable[..., Any])

_CHALLENGE = 'Bearer realm="complaints"'


def public(view: F) -> F:
    """Mark a view that needs no token (the OpenAPI document, the customer's own link)."""
    view.api_public = True  # type: ignore[attr-defined]
    return view


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate() -> None:
    """before_request: find the token's user, or answer 401; public views pass."""
    # Whatever happens below, Flask-Login must not fall back to the session cookie:
    # the request's user is the token's user or nobody.
    login_manager._update_request_context_with_user(None)
    g.api_user = None
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and getattr(view, "api_public", False):
        return
    token = _bearer_token()
    if token is None:
        raise ApiError(
            401,
            "unauthorized",
            _("A valid bearer token is required."),
            headers={"WWW-Authenticate": _CHALLENGE},
        )
    user = user_for_token(get_session(), token)
    if user is None:
        raise ApiError(
            401,
            "invalid_token",
            _("The token is unknown, revoked or belongs to a deactivated account."),
            headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'},
        )
    g.api_user = user
    login_manager._update_request_context_with_user(user)


def api_user() -> User:
    """The authenticated caller of the current API request."""
    user = g.get("api_user")
    if user is None:  # a public view asked for a user: a programming error
        raise ApiError(401, "unauthorized", headers={"WWW-Authenticate": _CHALLENGE})
    return user
