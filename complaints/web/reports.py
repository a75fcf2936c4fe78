"""Quality reports: figures for a period as tables and charts, each table also as a CSV file.

The page and the CSV files show the same tables, built once here from
services.reports.build_report (the API returns that report as JSON).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from complaints import charts, clock, vocab
from complaints.db import get_session
from complaints.evidence import EvidenceError
from complaints.permissions import can_view_reports
from complaints.services import reports
from complaints.web import display
from complaints.workflow import STATE_LABELS

bp = Blueprint("reports", __name__, url_prefix="/reports")
# The navigation asks it whether to show the link.
bp.add_app_template_global(can_view_reports)


# --- how numbers read (the same on the page and in the CSV files) -----------------------
def _count(n: int) -> str:
    return str(n)


def _hours(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 3600:.1f}"


def _percent(fraction: float | None) -> str:
    return "" if fraction is None else f"{fraction * 100:.1f}"


def _pct(value: float) -> str:
    return f"{value:.1f}"


def _state(code: str) -> str:
    return str(STATE_LABELS.get(code, code))


def _vocab(names: Any, code: str | None) -> str:
    return "" if code is None else str(names.get(code, code))


def _when(stamp: str | None) -> str:
    return display.when(datetime.fromisoformat(stamp.removesuffix("Z"))) if stamp else ""


_NUMBER = re.compile(r"(\d+(\.\d+)?)?")


def _overview(r: dict[str, Any]) -> list[tuple[str, str]]:
    """The headline figures, as the page's first lines show them."""
    breaches = sum(b["count"] for b in r["breaches"])
    median = r["time_to_close"]["median_seconds"]
    return [
        (_("Cases opened"), _count(r["counts"]["opened"])),
        (_("Cases closed"), _count(r["counts"]["closed"])),
        (_("Cases withdrawn"), _count(r["counts"]["withdrawn"])),
        (_("Median time to close"), "—" if median is None else _("%(h)s h", h=_hours(median))),
        (_("Reopen rate"), "—" if r["reopen"]["rate"] is None else f"{_percent(r['reopen']['rate'])}%"),
        (
            _("Satisfaction rate"),
            "—" if r["satisfaction"]["rate"] is None else f"{_percent(r['satisfaction']['rate'])}%",
        ),
        (_("Time-limit breaches"), _count(breaches)),
        (_("Repeat complainants"), _count(r["repeat_complainants"]["customers"])),
    ]


# --- the tables -----------------------------------------------------------------------
@dataclass
class Table:
    name: str  # in the CSV file's address
    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""

    def is_numeric(self, column: int) -> bool:
        """A column of numbers (or blanks), aligned right on the page."""
        return column > 0 and all(_NUMBER.fullmatch(row[column]) for row in self.rows)


def _summary(r: dict[str, Any]) -> Table:
    ttc, sat = r["time_to_close"], r["satisfaction"]
    rows = [
        [_("Cases opened"), _count(r["counts"]["opened"])],
        [_("Cases closed"), _count(r["counts"]["closed"])],
        [_("Cases withdrawn"), _count(r["counts"]["withdrawn"])],
        [_("Median time to close (hours)"), _hours(ttc["median_seconds"])],
        [_("90th percentile time to close (hours)"), _hours(ttc["p90_seconds"])],
        [_("Closed cases reopened"), _count(r["reopen"]["reopened"])],
        [_("Reopen rate (%)"), _percent(r["reopen"]["rate"])],
        [_("Satisfaction answers"), _count(sat["answered"])],
        [_("Satisfaction rate (%)"), _percent(sat["rate"])],
        [_("Time-limit breaches"), _count(sum(b["count"] for b in r["breaches"]))],
        [_("Preventive actions"), _count(r["prevention"]["actions"])],
        [_("Repeat complainants"), _count(r["repeat_complainants"]["customers"])],
        [_("Cases from repeat complainants"), _count(r["repeat_complainants"]["cases"])],
        [_("Cases recurring after prevention"), _count(r["recurrence"]["recurring_cases"])],
    ]
    return Table("summary", _("Summary"), [_("Figure"), _("Value")], rows)


