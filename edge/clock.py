"""Wall time, or simulated time running `speedup` times faster from a start."""

from __future__ import annotations

import time

__all__ = ["Clock"]


class Clock:
    def __init__(self, *, speedup: float = 1.0, start_ms: int | None = None) -> None:
        self.speedup = speedup
        self._wall0 = time.monotonic()
        self._start_ms = start_ms if start_ms is not None else int(time.time() * 1000)

    def now_ms(self) -> int:
        return self._start_ms + int((time.monotonic() - self._wall0) * 1000 * self.speedup)

    def wall_seconds_until(self, t_ms: int) -> float:
        return max(0.0, (t_ms - self.now_ms()) / 1000.0 / self.speedup)
