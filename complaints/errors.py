"""Domain refusals, each with the code and HTTP status the API and pages report."""

from __future__ import annotations


class Refused(Exception):
    status = 409
    code = "conflict"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class Forbidden(Refused):
    status = 403
    code = "forbidden"


class NotFound(Refused):
    status = 404
    code = "not_found"


class Conflict(Refused):
    status = 409
    code = "conflict"


class AlreadyOwned(Conflict):
    code = "already_owned"


class Stale(Conflict):
    code = "stale"