def _steps(r: dict[str, Any]) -> Table:
    rows = [
        [_state(x["state"]), _count(x["visits"]), _hours(x["median_seconds"]), _hours(x["p90_seconds"])]
        for x in r["step_times"]
    ]
    return Table(
        "step_times",
        _("Time in each step"),
        [_("Step"), _("Visits"), _("Median (hours)"), _("90th percentile (hours)")],
        rows,
        _(
            "A visit runs from entering a step to completing it; it counts in the period in which it "
            "ended. A case that loops back visits a step again, and each visit counts separately. "
            "Time awaiting the customer is included."
        ),
    )


def _breaches(r: dict[str, Any]) -> Table:
    rows = [[_state(x["state"]), _count(x["count"])] for x in r["breaches"]]
    return Table("breaches", _("Time-limit breaches per step"), [_("Step"), _("Breaches")], rows)


def _root_causes(r: dict[str, Any]) -> Table:
    rc = r["root_causes"]
    rows = [
        [
            _vocab(vocab.ROOT_CAUSE_CATEGORIES, x["root_cause"]),
            _count(x["count"]),
            _pct(x["percent"]),
            _pct(x["cumulative_percent"]),
        ]
        for x in rc["items"]
    ]
    return Table(
        "root_causes",
        _("Root causes (Pareto)"),
        [_("Root-cause category"), _("Cases"), _("Share (%)"), _("Cumulative (%)")],
        rows,
        _(
            "Cases opened in the period, by the root cause their analysis found. Not analysed yet: %(n)d.",
            n=rc["not_analysed"],
        ),
    )


def _prevention(r: dict[str, Any]) -> Table:
    rows = [
        [_vocab(vocab.DEPARTMENTS, x["department"]), _count(x["count"])] for x in r["prevention"]["items"]
    ]
    return Table(
        "prevention",
        _("Prevention per department"),
        [_("Department"), _("Prevent steps completed")],
        rows,
    )


def _satisfaction(r: dict[str, Any]) -> Table:
    sat = r["satisfaction"]
    rows = [[_vocab(vocab.SATISFACTION, code), _count(n)] for code, n in sat["answers"].items()]
    return Table(
        "satisfaction",
        _("Satisfaction answers"),
        [_("Answer"), _("Answers")],
        rows,
        _("The customers' answers to the satisfaction check recorded in the period."),
    )


def _scores(r: dict[str, Any]) -> Table:
    rows = [[score, _count(n)] for score, n in r["satisfaction"]["scores"].items()]
    return Table("scores", _("Satisfaction scores"), [_("Score (1-5)"), _("Answers")], rows)


def _repeaters(r: dict[str, Any]) -> Table:
    rows = [[x["name"], _count(x["cases"])] for x in r["repeat_complainants"]["items"]]
    return Table(
        "repeat_complainants",
        _("Repeat complainants"),
        [_("Customer"), _("Cases opened")],
        rows,
        _("Customers with more than one case opened in the period."),
    )


def _recurrence(r: dict[str, Any]) -> Table:
    rows = [
        [
            x["product"],
            _vocab(vocab.ROOT_CAUSE_CATEGORIES, x["root_cause"]),
            _count(x["preventions"]),
            _when(x["first_prevention_at"]),
            _when(x["latest_prevention_at"]),
            _count(x["recurring_cases"]),
            _count(x["since_latest"]),
        ]
        for x in r["recurrence"]["items"]
    ]
    return Table(
        "recurrence",
        _("Recurrence after prevention"),
        [
            _("Product"),
            _("Root-cause category"),
            _("Preventive actions"),
            _("First action"),
            _("Latest action"),
            _("New cases after the first action"),
            _("New cases after the latest action"),
        ],
        rows,
        _(
            "Cases opened in the period with the same product and root cause as an earlier case "
            "whose preventive action was recorded before them (in the period or the year before "
            "it): did the prevention work?"
        ),
    )


