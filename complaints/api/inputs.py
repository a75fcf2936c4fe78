"""Reading request bodies and query parameters; shape errors here, meaning in evidence.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, request
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest

from complaints import clock
from complaints.api.errors import ApiError
from complaints.evidence import Context, EvidenceError

# Ids are 32-bit integers in every database; a larger one names nothing.
MAX_ID = 2**31 - 1


def evidence_context() -> Context:
    """Validation's view of the outside world: now, and the deployment's time zone."""
    return Context(now=clock.now(), tz=ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"]))


def json_body(*, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object: 415 when it is not JSON, 400 when it does not parse."""
    if optional and not request.get_data(cache=True):
        return {}
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type")
    try:
        data = request.get_json(cache=True)
    except (BadRequest, RecursionError):
        raise ApiError(400, "invalid_json", _("The body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_body", _("The body must be a JSON object."))
    return data


def unknown_fields(data: Mapping[str, Any], known: Iterable[str]) -> dict[str, str]:
    """One "Unknown field." per key the endpoint does not take (owner_id, state …)."""
    allowed = set(known)
    return {key: _("Unknown field.") for key in data if key not in allowed}


def refuse_unknown(data: Mapping[str, Any], known: Iterable[str]) -> None:
    errors = unknown_fields(data, known)
    if errors:
        raise EvidenceError(errors)


def whole_number(value: Any, name: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    """An integer from JSON or a query string, or a 422 naming the field."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool):
        raise EvidenceError({name: _("Must be a whole number.")})
    if value < minimum or (maximum is not None and value > maximum):
        if maximum is None:
            raise EvidenceError({name: _("Must be at least %(a)d.", a=minimum)})
        raise EvidenceError({name: _("Must be between %(a)d and %(b)d.", a=minimum, b=maximum)})
    return value
