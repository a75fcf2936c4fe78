"""THE time limits of a case's states (SPEC §2) and how they become due dates.

The one definition of the defaults. Quality managers override them, and the working
calendar, in the settings (services/deadlines.py stores them); everything here is pure.

Defaults, and why each counts business or calendar time (the working calendar defaults to
Monday-Friday 09:00-18:00 in the deployment's time zone, ``BABEL_DEFAULT_TIMEZONE``):

===========  ============  ===================================================================
state        default       meaning
===========  ============  ===================================================================
new (claim)  ``4h``        4 working hours: a case opened at 17:00 on Friday is due at 12:00
                           on Monday, not in the middle of the weekend.
apologise    ``2h``        2 working hours.
listen       ``1d``        "24 h": one working day, due at the same clock time on the next
confirm      ``1d``        working day (24 *working* hours would be almost three days on a
analyse      ``3d``        9-hour calendar). "72 h" = 3 working days, "48 h" = 2.
agree        ``2d``
act          agreed date   until the end of the date agreed with the customer, in the
                           deployment's time zone (not configurable: the customer set it).
prevent      ``14d calendar``  two calendar weeks: routing a preventive action to a department
verify       ``7d calendar``   and the customer's follow-up run on calendar time (the
                           follow-up window for "no response" is calendar time too).
===========  ============  ===================================================================

A limit is text: ``4h``/``90m`` (working time), ``2d`` (working days), or either with
``calendar`` (plain time, weekends included): ``24h calendar``, ``14d calendar``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from complaints.calendar import Pause, TimeLimit, WorkingCalendar, deadline_with_pauses
from complaints.evidence import EvidenceError

# The states whose target duration is configurable; "act" runs until the agreed date.
LIMITED_STATES = ("new", "apologise", "listen", "confirm", "analyse", "agree", "prevent", "verify")

DEFAULT_LIMITS: dict[str, TimeLimit] = {
    "new": TimeLimit.hours(4),
    "apologise": TimeLimit.hours(2),
    "listen": TimeLimit.days(1),
    "confirm": TimeLimit.days(1),
    "analyse": TimeLimit.days(3),
    "agree": TimeLimit.days(2),
    "prevent": TimeLimit.days(14, business=False),
    "verify": TimeLimit.days(7, business=False),
}

LIMIT_LABELS = {
    "new": _l("Claim (a new case)"),
    "apologise": _l("Apologise"),
    "listen": _l("Listen"),
    "confirm": _l("Confirm"),
    "analyse": _l("Analyse"),
    "agree": _l("Agree"),
    "prevent": _l("Prevent"),
    "verify": _l("Verify satisfaction"),
}

WEEKDAYS = {
    1: _l("Monday"),
    2: _l("Tuesday"),
    3: _l("Wednesday"),
    4: _l("Thursday"),
    5: _l("Friday"),
    6: _l("Saturday"),
    7: _l("Sunday"),
}

CALENDAR_FIELDS = ("workdays", "start", "end", "holidays", "extra_workdays")


@dataclass(frozen=True)
class TimePolicy:
    """The limits in force and the calendar they count on."""

    limits: Mapping[str, TimeLimit] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)

    def limit(self, state: str) -> TimeLimit | None:
        return self.limits.get(state)

    def due(
        self,
        state: str,
        started: datetime,
        pauses: Iterable[Pause] = (),
        *,
        agreed: date | str | None = None,
    ) -> datetime | None:
        """When the clock of a state entered at ``started`` runs out (naive UTC); None when the
        state has no limit or the clock is paused with time left."""
        if state == "act":
            return self.end_of_day(agreed) if agreed else None
        limit = self.limit(state)
        if limit is None:
            return None
        return deadline_with_pauses(started, limit, pauses, self.calendar)

    def end_of_day(self, day: date | str) -> datetime:
        """The end of a local date (midnight after it) where the deployment is, as naive UTC."""
        if isinstance(day, str):
            day = date.fromisoformat(day)
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=self.calendar.tz)
        return end.astimezone(UTC).replace(tzinfo=None)


def policy_from_settings(
    limits: Mapping[str, Any] | None, calendar: Mapping[str, Any] | None, timezone: str
) -> TimePolicy:
    """The policy from stored settings (JSON), the defaults where nothing (valid) is stored."""
    merged = dict(DEFAULT_LIMITS)
    for state, value in (limits or {}).items():
        if state in merged:
            # Validated when saved; a bad row never stops the clock.
            with suppress(ValueError):
                merged[state] = TimeLimit.parse(value)
    try:
        cal = WorkingCalendar.from_config({**_calendar_keys(calendar), "timezone": timezone})
    except ValueError:
        cal = WorkingCalendar.from_config({"timezone": timezone})
    return TimePolicy(merged, cal)


def _calendar_keys(calendar: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (calendar or {}).items() if k in CALENDAR_FIELDS}


def limits_to_setting(limits: Mapping[str, TimeLimit]) -> dict[str, Any]:
    return {state: limits[state].to_dict() for state in LIMITED_STATES if state in limits}


def calendar_to_setting(calendar: WorkingCalendar) -> dict[str, Any]:
    """Stored without the time zone: the calendar is always the deployment's."""
    return _calendar_keys(calendar.to_dict())


