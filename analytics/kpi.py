"""KPIs from components only: ratios of sums; undefined is None, never 0.

Definitions (ISO 22400-2; see docs/analytics.md and ../shared/DOMAIN.md):

    availability          = APT / PBT
    effectiveness         = sum(PRU x PQ) / APT      (> 1 kept raw and flagged)
    quality               = GQ / PQ
    oee                   = availability x effectiveness x quality
    value_adding          = sum(PRU x GQ) / PBT      (differs from OEE with mixed products)
    nee                   = AUPT / PBT x effectiveness x quality, AUPT = APT + ASUT
    teep                  = OEE x PBT / interval     (loading: planned busy / calendar time)
    technical_efficiency  = APT / (APT + ADET)
    setup_rate            = ASUT / AUPT

To combine machines, lines, sites or windows, merge the components first
(`merge_time_components`), then compute the KPIs: never average KPIs.
"""

from __future__ import annotations

from dataclasses import dataclass

from plantstream.analytics.records import TimeComponents

__all__ = ["Kpis", "SixBigLosses", "kpis", "six_big_losses"]


@dataclass(frozen=True, slots=True)
class Kpis:
    availability: float | None
    effectiveness: float | None  # may exceed 1: kept raw and flagged, never clipped
    quality: float | None
    oee: float | None
    value_adding: float | None
    effectiveness_above_one: bool
    nee: float | None = None
    teep: float | None = None
    technical_efficiency: float | None = None
    setup_rate: float | None = None


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def _product(*factors: float | None) -> float | None:
    result = 1.0
    for f in factors:
        if f is None:
            return None
        result *= f
    return result


def kpis(c: TimeComponents) -> Kpis:
    availability = _ratio(c.apt_s, c.pbt_s)
    effectiveness = _ratio(c.pru_pq_s, c.apt_s)
    quality = _ratio(c.gq, c.pq)
    defined = availability is not None and effectiveness is not None and quality is not None
    # A x E x Q = sum(PRU x PQ) / PBT x Q: the same value, computed without the
    # intermediate APT (no 0 x inf when APT is tiny); None whenever a factor is.
    oee = _product(_ratio(c.pru_pq_s, c.pbt_s), quality) if defined else None
    aupt = c.apt_s + c.asut_s
    return Kpis(availability=availability, effectiveness=effectiveness, quality=quality,
                oee=oee, value_adding=_ratio(c.pru_gq_s, c.pbt_s),
                effectiveness_above_one=effectiveness is not None and effectiveness > 1.0,
                nee=_product(_ratio(aupt, c.pbt_s), effectiveness, quality),
                teep=(_product(_ratio(c.pru_pq_s, c.interval_s), quality) if defined
                      else None),
                technical_efficiency=_ratio(c.apt_s, c.apt_s + c.adet_s),
                setup_rate=_ratio(c.asut_s, aupt))


@dataclass(frozen=True, slots=True)
class SixBigLosses:
    """The TPM six big losses, in seconds of planned busy time.

    `reduced_speed_s` = APT (without minor stops) - sum(PRU x PQ): negative when the
    effectiveness is above 1 (kept, never clipped). `startup_rejects_s` (reduced
    yield) is the ideal time of start-up rejects, from sources that can tell them
    apart (the wire's optional `startup_rejects`; 0 where none are reported);
    `defects_s` is the ideal time of the other scrap and of rework.
    """

    breakdowns_s: float  # ADET without minor stops (failures, unknown, missing data)
    setup_s: float  # ASUT
    minor_stops_s: float
    reduced_speed_s: float
    defects_s: float
    startup_rejects_s: float  # reduced yield
    idle_s: float  # ADOT: not one of the six, shown beside them


def six_big_losses(c: TimeComponents, *, model: str = "iso22400") -> SixBigLosses:
    """Six big losses from components of either model (`model` says where minor stops
    are: inside ADET for ISO 22400, inside APT for TPM)."""
    if model == "tpm":
        breakdowns = c.adet_s
        run = c.apt_s - c.minor_stop_s
    else:
        breakdowns = c.adet_s - c.minor_stop_s
        run = c.apt_s
    return SixBigLosses(breakdowns_s=breakdowns, setup_s=c.asut_s,
                        minor_stops_s=c.minor_stop_s, reduced_speed_s=run - c.pru_pq_s,
                        defects_s=c.pru_pq_s - c.pru_gq_s - c.pru_su_s,
                        startup_rejects_s=c.pru_su_s,
                        idle_s=c.adot_s)
