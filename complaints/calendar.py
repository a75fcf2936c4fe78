"""Deadline arithmetic on a working calendar, with clock pauses: pure, no database, no app context.

Conventions (the whole module keeps them):

* Every datetime going in or out is **naive UTC**, as the app stores it. Working hours,
  weekdays and holidays are interpreted in the calendar's time zone; the arithmetic itself
  runs on UTC instants, so a working day that spans a DST change lasts its real length. A
  wall time the clocks skip means the moment they jump; one they repeat, its first occurrence.
* Working hours are half-open, ``[start, end)``: at 18:00 sharp the office is closed. A start
  outside working hours begins at the next working moment.
* A due date is the **earliest instant** at which the limit is used up, so a limit that ends
  exactly at closing time is due at 18:00 that day, not at 09:00 the next working day.
* ``TimeLimit`` interpretation (business limits):
    - given in hours/minutes (``"4h"``, ``"90m"``): that much *working time*; ``"24h"`` is 24
      working hours, i.e. 2 working days and 6 hours on a 09:00-18:00 calendar, not one day;
    - given in days (``"2d"``): whole *working days*; the limit ends at the same working-clock
      time that many working days after the first working moment (Fri 17:00 + 1d = Mon 17:00;
      a case opened on Saturday with 1d is due Monday 18:00).
  Calendar limits (``"14d calendar"``, ``"24h calendar"``) are a plain timedelta added to the
  UTC instant; they ignore hours, weekends and holidays (and 1 calendar day is always 24 h).
* Pauses (awaiting the customer) are ``(paused_at, resumed_at or None)`` intervals; time
  inside a pause does not count, and an open pause stops the clock with no due date.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import gettext as _

from complaints.config import Config

__all__ = [
    "DEFAULT_TIMEZONE",
    "MAX_LIMIT",
    "Pause",
    "TimeLimit",
    "WorkingCalendar",
    "add_business_time",
    "business_time_between",
    "deadline_with_pauses",
    "elapsed_working_time",
    "is_overdue",
    "next_working_moment",
    "time_left",
]

DEFAULT_TIMEZONE: str = Config.BABEL_DEFAULT_TIMEZONE
MONDAY_TO_FRIDAY = frozenset({1, 2, 3, 4, 5})
# The longest limit a setting may hold; keeps every computation to a few hundred days.
MAX_LIMIT = timedelta(days=366)
_ZERO = timedelta(0)
_TICK = timedelta(microseconds=1)

# (paused_at, resumed_at); resumed_at None while the case is still paused.
Pause = tuple[datetime, datetime | None]
_Interval = tuple[datetime, datetime]


def _default_tz() -> ZoneInfo:
    return ZoneInfo(DEFAULT_TIMEZONE)


@dataclass(frozen=True)
class WorkingCalendar:
    """When the clock runs for business-time limits; immutable and hashable.

    ``workdays`` are ISO weekday numbers (1 = Monday ... 7 = Sunday). ``holidays`` are dates
    off even when they fall on a workday; ``extra_workdays`` are dates worked even when they
    fall on a weekend (China's 调休 make-up days). A date may not be in both.
    """

    tz: ZoneInfo = field(default_factory=_default_tz)
    workdays: frozenset[int] = MONDAY_TO_FRIDAY
    start: time = time(9, 0)
    end: time = time(18, 0)
    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        tz = self.tz
        if isinstance(tz, str):
            tz = _zone(tz)
        if not isinstance(tz, ZoneInfo):
            raise ValueError("tz must be a zoneinfo.ZoneInfo.")
        workdays = frozenset(self.workdays)
        if not workdays or not all(isinstance(d, int) and 1 <= d <= 7 for d in workdays):
            raise ValueError(_("Working days must be at least one weekday, 1 (Monday) to 7 (Sunday)."))
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, time) or value.tzinfo is not None:
                raise ValueError(f"{name} must be a naive datetime.time.")
        if self.start >= self.end:
            raise ValueError(_("Working hours must start before they end, on the same day."))
        holidays = _date_set(self.holidays, "holidays")
        extra = _date_set(self.extra_workdays, "extra_workdays")
        both = holidays & extra
        if both:
            raise ValueError(
                _("%(date)s cannot be both a holiday and an extra working day.", date=min(both).isoformat())
            )
        object.__setattr__(self, "tz", tz)
        object.__setattr__(self, "workdays", workdays)
        object.__setattr__(self, "start", self.start.replace(fold=0))
        object.__setattr__(self, "end", self.end.replace(fold=0))
        object.__setattr__(self, "holidays", holidays)
        object.__setattr__(self, "extra_workdays", extra)

    def is_working_day(self, day: date) -> bool:
        """Whether the office works on this local date at all."""
        if day in self.holidays:
            return False
        return day.isoweekday() in self.workdays or day in self.extra_workdays

    @classmethod
    def from_config(cls, mapping: Mapping[str, Any] | None = None) -> WorkingCalendar:
        """Build from the JSON form of :meth:`to_dict`; missing keys take the defaults.

        Keys: ``timezone`` ("Asia/Shanghai"), ``workdays`` ([1, 2, 3, 4, 5]), ``start``
        ("09:00"), ``end`` ("18:00"), ``holidays`` and ``extra_workdays`` (lists of
        "YYYY-MM-DD" or inclusive ranges "YYYY-MM-DD..YYYY-MM-DD"). Raises ValueError.
        """
        data = dict(mapping or {})
        unknown = set(data) - {"timezone", "workdays", "start", "end", "holidays", "extra_workdays"}
        if unknown:
            raise ValueError(_("Unknown calendar setting: %(name)s.", name=sorted(unknown)[0]))
        kwargs: dict[str, Any] = {}
        if "timezone" in data:
            kwargs["tz"] = _zone(data["timezone"])
        if "workdays" in data:
            days = data["workdays"]
            if isinstance(days, str | bytes) or not isinstance(days, Iterable):
                raise ValueError(
                    _("Working days must be a list of weekday numbers, 1 (Monday) to 7 (Sunday).")
                )
            if not all(isinstance(d, int) and not isinstance(d, bool) for d in days):
                raise ValueError(
                    _("Working days must be a list of weekday numbers, 1 (Monday) to 7 (Sunday).")
                )
            kwargs["workdays"] = frozenset(days)
        for key in ("start", "end"):
            if key in data:
                kwargs[key] = _parse_time(data[key])
        for key in ("holidays", "extra_workdays"):
            if key in data:
                kwargs[key] = _parse_dates(data[key])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe form :meth:`from_config` reads back to an equal calendar."""
        return {
            "timezone": self.tz.key,
            "workdays": sorted(self.workdays),
            "start": _format_time(self.start),
            "end": _format_time(self.end),
            "holidays": [d.isoformat() for d in sorted(self.holidays)],
            "extra_workdays": [d.isoformat() for d in sorted(self.extra_workdays)],
        }


@dataclass(frozen=True)
class TimeLimit:
    """A target duration: business (on the working calendar) or calendar (plain) time.

    ``unit`` says how it was given, which matters for business limits: ``"hours"`` counts
    working time, ``"days"`` counts whole working days (see the module docstring). The
    amount is whole seconds; a days limit is whole days.
    """

    amount: timedelta
    business: bool = True
    unit: Literal["hours", "days"] = "hours"

    def __post_init__(self) -> None:
        if not isinstance(self.amount, timedelta):
            raise ValueError("amount must be a timedelta.")
        if self.amount < _ZERO:
            raise ValueError(_("A time limit cannot be negative."))
        if self.unit not in ("hours", "days"):
            raise ValueError("unit must be 'hours' or 'days'.")
        if self.amount > MAX_LIMIT:
            raise ValueError(_("A time limit can be at most %(days)d days.", days=MAX_LIMIT.days))
        if self.amount % timedelta(seconds=1):
            raise ValueError(_("A time limit is a whole number of seconds."))
        if self.unit == "days" and self.amount % timedelta(days=1):
            raise ValueError(_("A limit in days is a whole number of days."))

    @classmethod
    def hours(cls, hours: float, *, business: bool = True) -> TimeLimit:
        """``TimeLimit.hours(4)``: four working hours (or plain hours with business=False)."""
        return cls(timedelta(seconds=round(hours * 3600)), business, "hours")

    @classmethod
    def days(cls, days: int, *, business: bool = True) -> TimeLimit:
        """``TimeLimit.days(2)``: two working days (or plain days with business=False)."""
        return cls(timedelta(days=days), business, "days")

    @classmethod
    def parse(cls, value: str | Mapping[str, Any] | TimeLimit) -> TimeLimit:
        """Read the text form ("4h", "1h30m", "1.5 hours", "2d", "14d calendar") or the JSON form.

        Text: an amount in days, or in hours/minutes/seconds, optionally followed by
        "calendar" (plain time) or "business"/"working" (the default). Raises ValueError.
        """
        if isinstance(value, TimeLimit):
            return value
        if isinstance(value, Mapping):
            try:
                return cls._from_mapping(value)
            except OverflowError:
                raise ValueError(
                    _("A time limit can be at most %(days)d days.", days=MAX_LIMIT.days)
                ) from None
        if not isinstance(value, str):
            raise ValueError(_("A time limit is text such as 4h or 2d."))
        try:
            return cls._from_text(value)
        except OverflowError:
            raise ValueError(_("A time limit can be at most %(days)d days.", days=MAX_LIMIT.days)) from None

    @classmethod
    def _from_text(cls, text: str) -> TimeLimit:
        words = text.strip().lower().split()
        kinds = {w for w in words if w in _KIND_WORDS}
        if len(kinds) > 1 and "calendar" in kinds:
            raise ValueError(_("A time limit is either calendar or business time, not both."))
        business = "calendar" not in kinds
        body = "".join(w for w in words if w not in _KIND_WORDS)
        match = _DAYS_RE.fullmatch(body)
        if match:
            days = float(match["n"])
            if not days.is_integer():
                raise ValueError(
                    _("A limit in days is a whole number of days; use hours for parts of a day.")
                )
            return cls.days(int(days), business=business)
        parts = _PART_RE.findall(body) if body else []
        if not parts or "".join(n + u for n, u in parts) != body:
            raise ValueError(_("Not a time limit: %(text)s. Examples: 4h, 90m, 2d, 14d calendar.", text=text))
        seen: set[str] = set()
        seconds = 0.0
        for number, unit in parts:
            kind = _UNIT_SECONDS_KEY[unit]
            if kind in seen:
                raise ValueError(
                    _("Not a time limit: %(text)s. Examples: 4h, 90m, 2d, 14d calendar.", text=text)
                )
            seen.add(kind)
            seconds += float(number) * _SECONDS[kind]
        return cls(timedelta(seconds=round(seconds)), business, "hours")

    @classmethod
    def _from_mapping(cls, data: Mapping[str, Any]) -> TimeLimit:
        unknown = set(data) - {"value", "unit", "business"}
        if unknown or "value" not in data or "unit" not in data:
            raise ValueError(_("A time limit needs a value and a unit (days, hours, minutes or seconds)."))
        value, unit, business = data["value"], data["unit"], data.get("business", True)
        if isinstance(value, bool) or not isinstance(value, int | float) or not isinstance(business, bool):
            raise ValueError(_("A time limit needs a number and a yes/no business-time flag."))
        if unit == "days":
            if not float(value).is_integer():
                raise ValueError(_("A limit in days is a whole number of days."))
            return cls.days(int(value), business=business)
        if unit not in _SECONDS:
            raise ValueError(_("Unknown time limit unit: %(unit)s.", unit=str(unit)))
        return cls(timedelta(seconds=round(value * _SECONDS[unit])), business, "hours")

    def to_dict(self) -> dict[str, Any]:
        """Exact JSON form, in the largest unit that divides the amount."""
        seconds = int(self.amount.total_seconds())
        if self.unit == "days":
            return {"value": self.amount.days, "unit": "days", "business": self.business}
        for unit in ("hours", "minutes", "seconds"):
            if seconds % _SECONDS[unit] == 0:
                return {"value": seconds // _SECONDS[unit], "unit": unit, "business": self.business}
        raise AssertionError("unreachable: amounts are whole seconds")  # pragma: no cover

    def format(self) -> str:
        """Short text that :meth:`parse` reads back: "4h", "1h30m", "2d", "14d calendar"."""
        if self.unit == "days":
            text = f"{self.amount.days}d"
        else:
            seconds = int(self.amount.total_seconds())
            hours, rest = divmod(seconds, 3600)
            minutes, secs = divmod(rest, 60)
            pieces = [f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
            text = "".join(pieces) or "0h"
        return text if self.business else f"{text} calendar"

    def __str__(self) -> str:
        return self.format()


_KIND_WORDS = {"calendar", "business", "working"}
_DAYS_RE = re.compile(r"(?P<n>\d+(?:\.\d+)?)(?:d|day|days)")
_PART_RE = re.compile(
    r"(\d+(?:\.\d+)?)(hours|hour|hrs|hr|h|minutes|minute|mins|min|m|seconds|second|secs|sec|s)"
)
_SECONDS = {"hours": 3600, "minutes": 60, "seconds": 1}
_UNIT_SECONDS_KEY = {
    **dict.fromkeys(("hours", "hour", "hrs", "hr", "h"), "hours"),
    **dict.fromkeys(("minutes", "minute", "mins", "min", "m"), "minutes"),
    **dict.fromkeys(("seconds", "second", "secs", "sec", "s"), "seconds"),
}


# --- public arithmetic --------------------------------------------------------------------


def next_working_moment(at: datetime, calendar: WorkingCalendar) -> datetime:
    """The first instant at or after ``at`` inside working hours (``at`` itself if working)."""
    _check_naive(at)
    return next(_working_intervals(at, calendar))[0]


def add_business_time(start: datetime, limit: TimeLimit | timedelta, calendar: WorkingCalendar) -> datetime:
    """When ``limit`` runs out for a clock started at ``start`` (a bare timedelta is working time)."""
    due = deadline_with_pauses(start, limit, (), calendar)
    assert due is not None  # only an open pause can leave a clock without a due date
    return due


def business_time_between(a: datetime, b: datetime, calendar: WorkingCalendar) -> timedelta:
    """Working time from ``a`` to ``b``; negative when ``b`` is before ``a``."""
    _check_naive(a)
    _check_naive(b)
    if b < a:
        return -business_time_between(b, a, calendar)
    return _measure(_working_intervals(a, calendar), b)


def deadline_with_pauses(
    start: datetime,
    limit: TimeLimit | timedelta,
    pauses: Iterable[Pause],
    calendar: WorkingCalendar,
    now: datetime | None = None,
) -> datetime | None:
    """The due date of a clock started at ``start``, not counting time inside ``pauses``.

    Returns None while the clock is stopped: a pause is still open and the limit had not run
    out before it began (a case already overdue when it was paused keeps its past due date).
    With ``now``, the answer is as known at ``now``: pauses starting after it are ignored and
    one resuming after it is still open. ``calendar`` is ignored for calendar-time limits.
    """
    _check_naive(start)
    merged = _merge_pauses(start, pauses, now)
    target, business = _resolve(start, limit, calendar)
    intervals = _working_intervals(start, calendar if business else None)
    return _advance(_minus(intervals, merged), target)


def elapsed_working_time(
    start: datetime,
    end: datetime,
    pauses: Iterable[Pause],
    calendar: WorkingCalendar | None,
) -> timedelta:
    """Time on the clock from ``start`` to ``end``: working time (plain time if ``calendar`` is
    None) outside the pauses; an open pause runs to ``end``. Zero when ``end`` <= ``start``."""
    _check_naive(start)
    _check_naive(end)
    if end <= start:
        return _ZERO
    merged = _merge_pauses(start, pauses, None)
    return _measure(_minus(_working_intervals(start, calendar), merged), end)


def time_left(
    start: datetime,
    limit: TimeLimit | timedelta,
    pauses: Iterable[Pause],
    calendar: WorkingCalendar,
    now: datetime,
) -> timedelta:
    """Clock time left at ``now`` (working time for business limits); negative once overdue.

    Unlike the due date, this is defined while paused ("3 working hours left, paused").
    """
    _check_naive(start)
    _check_naive(now)
    target, business = _resolve(start, limit, calendar)
    known = _known_at(_checked(pauses), now)
    return target - elapsed_working_time(start, now, known, calendar if business else None)


def is_overdue(due: datetime | None, now: datetime) -> bool:
    """Whether ``now`` is past ``due``; a stopped clock (due None) is never overdue."""
    return due is not None and now > due


# --- internals ----------------------------------------------------------------------------


def _zone(name: Any) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ValueError(_("The time zone must be a name such as Asia/Shanghai."))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(_("Unknown time zone: %(name)s.", name=name)) from exc


def _date_set(values: Iterable[date], name: str) -> frozenset[date]:
    result = frozenset(values)
    if not all(isinstance(d, date) and not isinstance(d, datetime) for d in result):
        raise ValueError(f"{name} must be dates.")
    return result


def _parse_time(value: Any) -> time:
    if not isinstance(value, str):
        raise ValueError(_("Working hours must be times such as 09:00."))
    try:
        parsed = time.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(_("Working hours must be times such as 09:00.")) from exc
    if parsed.tzinfo is not None:
        raise ValueError(_("Working hours are local times, without an offset."))
    return parsed


def _format_time(value: time) -> str:
    return value.isoformat("minutes" if not value.second and not value.microsecond else "auto")


def _parse_dates(values: Any) -> frozenset[date]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValueError(_("Holidays and extra working days are lists of dates."))
    result: set[date] = set()
    for item in values:
        if not isinstance(item, str):
            raise ValueError(_("Holidays and extra working days are lists of dates."))
        first_text, sep, last_text = item.partition("..")
        try:
            first = date.fromisoformat(first_text.strip())
            last = date.fromisoformat(last_text.strip()) if sep else first
        except ValueError as exc:
            raise ValueError(
                _("Not a date or date range (YYYY-MM-DD..YYYY-MM-DD): %(item)s.", item=item)
            ) from exc
        if last < first or (last - first).days > 366:
            raise ValueError(_("A date range must be in order and at most a year long: %(item)s.", item=item))
        result.update(first + timedelta(days=n) for n in range((last - first).days + 1))
    return frozenset(result)


def _check_naive(value: datetime) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"Expected a naive UTC datetime, got {type(value).__name__}.")
    if value.tzinfo is not None:
        raise ValueError("Expected a naive UTC datetime (the app stores UTC without tzinfo).")


def _resolve(
    start: datetime, limit: TimeLimit | timedelta, calendar: WorkingCalendar
) -> tuple[timedelta, bool]:
    """(clock time the limit allows, whether it runs on the working calendar)."""
    if isinstance(limit, TimeLimit):
        return _target(start, limit, calendar), limit.business
    if isinstance(limit, timedelta):
        if limit < _ZERO:
            raise ValueError("A time limit cannot be negative.")
        return limit, True
    raise TypeError("limit must be a TimeLimit or a timedelta.")


def _local_date(instant: datetime, calendar: WorkingCalendar) -> date:
    return _wall(instant, calendar.tz).date()


def _to_utc(local: datetime) -> datetime:
    return local.astimezone(UTC).replace(tzinfo=None)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)


def _wall_to_utc(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The first instant at or after local ``day`` + ``wall``: its first occurrence when the
    clocks go back, the moment they jump when they skip it (DST gap)."""
    local = datetime.combine(day, wall.replace(fold=0), tzinfo=tz)
    utc = _to_utc(local)
    target = local.replace(tzinfo=None)
    if _wall(utc, tz) == target:
        return utc
    # In a gap: the jump lies between the readings with the offsets before and after it.
    lo, hi = _to_utc(local.replace(fold=1)), utc
    while hi - lo > _TICK:
        mid = lo + (hi - lo) // 2
        if _wall(mid, tz) >= target:
            hi = mid
        else:
            lo = mid
    return hi


@lru_cache(maxsize=16384)
def _window(calendar: WorkingCalendar, day: date) -> _Interval | None:
    """The working hours of one local date as naive-UTC instants; None on a day off."""
    if not calendar.is_working_day(day):
        return None
    opens = _wall_to_utc(day, calendar.start, calendar.tz)
    closes = _wall_to_utc(day, calendar.end, calendar.tz)
    return opens, max(opens, closes)


def _working_intervals(start: datetime, calendar: WorkingCalendar | None) -> Iterator[_Interval]:
    """The times the clock may run from ``start`` on, in order: one interval per working day."""
    if calendar is None:
        yield start, datetime.max
        return
    day = _local_date(start, calendar)
    one_day = timedelta(days=1)
    while True:
        window = _window(calendar, day)
        if window is not None:
            opens, closes = window
            opens = max(opens, start)
            if closes > opens:
                yield opens, closes
        day += one_day


def _checked(pauses: Iterable[Pause]) -> list[Pause]:
    result: list[Pause] = []
    for paused_at, resumed_at in pauses:
        _check_naive(paused_at)
        if resumed_at is not None:
            _check_naive(resumed_at)
            if resumed_at < paused_at:
                raise ValueError("A pause cannot resume before it starts.")
        result.append((paused_at, resumed_at))
    return result


def _known_at(pauses: list[Pause], now: datetime | None) -> list[Pause]:
    """The pauses as known at ``now``: later ones ignored, one resuming after ``now`` still open."""
    if now is None:
        return pauses
    return [
        (paused_at, resumed_at if resumed_at is not None and resumed_at <= now else None)
        for paused_at, resumed_at in pauses
        if paused_at <= now
    ]


def _merge_pauses(start: datetime, pauses: Iterable[Pause], now: datetime | None) -> list[Pause]:
    """Sorted, disjoint pauses from ``start`` on; an open pause, if any, is last."""
    if now is not None:
        _check_naive(now)
    cleaned = [
        (max(paused_at, start), resumed_at)
        for paused_at, resumed_at in _known_at(_checked(pauses), now)
        if resumed_at is None or resumed_at > start
    ]
    cleaned.sort(key=lambda p: p[0])
    merged: list[Pause] = []
    for paused_at, resumed_at in cleaned:
        if merged:
            last_start, last_end = merged[-1]
            if last_end is None:
                break
            if paused_at <= last_end:
                merged[-1] = (last_start, None if resumed_at is None else max(last_end, resumed_at))
                continue
        merged.append((paused_at, resumed_at))
    return merged


def _minus(intervals: Iterable[_Interval], pauses: Sequence[Pause]) -> Iterator[_Interval]:
    """``intervals`` with the (sorted, disjoint) ``pauses`` cut out; ends at an open pause."""
    i = 0
    for opens, closes in intervals:
        cursor = opens
        while True:
            while i < len(pauses) and (end := pauses[i][1]) is not None and end <= cursor:
                i += 1
            if i == len(pauses) or pauses[i][0] >= closes:
                if cursor < closes:
                    yield cursor, closes
                break
            paused_at, resumed_at = pauses[i]
            if paused_at > cursor:
                yield cursor, paused_at
            if resumed_at is None:
                return
            if resumed_at >= closes:
                break
            cursor = resumed_at


def _advance(intervals: Iterable[_Interval], amount: timedelta) -> datetime | None:
    """The earliest instant by which ``amount`` of interval time has passed; None if it never does."""
    remaining = amount
    for opens, closes in intervals:
        length = closes - opens
        if remaining <= length:
            return opens + remaining
        remaining -= length
    return None


def _measure(intervals: Iterable[_Interval], end: datetime) -> timedelta:
    total = _ZERO
    for opens, closes in intervals:
        if opens >= end:
            break
        total += min(closes, end) - opens
    return total


def _target(start: datetime, limit: TimeLimit, calendar: WorkingCalendar) -> timedelta:
    """How much clock time the limit allows: working time for business limits.

    A days limit becomes the working time from the first working moment to the same local
    clock time that many working days later.
    """
    if not limit.business or limit.unit == "hours" or not limit.amount:
        return limit.amount
    first = next_working_moment(start, calendar)
    local = _wall(first, calendar.tz)
    day = local.date()
    remaining = limit.amount.days
    while remaining:
        day += timedelta(days=1)
        if calendar.is_working_day(day):
            remaining -= 1
    same_time = _wall_to_utc(day, local.time(), calendar.tz)
    return business_time_between(first, same_time, calendar)
