"""The API's one error shape: ``{"error": {"code", "message", "fields"}}``, for every status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException, default_exceptions

from complaints.errors import Refused
from complaints.evidence import EvidenceError

API_PREFIX = "/api/"

# Messages for the statuses a client meets; werkzeug's descriptions are English-only.
MESSAGES: dict[int, Any] = {
    400: _l("The request could not be understood."),
    401: _l("A valid bearer token is required."),
    403: _l("You may not do this."),
    404: _l("Not found."),
    405: _l("This method is not allowed here."),
    409: _l("The request conflicts with the case's current state."),
    413: _l("The request body is too large."),
    415: _l("Send the body as JSON (Content-Type: application/json)."),
    422: _l("Some fields are missing or invalid."),
    429: _l("Too many requests; try again later."),
    500: _l("Something went wrong on our side; nothing was changed."),
    503: _l("The service is unavailable; try again later."),
}


class ApiError(Exception):
    """An HTTP error answered in the API's JSON form (views and hooks raise it)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: Any = None,
        fields: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(str(message or code))
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})

    @classmethod
    def from_http(cls, e: HTTPException) -> ApiError:
        """Keep the status and headers (e.g. Allow on 405) of a werkzeug error."""
        status = e.code or 500
        headers = {k: v for k, v in e.get_headers() if k.lower() != "content-type"}
        return cls(status, _code_of(e), None, None, headers)


def _code_of(e: HTTPException) -> str:
    """'Method Not Allowed' -> 'method_not_allowed'."""
    return "_".join((e.name or "error").lower().replace("'", "").split())


def error_response(
    status: int,
    code: str,
    message: Any = None,
    fields: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> ResponseReturnValue:
    text = str(message) if message else str(MESSAGES.get(status, code))
    body = {
        "error": {"code": code, "message": text, "fields": {k: str(v) for k, v in (fields or {}).items()}}
    }
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX)


def _rollback() -> None:
    """Undo whatever the refused request had flushed; nothing of it may be committed."""
    session = g.get("db_session")
    if session is not None:
        session.rollback()


def handle_api_error(e: ApiError) -> ResponseReturnValue:
    _rollback()
    return error_response(e.status, e.code, e.message, e.fields, e.headers)


def handle_refused(e: Refused) -> ResponseReturnValue:
    _rollback()
    return error_response(e.status, e.code, e.message)


def handle_evidence_error(e: EvidenceError) -> ResponseReturnValue:
    _rollback()
    return error_response(422, "invalid", None, e.fields)


def handle_http_exception(e: HTTPException) -> ResponseReturnValue:
    return handle_api_error(ApiError.from_http(e))


def handle_unexpected(e: Exception) -> ResponseReturnValue:
    if isinstance(e, HTTPException):
        return handle_http_exception(e)
    current_app.logger.exception("Unhandled error in %s %s", request.method, request.path)
    _rollback()
    return error_response(500, "internal_error")


def install_error_handlers(bp: Blueprint) -> None:
    """Every error raised in the blueprint's views and hooks answers in the JSON form.

    Handlers are registered per status code too: Flask prefers any handler for the
    exact code (even the app's HTML one) over a class handler.
    """
    bp.register_error_handler(ApiError, handle_api_error)
    bp.register_error_handler(Refused, handle_refused)
    bp.register_error_handler(EvidenceError, handle_evidence_error)
    for code in default_exceptions:
        bp.register_error_handler(code, handle_http_exception)
    bp.register_error_handler(HTTPException, handle_http_exception)
    bp.register_error_handler(Exception, handle_unexpected)


def init_app(app: Flask) -> None:
    """Unknown API addresses and wrong methods answer in JSON too, before anything else runs."""

    @app.url_value_preprocessor
    def _api_routing_errors_first(endpoint: str | None, values: dict[str, Any] | None) -> None:
        # Runs before every before_request hook (CSRF would otherwise answer 400 for
        # a POST to an unknown address). ApiError is no HTTPException, so no HTML
        # handler registered for 404 or 405 can take it over.
        exc = request.routing_exception
        if isinstance(exc, HTTPException) and (exc.code or 500) >= 400 and is_api_request():
            raise ApiError.from_http(exc)

    app.register_error_handler(ApiError, handle_api_error)