def _responders(r: dict[str, Any]) -> Table:
    rows = [
        [
            x["name"],
            _count(x["cases"]),
            _count(x["closed"]),
            _hours(x["median_close_seconds"]),
            _percent(x["satisfaction_rate"]),
            _count(x["breaches"]),
            _count(x["audit_findings"]),
        ]
        for x in r["responders"]
    ]
    return Table(
        "responders",
        _("Per responder"),
        [
            _("Owner"),
            _("Cases owned"),
            _("Cases closed"),
            _("Median time to close (hours)"),
            _("Satisfaction rate (%)"),
            _("Breaches"),
            _("Audit findings"),
        ],
        rows,
        _(
            "By current owner: the cases opened in the period that they own, the cases closed in the "
            "period and the median time from opening to closing, the satisfaction answers, breaches "
            "and audit findings recorded in the period."
        ),
    )


TABLES: dict[str, Callable[[dict[str, Any]], Table]] = {
    "summary": _summary,
    "step_times": _steps,
    "breaches": _breaches,
    "root_causes": _root_causes,
    "prevention": _prevention,
    "satisfaction": _satisfaction,
    "scores": _scores,
    "repeat_complainants": _repeaters,
    "recurrence": _recurrence,
    "responders": _responders,
}


# --- the charts -----------------------------------------------------------------------
def _charts(r: dict[str, Any]) -> dict[str, Markup]:
    """Only where there is something to draw; the tables carry the figures either way."""
    out: dict[str, Markup] = {}
    steps = r["step_times"]
    if any(x["visits"] for x in steps):
        labels = [_state(x["state"]) for x in steps]
        median = [None if x["median_seconds"] is None else x["median_seconds"] / 3600 for x in steps]
        p90 = [None if x["p90_seconds"] is None else x["p90_seconds"] / 3600 for x in steps]
        out["step_times"] = charts.bar_chart(
            chart_id="chart-step-times",
            title=_("Time in each step (hours)"),
            desc="; ".join(
                _(
                    "%(step)s: median %(median)s h, 90th percentile %(p90)s h",
                    step=lb,
                    median=_hours(x["median_seconds"]) or "—",
                    p90=_hours(x["p90_seconds"]) or "—",
                )
                for lb, x in zip(labels, steps, strict=True)
            ),
            labels=labels,
            series=[
                charts.Series(_("Median"), median),
                charts.Series(_("90th percentile"), p90, fill=charts.ALT, css="chart__bar chart__bar--alt"),
            ],
            value_text=lambda v: f"{v:.1f}",
        )
    breaches = r["breaches"]
    if any(x["count"] for x in breaches):
        labels = [_state(x["state"]) for x in breaches]
        out["breaches"] = charts.bar_chart(
            chart_id="chart-breaches",
            title=_("Time-limit breaches per step"),
            desc="; ".join(f"{lb}: {x['count']}" for lb, x in zip(labels, breaches, strict=True)),
            labels=labels,
            series=[charts.Series(_("Breaches"), [x["count"] for x in breaches])],
        )
    causes = r["root_causes"]["items"]
    if causes:
        labels = [_vocab(vocab.ROOT_CAUSE_CATEGORIES, x["root_cause"]) for x in causes]
        out["root_causes"] = charts.column_chart(
            chart_id="chart-root-causes",
            title=_("Root causes (Pareto)"),
            desc="; ".join(
                _(
                    "%(cause)s: %(n)d cases, %(cum)s%% cumulative",
                    cause=lb,
                    n=x["count"],
                    cum=_pct(x["cumulative_percent"]),
                )
                for lb, x in zip(labels, causes, strict=True)
            ),
            labels=labels,
            values=[x["count"] for x in causes],
            series_name=_("Cases"),
            line=[x["cumulative_percent"] for x in causes],
            line_name=_("Cumulative %"),
        )
    departments = r["prevention"]["items"]
    if any(x["count"] for x in departments):
        labels = [_vocab(vocab.DEPARTMENTS, x["department"]) for x in departments]
        out["prevention"] = charts.bar_chart(
            chart_id="chart-prevention",
            title=_("Prevention per department"),
            desc="; ".join(f"{lb}: {x['count']}" for lb, x in zip(labels, departments, strict=True)),
            labels=labels,
            series=[charts.Series(_("Prevent steps completed"), [x["count"] for x in departments])],
        )
    sat = r["satisfaction"]
    if any(sat["answers"].values()):
        labels = [_vocab(vocab.SATISFACTION, code) for code in sat["answers"]]
        out["satisfaction"] = charts.bar_chart(
            chart_id="chart-satisfaction",
            title=_("Satisfaction answers"),
            desc="; ".join(f"{lb}: {n}" for lb, n in zip(labels, sat["answers"].values(), strict=True)),
            labels=labels,
            series=[charts.Series(_("Answers"), list(sat["answers"].values()))],
        )
    if any(sat["scores"].values()):
        out["scores"] = charts.column_chart(
            chart_id="chart-scores",
            title=_("Distribution of satisfaction scores"),
            desc="; ".join(_("score %(score)s: %(n)d", score=k, n=n) for k, n in sat["scores"].items()),
            labels=list(sat["scores"]),
            values=list(sat["scores"].values()),
            series_name=_("Answers"),
        )
    return out


