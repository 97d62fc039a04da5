"""KPI components of one batch: the mergeable sums every KPI is a ratio of.

Ingest is stateless: each batch is turned into components per machine using only the
batch and the static plant configuration. Components add up exactly over machines and
windows (`MachineComponents.merge` is associative and commutative), so KPIs over any
window or group are ratios of sums.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields

from plantstream.analytics.energy import CoefficientTable
from plantstream.config import Element, PlantConfig, StateDef
from plantstream.wire import Batch, MachineInterval

__all__ = [
    "EnergyComponent",
    "MachineComponents",
    "ProductComponent",
    "StateModel",
    "TimeComponents",
    "batch_components",
]


@dataclass(slots=True)
class TimeComponents:
    """Seconds per ISO 22400 time element, plus counts, for one machine and window."""

    interval_s: float = 0.0
    pot_s: float = 0.0
    planned_down_s: float = 0.0
    pbt_s: float = 0.0
    apt_s: float = 0.0
    asut_s: float = 0.0
    adet_s: float = 0.0
    adot_s: float = 0.0
    unknown_s: float = 0.0
    minor_stop_s: float = 0.0
    minor_stops: int = 0
    pq: int = 0
    gq: int = 0
    sq: int = 0
    rq: int = 0
    pru_pq_s: float = 0.0
    pru_gq_s: float = 0.0

    def add(self, other: TimeComponents) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass(frozen=True, slots=True)
class ProductComponent:
    product: str
    good: int
    scrap: int
    rework: int
    pru_s: float | None  # ideal cycle time; None when the product has none configured


@dataclass(frozen=True, slots=True)
class EnergyComponent:
    carrier: str
    unit: str
    quantity: float
    kgce: float | None  # None when the carrier has no coefficient: reported, not guessed
    kgco2: float | None
    covered_s: float
    interval_s: float
    raw_start: float
    raw_end: float
    rollovers: int
    resets: int


@dataclass(slots=True)
class MachineComponents:
    site: str
    line: str
    machine: str
    t_start_ms: int
    time: TimeComponents
    products: list[ProductComponent] = field(default_factory=list)
    energy: list[EnergyComponent] = field(default_factory=list)


class StateModel:
    """Maps state codes to time elements; unknown codes are a loss (ADET), counted."""

    def __init__(self, states: Iterable[StateDef]) -> None:
        self._by_code = {s.code: s for s in states}

    def element(self, code: int) -> tuple[Element, bool]:
        """`(element, known)` of a state code."""
        state = self._by_code.get(code)
        return (state.element, True) if state else ("ADET", False)

    def minor_stop_candidate(self, code: int) -> bool:
        state = self._by_code.get(code)
        return bool(state and state.minor_stop_candidate)


_ELEMENT_FIELD: dict[Element, str] = {
    "APT": "apt_s", "ASUT": "asut_s", "ADET": "adet_s", "ADOT": "adot_s",
    "PLANNED_DOWN": "planned_down_s", "NOT_PLANNED": "",
}


def _time_components(m: MachineInterval, t0: int, t1: int, model: StateModel,
                     minor_stop_threshold_s: float) -> TimeComponents:
    tc = TimeComponents(interval_s=(t1 - t0) / 1000.0)
    starts = [t0, *(c.t_ms for c in m.changes)]
    codes = [m.state_at_start, *(c.state for c in m.changes)]
    ends = [*starts[1:], t1]
    for code, start, end in zip(codes, starts, ends, strict=True):
        seconds = (end - start) / 1000.0
        if seconds <= 0:
            continue
        element, known = model.element(code)
        name = _ELEMENT_FIELD[element]
        if name:
            setattr(tc, name, getattr(tc, name) + seconds)
        if not known:
            tc.unknown_s += seconds
        # A stop wholly inside the batch and shorter than the threshold is minor. A stop
        # that touches a batch boundary is judged by its part in this batch.
        if model.minor_stop_candidate(code) and seconds < minor_stop_threshold_s:
            tc.minor_stop_s += seconds
            tc.minor_stops += 1
    not_planned = tc.interval_s - (tc.planned_down_s + tc.apt_s + tc.asut_s + tc.adet_s
                                   + tc.adot_s)
    tc.pot_s = tc.interval_s - not_planned
    tc.pbt_s = tc.pot_s - tc.planned_down_s
    return tc


def batch_components(batch: Batch, plant: PlantConfig,
                     coefficients: CoefficientTable) -> list[MachineComponents]:
    """Components of every machine in the batch (machines must be in the plant config)."""
    model = StateModel(plant.states)
    threshold = plant.oee.minor_stop_threshold_s
    t0, t1 = batch.t_start_ms, batch.t_end_ms
    out: list[MachineComponents] = []
    for m in batch.machines:
        machine = plant.machine(m.machine)
        if machine is None:
            raise KeyError(m.machine)
        tc = _time_components(m, t0, t1, model, threshold)
        products = []
        for c in m.counts:
            pru = machine.ideal_cycle_s.get(c.product)
            pq = c.good + c.scrap + c.rework
            tc.pq += pq
            tc.gq += c.good
            tc.sq += c.scrap
            tc.rq += c.rework
            if pru is not None:
                tc.pru_pq_s += pru * pq
                tc.pru_gq_s += pru * c.good
            products.append(ProductComponent(product=c.product, good=c.good, scrap=c.scrap,
                                             rework=c.rework, pru_s=pru))
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
                rollovers=meter.rollovers, resets=meter.resets))
        out.append(MachineComponents(site=batch.site, line=machine.line, machine=m.machine,
                                     t_start_ms=t0, time=tc, products=products,
                                     energy=energy))
    return out
