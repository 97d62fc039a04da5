"""KPI components of one batch: the mergeable sums every KPI is a ratio of.

Ingest is stateless: each batch is turned into components per machine using only the
batch and the static plant configuration. Components add up exactly over machines and
windows (`TimeComponents.add` is a plain sum), so KPIs over any window or group are
ratios of sums. Time elements come from the numba kernel (`elements.time_element_ms`)
for all machines of one or many batches in one call.

A minor stop is judged on its whole length, never on the part inside one batch: a run
that is still going on at t_end is not judged (an open stop is not a minor stop), and
a run that began before t_start (`state_since_ms` on the wire) is not judged here
either; when such a stop ends, `plantstream.ingest.stops` writes its classification
for its whole length. So the sums over batches do not depend on how the timeline was
cut into batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from plantstream.analytics.calendar import ShiftCalendar
from plantstream.analytics.elements import FOREVER_MS, fold_time_components, time_element_ms
from plantstream.analytics.energy import CoefficientTable
from plantstream.analytics.records import (
    EnergyComponent,
    MachineComponents,
    ProductComponent,
    TimeComponents,
)
from plantstream.analytics.state_model import StateModel
from plantstream.config import PlantConfig
from plantstream.wire import Batch, MachineInterval, StateChange

__all__ = [
    "EnergyComponent",
    "MachineComponents",
    "ProductComponent",
    "StateModel",
    "TimeComponents",
    "batch_components",
    "batches_components",
    "warm_up",
]


def batch_components(batch: Batch, plant: PlantConfig, coefficients: CoefficientTable, *,
                     model: StateModel | None = None,
                     calendar: ShiftCalendar | None = None) -> list[MachineComponents]:
    """Components of every machine in the batch (machines must be in the plant config)."""
    return batches_components([batch], plant, coefficients, model=model,
                              calendar=calendar)[0]


def batches_components(batches: Sequence[Batch], plant: PlantConfig,
                       coefficients: CoefficientTable, *, model: StateModel | None = None,
                       calendar: ShiftCalendar | None = None
                       ) -> list[list[MachineComponents]]:
    """`batch_components` of many batches with one kernel call for all their machines.

    `model` defaults to the plant's state codes; `calendar` (default: none, the state
    alone decides) puts breaks and no-shift time outside PBT.
    """
    state_model = model if model is not None else _plant_model(plant)
    # machines without a state (a meter on its own) have no time components
    intervals: list[tuple[Batch, MachineInterval]] = [
        (b, m) for b in batches for m in b.machines if m.state_at_start is not None]
    if not intervals:
        return [[_machine_components(b, m, None, plant, coefficients) for m in b.machines]
                for b in batches]
    sizes = np.array([1 + len(m.changes) for _, m in intervals], dtype=np.int64)
    segments = np.zeros(len(intervals) + 1, dtype=np.int64)
    np.cumsum(sizes, out=segments[1:])
    t_ms = np.empty(int(segments[-1]), dtype=np.int64)
    codes = np.empty(int(segments[-1]), dtype=np.float64)
    t_list: list[int] = []
    code_list: list[int] = []
    for b, m in intervals:
        assert m.state_at_start is not None  # for the type checker: filtered above
        t_list.append(b.t_start_ms)
        code_list.append(m.state_at_start)
        t_list.extend(change.t_ms for change in m.changes)
        code_list.extend(change.state for change in m.changes)
    t_ms[:] = t_list
    codes[:] = code_list
    seg_start = np.array([b.t_start_ms for b, _ in intervals], dtype=np.int64)
    seg_end = np.array([b.t_end_ms for b, _ in intervals], dtype=np.int64)
    seg_since = np.array([b.t_start_ms if m.state_since_ms is None else m.state_since_ms
                          for b, m in intervals], dtype=np.int64)
    t_lo, t_hi = int(seg_start.min()), int(seg_end.max())
    windows = np.array([t_lo, t_hi], dtype=np.int64)
    totals = time_element_ms(
        t_ms, codes, segments, windows=windows, model=state_model,
        calendar=calendar.arrays(t_lo, t_hi) if calendar is not None else None,
        seg_start=seg_start, seg_end=seg_end, seg_since=seg_since, open_end=True,
        max_hold_ms=FOREVER_MS,
        minor_stop_threshold_s=plant.oee.minor_stop_threshold_s, check=False)
    out: list[list[MachineComponents]] = []
    sums: list[list[int]] = totals.ms[:, 0, :].tolist()
    index = 0
    for b in batches:
        rows: list[MachineComponents] = []
        for m in b.machines:
            tc = None
            if m.state_at_start is not None:
                tc = fold_time_components(sums[index], plant.oee.model)
                index += 1
            rows.append(_machine_components(b, m, tc, plant, coefficients))
        out.append(rows)
    return out


def warm_up(plant: PlantConfig, coefficients: CoefficientTable, *,
            model: StateModel | None = None, calendar: ShiftCalendar | None = None) -> None:
    """Compute the components of one small made-up batch, so that the numba kernels are
    loaded (from numba's cache, or compiled) before the first real message waits on
    them: that took 1-2 s, the worst latency of a freshly started worker."""
    if not plant.machines or not plant.states:
        return
    machine = plant.machines[0]
    t0 = 1_700_000_000_000
    code = plant.states[0].code
    batch = Batch(v=1, site="warm-up", gateway=machine.gateway, seq=0, t_start_ms=t0,
                  t_end_ms=t0 + 1000, machines=[MachineInterval(
                      machine=machine.id, state_at_start=code,
                      changes=[StateChange(t_ms=t0 + 500, state=code)])])
    batch_components(batch, plant, coefficients, model=model, calendar=calendar)


_MODELS: dict[int, tuple[PlantConfig, StateModel]] = {}


def _plant_model(plant: PlantConfig) -> StateModel:
    """The plant's state model, compiled once per plant configuration object."""
    cached = _MODELS.get(id(plant))
    if cached is None or cached[0] is not plant:
        cached = (plant, StateModel(plant.states))
        _MODELS[id(plant)] = cached
    return cached[1]


def _machine_components(batch: Batch, m: MachineInterval, timed: TimeComponents | None,
                        plant: PlantConfig, coefficients: CoefficientTable
                        ) -> MachineComponents:
    machine = plant.machine(m.machine)
    if machine is None:
        raise KeyError(m.machine)
    tc = timed if timed is not None else TimeComponents()
    t0, t1 = batch.t_start_ms, batch.t_end_ms
    products = []
    for c in m.counts:
        pru = machine.ideal_cycle_s.get(c.product)
        pq = c.good + c.scrap + c.rework + c.startup_rejects
        tc.pq += pq
        tc.gq += c.good
        tc.sq += c.scrap + c.startup_rejects  # start-up rejects are scrap
        tc.rq += c.rework
        tc.su += c.startup_rejects
        if pru is not None:
            tc.pru_pq_s += pru * pq
            tc.pru_gq_s += pru * c.good
            tc.pru_su_s += pru * c.startup_rejects
        products.append(ProductComponent(product=c.product, good=c.good, scrap=c.scrap,
                                         rework=c.rework, pru_s=pru,
                                         startup_rejects=c.startup_rejects))
    energy = []
    for meter in m.meters:
        carrier = coefficients.carrier(meter.carrier)
        known = carrier is not None and carrier.unit == meter.unit
        energy.append(EnergyComponent(
            carrier=meter.carrier, unit=meter.unit, quantity=meter.delta,
            kgce=meter.delta * carrier.kgce_per_unit if known and carrier else None,
            kgco2=meter.delta * carrier.kgco2_per_unit if known and carrier else None,
            covered_s=meter.covered_ms / 1000.0, interval_s=(t1 - t0) / 1000.0,
            raw_start=meter.raw_start, raw_end=meter.raw_end,
            rollovers=meter.rollovers, resets=meter.resets, jitter=meter.jitter,
            rejected=meter.rejected,
            coefficient_basis=carrier.basis if known and carrier else "no coefficient"))
    return MachineComponents(site=batch.site, line=machine.line, machine=m.machine,
                             t_start_ms=t0, time=tc, products=products, energy=energy,
                             has_state=timed is not None)
