"""Plausibility: what a decoded batch may say, and what its arithmetic may produce.

The wire types already bound every integer to int64 and every float to a finite value;
this module adds what needs the clock, the plant and the interval:

* time: a batch ends at most `max_future_s` ahead of ingest's clock (clock skew) and
  starts at most `max_past_s` behind it (the gateway's backlog allowance); its interval
  is at most `max_interval_s` long;
* rates: per machine, parts finished per second and meter consumption per second of
  the interval stay below the physical maximum of the machine's device class
  (`[plausibility.limits.<class>]`, falling back to `default`, then to the built-in
  defaults below);
* results: every float ingest computed from the batch (kgce, kgCO2, ideal-time sums)
  is finite and every integer fits int64, checked before anything is formatted, so
  InfluxDB never sees `inf` or an integer it cannot parse.

Each failure is a `WireError` with a fixed reason: `timestamp_too_old`,
`future_timestamp`, `interval_too_long`, `implausible_rate`, `non_finite_result`,
`integer_out_of_range`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

from plantstream.analytics import MachineComponents
from plantstream.config import PlantConfig
from plantstream.errors import WireError
from plantstream.ingest.config import DeviceLimits, PlausibilityConfig
from plantstream.wire import INT64_MAX, Batch, Health

__all__ = ["BUILTIN_LIMITS", "Plausibility", "check_components"]

# Generous physical ceilings for one machine: they catch unit slips and garbage
# (1e300 kWh in 10 s), not an unusually busy machine. Override per device class.
BUILTIN_LIMITS: Final = DeviceLimits(
    max_parts_per_s=1_000.0,  # a cigarette maker makes ~330/s
    max_meter_per_s={
        "electricity": 100.0,  # kWh/s = 360 MW, beyond the largest arc furnace
        "natural_gas": 100.0,  # m3/s
        "steam_1_0mpa": 1_000.0,  # kg/s
        "compressed_air": 1_000.0,  # m3/s
        "diesel": 100.0,  # kg/s
    },
    max_other_meter_per_s=1.0e5,  # any other carrier, in its own unit per second
)


class Plausibility:
    """The checks of one configuration; `check` raises `WireError` with a reason."""

    def __init__(self, *, config: PlausibilityConfig, plant: PlantConfig) -> None:
        self.config = config
        self.plant = plant
        self._max_past_ms = int(config.max_past_s * 1000)
        self._max_future_ms = int(config.max_future_s * 1000)
        self._max_interval_ms = int(config.max_interval_s * 1000)
        default = config.limits.get("default", DeviceLimits())
        self._parts: dict[str, float] = {}
        self._meters: dict[str, dict[str, float]] = {}
        self._other: dict[str, float] = {}
        classes = {m.device_class for m in plant.machines} | set(config.limits) | {"default"}
        for name in classes:
            own = config.limits.get(name, DeviceLimits())
            self._parts[name] = _first(own.max_parts_per_s, default.max_parts_per_s,
                                       BUILTIN_LIMITS.max_parts_per_s)
            self._meters[name] = {**BUILTIN_LIMITS.max_meter_per_s,
                                  **default.max_meter_per_s, **own.max_meter_per_s}
            self._other[name] = _first(own.max_other_meter_per_s,
                                       default.max_other_meter_per_s,
                                       BUILTIN_LIMITS.max_other_meter_per_s)

    def check_health(self, health: Health, *, topic: str, now_ms: int) -> None:
        """A health message's time within the same window as a batch's."""
        t = health.t_ms
        reason = ("future_timestamp" if t > now_ms + self._max_future_ms else
                  "timestamp_too_old" if t < now_ms - self._max_past_ms else None)
        if reason is not None:
            raise WireError(reason=reason, detail=f"health t_ms {t}, ingest clock {now_ms}",
                            topic=topic, gateway=health.gateway)

    def check(self, batch: Batch, *, topic: str, now_ms: int) -> None:
        def fail(reason: str, detail: str) -> WireError:
            return WireError(reason=reason, detail=detail, topic=topic,
                             gateway=batch.gateway, seq=batch.seq)

        t0, t1 = batch.t_start_ms, batch.t_end_ms
        if t1 > now_ms + self._max_future_ms:
            raise fail("future_timestamp", f"t_end_ms {t1} is {(t1 - now_ms) / 1000:.0f} s "
                                           f"ahead (max_future_s {self.config.max_future_s})")
        if t0 < now_ms - self._max_past_ms:
            raise fail("timestamp_too_old", f"t_start_ms {t0} is {(now_ms - t0) / 1000:.0f} s "
                                            f"old (max_past_s {self.config.max_past_s})")
        if t1 - t0 > self._max_interval_ms:
            raise fail("interval_too_long", f"{(t1 - t0) / 1000:.0f} s > max_interval_s "
                                            f"{self.config.max_interval_s}")
        span_s = (t1 - t0) / 1000.0
        for m in batch.machines:
            machine = self.plant.machine(m.machine)
            cls = machine.device_class if machine is not None else "default"
            parts = sum(c.good + c.scrap + c.rework for c in m.counts)
            if parts > self._parts[cls] * span_s:
                raise fail("implausible_rate",
                           f"{m.machine}: {parts} parts in {span_s:g} s > {self._parts[cls]:g}/s "
                           f"(device class {cls})")
            meters = self._meters[cls]
            for meter in m.meters:
                limit = meters.get(meter.carrier, self._other[cls])
                if meter.delta > limit * span_s:
                    raise fail("implausible_rate",
                               f"{m.machine}/{meter.carrier}: {meter.delta:g} {meter.unit} in "
                               f"{span_s:g} s > {limit:g}/s (device class {cls})")


def check_components(components: Iterable[MachineComponents], batch: Batch, *,
                     topic: str) -> None:
    """Every float ingest computed is finite and every integer it summed fits int64.

    Only results of arithmetic on unbounded products need a look: time elements are
    integer milliseconds over a bounded interval, wire values are bounded by their
    types. What remains: ideal-time sums (ideal cycle time x count), kgce and kgCO2
    (delta x coefficient), and the quantity sums. A NaN or infinity anywhere makes the
    sum non-finite, so one addition per value checks them all."""
    for c in components:
        t = c.time
        total = t.pru_pq_s + t.pru_gq_s
        for e in c.energy:
            if e.kgce is not None:
                total += e.kgce
            if e.kgco2 is not None:
                total += e.kgco2
        if not math.isfinite(total):
            raise WireError(reason="non_finite_result",
                            detail=f"{c.machine}: a computed value is not finite "
                                   "(overflow in kgce, kgCO2 or ideal-time sums)",
                            topic=topic, gateway=batch.gateway, seq=batch.seq)
        if t.pq > INT64_MAX:  # pq = gq + sq + rq: the largest sum
            raise WireError(reason="integer_out_of_range",
                            detail=f"{c.machine}: produced quantity {t.pq} exceeds int64",
                            topic=topic, gateway=batch.gateway, seq=batch.seq)


def _first(*values: float | None) -> float:
    for v in values:
        if v is not None:
            return v
    raise ValueError("no limit")  # BUILTIN_LIMITS always has one
