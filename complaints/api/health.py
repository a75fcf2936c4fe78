"""``GET /healthz`` for load balancers: no login, 200 while the database answers, 503 when not."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from complaints.db import get_session

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    try:
        get_session().execute(text("SELECT 1"))
        status, code = "ok", 200
    except (SQLAlchemyError, OSError):
        current_app.logger.warning("Health check: the database does not answer.", exc_info=True)
        session = g.pop("db_session", None)
        if session is not None:
            session.close()
        status, code = "unavailable", 503
    response = jsonify({"status": status})
    response.status_code = code
    response.headers["Cache-Control"] = "no-store"
    return response
