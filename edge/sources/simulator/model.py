"""One simulated machine: a seeded state process, production, power and meters.

Time advances in whole ticks of `tick_ms` (the sampling period). Every tick the machine
may change state, may finish a part, draws power according to its state, and is
sampled; meters are cumulative integer registers that wrap at their modulus. The
machine keeps its own ground truth (time per state, parts per product, true energy)
so tests can compare what reaches the database with what really happened.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from plantstream.edge.readings import (
    AnalogReading,
    CounterKind,
    CounterReading,
    MeterReading,
    Reading,
    StateReading,
)

__all__ = ["MachineModel", "MachineSpec", "MachineTruth", "MeterSpec", "PlannedStop"]

PRODUCING, REDUCED = 10000, 20000
UNSPECIFIED_STOP, MICROSTOP = 40000, 50000
MATERIAL, CHANGEOVER, SETTING_UP = 60000, 110000, 140000
BREAK, FAILURE, MAINTENANCE = 160000, 190000, 220000

# Share of rated power drawn in each state.
POWER_SHARE = {
    PRODUCING: 0.92, REDUCED: 0.65, UNSPECIFIED_STOP: 0.35, MICROSTOP: 0.4,
    MATERIAL: 0.3, CHANGEOVER: 0.45, SETTING_UP: 0.4, BREAK: 0.2, FAILURE: 0.1,
    MAINTENANCE: 0.05,
}
# (next state, probability, min s, max s) when a producing run ends.
INTERRUPTIONS = (
    (MICROSTOP, 0.45, 8, 90),
    (UNSPECIFIED_STOP, 0.10, 60, 400),
    (MATERIAL, 0.15, 120, 600),
    (FAILURE, 0.10, 300, 1800),
    (REDUCED, 0.20, 300, 900),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterSpec:
    carrier: str
    unit: str
    scale: float  # physical units per register count
    per_hour_at_rated: float  # consumption per hour while producing (physical units)
    modulus: int = 2**32
    initial_raw: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedStop:
    """A planned stop (break, maintenance) as a closed epoch-ms interval."""

    start_ms: int
    end_ms: int
    state: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MachineSpec:
    machine: str
    products: dict[str, float]  # product -> actual cycle time at full speed (s)
    rated_kw: float
    meters: tuple[MeterSpec, ...]
    counter_modulus: int = 2**16
    scrap_rate: float = 0.02
    rework_rate: float = 0.01
    mean_run_s: float = 1200.0
    changeover_every_s: float = 7200.0
    # the first parts after a start (changeover, failure, break...) are start-up rejects
    # with this probability: counted on their own register (`startup_rejects`)
    startup_parts: int = 3
    startup_reject_rate: float = 0.3
    # share of meter readings, when the register has not moved on since the last one,
    # that read one count low (as real meters and float conversions do): jitter
    meter_jitter: float = 0.0
    # a meter on its own (a compressor sub-meter): its state and counters stay inside
    # the simulator, only meters and power samples are read
    meter_only: bool = False


@dataclass(slots=True)
class MachineTruth:
    state_ms: dict[int, int] = field(default_factory=dict)
    parts: dict[tuple[str, str], int] = field(default_factory=dict)  # (product, kind)
    energy: dict[str, float] = field(default_factory=dict)  # carrier -> physical units
    # energy as of the last meter reading (what the registers can show)
    energy_at_reading: dict[str, float] = field(default_factory=dict)
    meter_only: bool = False  # no state or counters were read: time and parts are not on the wire


class MachineModel:
    def __init__(self, *, spec: MachineSpec, seed: int, start_ms: int, tick_ms: int,
                 planned: list[PlannedStop]) -> None:
        self.spec = spec
        self.tick_ms = tick_ms
        self.t_ms = start_ms
        self.rng = random.Random(f"{seed}/{spec.machine}")
        self.planned = sorted(planned, key=lambda p: p.start_ms)
        self.products = list(spec.products)
        self.product = self.products[0]
        self.state = PRODUCING
        self.state_until_ms = start_ms + self._draw_s(0.5, 1.5, spec.mean_run_s)
        self.next_changeover_ms = start_ms + int(spec.changeover_every_s * 1000)
        self.resume_state = PRODUCING
        self.progress = self.rng.random()  # part progress in [0, 1)
        self.counters: dict[CounterKind, int] = {"good": 0, "scrap": 0, "rework": 0,
                                                 "startup_rejects": 0}
        self.startup_left = 0  # parts still in the run-up after a start
        self.meter_raw = {m.carrier: m.initial_raw for m in spec.meters}
        self.meter_read: dict[str, int] = {}  # the last reading that was not jitter
        self.jitter_rng = random.Random(f"{seed}/{spec.machine}/jitter")
        self.meter_exact = {m.carrier: float(m.initial_raw) for m in spec.meters}
        self.power_factor = 1.0
        self.truth = MachineTruth(
            energy={m.carrier: 0.0 for m in spec.meters},
            energy_at_reading={m.carrier: 0.0 for m in spec.meters},
            meter_only=spec.meter_only)
        self._started = False

    def _draw_s(self, low: float, high: float, scale: float = 1.0) -> int:
        return int(self.rng.uniform(low, high) * scale) * 1000

    def _planned_state(self, t_ms: int) -> int | None:
        for stop in self.planned:
            if stop.start_ms <= t_ms < stop.end_ms:
                return stop.state
            if stop.start_ms > t_ms:
                break
        return None

    def _enter(self, state: int, t_ms: int, out: list[Reading]) -> None:
        if state == PRODUCING and self.state not in (PRODUCING, REDUCED):
            self.startup_left = self.spec.startup_parts
        if state != self.state:
            self.state = state
            if not self.spec.meter_only:
                out.append(StateReading(self.spec.machine, t_ms, state))
            self.power_factor = self.rng.uniform(0.95, 1.05)

    def _next_unplanned(self, t_ms: int, out: list[Reading]) -> None:
        """The current unplanned state ran out: choose what comes next."""
        if self.state in (PRODUCING, REDUCED):
            if t_ms >= self.next_changeover_ms and len(self.products) > 1:
                i = self.products.index(self.product)
                self.product = self.products[(i + 1) % len(self.products)]
                self.next_changeover_ms = t_ms + int(self.spec.changeover_every_s * 1000)
                self._enter(CHANGEOVER, t_ms, out)
                self.state_until_ms = t_ms + self._draw_s(600, 1200)
                return
            roll, acc = self.rng.random(), 0.0
            for state, p, low, high in INTERRUPTIONS:
                acc += p
                if roll < acc:
                    self._enter(state, t_ms, out)
                    self.state_until_ms = t_ms + self._draw_s(low, high)
                    return
        if self.state == FAILURE:
            self._enter(SETTING_UP, t_ms, out)
            self.state_until_ms = t_ms + self._draw_s(120, 480)
            return
        self._enter(PRODUCING, t_ms, out)
        self.state_until_ms = t_ms + self._draw_s(0.3, 1.7, self.spec.mean_run_s)

    def advance(self, until_ms: int) -> list[Reading]:
        """Run the machine through every whole tick ending at or before `until_ms`;
        return its readings (all timestamped before `until_ms`)."""
        out: list[Reading] = []
        spec, tick, truth = self.spec, self.tick_ms, self.truth
        machine = spec.machine
        if not self._started:  # the first readings: every register at the start
            self._started = True
            if not spec.meter_only:
                out.append(StateReading(machine, self.t_ms, self.state))
                for register, raw in self.counters.items():
                    out.append(CounterReading(machine, self.t_ms, register, self.product,
                                              raw, spec.counter_modulus))
            self._read_registers(self.t_ms, out)
        while self.t_ms + tick <= until_ms:
            t = self.t_ms
            planned = self._planned_state(t)
            if planned is not None:
                if self.state != planned:
                    if self.state not in (BREAK, MAINTENANCE):
                        self.resume_state = self.state
                    self._enter(planned, t, out)
            elif self.state in (BREAK, MAINTENANCE):
                self._enter(PRODUCING, t, out)
                self.state_until_ms = t + self._draw_s(0.3, 1.7, spec.mean_run_s)
            elif t >= self.state_until_ms:
                self._next_unplanned(t, out)
            state = self.state
            truth.state_ms[state] = truth.state_ms.get(state, 0) + tick
            # production during this tick
            if state in (PRODUCING, REDUCED) and not spec.meter_only:
                speed = 1.0 if state == PRODUCING else 0.6
                self.progress += speed * tick / 1000.0 / spec.products[self.product]
                if self.progress >= 1.0:
                    self.progress -= 1.0
                    roll = self.rng.random()
                    kind: CounterKind = ("scrap" if roll < spec.scrap_rate else
                            "rework" if roll < spec.scrap_rate + spec.rework_rate else "good")
                    if self.startup_left > 0:
                        self.startup_left -= 1
                        if roll < spec.startup_reject_rate:
                            kind = "startup_rejects"
                    self.counters[kind] += 1
                    key = (self.product, kind)
                    truth.parts[key] = truth.parts.get(key, 0) + 1
                    out.append(CounterReading(
                        machine, t + tick - 1, kind, self.product,
                        self.counters[kind] % spec.counter_modulus, spec.counter_modulus))
            # energy during this tick
            share = POWER_SHARE.get(state, 0.2) * self.power_factor
            power_kw = spec.rated_kw * share
            for meter in spec.meters:
                used = meter.per_hour_at_rated * share * tick / 3_600_000.0
                truth.energy[meter.carrier] += used
                self.meter_exact[meter.carrier] += used / meter.scale
            noise = self.rng.gauss(0.0, 0.01 * spec.rated_kw)
            self.t_ms = t + tick
            # sampled at the end of the tick, still inside [t, t + tick)
            self._read_registers(t + tick - 1, out)
            out.append(AnalogReading(machine, t + tick - 1, "power_kw",
                                     round(max(power_kw + noise, 0.0), 3)))
        return out

    def _read_registers(self, t_ms: int, out: list[Reading]) -> None:
        for meter in self.spec.meters:
            raw = int(self.meter_exact[meter.carrier])
            if self.spec.meter_jitter and self.meter_read.get(meter.carrier) == raw \
                    and self.jitter_rng.random() < self.spec.meter_jitter:
                raw -= 1  # one count low: the truth stays as of the last real reading
            else:
                self.meter_read[meter.carrier] = raw
                self.truth.energy_at_reading[meter.carrier] = self.truth.energy[meter.carrier]
            out.append(MeterReading(self.spec.machine, t_ms, meter.carrier, meter.unit,
                                    raw % meter.modulus, meter.scale, meter.modulus,
                                    self.tick_ms))
