"""Deadline arithmetic: working calendar, business vs calendar limits, DST, and clock pauses.

Everything here is pure (no app, no database): datetimes in and out are naive UTC, and the
helpers below translate the local wall times the examples are written in.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from complaints.calendar import (
    DEFAULT_TIMEZONE,
    TimeLimit,
    WorkingCalendar,
    add_business_time,
    business_time_between,
    deadline_with_pauses,
    elapsed_working_time,
    is_overdue,
    next_working_moment,
    time_left,
)

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")
H = timedelta(hours=1)
MIN = timedelta(minutes=1)
TICK = timedelta(microseconds=1)

SHANGHAI = WorkingCalendar(tz=SH)
# 2026 National Day / Mid-Autumn: Oct 1-7 off; Sunday Sep 20 and Saturday Oct 10 worked (调休).
NATIONAL_DAY = WorkingCalendar.from_config(
    {
        "timezone": "Asia/Shanghai",
        "holidays": ["2026-10-01..2026-10-07"],
        "extra_workdays": ["2026-09-20", "2026-10-10"],
    }
)
BERLIN_CAL = WorkingCalendar(tz=BERLIN)


def at(tz: ZoneInfo, y: int, mo: int, d: int, h: int = 0, mi: int = 0, *, fold: int = 0) -> datetime:
    """Naive UTC for a local wall time."""
    local = datetime(y, mo, d, h, mi, fold=fold, tzinfo=tz)
    return local.astimezone(UTC_ZONE).replace(tzinfo=None)


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return at(SH, y, mo, d, h, mi)


def wall(instant: datetime, tz: ZoneInfo = SH) -> datetime:
    """The local wall time of a naive-UTC instant."""
    return instant.replace(tzinfo=UTC_ZONE).astimezone(tz).replace(tzinfo=None)


# --- the working calendar -----------------------------------------------------------------


def test_friday_afternoon_plus_two_working_hours_is_monday_ten() -> None:
    friday_five = sh(2026, 3, 6, 17)  # Friday
    due = add_business_time(friday_five, timedelta(hours=2), SHANGHAI)
    assert wall(due) == datetime(2026, 3, 9, 10)  # Monday
    assert due == datetime(2026, 3, 9, 2)  # naive UTC out
    assert business_time_between(friday_five, due, SHANGHAI) == 2 * H


def test_national_day_week_is_skipped() -> None:
    due = add_business_time(sh(2026, 9, 30, 17), 2 * H, NATIONAL_DAY)  # Wednesday before
    assert wall(due) == datetime(2026, 10, 8, 10)  # Thursday after the holiday
    # Without the holiday the same start is due the next morning.
    assert wall(add_business_time(sh(2026, 9, 30, 17), 2 * H, SHANGHAI)) == datetime(2026, 10, 1, 10)
    assert business_time_between(sh(2026, 9, 30, 17), sh(2026, 10, 8, 10), NATIONAL_DAY) == 2 * H


def test_make_up_weekend_days_are_worked() -> None:
    # Friday Oct 9 17:00 + 2 h runs into the make-up Saturday Oct 10.
    assert wall(add_business_time(sh(2026, 10, 9, 17), 2 * H, NATIONAL_DAY)) == datetime(2026, 10, 10, 10)
    # Saturday Sep 19 is a normal weekend; Sunday Sep 20 is a make-up working day.
    assert wall(add_business_time(sh(2026, 9, 19, 10), H, NATIONAL_DAY)) == datetime(2026, 9, 20, 10)
    assert wall(add_business_time(sh(2026, 10, 11, 10), H, NATIONAL_DAY)) == datetime(2026, 10, 12, 10)
    # Two weeks around the holiday: Sep 28-30, Oct 8-9 and the make-up Saturday = 6 days of 9 h.
    assert business_time_between(sh(2026, 9, 28), sh(2026, 10, 12), NATIONAL_DAY) == 54 * H


@pytest.mark.parametrize(
    ("start", "limit", "due"),
    [
        (datetime(2026, 3, 9, 7), H, datetime(2026, 3, 9, 10)),  # Monday before opening
        (datetime(2026, 3, 9, 9), H, datetime(2026, 3, 9, 10)),  # at opening
        (datetime(2026, 3, 9, 20), H, datetime(2026, 3, 10, 10)),  # evening
        (datetime(2026, 3, 9, 18), H, datetime(2026, 3, 10, 10)),  # closing time is closed
        (datetime(2026, 3, 7, 12), H, datetime(2026, 3, 9, 10)),  # Saturday
        (datetime(2026, 3, 9, 17), H, datetime(2026, 3, 9, 18)),  # ends at closing time, not next morning
        (datetime(2026, 3, 7, 12), timedelta(0), datetime(2026, 3, 9, 9)),  # zero: first working moment
    ],
)
def test_start_outside_working_hours_begins_at_the_next_working_moment(
    start: datetime, limit: timedelta, due: datetime
) -> None:
    assert wall(add_business_time(at(SH, *start.timetuple()[:5]), limit, SHANGHAI)) == due


def test_next_working_moment() -> None:
    assert wall(next_working_moment(sh(2026, 3, 7, 12), SHANGHAI)) == datetime(2026, 3, 9, 9)
    assert next_working_moment(sh(2026, 3, 9, 11, 30), SHANGHAI) == sh(2026, 3, 9, 11, 30)
    assert wall(next_working_moment(sh(2026, 9, 30, 18), NATIONAL_DAY)) == datetime(2026, 10, 8, 9)


@pytest.mark.parametrize(
    ("start", "limit", "due"),
    [
        # Days count working days and end at the same clock time...
        (datetime(2026, 3, 9, 10), "2d", datetime(2026, 3, 11, 10)),
        (datetime(2026, 3, 6, 17), "1d", datetime(2026, 3, 9, 17)),
        (datetime(2026, 3, 9, 10), "5d", datetime(2026, 3, 16, 10)),
        # ...or at closing time the working day before, when the clock starts at opening.
        (datetime(2026, 3, 9, 9), "1d", datetime(2026, 3, 9, 18)),
        (datetime(2026, 3, 7, 10), "1d", datetime(2026, 3, 9, 18)),
        # Hours count working hours: 18 h is two 9-hour days, 24 h and 48 h are more.
        (datetime(2026, 3, 9, 10), "18h", datetime(2026, 3, 11, 10)),
        (datetime(2026, 3, 9, 10), "24h", datetime(2026, 3, 11, 16)),
        (datetime(2026, 3, 9, 10), "48h", datetime(2026, 3, 16, 13)),
        (datetime(2026, 3, 9, 10), "4h", datetime(2026, 3, 9, 14)),
        (datetime(2026, 3, 9, 17, 30), "90m", datetime(2026, 3, 10, 10)),
        # Across the holiday and its make-up Saturday.
        (datetime(2026, 9, 30, 10), "2d", datetime(2026, 10, 9, 10)),
        (datetime(2026, 10, 9, 11), "1d", datetime(2026, 10, 10, 11)),
        (datetime(2026, 9, 30, 10), "24h", datetime(2026, 10, 9, 16)),
        (datetime(2026, 9, 30, 10), "30h", datetime(2026, 10, 10, 13)),
    ],
)
def test_limits_in_days_versus_hours(start: datetime, limit: str, due: datetime) -> None:
    got = add_business_time(at(SH, *start.timetuple()[:5]), TimeLimit.parse(limit), NATIONAL_DAY)
    assert wall(got) == due


def test_a_bare_timedelta_is_working_time() -> None:
    start = sh(2026, 3, 9, 10)
    assert add_business_time(start, timedelta(days=1), SHANGHAI) == add_business_time(
        start, TimeLimit.parse("24h"), SHANGHAI
    )


@pytest.mark.parametrize(
    ("start", "limit", "due"),
    [
        (datetime(2026, 3, 6, 17), "24h calendar", datetime(2026, 3, 7, 17)),  # into Saturday
        (datetime(2026, 3, 7, 3), "4h calendar", datetime(2026, 3, 7, 7)),  # Saturday night
        (datetime(2026, 9, 30, 17), "14d calendar", datetime(2026, 10, 14, 17)),  # over the holiday
        (datetime(2026, 9, 30, 17), "7 days calendar", datetime(2026, 10, 7, 17)),
    ],
)
def test_calendar_time_limits_ignore_the_calendar(start: datetime, limit: str, due: datetime) -> None:
    got = add_business_time(at(SH, *start.timetuple()[:5]), TimeLimit.parse(limit), NATIONAL_DAY)
    assert wall(got) == due
    assert got - at(SH, *start.timetuple()[:5]) == TimeLimit.parse(limit).amount


def test_naive_utc_in_and_out_with_shanghai_hours() -> None:
    # 00:30 UTC on Monday is 08:30 in Shanghai: work starts at 01:00 UTC.
    monday_0030_utc = datetime(2026, 3, 9, 0, 30)
    assert add_business_time(monday_0030_utc, H, SHANGHAI) == datetime(2026, 3, 9, 2)
    # The same instant on a UTC calendar is before opening too, but opening is 09:00 UTC.
    assert add_business_time(monday_0030_utc, H, WorkingCalendar(tz=UTC_ZONE)) == datetime(2026, 3, 9, 10)
    # Sunday 20:00 UTC is already Monday 04:00 in Shanghai: a working day, before opening.
    assert add_business_time(datetime(2026, 3, 8, 20), H, SHANGHAI) == datetime(2026, 3, 9, 2)
    # Friday 10:30 UTC is 18:30 in Shanghai: closed until Monday.
    assert add_business_time(datetime(2026, 3, 6, 10, 30), H, SHANGHAI) == datetime(2026, 3, 9, 2)
    # A Shanghai working day is 01:00-10:00 UTC.
    assert business_time_between(datetime(2026, 3, 9), datetime(2026, 3, 10), SHANGHAI) == 9 * H


@pytest.mark.parametrize(
    "bad",
    [datetime(2026, 3, 9, 10, tzinfo=SH), datetime(2026, 3, 9, 10, tzinfo=UTC_ZONE)],
)
def test_aware_datetimes_are_refused(bad: datetime) -> None:
    with pytest.raises(ValueError, match="naive UTC"):
        add_business_time(bad, H, SHANGHAI)
    with pytest.raises(ValueError, match="naive UTC"):
        business_time_between(datetime(2026, 3, 9), bad, SHANGHAI)
    with pytest.raises(ValueError, match="naive UTC"):
        deadline_with_pauses(datetime(2026, 3, 9), H, [(bad, None)], SHANGHAI)


def test_business_time_between_is_signed_and_skips_nights_and_weekends() -> None:
    monday, next_monday = sh(2026, 3, 9), sh(2026, 3, 16)
    assert business_time_between(monday, next_monday, SHANGHAI) == 45 * H
    assert business_time_between(next_monday, monday, SHANGHAI) == -45 * H
    assert business_time_between(sh(2026, 3, 6, 17), sh(2026, 3, 9, 10), SHANGHAI) == 2 * H
    assert business_time_between(sh(2026, 3, 7, 10), sh(2026, 3, 8, 17), SHANGHAI) == timedelta(0)


# --- a time zone with daylight saving -----------------------------------------------------


def test_berlin_weekend_across_the_october_change() -> None:
    friday = at(BERLIN, 2026, 10, 23, 17)  # CEST, UTC+2
    assert friday == datetime(2026, 10, 23, 15)
    due = add_business_time(friday, 2 * H, BERLIN_CAL)
    assert wall(due, BERLIN) == datetime(2026, 10, 26, 10)  # Monday, CET
    assert due == datetime(2026, 10, 26, 9)  # UTC+1 now
    # Two working days from Friday 10:00 end at Tuesday 10:00 local, one UTC hour later.
    due_days = add_business_time(at(BERLIN, 2026, 10, 23, 10), TimeLimit.days(2), BERLIN_CAL)
    assert wall(due_days, BERLIN) == datetime(2026, 10, 27, 10)
    assert business_time_between(at(BERLIN, 2026, 10, 23, 10), due_days, BERLIN_CAL) == 18 * H
    # A calendar limit is real elapsed time: 7 days later the wall clock reads one hour less.
    week = add_business_time(friday, TimeLimit.days(7, business=False), BERLIN_CAL)
    assert wall(week, BERLIN) == datetime(2026, 10, 30, 16)


def test_berlin_weekend_across_the_march_change() -> None:
    due = add_business_time(at(BERLIN, 2026, 3, 27, 17), 2 * H, BERLIN_CAL)
    assert wall(due, BERLIN) == datetime(2026, 3, 30, 10)
    assert due == datetime(2026, 3, 30, 8)  # CEST, UTC+2


def test_a_working_window_over_the_change_lasts_its_real_length() -> None:
    nights = WorkingCalendar(tz=BERLIN, workdays=frozenset(range(1, 8)), start=time(0), end=time(6))
    autumn = business_time_between(at(BERLIN, 2026, 10, 25), at(BERLIN, 2026, 10, 25, 12), nights)
    spring = business_time_between(at(BERLIN, 2026, 3, 29), at(BERLIN, 2026, 3, 29, 12), nights)
    assert (autumn, spring) == (7 * H, 5 * H)
    # Opening at a wall time the clocks skip (02:30) means opening when they jump (03:00 CEST).
    skipped = WorkingCalendar(tz=BERLIN, workdays=frozenset(range(1, 8)), start=time(2, 30), end=time(6))
    assert next_working_moment(at(BERLIN, 2026, 3, 29), skipped) == datetime(2026, 3, 29, 1)
    assert business_time_between(at(BERLIN, 2026, 3, 29), at(BERLIN, 2026, 3, 29, 12), skipped) == 3 * H


# --- pauses (awaiting the customer) -------------------------------------------------------


def test_a_pause_over_the_weekend_moves_the_deadline() -> None:
    start = sh(2026, 3, 6, 10)  # Friday
    limit = TimeLimit.hours(8)
    assert wall(add_business_time(start, limit, SHANGHAI)) == datetime(2026, 3, 6, 18)
    # Paused Friday 15:00 (5 h used) until Monday 11:00: 3 working hours remain.
    pauses = [(sh(2026, 3, 6, 15), sh(2026, 3, 9, 11))]
    due = deadline_with_pauses(start, limit, pauses, SHANGHAI)
    assert due is not None and wall(due) == datetime(2026, 3, 9, 14)
    assert elapsed_working_time(start, due, pauses, SHANGHAI) == 8 * H
    assert elapsed_working_time(start, sh(2026, 3, 9, 12), pauses, SHANGHAI) == 6 * H


def test_an_open_pause_stops_the_clock() -> None:
    start = sh(2026, 3, 6, 10)
    pauses = [(sh(2026, 3, 6, 15), None)]
    assert deadline_with_pauses(start, TimeLimit.hours(8), pauses, SHANGHAI, now=sh(2026, 3, 9, 12)) is None
    # The time left stays put while paused, however long the customer takes.
    for now in (sh(2026, 3, 6, 16), sh(2026, 3, 9, 12), sh(2026, 4, 20, 12)):
        assert time_left(start, TimeLimit.hours(8), pauses, SHANGHAI, now) == 3 * H
        assert elapsed_working_time(start, now, pauses, SHANGHAI) == 5 * H
    assert not is_overdue(None, sh(2030, 1, 1))


def test_a_pause_after_the_breach_keeps_the_case_overdue() -> None:
    start = sh(2026, 3, 9, 9)
    pauses = [(sh(2026, 3, 9, 15), None)]  # paused after the 2 h limit ran out at 11:00
    due = deadline_with_pauses(start, TimeLimit.hours(2), pauses, SHANGHAI)
    assert due == sh(2026, 3, 9, 11)
    assert is_overdue(due, sh(2026, 3, 9, 16))
    assert time_left(start, TimeLimit.hours(2), pauses, SHANGHAI, sh(2026, 3, 10, 12)) == -4 * H


def test_multiple_pauses() -> None:
    start = sh(2026, 3, 9, 9)  # Monday
    pauses = [
        (sh(2026, 3, 9, 10), sh(2026, 3, 9, 11)),
        (sh(2026, 3, 9, 12), sh(2026, 3, 10, 9, 30)),  # overnight
        (sh(2026, 3, 10, 10), sh(2026, 3, 10, 10, 15)),
    ]
    # Worked: 9-10, 11-12, 9:30-10:00 = 2.5 h; 1.5 h more from 10:15.
    due = deadline_with_pauses(start, TimeLimit.hours(4), pauses, SHANGHAI)
    assert due is not None and wall(due) == datetime(2026, 3, 10, 11, 45)
    # Order and overlap do not matter.
    shuffled = [pauses[2], (sh(2026, 3, 9, 12), sh(2026, 3, 9, 17)), pauses[1], pauses[0]]
    assert deadline_with_pauses(start, TimeLimit.hours(4), shuffled, SHANGHAI) == due


def test_pauses_before_the_start_do_not_count() -> None:
    start = sh(2026, 3, 9, 10)
    assert deadline_with_pauses(start, 2 * H, [(sh(2026, 3, 9, 8), sh(2026, 3, 9, 9))], SHANGHAI) == sh(
        2026, 3, 9, 12
    )
    # One spanning the start counts only from the start.
    spanning = [(sh(2026, 3, 9, 8), sh(2026, 3, 9, 11))]
    assert deadline_with_pauses(start, 2 * H, spanning, SHANGHAI) == sh(2026, 3, 9, 13)


def test_pauses_as_known_at_now() -> None:
    start = sh(2026, 3, 9, 9)
    pauses = [(sh(2026, 3, 9, 10), sh(2026, 3, 9, 12))]
    # Before the resume is known, the pause is still open.
    assert deadline_with_pauses(start, 4 * H, pauses, SHANGHAI, now=sh(2026, 3, 9, 11)) is None
    assert deadline_with_pauses(start, 4 * H, pauses, SHANGHAI, now=sh(2026, 3, 9, 12)) == sh(2026, 3, 9, 15)
    # Before it started, it is not there at all.
    assert deadline_with_pauses(start, 4 * H, pauses, SHANGHAI, now=sh(2026, 3, 9, 9, 30)) == sh(
        2026, 3, 9, 13
    )


def test_pauses_on_a_calendar_time_limit() -> None:
    start = sh(2026, 3, 6, 17)
    pauses = [(sh(2026, 3, 7, 0), sh(2026, 3, 7, 6))]
    due = deadline_with_pauses(start, TimeLimit.hours(24, business=False), pauses, SHANGHAI)
    assert due is not None and wall(due) == datetime(2026, 3, 7, 23)
    assert elapsed_working_time(start, due, pauses, None) == 24 * H


def test_a_pause_cannot_resume_before_it_starts() -> None:
    with pytest.raises(ValueError, match="resume"):
        deadline_with_pauses(sh(2026, 3, 9), H, [(sh(2026, 3, 9, 12), sh(2026, 3, 9, 11))], SHANGHAI)


def test_is_overdue() -> None:
    due = sh(2026, 3, 9, 12)
    assert not is_overdue(due, due - TICK)
    assert not is_overdue(due, due)
    assert is_overdue(due, due + TICK)
    assert not is_overdue(None, due)


# --- settings forms: calendar and limits as JSON and text ----------------------------------


def test_calendar_defaults_and_json_round_trip() -> None:
    default = WorkingCalendar()
    assert default.tz.key == DEFAULT_TIMEZONE
    assert WorkingCalendar.from_config({}) == default
    assert (default.workdays, default.start, default.end) == (frozenset({1, 2, 3, 4, 5}), time(9), time(18))
    stored = json.loads(json.dumps(NATIONAL_DAY.to_dict()))
    assert WorkingCalendar.from_config(stored) == NATIONAL_DAY
    assert stored["holidays"][0] == "2026-10-01" and len(stored["holidays"]) == 7
    assert stored["extra_workdays"] == ["2026-09-20", "2026-10-10"]
    assert hash(WorkingCalendar.from_config(stored)) == hash(NATIONAL_DAY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        NATIONAL_DAY.holidays = frozenset()  # type: ignore[misc]


@pytest.mark.parametrize(
    "config",
    [
        {"timezone": "Mars/Olympus"},
        {"timezone": 8},
        {"workdays": []},
        {"workdays": [0, 1]},
        {"workdays": [1, 8]},
        {"workdays": "12345"},
        {"workdays": [True]},
        {"start": "18:00", "end": "09:00"},
        {"start": "09:00", "end": "09:00"},
        {"start": 9},
        {"start": "nine"},
        {"start": "09:00+08:00"},
        {"holidays": ["2026-10-01"], "extra_workdays": ["2026-10-01"]},
        {"holidays": ["2026-13-01"]},
        {"holidays": ["2026-10-07..2026-10-01"]},
        {"holidays": "2026-10-01"},
        {"holidays": [20261001]},
        {"lunch": "12:00"},
    ],
)
def test_bad_calendar_settings_are_refused(config: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        WorkingCalendar.from_config(config)


@pytest.mark.parametrize(
    ("text", "limit", "formatted"),
    [
        ("4h", TimeLimit(4 * H), "4h"),
        ("4 hours", TimeLimit(4 * H), "4h"),
        ("1.5h", TimeLimit(90 * MIN), "1h30m"),
        ("1h 30m", TimeLimit(90 * MIN), "1h30m"),
        ("90m", TimeLimit(90 * MIN), "1h30m"),
        ("45 min", TimeLimit(45 * MIN), "45m"),
        ("24H", TimeLimit(24 * H), "24h"),
        ("2d", TimeLimit(timedelta(days=2), unit="days"), "2d"),
        ("2 working days", TimeLimit(timedelta(days=2), unit="days"), "2d"),
        ("14d calendar", TimeLimit(timedelta(days=14), business=False, unit="days"), "14d calendar"),
        ("72 hours calendar", TimeLimit(72 * H, business=False), "72h calendar"),
        ("0h", TimeLimit(timedelta(0)), "0h"),
    ],
)
def test_time_limit_text(text: str, limit: TimeLimit, formatted: str) -> None:
    assert TimeLimit.parse(text) == limit
    assert limit.format() == str(limit) == formatted
    assert TimeLimit.parse(formatted) == limit
    assert TimeLimit.parse(json.loads(json.dumps(limit.to_dict()))) == limit


def test_time_limit_json_form() -> None:
    assert TimeLimit.parse("2d").to_dict() == {"value": 2, "unit": "days", "business": True}
    assert TimeLimit.parse("90m calendar").to_dict() == {"value": 90, "unit": "minutes", "business": False}
    assert TimeLimit.parse({"value": 4, "unit": "hours"}) == TimeLimit.hours(4)
    assert TimeLimit.parse({"value": 0.5, "unit": "hours", "business": True}) == TimeLimit(30 * MIN)
    # "2 days" and "48 hours" are the same timedelta but different limits.
    assert TimeLimit.days(2) != TimeLimit.hours(48)
    assert TimeLimit.days(2).amount == TimeLimit.hours(48).amount


@pytest.mark.parametrize(
    "value",
    [
        "",
        "soon",
        "4",
        "h",
        "-4h",
        "1.5d",
        "4h4h",
        "2d4h",
        "4h calendar business",
        "400d",
        "9" * 30 + "d",
        "9" * 400 + "h",
        {"value": 4},
        {"value": 4, "unit": "weeks"},
        {"value": "4", "unit": "hours"},
        {"value": True, "unit": "hours"},
        {"value": 4, "unit": "hours", "business": "yes"},
        {"value": 1.5, "unit": "days"},
        {"value": -1, "unit": "hours"},
        {"value": 4, "unit": "hours", "extra": 1},
        4,
    ],
)
def test_bad_time_limits_are_refused(value: object) -> None:
    with pytest.raises(ValueError):
        TimeLimit.parse(value)  # type: ignore[arg-type]


def test_negative_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        add_business_time(sh(2026, 3, 9), -H, SHANGHAI)
    with pytest.raises(ValueError):
        TimeLimit(-H)


def test_a_few_thousand_deadlines_all_land_after_their_start() -> None:
    starts = [sh(2026, 9, 1) + timedelta(minutes=37 * n) for n in range(3000)]
    dues = [add_business_time(s, TimeLimit.days(14), NATIONAL_DAY) for s in starts]
    dues += [add_business_time(s, TimeLimit.hours(72), NATIONAL_DAY) for s in starts]
    assert all(d > s for d, s in zip(dues, starts + starts, strict=True))


# --- properties ---------------------------------------------------------------------------

ZONES = ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC", "Australia/Lord_Howe"]
# Days on which one of ZONES changes its clocks, to steer examples towards them.
CHANGE_DAYS = [date(2025, 3, 30), date(2025, 10, 26), date(2026, 3, 8), date(2026, 11, 1), date(2026, 4, 5)]
DAYS = st.dates(date(2024, 12, 1), date(2028, 6, 1))


@st.composite
def calendars(draw: st.DrawFn, earliest_minute: int = 0) -> WorkingCalendar:
    """Any calendar; with earliest_minute, working hours start and end at or after that time."""
    first = draw(st.integers(earliest_minute, 24 * 60 - 31))
    last = draw(st.integers(first + 30, 24 * 60 - 1))
    holidays = draw(st.frozensets(DAYS, max_size=30))
    return WorkingCalendar(
        tz=ZoneInfo(draw(st.sampled_from(ZONES))),
        workdays=draw(st.frozensets(st.integers(1, 7), min_size=1)),
        start=time(first // 60, first % 60),
        end=time(last // 60, last % 60),
        holidays=holidays,
        extra_workdays=draw(st.frozensets(DAYS, max_size=10)) - holidays,
    )


INSTANTS = st.one_of(
    st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31)),
    st.builds(
        lambda day, minutes: datetime.combine(day, time()) + timedelta(minutes=minutes),
        st.sampled_from(CHANGE_DAYS),
        st.integers(-3 * 24 * 60, 3 * 24 * 60),
    ),
)
WORKING_TIME = st.integers(0, 80 * 3600).map(lambda s: timedelta(seconds=s))
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(calendar=calendars(), start=INSTANTS, limit=WORKING_TIME)
def test_property_add_then_measure_gives_back_the_limit(
    calendar: WorkingCalendar, start: datetime, limit: timedelta
) -> None:
    due = add_business_time(start, limit, calendar)
    first = next_working_moment(start, calendar)
    assert first <= due
    assert business_time_between(first, due, calendar) == limit
    assert business_time_between(start, due, calendar) == limit
    if limit:  # the earliest such instant
        assert business_time_between(start, due - TICK, calendar) < limit


@FAST
@given(calendar=calendars(), start=INSTANTS, limits=st.lists(WORKING_TIME, min_size=2, max_size=5))
def test_property_monotonic_in_the_limit(
    calendar: WorkingCalendar, start: datetime, limits: list[timedelta]
) -> None:
    dues = [add_business_time(start, limit, calendar) for limit in sorted(limits)]
    assert dues == sorted(dues)


@FAST
@given(calendar=calendars(), starts=st.lists(INSTANTS, min_size=2, max_size=4), limit=WORKING_TIME)
def test_property_monotonic_in_the_start(
    calendar: WorkingCalendar, starts: list[datetime], limit: timedelta
) -> None:
    dues = [add_business_time(start, limit, calendar) for start in sorted(starts)]
    assert dues == sorted(dues)


@FAST
@given(calendar=calendars(earliest_minute=4 * 60), start=INSTANTS, days=st.integers(0, 30))
def test_property_days_end_at_the_same_clock_time(
    calendar: WorkingCalendar, start: datetime, days: int
) -> None:
    due = add_business_time(start, TimeLimit.days(days), calendar)
    first = next_working_moment(start, calendar)
    first_wall, due_wall = wall(first, calendar.tz), wall(due, calendar.tz)
    working_days = 0
    day = first_wall.date()
    while day < due_wall.date():
        day += timedelta(days=1)
        working_days += calendar.is_working_day(day)
    if days and first_wall.time() == calendar.start:
        assert (working_days, due_wall.time()) == (days - 1, calendar.end)
    else:
        assert (working_days, due_wall.time()) == (days, first_wall.time())
    if calendar.tz.key in ("Asia/Shanghai", "UTC"):  # no DST: every working day is as long
        length = datetime.combine(date.min, calendar.end) - datetime.combine(date.min, calendar.start)
        assert business_time_between(first, due, calendar) == days * length


PAUSES = st.lists(
    st.tuples(st.integers(-2 * 24 * 60, 10 * 24 * 60), st.none() | st.integers(0, 3 * 24 * 60)),
    max_size=4,
)


@FAST
@given(
    calendar=calendars(),
    start=INSTANTS,
    limit=WORKING_TIME,
    raw_pauses=PAUSES,
    business=st.booleans(),
)
def test_property_pauses_do_not_count(
    calendar: WorkingCalendar,
    start: datetime,
    limit: timedelta,
    raw_pauses: list[tuple[int, int | None]],
    business: bool,
) -> None:
    pauses = [
        (start + offset * MIN, None if length is None else start + (offset + length) * MIN)
        for offset, length in raw_pauses
    ]
    time_limit = TimeLimit(limit, business=business)
    clock = calendar if business else None
    due = deadline_with_pauses(start, time_limit, pauses, calendar)
    if due is None:
        open_at = min(paused for paused, resumed in pauses if resumed is None)
        assert elapsed_working_time(start, open_at, pauses, clock) < limit or not limit
    else:
        assert due >= start
        assert elapsed_working_time(start, due, pauses, clock) == limit
        assert time_left(start, time_limit, pauses, calendar, due) == timedelta(0)
        if limit:
            assert elapsed_working_time(start, due - TICK, pauses, clock) < limit
        assert due >= deadline_with_pauses(start, time_limit, [], calendar)  # type: ignore[operator]


def _working_minute(instant: datetime, calendar: WorkingCalendar) -> bool:
    local = wall(instant, calendar.tz)
    return calendar.is_working_day(local.date()) and calendar.start <= local.time() < calendar.end


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    calendar=calendars(earliest_minute=4 * 60),
    start=INSTANTS.map(lambda d: d.replace(second=0, microsecond=0)),
    minutes=st.integers(0, 4 * 24 * 60),
)
def test_property_matches_counting_minute_by_minute(
    calendar: WorkingCalendar, start: datetime, minutes: int
) -> None:
    # The independent (slow) definition: a minute counts when its local wall time is working.
    expected = sum(_working_minute(start + n * MIN, calendar) for n in range(minutes))
    assert business_time_between(start, start + minutes * MIN, calendar) == expected * MIN


@FAST
@given(
    limit=st.one_of(
        st.builds(TimeLimit.days, st.integers(0, 366), business=st.booleans()),
        st.builds(
            lambda s, b: TimeLimit(timedelta(seconds=s), business=b),
            st.integers(0, 366 * 86400),
            st.booleans(),
        ),
    )
)
def test_property_time_limit_text_and_json_round_trip(limit: TimeLimit) -> None:
    assert TimeLimit.parse(limit.format()) == limit
    assert TimeLimit.parse(json.loads(json.dumps(limit.to_dict()))) == limit
