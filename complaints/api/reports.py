"""The quality report as JSON: the same figures as the reports page and its CSV files.

One view, one shape: permission or 403 -> validate the query (422) -> build -> serialize.
The OpenAPI section at the end describes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, current_app, jsonify, request
from flask_babel import gettext as _

from complaints import clock, permissions, vocab
from complaints.api import bp
from complaints.api.auth import api_user
from complaints.api.openapi import Document, Schema, query, section
from complaints.db import get_session
from complaints.errors import Forbidden
from complaints.services import reports
from complaints.workflow import STATES


@bp.get("/reports/summary")
def report_summary() -> Response:
    """Every figure of the quality report for a period [from, to) and filters."""
    if not permissions.can_view_reports(api_user()):
        raise Forbidden(_("Only quality managers see reports."))
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    today = clock.now().replace(tzinfo=UTC).astimezone(tz).date()
    q = reports.parse_query(request.args, today=today, tz=tz)
    return jsonify(reports.build_report(get_session(), q))


# --- OpenAPI -----------------------------------------------------------------------------
def _obj(properties: Mapping[str, Schema], required: Iterable[str] | None = None, **extra: Any) -> Schema:
    """A closed object whose properties are all present (the report always has every key)."""
    return {
        "type": "object",
        "properties": dict(properties),
        "required": list(properties) if required is None else list(required),
        "additionalProperties": False,
        **extra,
    }


COUNT: Schema = {"type": "integer", "minimum": 0}
SECONDS: Schema = {
    "type": ["number", "null"],
    "minimum": 0,
    "description": "Seconds; null when nothing to measure.",
}
RATE: Schema = {
    "type": ["number", "null"],
    "minimum": 0,
    "maximum": 1,
    "description": "A fraction; null when 0 / 0.",
}
STAMP: Schema = {"type": ["string", "null"], "format": "date-time"}


def _enum(values: Iterable[str]) -> Schema:
    return {"type": "string", "enum": list(values)}


@section
def _reports(doc: Document) -> None:
    doc.tag("reports", "Quality managers: figures over a period, as on the reports page.")
    day = {"type": "string", "format": "date"}
    summary = _obj(
        {
            "period": _obj(
                {
                    "from": {**day, "description": "The first day (local date)."},
                    "to": {**day, "description": "The day after the last one (not included)."},
                    "timezone": {"type": "string"},
                    "start": {"type": "string", "format": "date-time", "description": "`from`, in UTC."},
                    "end": {"type": "string", "format": "date-time", "description": "`to`, in UTC."},
                }
            ),
            "filters": _obj(
                {
                    "category": {"type": ["string", "null"]},
                    "product": {"type": ["string", "null"]},
                    "channel": {"type": ["string", "null"]},
                    "owner": {"type": ["integer", "null"]},
                }
            ),
            "counts": _obj({"opened": COUNT, "closed": COUNT, "withdrawn": COUNT}),
            "time_to_close": _obj({"cases": COUNT, "median_seconds": SECONDS, "p90_seconds": SECONDS}),
            "reopen": _obj({"closed": COUNT, "reopened": COUNT, "rate": RATE}),
            "step_times": {
                "type": "array",
                "description": "One row per state, in workflow order: a visit is one stay in the state.",
                "items": _obj(
                    {
                        "state": _enum(reports.TIMED_STATES),
                        "visits": COUNT,
                        "median_seconds": SECONDS,
                        "p90_seconds": SECONDS,
                    }
                ),
            },
            "breaches": {
                "type": "array",
                "items": _obj({"state": _enum(STATES), "count": COUNT}),
            },
            "root_causes": _obj(
                {
                    "analysed": COUNT,
                    "not_analysed": COUNT,
                    "items": {
                        "type": "array",
                        "description": "Most frequent first (Pareto order).",
                        "items": _obj(
                            {
                                "root_cause": _enum(vocab.ROOT_CAUSE_CATEGORIES),
                                "count": COUNT,
                                "percent": {"type": "number"},
                                "cumulative_percent": {"type": "number"},
                            }
                        ),
                    },
                }
            ),
            "prevention": _obj(
                {
                    "actions": {**COUNT, "description": "Prevent steps routed to a department."},
                    "no_systemic_cause": COUNT,
                    "items": {
                        "type": "array",
                        "items": _obj({"department": _enum(vocab.DEPARTMENTS), "count": COUNT}),
                    },
                }
            ),
            "satisfaction": _obj(
                {
                    "answers": _obj({k: COUNT for k in vocab.SATISFACTION}),
                    "scores": _obj({str(k): COUNT for k in reports.SCORES}),
                    "answered": COUNT,
                    "rate": RATE,
                }
            ),
            "repeat_complainants": _obj(
                {
                    "customers": COUNT,
                    "cases": COUNT,
                    "items": {
                        "type": "array",
                        "description": f"The {reports.TOP_REPEATERS} customers with most cases.",
                        "items": _obj(
                            {"customer_id": {"type": "integer"}, "name": {"type": "string"}, "cases": COUNT}
                        ),
                    },
                }
            ),
            "recurrence": _obj(
                {
                    "recurring_cases": COUNT,
                    "items": {
                        "type": "array",
                        "items": _obj(
                            {
                                "product": {"type": "string"},
                                "root_cause": _enum(vocab.ROOT_CAUSE_CATEGORIES),
                                "preventions": COUNT,
                                "first_prevention_at": STAMP,
                                "latest_prevention_at": STAMP,
                                "recurring_cases": COUNT,
                                "since_latest": COUNT,
                            }
                        ),
                    },
                }
            ),
            "responders": {
                "type": "array",
                "items": _obj(
                    {
                        "user_id": {"type": "integer"},
                        "name": {"type": "string"},
                        "cases": COUNT,
                        "closed": COUNT,
                        "median_close_seconds": SECONDS,
                        "satisfied": COUNT,
                        "answered": COUNT,
                        "satisfaction_rate": RATE,
                        "breaches": COUNT,
                        "audit_findings": COUNT,
                    }
                ),
            },
        }
    )
    doc.schema("ReportSummary", summary)
    doc.operation(
        "get",
        "/api/v1/reports/summary",
        operation_id="reportSummary",
        summary="The quality report for a period (quality managers).",
        description=(
            "Cases opened, closed and withdrawn; time in each step (median and 90th percentile); "
            "breaches per step; root-cause Pareto; prevention per department; satisfaction; reopen "
            "rate; repeat complainants; recurrence after prevention; per-responder figures. "
            "The period is [from, to) in local dates; by default the last 30 days."
        ),
        tag="reports",
        parameters=[
            query("from", day, "The first day of the period (default: 29 days before today)."),
            query("to", day, "The day after the period; not included (default: tomorrow)."),
            query("category", _enum(vocab.CATEGORIES), "Only cases of this category."),
            query(
                "product", {"type": "string", "maxLength": 200}, "Only cases of this product (exact name)."
            ),
            query("channel", _enum(vocab.CHANNELS), "Only cases that came in through this channel."),
            query("owner", {"type": "integer", "minimum": 1}, "Only cases owned by this user id."),
        ],
        responses={200: "ReportSummary"},
        errors=[403, 422],
    )
