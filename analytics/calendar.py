"""Shift calendars in the plant's time zone, and window boundaries.

A calendar says, for every instant, whether time is *planned* (inside a shift: the
machine state decides the time element), *planned down* (a break or a planned
downtime inside a shift: PLANNED_DOWN whatever the state) or *not planned* (no shift:
NOT_PLANNED). Without shifts every instant is planned and the state model alone
decides (ingest without `PlantConfig.calendar`).

The configuration types (`Break`, `Shift`, `PlannedDowntime`, `ShiftPlan`) live in
`plantstream.calendar` (pure, so `PlantConfig.calendar` can hold one); `ShiftCalendar`
adds the arrays the kernels use. Everything local is converted with `zoneinfo` in the
configured zone (default Asia/Shanghai); the kernels only ever see epoch milliseconds.
Shifts may cross midnight (`end` at or before `start` ends the next day); a break whose
clock time is before the shift start belongs to the shift's second day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from plantstream.analytics import _kernels as K
from plantstream.calendar import Break, PlannedDowntime, Shift, ShiftPlan

__all__ = [
    "Break",
    "CalendarArrays",
    "PlannedDowntime",
    "Shift",
    "ShiftCalendar",
    "local_day_starts",
    "local_month_starts",
    "window_boundaries",
]

_MIN = np.iinfo(np.int64).min


class ShiftCalendar(ShiftPlan, forbid_unknown_fields=True, frozen=True):
    """A `ShiftPlan` (the configuration, `plantstream.calendar`) with kernel arrays."""

    @classmethod
    def of(cls, plan: ShiftPlan) -> ShiftCalendar:
        """The calendar of a configured plan (`PlantConfig.calendar`)."""
        if isinstance(plan, ShiftCalendar):
            return plan
        return cls(timezone=plan.timezone, shifts=plan.shifts,
                   planned_downtime=plan.planned_downtime)

    def arrays(self, t0_ms: int, t1_ms: int) -> CalendarArrays:
        """The calendar over [t0, t1) as kernel arrays (see `CalendarArrays`)."""
        if not self.shifts:
            return CalendarArrays.always_planned()
        zone = self.zone
        events: list[tuple[int, int, int]] = []  # time, layer (0 shift, 1 down), +1/-1
        for a, b, _, breaks in self._shifts(t0_ms, t1_ms):
            events += [(a, 0, 1), (b, 0, -1)]
            for bs, be in breaks:
                events += [(bs, 1, 1), (be, 1, -1)]
        for down in self.planned_downtime:
            a = _ms(_aware(down.start, zone))
            b = _ms(_aware(down.end, zone))
            if b > t0_ms and a < t1_ms:
                events += [(a, 1, 1), (b, 1, -1)]
        events.sort()
        times: list[int] = [int(_MIN)]
        kinds: list[int] = [K.CAL_NOT_PLANNED]
        depth = [0, 0]
        i = 0
        while i < len(events):
            t = events[i][0]
            while i < len(events) and events[i][0] == t:
                depth[events[i][1]] += events[i][2]
                i += 1
            kind = (K.CAL_NOT_PLANNED if depth[0] <= 0 else
                    K.CAL_PLANNED_DOWN if depth[1] > 0 else K.CAL_PLANNED)
            if kind != kinds[-1]:
                times.append(t)
                kinds.append(kind)
        return CalendarArrays(t_ms=np.array(times, dtype=np.int64),
                              kind=np.array(kinds, dtype=np.int8))


@dataclass(frozen=True, slots=True)
class CalendarArrays:
    """`kind[i]` (planned 0, planned down 1, not planned 2) holds over
    [t_ms[i], t_ms[i + 1]); `t_ms[0]` is the int64 minimum (covers all time)."""

    t_ms: npt.NDArray[np.int64]
    kind: npt.NDArray[np.int8]

    @staticmethod
    def always_planned() -> CalendarArrays:
        return CalendarArrays(t_ms=np.array([_MIN], dtype=np.int64),
                              kind=np.array([K.CAL_PLANNED], dtype=np.int8))


def _aware(value: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def _ms(value: dt.datetime) -> int:
    return round(value.timestamp() * 1000)


def _local_date(t_ms: int, zone: ZoneInfo) -> dt.date:
    return dt.datetime.fromtimestamp(t_ms / 1000, zone).date()


def local_day_starts(t0_ms: int, t1_ms: int, zone: ZoneInfo) -> list[int]:
    """Epoch ms of every local midnight in (t0, t1)."""
    out: list[int] = []
    day = _local_date(t0_ms, zone)
    while True:
        day += dt.timedelta(days=1)
        t = _ms(dt.datetime.combine(day, dt.time(0), zone))
        if t >= t1_ms:
            return out
        if t > t0_ms:
            out.append(t)


def local_month_starts(t0_ms: int, t1_ms: int, zone: ZoneInfo) -> list[int]:
    """Epoch ms of every local first-of-month midnight in (t0, t1)."""
    day = _local_date(t0_ms, zone).replace(day=1)
    out: list[int] = []
    while True:
        day = (day + dt.timedelta(days=32)).replace(day=1)
        t = _ms(dt.datetime.combine(day, dt.time(0), zone))
        if t >= t1_ms:
            return out
        if t > t0_ms:
            out.append(t)


def window_boundaries(t0_ms: int, t1_ms: int, *, step_ms: int | None = None,
                      calendar: ShiftCalendar | None = None, days: bool = True,
                      months: bool = True, shifts: bool = True,
                      extra: Iterable[int] = ()) -> npt.NDArray[np.int64]:
    """Sorted boundaries of windows covering [t0, t1): t0, t1, every multiple of
    `step_ms` (epoch aligned), local midnights and month starts, shift starts and ends,
    and `extra`. Intervals are split at every one of them."""
    if t1_ms <= t0_ms:
        raise ValueError(f"t1_ms {t1_ms} <= t0_ms {t0_ms}")
    zone = calendar.zone if calendar is not None else ZoneInfo("Asia/Shanghai")
    parts: list[npt.NDArray[np.int64]] = [np.array([t0_ms, t1_ms], dtype=np.int64)]
    if step_ms:
        first = -(-t0_ms // step_ms) * step_ms
        parts.append(np.arange(first, t1_ms, step_ms, dtype=np.int64))
    if days:
        parts.append(np.array(local_day_starts(t0_ms, t1_ms, zone), dtype=np.int64))
    if months:
        parts.append(np.array(local_month_starts(t0_ms, t1_ms, zone), dtype=np.int64))
    if shifts and calendar is not None:
        edges = [t for a, b, _ in calendar.shift_intervals(t0_ms, t1_ms) for t in (a, b)]
        parts.append(np.array(edges, dtype=np.int64))
    parts.append(np.fromiter(extra, dtype=np.int64))
    bounds = np.unique(np.concatenate(parts))
    return bounds[(bounds >= t0_ms) & (bounds <= t1_ms)]