# --- validation: the one check, for the settings page and any other caller --------------
def parse_limits(data: Mapping[str, Any]) -> dict[str, TimeLimit]:
    """Every configurable state's limit ("4h", "2d", "14d calendar" or the JSON form)."""
    errors: dict[str, str] = {}
    out: dict[str, TimeLimit] = {}
    for key in data:
        if key not in LIMITED_STATES:
            errors[key] = _("Unknown field.")
    for state in LIMITED_STATES:
        raw = data.get(state)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            errors[state] = _("Give a time limit, such as 4h, 2d or 14d calendar.")
            continue
        try:
            limit = TimeLimit.parse(raw)
        except ValueError as e:
            errors[state] = str(e)
            continue
        if not limit.amount:
            errors[state] = _("A time limit must be longer than zero.")
            continue
        out[state] = limit
    if errors:
        raise EvidenceError(errors)
    return out


def _lines(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.replace(",", "\n").splitlines() if part.strip()]
    if isinstance(value, Iterable):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value)]


def parse_calendar(data: Mapping[str, Any], timezone: str) -> WorkingCalendar:
    """The working calendar: working days (1 = Monday … 7 = Sunday), opening and closing
    times, holidays and extra working days (dates or ranges YYYY-MM-DD..YYYY-MM-DD, one per
    line or comma-separated)."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for key in data:
        if key not in CALENDAR_FIELDS:
            errors[key] = _("Unknown field.")
    days: set[int] = set()
    for item in _lines(data.get("workdays")):
        if not item.isdigit() or not 1 <= int(item) <= 7:
            errors["workdays"] = _("Working days are weekdays 1 (Monday) to 7 (Sunday).")
            break
        days.add(int(item))
    else:
        if not days:
            errors["workdays"] = _("Choose at least one working day.")
    clean["workdays"] = sorted(days)
    for key in ("start", "end"):
        raw = str(data.get(key) or "").strip()
        try:
            parsed = time.fromisoformat(raw)
        except ValueError:
            errors[key] = _("Give a time such as 09:00.")
            continue
        if parsed.tzinfo is not None:
            errors[key] = _("Give a local time such as 09:00, without an offset.")
            continue
        clean[key] = raw
    for key in ("holidays", "extra_workdays"):
        try:
            WorkingCalendar.from_config({key: _lines(data.get(key))})
            clean[key] = _lines(data.get(key))
        except ValueError as e:
            errors[key] = str(e)
    if errors:
        raise EvidenceError(errors)
    try:
        return WorkingCalendar.from_config({**clean, "timezone": timezone})
    except ValueError as e:
        # What only the whole calendar can tell: hours out of order, a date in both lists.
        start, end = time.fromisoformat(clean["start"]), time.fromisoformat(clean["end"])
        raise EvidenceError({"end" if start >= end else "extra_workdays": str(e)}) from None