# --- views ----------------------------------------------------------------------------
def _tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def _today() -> date:
    return clock.now().replace(tzinfo=UTC).astimezone(_tz()).date()


def _query() -> reports.ReportQuery:
    return reports.parse_query(request.args, today=_today(), tz=_tz())


@bp.route("")
@login_required
def index() -> ResponseReturnValue:
    """The figures for the period and filters in the query string (the last 30 days by default)."""
    if not can_view_reports(current_user):
        abort(403)
    s = get_session()
    owners = reports.owner_choices(s)
    try:
        query = _query()
    except EvidenceError as e:
        return render_template(
            "reports/index.html",
            report=None,
            errors=e.fields,
            values=request.args,
            owners=owners,
            **_choices(),
        ), 422
    report = reports.build_report(s, query)
    tables = {name: build(report) for name, build in TABLES.items()}
    return render_template(
        "reports/index.html",
        report=report,
        query=query,
        tables=tables,
        charts=_charts(report),
        overview=_overview(report),
        top_repeaters=reports.TOP_REPEATERS,
        errors={},
        values=query.args(),
        owners=owners,
        **_choices(),
    )


def _choices() -> dict[str, Any]:
    return {"categories": vocab.CATEGORIES, "channels": vocab.CHANNELS}


@bp.route("/<name>.csv")
@login_required
def export_csv(name: str) -> ResponseReturnValue:
    """One table as a CSV file: UTF-8 with a byte-order mark, so spreadsheets read Chinese right."""
    if not can_view_reports(current_user):
        abort(403)
    if name not in TABLES:
        abort(404)
    try:
        query = _query()
    except EvidenceError as e:
        abort(400, description="; ".join(f"{k}: {v}" for k, v in e.fields.items()))
    s = get_session()
    report = reports.build_report(s, query)
    if name == "repeat_complainants":  # the page lists the first ones, the file all of them
        report["repeat_complainants"] = reports.repeat_complainants(s, query, limit=None)
    table = TABLES[name](report)
    filename = (
        f"complaints-{name.replace('_', '-')}-{query.first_day.isoformat()}_{query.last_day.isoformat()}.csv"
    )
    return Response(
        to_csv(table),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )


def _cell(value: str) -> str:
    """A text cell a spreadsheet would read as a formula is written as text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(table: Table) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(table.headers)
    for row in table.rows:
        writer.writerow([_cell(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
