from __future__ import annotations

import math
import time as _time
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.business_time import BusinessCalendar

JST = ZoneInfo("Asia/Tokyo")
CAL = BusinessCalendar()


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=JST)


# --- business days --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2026, 11, 20), True),  # Friday
        (date(2026, 11, 21), False),  # Saturday
        (date(2026, 11, 22), False),  # Sunday
        (date(2026, 11, 23), False),  # 勤労感謝の日 (Monday)
        (date(2026, 11, 24), True),
        (date(2026, 4, 29), False),  # 昭和の日
        (date(2026, 4, 30), True),
        (date(2026, 5, 1), True),
        (date(2026, 5, 4), False),  # みどりの日
        (date(2026, 5, 5), False),  # こどもの日
        (date(2026, 5, 6), False),  # 振替休日 (憲法記念日 5/3 was a Sunday)
        (date(2026, 5, 7), True),
        (date(2026, 9, 21), False),  # 敬老の日
        (date(2026, 9, 22), False),  # 国民の休日 (sandwiched between two holidays)
        (date(2026, 9, 23), False),  # 秋分の日
        (date(2026, 9, 24), True),
        (date(2026, 12, 28), True),  # 御用納め
        (date(2026, 12, 29), False),  # 年末年始
        (date(2026, 12, 31), False),
        (date(2027, 1, 1), False),  # 元日 (also 年末年始)
        (date(2027, 1, 3), False),
        (date(2027, 1, 4), True),  # 御用始め
        (date(2027, 3, 22), False),  # 振替休日 (春分の日 3/21 is a Sunday)
    ],
)
def test_is_business_day(d: date, expected: bool) -> None:
    assert CAL.is_business_day(d) is expected


def test_year_end_closure_can_be_disabled() -> None:
    cal = BusinessCalendar(year_end_closure=False)
    assert cal.is_business_day(date(2026, 12, 29))
    assert cal.is_business_day(date(2026, 12, 30))
    assert not cal.is_business_day(date(2027, 1, 1))  # 元日 is still a national holiday


def test_extra_closed_days() -> None:
    cal = BusinessCalendar(extra_closed_days=[date(2026, 11, 24), datetime(2026, 11, 25, 9, 0)])
    assert not cal.is_business_day(date(2026, 11, 24))
    assert not cal.is_business_day(date(2026, 11, 25))
    # Friday 11/20 16:00 + 4h: Mon 11/23 holiday, Tue/Wed extra-closed -> Thursday.
    assert cal.add_business_hours(jst(2026, 11, 20, 16), 4) == jst(2026, 11, 26, 11, 15)


def test_is_business_day_rejects_datetime() -> None:
    with pytest.raises(TypeError, match="use is_open"):
        CAL.is_business_day(jst(2026, 11, 20, 10))


def test_invalid_hours_config() -> None:
    with pytest.raises(ValueError, match="before"):
        BusinessCalendar(opens=time(17), closes=time(9))


# --- is_open ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (jst(2026, 11, 20, 8, 29, 59), False),
        (jst(2026, 11, 20, 8, 30), True),
        (jst(2026, 11, 20, 17, 14, 59), True),
        (jst(2026, 11, 20, 17, 15), False),  # half-open: closed at closing time
        (jst(2026, 11, 23, 10), False),  # holiday
        (jst(2026, 11, 21, 10), False),  # Saturday
        (datetime(2026, 11, 20, 1, 0, tzinfo=UTC), True),  # 10:00 JST
        (datetime(2026, 11, 19, 23, 30, tzinfo=UTC), True),  # Friday 08:30 JST (Thursday in UTC)
        (datetime(2026, 11, 20, 8, 15, tzinfo=UTC), False),  # 17:15 JST
    ],
)
def test_is_open(at: datetime, expected: bool) -> None:
    assert CAL.is_open(at) is expected


