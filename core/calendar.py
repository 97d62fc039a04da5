"""Shift calendars in the plant's time zone: the configuration and its pure rules.

A calendar says, for every instant, whether time is *planned* (inside a shift: the
machine state decides the time element), *planned down* (a break or a planned
downtime inside a shift: PLANNED_DOWN whatever the state) or *not planned* (no shift:
NOT_PLANNED). Without shifts every instant is planned and the state model alone
decides.

Pure Python (msgspec, zoneinfo), so the plant configuration (`PlantConfig.calendar`)
can hold it; `plantstream.analytics.calendar.ShiftCalendar` adds the kernel arrays.
Shifts may cross midnight (`end` at or before `start` ends the next day); a break whose
clock time is before the shift start belongs to the shift's second day.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

__all__ = ["Break", "PlannedDowntime", "Shift", "ShiftPlan"]

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _clock(value: str, where: str) -> dt.time:
    match = _CLOCK.match(value)
    if not match:
        raise msgspec.ValidationError(f"{value!r} is not HH:MM - at `$.{where}`")
    return dt.time(int(match.group(1)), int(match.group(2)))


class Break(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    start: str  # "HH:MM" local
    end: str
    name: str = "break"

    def __post_init__(self) -> None:
        _clock(self.start, "start")
        _clock(self.end, "end")


class Shift(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    start: str  # "HH:MM" local
    end: str  # "HH:MM" local; at or before start: the shift ends the next day
    weekdays: list[int] = msgspec.field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7])
    breaks: list[Break] = []

    def __post_init__(self) -> None:
        _clock(self.start, "start")
        _clock(self.end, "end")
        for day in self.weekdays:
            if not 1 <= day <= 7:
                raise msgspec.ValidationError(
                    f"weekday {day} is not 1 (Monday) .. 7 (Sunday) - at `$.weekdays`")


class PlannedDowntime(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    start: dt.datetime  # local wall time (naive) or with an offset
    end: dt.datetime
    reason: str = "planned_maintenance"

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise msgspec.ValidationError("end is not after start - at `$.end`")


class ShiftPlan(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The calendar as configured (`[calendar]` in the plant configuration)."""

    timezone: str = "Asia/Shanghai"
    shifts: list[Shift] = []
    planned_downtime: list[PlannedDowntime] = []

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise msgspec.ValidationError(
                f"unknown time zone {self.timezone!r} - at `$.timezone`") from None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def shift_intervals(self, t0_ms: int, t1_ms: int) -> list[tuple[int, int, str]]:
        """(start_ms, end_ms, name) of every shift overlapping [t0, t1)."""
        return [(a, b, name) for a, b, name, _ in self._shifts(t0_ms, t1_ms)]

    def _shifts(self, t0_ms: int, t1_ms: int
                ) -> list[tuple[int, int, str, list[tuple[int, int]]]]:
        zone = self.zone
        first = _local_date(t0_ms, zone) - dt.timedelta(days=1)
        last = _local_date(t1_ms, zone)
        out: list[tuple[int, int, str, list[tuple[int, int]]]] = []
        day = first
        while day <= last:
            for shift in self.shifts:
                if day.isoweekday() not in shift.weekdays:
                    continue
                start_clock = _clock(shift.start, "start")
                end_clock = _clock(shift.end, "end")
                end_day = day + dt.timedelta(days=1) if end_clock <= start_clock else day
                a = _ms(dt.datetime.combine(day, start_clock, zone))
                b = _ms(dt.datetime.combine(end_day, end_clock, zone))
                if b <= t0_ms or a >= t1_ms:
                    continue
                breaks = []
                for brk in shift.breaks:
                    bs, be = _clock(brk.start, "start"), _clock(brk.end, "end")
                    bday = day + dt.timedelta(days=1) if bs < start_clock else day
                    eday = bday + dt.timedelta(days=1) if be <= bs else bday
                    breaks.append((_ms(dt.datetime.combine(bday, bs, zone)),
                                   _ms(dt.datetime.combine(eday, be, zone))))
                out.append((a, b, shift.name, breaks))
            day += dt.timedelta(days=1)
        return out


def _ms(value: dt.datetime) -> int:
    return round(value.timestamp() * 1000)


def _local_date(t_ms: int, zone: ZoneInfo) -> dt.date:
    return dt.datetime.fromtimestamp(t_ms / 1000, zone).date()
