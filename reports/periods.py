"""Report periods in a site's local time: day, month, quarter, year or a custom range.

Days start at 00:00 local time (DOMAIN.md section 4). A period is the half-open range
[start, end) of local dates; `parse_period` accepts `2026-10-05` (day), `2026-10`
(month), `2026-Q4` (quarter), `2026` (year) and `2026-10-01..2026-10-15` (custom,
both days included).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from plantstream.reports.errors import ReportInputError

__all__ = ["Period", "PeriodKind", "local_midnight_ms", "month_starts", "parse_day",
           "parse_period"]

PeriodKind = Literal["day", "month", "quarter", "year", "custom"]

# ASCII only (`[0-9]`, not `\d`, which takes any script's digits) and matched whole: a
# look-alike (fullwidth or Arabic-Indic digits, another dash, a trailing newline) is an
# error, never a second spelling of the same period
_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})", re.ASCII)
_QUARTER = re.compile(r"([0-9]{4})-Q([1-4])", re.ASCII)
_YEAR = re.compile(r"([0-9]{4})", re.ASCII)
_CUSTOM = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})\.\.([0-9]{4}-[0-9]{2}-[0-9]{2})", re.ASCII)
_MIN_YEAR, _MAX_YEAR = 2000, 2100


@dataclass(frozen=True, slots=True)
class Period:
    kind: PeriodKind
    label: str
    start: dt.date  # first local day
    end: dt.date  # first local day after the period

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def shifted_years(self, years: int) -> Period:
        """The same period `years` later (negative: earlier); 29 February -> 28."""
        return Period(kind=self.kind, label=f"{self.label} {years:+d}y",
                      start=_add_years(self.start, years), end=_add_years(self.end, years))

    def in_year(self, year: int) -> Period:
        return self.shifted_years(year - self.start.year)


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _date(text: str, field: str) -> dt.date:
    if not _DAY.fullmatch(text):
        raise ReportInputError(field=field, reason=f"{text!r} is not a date YYYY-MM-DD")
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise ReportInputError(field=field, reason=f"{text!r} is not a valid date") from None
    _check_year(day.year, field)
    return day


def _check_year(year: int, field: str) -> None:
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        raise ReportInputError(field=field,
                               reason=f"year {year} outside {_MIN_YEAR}-{_MAX_YEAR}")


def _next_month(year: int, month: int) -> dt.date:
    return dt.date(year + month // 12, month % 12 + 1, 1)


def parse_day(text: str, *, field: str) -> dt.date:
    """A local day `YYYY-MM-DD` (ASCII digits), years 2000-2100."""
    return _date(text, field)


def parse_period(text: str, *, field: str = "period") -> Period:
    if m := _DAY.fullmatch(text):
        day = _date(text, field)
        return Period("day", text, day, day + dt.timedelta(days=1))
    if m := _MONTH.fullmatch(text):
        year, month = int(m[1]), int(m[2])
        _check_year(year, field)
        if not 1 <= month <= 12:
            raise ReportInputError(field=field, reason=f"month {month} in {text!r}")
        return Period("month", text, dt.date(year, month, 1), _next_month(year, month))
    if m := _QUARTER.fullmatch(text):
        year, quarter = int(m[1]), int(m[2])
        _check_year(year, field)
        first = 3 * (quarter - 1) + 1
        return Period("quarter", text, dt.date(year, first, 1), _next_month(year, first + 2))
    if m := _YEAR.fullmatch(text):
        year = int(m[1])
        _check_year(year, field)
        return Period("year", text, dt.date(year, 1, 1), dt.date(year + 1, 1, 1))
    if m := _CUSTOM.fullmatch(text):
        first_day, last_day = _date(m[1], field), _date(m[2], field)
        if last_day < first_day:
            raise ReportInputError(field=field, reason=f"{text!r} ends before it starts")
        if (last_day - first_day).days > 366 * 5:
            raise ReportInputError(field=field, reason="a custom range is at most 5 years")
        return Period("custom", text, first_day, last_day + dt.timedelta(days=1))
    raise ReportInputError(field=field, reason=(
        f"{text!r}: use YYYY-MM-DD, YYYY-MM, YYYY-Qn, YYYY or YYYY-MM-DD..YYYY-MM-DD"))


def local_midnight_ms(day: dt.date, zone: ZoneInfo) -> int:
    """Epoch milliseconds of 00:00 local time on `day`."""
    return int(dt.datetime.combine(day, dt.time(0), tzinfo=zone).timestamp() * 1000)


def month_starts(start: dt.date, end: dt.date) -> list[dt.date]:
    """First days of the months that [start, end) touches."""
    out: list[dt.date] = []
    cursor = dt.date(start.year, start.month, 1)
    while cursor < end:
        out.append(cursor)
        cursor = _next_month(cursor.year, cursor.month)
    return out
