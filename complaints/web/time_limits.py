"""Quality managers' settings page: the time limit of each state and the working calendar.

One shape: permission (403) → validate (complaints/time_limits.py, the one check) → service
(services/deadlines.py stores the settings) → commit → flash and redirect.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select
from wtforms import SelectMultipleField, StringField, TextAreaField
from wtforms.widgets import CheckboxInput, ListWidget, TimeInput

from complaints import clock
from complaints.db import get_session
from complaints.evidence import EvidenceError
from complaints.models import Case, User
from complaints.permissions import can_edit_settings
from complaints.services import deadlines
from complaints.time_limits import (
    DEFAULT_LIMITS,
    LIMIT_LABELS,
    LIMITED_STATES,
    WEEKDAYS,
    TimePolicy,
    parse_calendar,
    parse_limits,
)
from complaints.web import display
from complaints.web.forms import StrictForm, option
from complaints.web.helpers import bind

bp = Blueprint("time_limits", __name__, url_prefix="/quality/time-limits")
bp.add_app_template_global(can_edit_settings)


@bp.app_template_global()
def overdue_cases(cases: list[Case], now: datetime) -> list[Case]:
    """The cases of a list that are past their deadline (home page: "N overdue")."""
    return [c for c in cases if display.is_overdue(c, now)]


def limit_field(state: str) -> str:
    return f"limit_{state}"


@cache
def settings_form_class() -> type[StrictForm]:
    """One text field per state's limit, and the calendar's fields."""
    attrs: dict[str, Any] = {
        limit_field(state): StringField(LIMIT_LABELS[state], render_kw={"maxlength": 40})
        for state in LIMITED_STATES
    }
    attrs["workdays"] = SelectMultipleField(
        _l("Working days"),
        choices=[option(str(n), label) for n, label in WEEKDAYS.items()],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validate_choice=False,
    )
    attrs["start"] = StringField(_l("Opens at"), widget=TimeInput())
    attrs["end"] = StringField(_l("Closes at"), widget=TimeInput())
    attrs["holidays"] = TextAreaField(_l("Holidays"), render_kw={"rows": 4})
    attrs["extra_workdays"] = TextAreaField(_l("Extra working days"), render_kw={"rows": 3})
    return type("TimeLimitsForm", (StrictForm,), attrs)


def _initial(policy: TimePolicy) -> dict[str, Any]:
    cal = policy.calendar
    data: dict[str, Any] = {limit_field(st): policy.limits[st].format() for st in LIMITED_STATES}
    data.update(
        workdays=[str(d) for d in sorted(cal.workdays)],
        start=cal.start.strftime("%H:%M"),
        end=cal.end.strftime("%H:%M"),
        holidays="\n".join(_ranges(sorted(cal.holidays))),
        extra_workdays="\n".join(_ranges(sorted(cal.extra_workdays))),
    )
    return data


def _ranges(days: list[Any]) -> list[str]:
    """Consecutive dates as one range (2026-10-01..2026-10-07), as they are typed."""
    out: list[str] = []
    i = 0
    while i < len(days):
        j = i
        while j + 1 < len(days) and (days[j + 1] - days[j]).days == 1:
            j += 1
        out.append(days[i].isoformat() if i == j else f"{days[i].isoformat()}..{days[j].isoformat()}")
        i = j + 1
    return out


def _render(form: StrictForm, errors: dict[str, str], status: int = 200) -> ResponseReturnValue:
    s = get_session()
    meta = deadlines.settings_meta(s)
    editors = {row.updated_by_id for row in meta.values() if row.updated_by_id}
    names = dict(s.execute(select(User.id, User.name).where(User.id.in_(editors))).all()) if editors else {}
    html = render_template(
        "quality/time_limits.html",
        form=form,
        errors=errors,
        states=LIMITED_STATES,
        limit_field=limit_field,
        defaults=DEFAULT_LIMITS,
        timezone=current_app.config["BABEL_DEFAULT_TIMEZONE"],
        changes=[
            (row, names.get(row.updated_by_id, "?"))
            for key, row in sorted(meta.items())
            if key in (deadlines.LIMITS_KEY, deadlines.CALENDAR_KEY)
        ],
    )
    return html, status


@bp.route("", methods=["GET"])
@login_required
def edit() -> ResponseReturnValue:
    if not can_edit_settings(current_user):
        abort(403)
    policy = deadlines.policy(get_session())
    return _render(settings_form_class()(formdata=None, data=_initial(policy)), {})


@bp.route("", methods=["POST"])
@login_required
def save() -> ResponseReturnValue:
    if not can_edit_settings(current_user):
        abort(403)
    form = bind(settings_form_class())
    errors: dict[str, str] = {}
    try:
        limits = parse_limits({st: form[limit_field(st)].data for st in LIMITED_STATES})
    except EvidenceError as e:
        errors.update({limit_field(k): v for k, v in e.fields.items()})
    try:
        calendar = parse_calendar(
            {
                "workdays": form.workdays.data or [],
                "start": form.start.data,
                "end": form.end.data,
                "holidays": form.holidays.data,
                "extra_workdays": form.extra_workdays.data,
            },
            current_app.config["BABEL_DEFAULT_TIMEZONE"],
        )
    except EvidenceError as e:
        errors.update(e.fields)
    if errors:
        return _render(form, errors, 422)
    s = get_session()
    actor = current_user._get_current_object()
    now = clock.now()
    deadlines.save_time_limits(s, actor, limits, now)
    deadlines.save_calendar(s, actor, calendar, now)
    s.commit()
    flash(
        _("Time limits and working calendar saved. They apply to every state entered from now on."), "success"
    )
    return redirect(url_for("time_limits.edit"))
