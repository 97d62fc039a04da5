"""The simulator source: seeded, deterministic, believable machines with ground truth.

Machines run, slow down, stop for a few seconds (minor stops) or for longer (failures,
missing material), change over between products, pause for breaks and planned
maintenance on the plant's local clock, and draw power that follows their state; some
also burn natural gas or take steam. Each keeps its ground truth (`Simulator.truth`).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from types import TracebackType
from typing import Annotated, Self
from zoneinfo import ZoneInfo

import msgspec

from plantstream.edge.readings import Reading
from plantstream.edge.sources.simulator.model import (
    BREAK,
    MAINTENANCE,
    MachineModel,
    MachineSpec,
    MachineTruth,
    MeterSpec,
    PlannedStop,
)
from plantstream.wire import Id

__all__ = ["MachineTruth", "SimulatedMachine", "Simulator", "SimulatorConfig", "plan_stops"]


class SimulatedMachine(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: Id
    # product -> actual cycle time at full speed in seconds (a bit slower than ideal)
    products: dict[str, Annotated[float, msgspec.Meta(gt=0)]]
    rated_kw: Annotated[float, msgspec.Meta(gt=0)] = 15.0
    gas_m3_per_h: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    steam_kg_per_h: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    energy_register_modulus: Annotated[int, msgspec.Meta(ge=1000)] = 2**32
    maintenance_at: str | None = None  # local "HH:MM" of a 45-minute planned maintenance
    # share of meter readings (while a register stands still) that read one count low
    meter_jitter: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    # a meter without a machine state (a compressor sub-meter): only its meters and
    # power are read; it still runs, stops and draws power like a machine
    meter_only: bool = False


class SimulatorConfig(msgspec.Struct, tag="simulator", tag_field="type",
                      forbid_unknown_fields=True, frozen=True):
    machines: list[SimulatedMachine]
    seed: int = 1
    sample_interval_s: Annotated[float, msgspec.Meta(ge=0.1, le=60)] = 1.0
    timezone: str = "Asia/Shanghai"
    # local "HH:MM" starts of 30-minute breaks, one per shift
    breaks: list[str] = msgspec.field(default_factory=lambda: ["04:00", "12:00", "20:00"])


def _local_times(start_ms: int, end_ms: int, hhmm: str, tz: ZoneInfo) -> list[int]:
    """Epoch ms of every local occurrence of `hhmm` between start and end (exclusive)."""
    hour, minute = (int(x) for x in hhmm.split(":"))
    day = dt.datetime.fromtimestamp(start_ms / 1000, tz).date() - dt.timedelta(days=1)
    out: list[int] = []
    while True:
        moment = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=tz)
        ms = int(moment.timestamp() * 1000)
        if ms >= end_ms:
            return out
        if ms >= start_ms - 86_400_000:
            out.append(ms)
        day += dt.timedelta(days=1)


def plan_stops(config: SimulatorConfig, machine: SimulatedMachine, *, start_ms: int,
               horizon_days: int = 30) -> list[PlannedStop]:
    tz = ZoneInfo(config.timezone)
    end_ms = start_ms + horizon_days * 86_400_000
    stops = [PlannedStop(start_ms=t, end_ms=t + 30 * 60_000, state=BREAK)
             for hhmm in config.breaks for t in _local_times(start_ms, end_ms, hhmm, tz)]
    if machine.maintenance_at:
        stops += [PlannedStop(start_ms=t, end_ms=t + 45 * 60_000, state=MAINTENANCE)
                  for t in _local_times(start_ms, end_ms, machine.maintenance_at, tz)]
    return sorted(stops, key=lambda s: s.start_ms)


def machine_spec(machine: SimulatedMachine, *, seed: int) -> MachineSpec:
    rng = random.Random(f"{seed}/{machine.id}/spec")
    meters = [MeterSpec(carrier="electricity", unit="kWh", scale=0.001,
                        per_hour_at_rated=machine.rated_kw,
                        modulus=machine.energy_register_modulus,
                        initial_raw=rng.randrange(0, machine.energy_register_modulus))]
    if machine.gas_m3_per_h:
        meters.append(MeterSpec(carrier="natural_gas", unit="m3", scale=0.01,
                                per_hour_at_rated=machine.gas_m3_per_h,
                                initial_raw=rng.randrange(0, 10**7)))
    if machine.steam_kg_per_h:
        meters.append(MeterSpec(carrier="steam_1_0mpa", unit="kg", scale=1.0,
                                per_hour_at_rated=machine.steam_kg_per_h,
                                initial_raw=rng.randrange(0, 10**6)))
    return MachineSpec(machine=machine.id, products=dict(machine.products),
                       rated_kw=machine.rated_kw, meters=tuple(meters),
                       meter_jitter=machine.meter_jitter, meter_only=machine.meter_only)


class Simulator:
    """A `Source` of simulated machines; time is whatever `poll` is asked for."""

    name = "simulator"

    def __init__(self, *, config: SimulatorConfig, start_ms: int) -> None:
        tick_ms = int(config.sample_interval_s * 1000)
        start_ms -= start_ms % tick_ms
        self.start_ms = start_ms
        self.models = [
            MachineModel(spec=machine_spec(m, seed=config.seed), seed=config.seed,
                         start_ms=start_ms, tick_ms=tick_ms,
                         planned=plan_stops(config, m, start_ms=start_ms))
            for m in config.machines]

    @property
    def now_ms(self) -> int:
        """How far the machines have run: the ground truth is as of this time."""
        return min(m.t_ms for m in self.models) if self.models else self.start_ms

    @property
    def truth(self) -> dict[str, MachineTruth]:
        return {m.spec.machine: m.truth for m in self.models}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        return None

    async def poll(self, until_ms: int) -> Sequence[Reading]:
        readings: list[Reading] = []
        for model in self.models:
            readings.extend(model.advance(until_ms))
        readings.sort(key=lambda r: r.t_ms)  # stable: per-machine order is kept
        return readings