def test_naive_datetimes_are_rejected() -> None:
    naive = datetime(2026, 11, 20, 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.is_open(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.add_business_hours(naive, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.add_business_days(naive, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.business_hours_between(jst(2026, 11, 20, 10), naive)


# --- add_business_hours -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        # Friday -> Monday: 1.25 h on Friday (16:00–17:15), 2.75 h on Monday from 08:30.
        (jst(2026, 11, 13, 16), 4, jst(2026, 11, 16, 11, 15)),
        # Friday -> Tuesday because Monday 11/23 is 勤労感謝の日.
        (jst(2026, 11, 20, 16), 4, jst(2026, 11, 24, 11, 15)),
        # Year-end closure: 12/29–1/3 closed; same 1.25 h + 2.75 h split as above.
        (jst(2026, 12, 28, 16), 4, jst(2027, 1, 4, 11, 15)),
        # Golden Week: Thu 4/30 ... Fri 5/1 ... Thu 5/7 (5/4–5/6 closed).
        (jst(2026, 5, 1, 16), 4, jst(2026, 5, 7, 11, 15)),
        # Silver Week 2026: 9/19–9/23 closed (Sat, Sun, 敬老の日, 国民の休日, 秋分の日).
        (jst(2026, 9, 18, 17), 1, jst(2026, 9, 24, 9, 15)),
        # Within a day.
        (jst(2026, 11, 16, 9), 4, jst(2026, 11, 16, 13)),
        # Ends exactly at closing: stays on the same day, not next morning.
        (jst(2026, 11, 16, 13, 15), 4, jst(2026, 11, 16, 17, 15)),
        # Before opening counts from opening.
        (jst(2026, 11, 16, 6), 4, jst(2026, 11, 16, 12, 30)),
        # After closing counts from next opening.
        (jst(2026, 11, 16, 20), 4, jst(2026, 11, 17, 12, 30)),
        # Starting on a holiday counts from the next opening.
        (jst(2026, 11, 23, 10), 4, jst(2026, 11, 24, 12, 30)),
        # Fractional hours.
        (jst(2026, 11, 16, 9), 0.5, jst(2026, 11, 16, 9, 30)),
        (jst(2026, 11, 16, 17), 0.25, jst(2026, 11, 16, 17, 15)),  # ends at closing, not 08:30 next day
        (jst(2026, 11, 16, 17), 0.5, jst(2026, 11, 17, 8, 45)),
        (jst(2026, 11, 16, 17), 1.5, jst(2026, 11, 17, 9, 45)),
        # A full business day is 8.75 h.
        (jst(2026, 11, 16, 8, 30), 8.75, jst(2026, 11, 16, 17, 15)),
        (jst(2026, 11, 16, 8, 30), 8.75 * 5, jst(2026, 11, 20, 17, 15)),
        # Zero hours: open -> unchanged; closed -> next opening; exactly at closing -> unchanged.
        (jst(2026, 11, 16, 10), 0, jst(2026, 11, 16, 10)),
        (jst(2026, 11, 21, 10), 0, jst(2026, 11, 24, 8, 30)),
        (jst(2026, 11, 16, 17, 15), 0, jst(2026, 11, 16, 17, 15)),
    ],
)
def test_add_business_hours(start: datetime, hours: float, expected: datetime) -> None:
    result = CAL.add_business_hours(start, hours)
    assert result == expected
    assert result.tzinfo == JST


def test_add_business_hours_utc_input_returns_calendar_zone() -> None:
    start = datetime(2026, 11, 13, 7, 0, tzinfo=UTC)  # Friday 16:00 JST
    result = CAL.add_business_hours(start, 4)
    assert result == jst(2026, 11, 16, 11, 15)
    assert result.tzinfo == JST
    assert (result.hour, result.minute) == (11, 15)
    # UTC instant whose UTC date differs from its JST date: Mon 00:30 JST == Sun 15:30 UTC.
    assert CAL.add_business_hours(datetime(2026, 11, 15, 15, 30, tzinfo=UTC), 1) == jst(2026, 11, 16, 9, 30)


@pytest.mark.parametrize("hours", [-1, math.nan, math.inf])
def test_add_business_hours_rejects_bad_hours(hours: float) -> None:
    with pytest.raises(ValueError, match="hours"):
        CAL.add_business_hours(jst(2026, 11, 16, 10), hours)


def test_custom_hours() -> None:
    cal = BusinessCalendar(opens=time(9), closes=time(17))
    assert cal.add_business_hours(jst(2026, 11, 13, 16), 4) == jst(2026, 11, 16, 12)
    assert not cal.is_open(jst(2026, 11, 16, 8, 45))


# --- add_business_days --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        # Received Friday after hours / on the weekend -> by Monday closing.
        (jst(2026, 11, 13, 20), 1, jst(2026, 11, 16, 17, 15)),
        (jst(2026, 11, 14, 10), 1, jst(2026, 11, 16, 17, 15)),
        (jst(2026, 11, 15, 23, 59), 1, jst(2026, 11, 16, 17, 15)),
        # Received during / before / after hours on a business day -> next business day's closing.
        (jst(2026, 11, 16, 10), 1, jst(2026, 11, 17, 17, 15)),
        (jst(2026, 11, 16, 7), 1, jst(2026, 11, 17, 17, 15)),
        (jst(2026, 11, 16, 17, 14), 1, jst(2026, 11, 17, 17, 15)),
        (jst(2026, 11, 16, 21), 1, jst(2026, 11, 17, 17, 15)),
        # Holidays are skipped: Fri 11/20 -> Tue 11/24 (11/23 勤労感謝の日).
        (jst(2026, 11, 20, 10), 1, jst(2026, 11, 24, 17, 15)),
        (jst(2026, 12, 28, 10), 1, jst(2027, 1, 4, 17, 15)),
        (jst(2026, 5, 1, 10), 1, jst(2026, 5, 7, 17, 15)),
        (jst(2026, 5, 1, 10), 2, jst(2026, 5, 8, 17, 15)),
        (jst(2026, 11, 16, 10), 5, jst(2026, 11, 24, 17, 15)),
        # Zero days: by closing today, or the next business day's if already closed.
        (jst(2026, 11, 16, 10), 0, jst(2026, 11, 16, 17, 15)),
        (jst(2026, 11, 16, 17, 15), 0, jst(2026, 11, 16, 17, 15)),
        (jst(2026, 11, 16, 18), 0, jst(2026, 11, 17, 17, 15)),
        (jst(2026, 11, 21, 10), 0, jst(2026, 11, 24, 17, 15)),
        # UTC input: Fri 2026-11-13 11:00 UTC == Fri 20:00 JST.
        (datetime(2026, 11, 13, 11, tzinfo=UTC), 1, jst(2026, 11, 16, 17, 15)),
        # Sat 00:30 JST is still Friday in UTC; the JST date (Saturday) is what counts.
        (datetime(2026, 11, 13, 15, 30, tzinfo=UTC), 1, jst(2026, 11, 16, 17, 15)),
    ],
)
def test_add_business_days(start: datetime, days: int, expected: datetime) -> None:
    result = CAL.add_business_days(start, days)
    assert result == expected
    assert result.tzinfo == JST


