"""What the protocol sources share: a timestamped reading buffer and an analog deadband.

Protocol sources read on their own schedule (Modbus polling, OPC UA subscriptions) and
hand readings over when the agent calls `poll(until_ms)`. The buffer keeps the
`Source` contract: `poll` returns every reading timestamped before `until_ms` once,
in time order, and a reading that arrives after `until_ms` was handed out is stamped
no earlier than `until_ms` (the interval before it may be closed already).
"""

from __future__ import annotations

import asyncio
import logging
import time

from plantstream.edge.readings import Reading

__all__ = ["Deadband", "ReadingBuffer", "now_ms", "raise_if_cancelled"]

log = logging.getLogger(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


class ReadingBuffer:
    def __init__(self, *, horizon_ms: int) -> None:
        self._readings: list[Reading] = []
        self.horizon_ms = horizon_ms  # every reading before this was handed out
        self.late = 0  # readings re-stamped to the horizon because they came too late

    def stamp(self, t_ms: int | None = None) -> int:
        """A timestamp for readings arriving now: `t_ms` (a device's own timestamp) or
        the wall clock, never in the future and never before the horizon."""
        wall = now_ms()
        t = wall if t_ms is None else min(t_ms, wall)
        if t < self.horizon_ms:
            self.late += 1
            log.debug("reading at %d is behind the horizon %d: re-stamped", t, self.horizon_ms)
            return self.horizon_ms
        return t

    def add(self, reading: Reading) -> None:
        self._readings.append(reading)

    def take(self, until_ms: int) -> list[Reading]:
        """Remove and return the readings before `until_ms`, in time order."""
        if until_ms <= self.horizon_ms:
            return []
        self.horizon_ms = until_ms
        ready = [r for r in self._readings if r.t_ms < until_ms]
        if ready:
            self._readings = [r for r in self._readings if r.t_ms >= until_ms]
            ready.sort(key=lambda r: r.t_ms)  # stable: arrival order within a timestamp
        return ready

    def __len__(self) -> int:
        return len(self._readings)


class Deadband:
    """Report an analog value only when it moved at least `width` from the last one
    reported. A missing sample (None) is always reported, and so is the value after it.
    Never used for states, counters or meters."""

    def __init__(self, width: float | None) -> None:
        self.width = width
        self._last: float | None = None

    def admit(self, value: float | None) -> bool:
        if self.width is None or value is None or self._last is None:
            self._last = value
            return True
        if abs(value - self._last) >= self.width:
            self._last = value
            return True
        return False


def raise_if_cancelled() -> None:
    """Honour a cancellation that a library swallowed: Python 3.11's `asyncio.wait_for`
    (pymodbus and asyncua await every request with it) returns the result instead of
    raising when a cancellation arrives just as the response does, and a polling loop
    would then run on forever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
