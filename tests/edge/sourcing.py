"""Helpers for the source tests: drain a running source until a condition holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from plantstream.edge.batcher import Batcher, ClosedInterval
from plantstream.edge.readings import Reading
from plantstream.edge.sources import Source

# how long a test waits for a device to be read before it fails (a hang guard, not a
# timing assertion: on an idle machine the condition holds within a few poll cycles)
PATIENCE_S = 20.0


def now_ms() -> int:
    return int(time.time() * 1000)


async def collect_until(source: Source, seen: list[Reading],
                        done: Callable[[list[Reading]], bool], *,
                        patience_s: float = PATIENCE_S) -> list[Reading]:
    """Poll `source` like the agent does, appending to `seen`, until `done(seen)`."""
    async with asyncio.timeout(patience_s):
        while True:
            until = now_ms()
            batch = await source.poll(until)
            assert all(r.t_ms < until for r in batch)
            assert [r.t_ms for r in batch] == sorted(r.t_ms for r in batch)
            if seen and batch:
                assert batch[0].t_ms >= seen[-1].t_ms  # never behind what was handed out
            seen.extend(batch)
            if done(seen):
                return seen
            await asyncio.sleep(0.02)


def batch_readings(readings: Sequence[Reading], *, flush_ms: int = 1000) -> list[ClosedInterval]:
    """Run readings through the real batcher and close every interval they touch."""
    batcher = Batcher(flush_interval_ms=flush_ms, start_ms=readings[0].t_ms)
    closed = batcher.add(readings)
    closed += batcher.close_until(readings[-1].t_ms + flush_ms)
    return closed
