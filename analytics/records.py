"""The mergeable component records every KPI is a ratio of sums of."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields

__all__ = [
    "EnergyComponent",
    "MachineComponents",
    "ProductComponent",
    "TimeComponents",
    "merge_time_components",
]


@dataclass(slots=True)
class TimeComponents:
    """Seconds per ISO 22400 time element, plus counts, for one machine and window.

    `adet_s` includes `unknown_s` (unknown codes and missing data, a loss) and, in the
    ISO 22400 model, `minor_stop_s`; in the TPM model minor stops are inside `apt_s`
    (a performance loss). `missing_s` is the part of `unknown_s` without data.
    `apt_outside_plan_s` is producing time the calendar put outside PBT (information:
    it is counted as PLANNED_DOWN / NOT_PLANNED, never in APT).
    """

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
    missing_s: float = 0.0
    su: int = 0  # start-up rejects (inside `sq`): the six big losses' reduced yield
    pru_su_s: float = 0.0  # their ideal time
    apt_outside_plan_s: float = 0.0

    def add(self, other: TimeComponents) -> None:
        """Add `other` in place (merging is a plain sum: associative, commutative)."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def merge_time_components(parts: Iterable[TimeComponents]) -> TimeComponents:
    """The sum of any number of components (machines, lines, sites, windows)."""
    total = TimeComponents()
    for part in parts:
        total.add(part)
    return total


@dataclass(frozen=True, slots=True)
class ProductComponent:
    product: str
    good: int
    scrap: int
    rework: int
    pru_s: float | None  # ideal cycle time; None when the product has none configured
    startup_rejects: int = 0  # not in `scrap` (as on the wire)


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
    coefficient_basis: str = ""  # which coefficient was used (table, override, measured)
    jitter: int = 0  # backward steps read as jitter (not counted), `plantstream.meter_rule`
    rejected: int = 0  # large drops and impossible jumps (flagged, not counted)


@dataclass(slots=True)
class MachineComponents:
    site: str
    line: str
    machine: str
    t_start_ms: int
    time: TimeComponents
    products: list[ProductComponent] = field(default_factory=list)
    energy: list[EnergyComponent] = field(default_factory=list)
    has_state: bool = True  # False: a meter on its own (no state, `time` all zero)
