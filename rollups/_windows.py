"""Rollup windows: minutes, local hours, shifts and local days, as epoch milliseconds.

Day and shift boundaries are local clock times in the site's zone (zoneinfo, DST
aware); minutes are epoch aligned (every zone in use has whole-minute offsets).
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal
from zoneinfo import ZoneInfo

__all__ = ["GRANULARITIES", "MEASUREMENTS", "Granularity", "Windowing", "parse_clock"]

Granularity = Literal["1m", "1h", "shift", "1d"]
GRANULARITIES: Final[tuple[Granularity, ...]] = ("1m", "1h", "shift", "1d")
MEASUREMENTS: Final[dict[Granularity, str]] = {
    "1m": "kpi_1m", "1h": "kpi_1h", "shift": "kpi_shift", "1d": "kpi_1d"}

_MINUTE_MS: Final = 60_000
_HOUR_MS: Final = 3_600_000
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_clock(value: str) -> dt.time:
    match = _CLOCK.match(value)
    if not match:
        raise ValueError(f"{value!r} is not HH:MM")
    return dt.time(int(match.group(1)), int(match.group(2)))


def _ms(value: dt.datetime) -> int:
    return round(value.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Windowing:
    """The windows of one site: its zone and its shift start clock times."""

    zone: ZoneInfo
    shift_starts: tuple[dt.time, ...]

    @staticmethod
    def of(timezone: str, shift_starts: Sequence[str]) -> Windowing:
        starts = tuple(sorted({parse_clock(s) for s in shift_starts}))
        if not starts:
            raise ValueError("at least one shift start is needed")
        return Windowing(zone=ZoneInfo(timezone), shift_starts=starts)

    def window_of(self, granularity: Granularity, t_ms: int) -> tuple[int, int]:
        """[start, end) of the window of `granularity` that contains `t_ms`."""
        if granularity == "1m":
            start = t_ms - t_ms % _MINUTE_MS
            return start, start + _MINUTE_MS
        local = dt.datetime.fromtimestamp(t_ms / 1000, self.zone)
        if granularity == "1h":
            start = _ms(local.replace(minute=0, second=0, microsecond=0))
            return start, start + _HOUR_MS
        day = local.date()
        if granularity == "1d":
            return (_ms(dt.datetime.combine(day, dt.time(0), self.zone)),
                    _ms(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), self.zone)))
        bounds = [_ms(dt.datetime.combine(day + dt.timedelta(days=d), s, self.zone))
                  for d in (-1, 0, 1) for s in self.shift_starts]
        i = bisect.bisect_right(bounds, t_ms)
        return bounds[i - 1], bounds[i]

    def windows_between(self, granularity: Granularity, t0_ms: int,
                        t1_ms: int) -> list[tuple[int, int]]:
        """Every whole window with t0 <= start and end <= t1, in order."""
        out: list[tuple[int, int]] = []
        start, end = self.window_of(granularity, t0_ms)
        if start < t0_ms:
            start, end = self.window_of(granularity, end)
        while end <= t1_ms:
            out.append((start, end))
            start, end = self.window_of(granularity, end)
        return out
