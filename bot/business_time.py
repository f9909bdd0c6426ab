"""Business calendar of a Japanese city office (開庁日・開庁時間), for reminders and SLAs.

Pure and Slack-free. A *business day* (開庁日) is Monday–Friday that is neither a national holiday
(``holidays.Japan``: includes 振替休日 and 国民の休日), nor in the year-end/new-year closure
12/29–1/3 (年末年始, 行政機関の休日に関する法律 第1条), nor an ``extra_closed_days`` entry.
*Open time* is ``[opens, closes)`` local time on business days (default 8:30–17:15).

Definitions:

* ``add_business_hours(start, h)``: the earliest moment ``t >= start`` at which ``h`` hours of
  open time have elapsed since ``start`` and which is open time or exactly a closing time.  So a
  start outside hours counts from the next opening, and work that fits today ends *at* 17:15
  rather than rolling over to the next morning.
* ``add_business_days(start, n)``: closing time of the n-th business day *after the calendar day*
  (local) on which ``start`` falls.  This is the civil-code way of counting (初日不算入, 民法140条;
  the period ends when the last day ends, 141条; closed days are skipped, cf. 142条), with "the
  end of the day" read as closing time.  "Acknowledge within 1 business day" therefore means:
  received Monday 10:00 → Tuesday 17:15; received Friday 20:00, Saturday or Sunday → Monday
  17:15.  Staff always get at least n full business days.  ``n == 0`` means "by closing today",
  or by the next business day's closing if the office has already closed for the day.

All arithmetic happens on absolute instants (UTC), so any ``zoneinfo`` timezone works, including
ones with DST; inputs in any timezone are accepted, results are in the calendar's timezone.
Naive datetimes are rejected.

Limitations: holidays come from the ``holidays`` package, which only knows Japanese holidays for
1949–2099 (other years silently have none) and predicts the equinox days by a fixed rule (they are
officially fixed each February for the next year).  Office-specific closures (e.g. a city's own
anniversary) must be passed as ``extra_closed_days``; there is no lunch break or per-day hours.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import islice
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import holidays

if TYPE_CHECKING:
    from bot.organization import Organization

__all__ = ["BusinessCalendar", "office_calendar"]

_ONE_DAY = timedelta(days=1)


@cache
def _japan_holidays(year: int) -> frozenset[date]:
    # Building holidays.Japan takes milliseconds per year; sweeps over thousands of rows must not pay it
    # per call.  Shared across calendars because the national holidays don't depend on settings.
    return frozenset(holidays.Japan(years=year))


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name} must be a timezone-aware datetime (got naive {value.isoformat()}); "
            "attach a zone, e.g. datetime(..., tzinfo=ZoneInfo('Asia/Tokyo')) or tzinfo=UTC"
        )


class BusinessCalendar:
    def __init__(
        self,
        timezone: str = "Asia/Tokyo",
        opens: time = time(8, 30),
        closes: time = time(17, 15),
        extra_closed_days: Iterable[date] = (),
        year_end_closure: bool = True,
    ) -> None:
        if opens.tzinfo is not None or closes.tzinfo is not None:
            raise ValueError("opens/closes must be naive local times; the zone comes from `timezone`")
        if not opens < closes:
            raise ValueError(f"opens ({opens}) must be before closes ({closes})")
        self.tz = ZoneInfo(timezone)
        self.opens = opens
        self.closes = closes
        self.year_end_closure = year_end_closure
        # A datetime in here would never match a date lookup, so normalise instead of silently failing.
        self.extra_closed_days = frozenset(
            d.date() if isinstance(d, datetime) else d for d in extra_closed_days
        )

    def __repr__(self) -> str:
        return (
            f"BusinessCalendar(timezone={self.tz.key!r}, opens={self.opens!r}, closes={self.closes!r}, "
            f"extra_closed_days=<{len(self.extra_closed_days)}>, year_end_closure={self.year_end_closure})"
        )

    # --- days -------------------------------------------------------------------------------

    def is_business_day(self, d: date) -> bool:
        if isinstance(d, datetime):
            # Which *local* date a datetime means depends on the timezone; make the caller say.
            raise TypeError("is_business_day takes a date; use is_open() for a datetime")
        if d.weekday() >= 5 or d in self.extra_closed_days or d in _japan_holidays(d.year):
            return False
        return not (
            self.year_end_closure and ((d.month == 12 and d.day >= 29) or (d.month == 1 and d.day <= 3))
        )

    def _window(self, d: date) -> tuple[datetime, datetime]:
        """Open interval of local date ``d`` as UTC instants (computed even if ``d`` is closed)."""
        o = datetime.combine(d, self.opens, tzinfo=self.tz).astimezone(UTC)
        c = datetime.combine(d, self.closes, tzinfo=self.tz).astimezone(UTC)
        return o, c

    def _open_windows(self, from_day: date) -> Iterator[tuple[datetime, datetime]]:
        """Open windows of business days on or after ``from_day``, in order (endless)."""
        d = from_day
        while True:
            if self.is_business_day(d):
                yield self._window(d)
            d += _ONE_DAY

    def _local_date(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()

    # --- instants -----------------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        """True during open time; half-open, so exactly at closing time the office is closed."""
        _require_aware(at, "at")
        d = self._local_date(at)
        if not self.is_business_day(d):
            return False
        o, c = self._window(d)
        return o <= at.astimezone(UTC) < c

    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """Moment when ``hours`` of open time have elapsed after ``start`` (see module docstring)."""
        _require_aware(start, "start")
        if not math.isfinite(hours) or hours < 0:
            raise ValueError(f"hours must be a finite number >= 0, got {hours!r}")
        remaining = timedelta(hours=hours)
        cur = start.astimezone(UTC)
        # One step per business day spanned: cost is O(days), independent of the resolution.
        for o, c in self._open_windows(self._local_date(start)):
            if cur > c:
                continue  # started after this day's closing
            seg_start = max(cur, o)
            available = c - seg_start
            if remaining <= available:
                return (seg_start + remaining).astimezone(self.tz)
            remaining -= available
        raise AssertionError("unreachable: _open_windows is endless")  # pragma: no cover

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """Closing time of the ``days``-th business day after ``start``'s local date (see module docstring)."""
        _require_aware(start, "start")
        if days < 0:
            raise ValueError(f"days must be >= 0, got {days!r}")
        day0 = self._local_date(start)
        if days == 0:
            # "By closing today", or the next business day's closing if the office already closed.
            at = start.astimezone(UTC)
            return next(c for _o, c in self._open_windows(day0) if c >= at).astimezone(self.tz)
        # Count from the day after receipt (初日不算入), whatever the time of receipt.
        _o, c = next(islice(self._open_windows(day0 + _ONE_DAY), days - 1, None))
        return c.astimezone(self.tz)

    def business_hours_between(self, a: datetime, b: datetime) -> float:
        """Hours of open time in ``[a, b]``; negative if ``b`` is before ``a``."""
        _require_aware(a, "a")
        _require_aware(b, "b")
        if b < a:
            return -self.business_hours_between(b, a)
        a_utc, b_utc = a.astimezone(UTC), b.astimezone(UTC)
        total = timedelta()
        for o, c in self._open_windows(self._local_date(a)):
            if o >= b_utc:
                break
            overlap = min(c, b_utc) - max(o, a_utc)
            if overlap > timedelta():
                total += overlap
        return total / timedelta(hours=1)


def office_calendar(org: Organization) -> BusinessCalendar:
    """The city office's calendar: its zone, and the hours and closed days of the organisation file."""
    return BusinessCalendar(org.timezone, opens=org.calendar.opens, closes=org.calendar.closes,
                            extra_closed_days=org.calendar.closed_days, year_end_closure=org.calendar.year_end_closure)
