"""What a source reports, before batching: timestamped raw values.

Counters and meters are cumulative registers as read (with their modulus, for
rollover); the batcher turns them into deltas. Timestamps are epoch milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["AnalogReading", "CounterKind", "CounterReading", "MeterReading", "Reading",
           "StateReading"]

CounterKind = Literal["good", "scrap", "rework", "startup_rejects"]  # start-up: not in scrap


@dataclass(frozen=True, slots=True)
class StateReading:
    machine: str
    t_ms: int
    state: int


@dataclass(frozen=True, slots=True)
class CounterReading:
    machine: str
    t_ms: int
    kind: CounterKind
    product: str  # the product being made when the register was read
    raw: int
    modulus: int  # the register wraps to 0 at this value (2**16, 2**32...)


@dataclass(frozen=True, slots=True)
class MeterReading:
    machine: str
    t_ms: int
    carrier: str
    unit: str
    raw: int
    scale: float  # physical units per register count (0.001 kWh per Wh count)
    modulus: int
    period_ms: int  # expected time between readings, for completeness
    # the meter's maximum rate in its unit per hour (kW for kWh, m3/h...): a rise above
    # it over a step is an impossible jump, flagged and not counted; None: no limit
    max_rate_per_h: float | None = None
    jitter: int = 3  # the largest backward step (counts) that is read-out noise


@dataclass(frozen=True, slots=True)
class AnalogReading:
    machine: str
    t_ms: int
    signal: str
    value: float | None  # None: the source could not read it (a missing sample)


Reading = StateReading | CounterReading | MeterReading | AnalogReading
