"""Turn readings into self-contained, aligned batches (wire format v1).

Intervals are [t_start, t_end) aligned to multiples of the flush interval. For each
machine a batch carries the state at t_start and every change inside; counter deltas
per product and meter deltas per carrier, with rollover and resets handled here and
the raw registers kept; and the raw analog samples.

Counter and meter registers follow the one register rule of `plantstream.meter_rule`
(the same rule analytics applies to raw registers): the base is the high-water mark; a
small backward step is jitter (nothing counted, the base stays); a rollover only when
the step is consistent with wrapping; a reset when the register fell to less than half;
any other drop, and a rise above the meter's maximum rate (`MeterReading.max_rate_per_h`),
is flagged and not counted. Jitter, rollovers, resets and rejected steps are counted per
meter and interval on the wire.

The baselines (last register values, last state) are the batcher's only memory; they
are checkpointed with every closed batch, so a restarted agent continues exactly
where the last closed batch ended and no increment is lost or counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from plantstream.edge.readings import (
    AnalogReading,
    CounterReading,
    MeterReading,
    Reading,
    StateReading,
)
from plantstream.meter_rule import meter_step
from plantstream.wire import (
    CounterDelta,
    MachineInterval,
    MeterDelta,
    SignalSamples,
    StateChange,
)

__all__ = ["Batcher", "ClosedInterval", "register_delta"]


def register_delta(previous: int, raw: int, modulus: int) -> tuple[int, int, int]:
    """`(delta, rollovers, resets)` from the base `previous` to the reading `raw` of a
    cumulative register (`plantstream.meter_rule`, default jitter, no rate limit)."""
    step = meter_step(previous, raw, modulus=modulus)
    return step.consumption, int(step.kind == "rollover"), int(step.kind == "reset")


@dataclass(slots=True)
class _Meter:
    unit: str
    scale: float
    raw_start: int
    raw_end: int
    delta_counts: int = 0
    covered_ms: int = 0
    rollovers: int = 0
    resets: int = 0
    jitter: int = 0
    rejected: int = 0


@dataclass(slots=True)
class _Machine:
    state: int | None = None
    state_at_start: int | None = None
    since_ms: int | None = None  # when `state` began (None: unknown)
    since_at_start: int | None = None  # when the state at the interval start began
    changes: list[StateChange] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # product -> kind -> n
    meters: dict[str, _Meter] = field(default_factory=dict)
    samples: dict[str, tuple[list[int], list[float | None]]] = field(default_factory=dict)
    # baselines carried across intervals
    counter_raw: dict[str, int] = field(default_factory=dict)  # bases (high-water marks)
    meter_raw: dict[str, int] = field(default_factory=dict)
    meter_t_ms: dict[str, int] = field(default_factory=dict)  # time of the last reading


@dataclass(frozen=True, slots=True)
class ClosedInterval:
    t_start_ms: int
    t_end_ms: int
    machines: list[MachineInterval]
    checkpoint: dict[str, Any]


class Batcher:
    def __init__(self, *, flush_interval_ms: int, start_ms: int,
                 checkpoint: dict[str, Any] | None = None) -> None:
        if flush_interval_ms <= 0 or 60_000 % flush_interval_ms:
            raise ValueError("the flush interval must divide a minute")
        self.flush_ms = flush_interval_ms
        self.t_start_ms = start_ms - start_ms % flush_interval_ms
        self._machines: dict[str, _Machine] = {}
        if checkpoint:
            self._restore(checkpoint)

    @property
    def t_end_ms(self) -> int:
        return self.t_start_ms + self.flush_ms

    def _machine(self, machine: str) -> _Machine:
        m = self._machines.get(machine)
        if m is None:
            m = self._machines[machine] = _Machine()
        return m

    def add(self, readings: Iterable[Reading]) -> list[ClosedInterval]:
        """Apply readings in time order; return the intervals they closed."""
        closed: list[ClosedInterval] = []
        for r in readings:
            if r.t_ms < self.t_start_ms:
                continue  # the interval is closed already (a clock stepped back): drop
            while r.t_ms >= self.t_end_ms:
                closed.append(self._close())
            self._apply(r)
        return closed

    def close_until(self, until_ms: int) -> list[ClosedInterval]:
        """Close every interval that ends at or before `until_ms` (all readings before
        `until_ms` must have been added)."""
        closed = []
        while self.t_end_ms <= until_ms:
            closed.append(self._close())
        return closed

    def _apply(self, r: Reading) -> None:
        m = self._machine(r.machine)
        if isinstance(r, StateReading):
            if m.state_at_start is None and m.state is None:
                # first sight: the batch says the state holds from the interval start
                m.state_at_start = r.state
                m.since_ms = m.since_at_start = self.t_start_ms
            elif r.state != m.state:
                if m.state_at_start is None:
                    m.state_at_start = m.state
                m.changes.append(StateChange(r.t_ms, r.state))
                m.since_ms = r.t_ms
            m.state = r.state
        elif isinstance(r, CounterReading):
            previous = m.counter_raw.get(r.kind)
            if previous is None:
                m.counter_raw[r.kind] = r.raw
                return  # the first reading is the baseline
            step = meter_step(previous, r.raw, modulus=r.modulus)
            m.counter_raw[r.kind] = step.base
            delta = step.consumption
            if delta:
                per_kind = m.counts.setdefault(r.product, {})
                per_kind[r.kind] = per_kind.get(r.kind, 0) + delta
        elif isinstance(r, MeterReading):
            previous = m.meter_raw.get(r.carrier)
            previous_t = m.meter_t_ms.get(r.carrier)
            m.meter_t_ms[r.carrier] = r.t_ms
            if previous is None:
                m.meter_raw[r.carrier] = r.raw
            meter = m.meters.get(r.carrier)
            if meter is None:
                start = r.raw if previous is None else previous
                meter = m.meters[r.carrier] = _Meter(unit=r.unit, scale=r.scale,
                                                     raw_start=start, raw_end=start)
            meter.raw_end = r.raw
            meter.covered_ms = min(meter.covered_ms + r.period_ms, self.flush_ms)
            if previous is not None:
                max_delta = None
                if r.max_rate_per_h is not None and previous_t is not None:
                    hours = max(r.t_ms - previous_t, 0) / 3_600_000
                    max_delta = r.max_rate_per_h * hours / r.scale
                step = meter_step(previous, r.raw, modulus=r.modulus, jitter=r.jitter,
                                  max_delta=max_delta)
                m.meter_raw[r.carrier] = step.base
                meter.delta_counts += step.consumption
                meter.rollovers += step.kind == "rollover"
                meter.resets += step.kind == "reset"
                meter.jitter += step.kind == "jitter"
                meter.rejected += step.kind in ("backward", "jump")
        elif isinstance(r, AnalogReading):
            offsets, values = m.samples.setdefault(r.signal, ([], []))
            offsets.append(r.t_ms - self.t_start_ms)
            values.append(r.value)

    def _close(self) -> ClosedInterval:
        intervals = []
        for name, m in sorted(self._machines.items()):
            state_at_start = m.state_at_start if m.state_at_start is not None else m.state
            if state_at_start is None and not (m.meters or m.counts or m.samples):
                continue  # nothing known about this device in this interval
            # a device without a state (a meter on its own) is sent without one
            intervals.append(MachineInterval(
                machine=name,
                state_at_start=state_at_start,
                changes=m.changes,
                counts=[CounterDelta(product=p, **kinds) for p, kinds in sorted(m.counts.items())],
                meters=[MeterDelta(carrier=c, unit=x.unit, delta=x.delta_counts * x.scale,
                                   raw_start=float(x.raw_start), raw_end=float(x.raw_end),
                                   covered_ms=x.covered_ms, rollovers=x.rollovers,
                                   resets=x.resets, jitter=x.jitter, rejected=x.rejected)
                        for c, x in sorted(m.meters.items())],
                samples=[SignalSamples(signal=s, offsets_ms=o, values=v)
                         for s, (o, v) in sorted(m.samples.items())],
                registers={f"counter.{k}": float(v) for k, v in sorted(m.counter_raw.items())},
                state_since_ms=m.since_at_start,
            ))
            m.state_at_start = None
            m.since_at_start = m.since_ms
            m.changes, m.counts, m.meters, m.samples = [], {}, {}, {}
        t_start_ms = self.t_start_ms
        self.t_start_ms = self.t_end_ms
        return ClosedInterval(t_start_ms=t_start_ms, t_end_ms=self.t_start_ms,
                              machines=intervals, checkpoint=self.checkpoint())

    def checkpoint(self) -> dict[str, Any]:
        """The baselines as of the current interval start (JSON-serialisable)."""
        return {
            "t_start_ms": self.t_start_ms,
            # copies: the checkpoint is stored after later readings changed the baselines
            "machines": {name: {"state": m.state, "since_ms": m.since_ms,
                                "counter_raw": dict(m.counter_raw),
                                "meter_raw": dict(m.meter_raw),
                                "meter_t_ms": dict(m.meter_t_ms)}
                         for name, m in self._machines.items()},
        }

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        self.t_start_ms = max(self.t_start_ms, int(checkpoint["t_start_ms"]))
        for name, saved in checkpoint["machines"].items():
            m = self._machine(name)
            m.state = saved["state"]
            m.since_ms = m.since_at_start = saved.get("since_ms")  # None in older checkpoints
            m.counter_raw = dict(saved["counter_raw"])
            m.meter_raw = dict(saved["meter_raw"])
            m.meter_t_ms = dict(saved.get("meter_t_ms", {}))