def test_add_business_days_rejects_negative() -> None:
    with pytest.raises(ValueError, match="days"):
        CAL.add_business_days(jst(2026, 11, 16, 10), -1)


# --- business_hours_between ---------------------------------------------------------------------


def test_business_hours_between() -> None:
    assert CAL.business_hours_between(jst(2026, 11, 16, 9), jst(2026, 11, 16, 13)) == 4
    assert CAL.business_hours_between(jst(2026, 11, 13, 16), jst(2026, 11, 16, 11, 15)) == 4
    # Whole week containing 勤労感謝の日: 4 business days.
    assert CAL.business_hours_between(jst(2026, 11, 23), jst(2026, 11, 30)) == 4 * 8.75
    # Year-end closure contributes nothing.
    assert CAL.business_hours_between(jst(2026, 12, 28, 17, 15), jst(2027, 1, 4, 8, 30)) == 0
    assert CAL.business_hours_between(jst(2026, 11, 21), jst(2026, 11, 22)) == 0
    # Reversed arguments give a negative number (handy for "hours overdue").
    assert CAL.business_hours_between(jst(2026, 11, 16, 13), jst(2026, 11, 16, 9)) == -4
    # Mixed zones.
    assert CAL.business_hours_between(datetime(2026, 11, 16, 0, tzinfo=UTC), jst(2026, 11, 16, 12)) == 3


