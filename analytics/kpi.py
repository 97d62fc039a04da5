"""KPIs from components only: ratios of sums; undefined is None, never 0."""

from __future__ import annotations

from dataclasses import dataclass

from plantstream.analytics.components import TimeComponents

__all__ = ["Kpis", "kpis"]


@dataclass(frozen=True, slots=True)
class Kpis:
    availability: float | None
    effectiveness: float | None  # may exceed 1: kept raw and flagged, never clipped
    quality: float | None
    oee: float | None
    value_adding: float | None
    effectiveness_above_one: bool


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def kpis(c: TimeComponents) -> Kpis:
    availability = _ratio(c.apt_s, c.pbt_s)
    effectiveness = _ratio(c.pru_pq_s, c.apt_s)
    quality = _ratio(c.gq, c.pq)
    oee = (availability * effectiveness * quality
           if availability is not None and effectiveness is not None and quality is not None
           else None)
    return Kpis(availability=availability, effectiveness=effectiveness, quality=quality,
                oee=oee, value_adding=_ratio(c.pru_gq_s, c.pbt_s),
                effectiveness_above_one=effectiveness is not None and effectiveness > 1.0)
