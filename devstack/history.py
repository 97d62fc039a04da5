"""A synthetic plant history for the demo: the months before the live shift.

The regulator's view needs months of data (a monthly report, year to date against the
annual quota); simulating them second by second would take an hour. So the demo writes
a **synthetic history, labelled as such**: wire-format batches (one local day each by
default, so eleven months take seconds) drawn from the
simulator's own state statistics (`INTERRUPTIONS`, `POWER_SHARE`, planned breaks and
maintenance, the machines' cycle times and rated power), turned into KPI components
and points by ingest's own code (`batches_components`, `component_lines`) and written
through the store's writer. Only the transport (edge agent, MQTT) is skipped.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from plantstream.analytics import load_coefficients
from plantstream.config import PlantConfig
from plantstream.edge.sources.simulator import SimulatedMachine, SimulatorConfig
from plantstream.edge.sources.simulator.model import (
    BREAK,
    INTERRUPTIONS,
    MAINTENANCE,
    POWER_SHARE,
    PRODUCING,
)
from plantstream.ingest.components import batches_components
from plantstream.ingest.points import component_lines
from plantstream.store.writer import LineWriter
from plantstream.wire import Batch, CounterDelta, MachineInterval, MeterDelta, StateChange

__all__ = ["History", "synthetic_days", "write_history"]

DAY_MS = 86_400_000
BREAK_MS = 30 * 60_000
MAINTENANCE_MS = 45 * 60_000
_MEAN_RUN_S = 1500.0  # mean producing run between two interruptions
SCRAP_SHARE, REWORK_SHARE = 0.02, 0.01


@dataclass(frozen=True, slots=True)
class History:
    start_ms: int
    end_ms: int
    batches: int
    points: int
    kwh: float


@dataclass(slots=True)
class _Meter:
    carrier: str
    unit: str
    per_hour: float
    register: float


def _day_segments(machine: SimulatedMachine, config: SimulatorConfig, day: dt.date,
                  zone: ZoneInfo, rng: random.Random) -> list[tuple[int, int]]:
    """(start_ms, state) of every state change of one local day, from 00:00."""
    midnight = int(dt.datetime.combine(day, dt.time(), tzinfo=zone).timestamp() * 1000)
    planned: list[tuple[int, int, int]] = []
    for hhmm in config.breaks:
        hour, minute = (int(x) for x in hhmm.split(":"))
        start = midnight + (hour * 60 + minute) * 60_000
        planned.append((start, start + BREAK_MS, BREAK))
    if machine.maintenance_at:
        hour, minute = (int(x) for x in machine.maintenance_at.split(":"))
        start = midnight + (hour * 60 + minute) * 60_000
        planned.append((start, start + MAINTENANCE_MS, MAINTENANCE))
    planned.sort()
    segments: list[tuple[int, int]] = []
    t, end = midnight, midnight + DAY_MS
    weights = [p for _, p, _, _ in INTERRUPTIONS]
    while t < end:
        upcoming = next((p for p in planned if p[1] > t), None)
        if upcoming and upcoming[0] <= t:
            segments.append((t, upcoming[2]))
            t = upcoming[1]
            continue
        run_end = t + int(rng.expovariate(1 / _MEAN_RUN_S) * 1000) + 60_000
        if upcoming and run_end >= upcoming[0]:
            segments.append((t, PRODUCING))
            t = upcoming[0]
            continue
        segments.append((t, PRODUCING))
        state, _, low, high = rng.choices(INTERRUPTIONS, weights=weights)[0]
        t = run_end
        stop_end = t + int(rng.uniform(low, high) * 1000)
        if upcoming:
            stop_end = min(stop_end, upcoming[0])
        segments.append((t, state))
        t = stop_end
    merged: list[tuple[int, int]] = []
    for start, state in segments:
        if start >= end:
            break
        if not merged or merged[-1][1] != state:
            merged.append((start, state))
    return merged


def synthetic_days(plant: PlantConfig, sims: dict[str, SimulatorConfig], *, first_day: dt.date,
                   end_ms: int, batch_ms: int = DAY_MS, seed: int = 1
                   ) -> Iterator[list[Batch]]:
    """Batches of `batch_ms` (a divisor of a day) per gateway, one local day at a time,
    from `first_day` 00:00 to `end_ms` (exclusive)."""
    if batch_ms <= 0 or DAY_MS % batch_ms:
        raise ValueError(f"batch_ms must divide a day, got {batch_ms}")
    zone = ZoneInfo(plant.sites[0].timezone)
    site_of = {g.id: g.site for g in plant.gateways}
    meters = {m.id: [_Meter("electricity", "kWh", m.rated_kw, 0.0)]
              + ([_Meter("natural_gas", "m3", m.gas_m3_per_h, 0.0)] if m.gas_m3_per_h else [])
              + ([_Meter("steam_1_0mpa", "kg", m.steam_kg_per_h, 0.0)]
                 if m.steam_kg_per_h else [])
              for config in sims.values() for m in config.machines}
    seq = dict.fromkeys(sims, 0)
    day = first_day
    while True:
        midnight = int(dt.datetime.combine(day, dt.time(), tzinfo=zone).timestamp() * 1000)
        if midnight >= end_ms:
            return
        batches: list[Batch] = []
        timelines = {m.id: _day_segments(m, config, day, zone,
                                         random.Random(f"{seed}/{m.id}/{day.isoformat()}"))
                     for config in sims.values() for m in config.machines}
        # a slow year-long rise in load, and quieter Sundays, so months differ
        load = 0.85 + 0.1 * day.timetuple().tm_yday / 366 - (0.15 if day.weekday() == 6 else 0)
        for t0 in range(midnight, min(midnight + DAY_MS, end_ms), batch_ms):
            t1 = min(t0 + batch_ms, end_ms)
            for gateway, config in sims.items():
                machines = [_machine_interval(m, timelines[m.id], meters[m.id], t0, t1, day,
                                              load)
                            for m in config.machines]
                batches.append(Batch(v=1, site=site_of[gateway], gateway=gateway,
                                     seq=seq[gateway], t_start_ms=t0, t_end_ms=t1,
                                     machines=machines))
                seq[gateway] += 1
        yield batches
        day += dt.timedelta(days=1)


def _machine_interval(machine: SimulatedMachine, timeline: list[tuple[int, int]],
                  meters: list[_Meter], t0: int, t1: int, day: dt.date,
                  load: float) -> MachineInterval:
    at_start = next(state for start, state in reversed(timeline) if start <= t0)
    changes = [StateChange(start, state) for start, state in timeline if t0 < start < t1]
    bounds = [(t0, at_start), *((c.t_ms, c.state) for c in changes)]
    seconds: dict[int, float] = {}
    for (start, state), (end, _) in zip(bounds, [*bounds[1:], (t1, 0)], strict=True):
        seconds[state] = seconds.get(state, 0.0) + (end - start) / 1000.0
    products = sorted(machine.products)
    product = products[day.toordinal() % len(products)]
    made = int(seconds.get(PRODUCING, 0.0) * load / machine.products[product])
    scrap, rework = round(made * SCRAP_SHARE), round(made * REWORK_SHARE)
    counts = [CounterDelta(product=product, good=made - scrap - rework, scrap=scrap,
                           rework=rework)] if made else []
    readings = []
    for meter in meters:
        used = sum(meter.per_hour * POWER_SHARE[state] * s / 3600.0
                   for state, s in seconds.items()) * (0.9 + 0.1 * load)
        used = round(used, 3)
        readings.append(MeterDelta(carrier=meter.carrier, unit=meter.unit, delta=used,
                                   raw_start=meter.register, raw_end=meter.register + used,
                                   covered_ms=t1 - t0))
        meter.register = round(meter.register + used, 3)
    return MachineInterval(machine=machine.id, state_at_start=at_start, changes=changes,
                           counts=counts, meters=readings)


def write_history(plant: PlantConfig, sims: dict[str, SimulatorConfig], writer: LineWriter, *,
                  first_day: dt.date, end_ms: int, batch_ms: int = DAY_MS, seed: int = 1,
                  on_day: Callable[[dt.date, int], None] | None = None) -> History:
    """Write the synthetic history's KPI components (oee_components, production,
    energy); `on_day(day, points_so_far)` is called after each day for progress."""
    coefficients = load_coefficients()
    zone = ZoneInfo(plant.sites[0].timezone)
    start_ms = int(dt.datetime.combine(first_day, dt.time(), tzinfo=zone).timestamp() * 1000)
    batches = points = 0
    kwh = 0.0
    for day_batches in synthetic_days(plant, sims, first_day=first_day, end_ms=end_ms,
                                      batch_ms=batch_ms, seed=seed):
        lines = [line for per_batch in batches_components(day_batches, plant, coefficients)
                 for line in component_lines(per_batch, plant.main_meters)]
        writer.write(lines)
        batches += len(day_batches)
        points += len(lines)
        kwh += sum(meter.delta for b in day_batches for m in b.machines for meter in m.meters
                   if meter.carrier == "electricity" and m.machine not in plant.main_meters)
        if on_day is not None:
            on_day(dt.datetime.fromtimestamp(day_batches[0].t_start_ms / 1000, zone).date(),
                   points)
    return History(start_ms=start_ms, end_ms=end_ms, batches=batches, points=points, kwh=kwh)