def test_other_timezone_with_dst() -> None:
    # US DST ended Sunday 2026-11-01: the office hours stay 8:30–17:15 local on both sides.
    # (US national holidays are not used: the calendar is a Japanese office's, only the zone differs.)
    ny = ZoneInfo("America/New_York")
    cal = BusinessCalendar(timezone="America/New_York")
    fri = datetime(2026, 10, 30, 16, tzinfo=ny)
    assert cal.add_business_hours(fri, 4) == datetime(2026, 11, 2, 11, 15, tzinfo=ny)
    assert cal.business_hours_between(fri, datetime(2026, 11, 2, 11, 15, tzinfo=ny)) == 4
    # 13:30 UTC is 08:30 in New York before the switch (EDT) and 09:30 after it (EST).
    assert cal.is_open(datetime(2026, 10, 30, 12, 30, tzinfo=UTC))
    assert not cal.is_open(datetime(2026, 11, 2, 12, 30, tzinfo=UTC))
    assert cal.add_business_hours(datetime(2026, 10, 30, 16, tzinfo=UTC), 0).utcoffset() == timedelta(
        hours=-4
    )


def test_long_spans_are_fast() -> None:
    # Sweeps over thousands of rows: cost must not scale with minutes.
    start = jst(2026, 1, 5, 9)
    t0 = _time.perf_counter()
    for i in range(2000):
        CAL.add_business_hours(start + timedelta(minutes=37 * i), 4)
    assert CAL.add_business_hours(start, 8.75 * 240) < jst(2027, 3, 1)
    assert _time.perf_counter() - t0 < 2.0


# --- properties ---------------------------------------------------------------------------------

ZONES = st.sampled_from([JST, UTC, ZoneInfo("America/Los_Angeles")])
STARTS = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2027, 12, 31)),
    ZONES,
)
HOURS = st.one_of(st.floats(min_value=0, max_value=200, allow_nan=False), st.integers(0, 50))


def _open_or_closing(cal: BusinessCalendar, at: datetime) -> bool:
    local = at.astimezone(cal.tz)
    return cal.is_open(at) or (
        cal.is_business_day(local.date()) and local.timetz().replace(tzinfo=None) == cal.closes
    )


@settings(max_examples=300, deadline=None)
@given(start=STARTS, hours=HOURS)
def test_round_trip(start: datetime, hours: float) -> None:
    end = CAL.add_business_hours(start, hours)
    assert end >= start
    assert end.tzinfo == JST
    assert _open_or_closing(CAL, end)
    assert CAL.business_hours_between(start, end) == pytest.approx(hours, abs=1e-5)


@settings(max_examples=200, deadline=None)
@given(start=STARTS, h1=HOURS, h2=HOURS)
def test_add_hours_is_monotone_and_composes(start: datetime, h1: float, h2: float) -> None:
    lo, hi = sorted((h1, h2))
    assert CAL.add_business_hours(start, lo) <= CAL.add_business_hours(start, hi)
    # Adding in two steps equals adding at once (up to microsecond rounding).
    once = CAL.add_business_hours(start, h1 + h2)
    twice = CAL.add_business_hours(CAL.add_business_hours(start, h1), h2)
    assert abs(once - twice) <= timedelta(milliseconds=1)


@settings(max_examples=200, deadline=None)
@given(start=STARTS, days=st.integers(0, 30))
def test_add_business_days_properties(start: datetime, days: int) -> None:
    due = CAL.add_business_days(start, days)
    assert due >= start
    assert _open_or_closing(CAL, due)
    assert (due.hour, due.minute) == (17, 15)
    # At least `days` full business days of open time are always available.
    assert CAL.business_hours_between(start, due) >= days * 8.75 - 1e-9


@settings(max_examples=100, deadline=None)
@given(
    a=st.datetimes(min_value=datetime(2026, 4, 20), max_value=datetime(2026, 5, 20)),
    span=st.integers(0, 10 * 24 * 4),
)
def test_between_matches_brute_force(a: datetime, span: int) -> None:
    # Independent reference: count open 15-minute slots (hours are on quarter-hour boundaries).
    a = a.replace(minute=a.minute // 15 * 15, second=0, microsecond=0, tzinfo=JST)
    step = timedelta(minutes=15)
    slots = sum(CAL.is_open(a + i * step) for i in range(span))
    assert CAL.business_hours_between(a, a + span * step) == slots / 4
