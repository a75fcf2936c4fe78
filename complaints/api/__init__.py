"""The JSON API, version 1: bearer tokens, JSON errors, keyset pages, an OpenAPI document.

Modules add their views to ``bp`` (cases.py, openapi.py; later issues add theirs the
same way, and describe them with openapi.py's ``@section``).
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# The views register themselves on bp, so they are imported once it exists.
from complaints.api import (  # noqa: E402, F401
    auth,
    cases,
    customer,
    errors,
    health,
    openapi,
    quality,
    remedies,
    reports,
    updates,
)

errors.install_error_handlers(bp)
bp.before_request(auth.authenticate)


@bp.after_request
def _no_store(response: Response) -> Response:
    """Case data is personal: no shared cache keeps it."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def register_api(app: Flask) -> None:
    """The API (bearer tokens, no cookies, hence no CSRF) and the health check."""
    from complaints.auth import csrf

    csrf.exempt(bp)
    errors.init_app(app)
    app.register_blueprint(bp)
    app.register_blueprint(health.bp)
