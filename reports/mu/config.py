"""The "Each Mu is a Hero" configuration: indicators, weights, caps, benchmarks and
classes per jurisdiction (a TOML file the report configuration names in `each_mu`).

Every policy value (weights, caps, benchmark values, class thresholds or rank shares,
pollutant weights, the jurisdiction's energy quota) is data here, never a literal in
the code. Unknown keys are an error.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Annotated, Final, Literal
from zoneinfo import ZoneInfo

import msgspec

from plantstream.config import load_toml
from plantstream.errors import ConfigError
from plantstream.wire import Id

__all__ = [
    "CLASSES",
    "INDICATORS",
    "Classes",
    "EachMuConfig",
    "EnergyQuota",
    "IndicatorName",
    "IndicatorWeight",
    "Jurisdiction",
    "load_each_mu",
    "rank_counts",
]

IndicatorName = Literal["tax_per_mu", "value_added_per_mu", "value_added_per_tce",
                        "value_added_per_emission", "rd_share", "labour_productivity"]
INDICATORS: Final[tuple[IndicatorName, ...]] = (
    "tax_per_mu", "value_added_per_mu", "value_added_per_tce", "value_added_per_emission",
    "rd_share", "labour_productivity")
ClassName = Literal["A", "B", "C", "D"]
CLASSES: Final[tuple[ClassName, ...]] = ("A", "B", "C", "D")

Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Year = Annotated[int, msgspec.Meta(ge=2000, le=2100)]


class IndicatorWeight(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One scored indicator: points = weight x min(max(value / benchmark, 0), cap)."""

    indicator: IndicatorName
    weight: Positive
    cap: Positive  # the value / benchmark ratio is capped here (e.g. 1.5)
    benchmark: Positive | None = None  # None: the group's aggregate ratio (sum / sum)


class Classes(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """`thresholds`: minimum score of A, B and C (D below C; a score equal to a threshold
    is in the higher class). `rank_shares`: the shares of A, B, C and D (summing to 1)
    of the evaluable enterprises ranked by score."""

    method: Literal["thresholds", "rank_shares"]
    thresholds: dict[str, NonNegative] = {}
    shares: dict[str, Annotated[float, msgspec.Meta(ge=0, le=1)]] = {}


class EnergyQuota(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The jurisdiction's annual energy-use quota (controlled total, tce)."""

    year: Year
    annual_tce: Positive
    seasonal_profile: list[float] | None = None


class Jurisdiction(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: Id
    name: str
    indicators: list[IndicatorWeight]
    classes: Classes
    timezone: str = "Asia/Shanghai"  # month boundaries; every site must be in this zone
    # "industry": benchmarks per industry inside the jurisdiction; "jurisdiction": one
    benchmark_group: Literal["jurisdiction", "industry"] = "industry"
    # main pollutants and their weight in the emission total (t x weight); an enterprise
    # is evaluated on the pollutants listed here
    pollutants: dict[str, Positive] = {}
    energy_quotas: list[EnergyQuota] = []

    def indicator(self, name: str) -> IndicatorWeight | None:
        return next((i for i in self.indicators if i.indicator == name), None)

    def quota(self, year: int) -> EnergyQuota | None:
        return next((q for q in self.energy_quotas if q.year == year), None)


class EachMuConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    jurisdictions: list[Jurisdiction]
    # shown in every report's methodology (the shipped example says it is an example)
    note: str = ""

    def jurisdiction(self, jurisdiction_id: str) -> Jurisdiction | None:
        return next((j for j in self.jurisdictions if j.id == jurisdiction_id), None)


def rank_counts(shares: dict[str, float], evaluable: int) -> dict[str, int]:
    """How many of `evaluable` ranked enterprises each class gets: the cumulative share
    times the count, rounded half up (exact rational arithmetic), differenced."""
    counts: dict[str, int] = {}
    cumulative = Fraction(0)
    previous = 0
    for name in CLASSES:
        cumulative += Fraction(str(shares.get(name, 0.0)))
        bound = evaluable if name == CLASSES[-1] else \
            min(evaluable, int(cumulative * evaluable + Fraction(1, 2)))
        counts[name] = bound - previous
        previous = bound
    return counts


def _check(config: EachMuConfig, source: str) -> None:
    if not config.jurisdictions:
        raise ConfigError(source=source, key="jurisdictions", reason="at least one")
    seen: set[str] = set()
    for j_index, j in enumerate(config.jurisdictions):
        key = f"jurisdictions[{j_index}]"
        if j.id in seen:
            raise ConfigError(source=source, key=f"{key}.id", reason=f"{j.id!r} twice")
        seen.add(j.id)
        names = [i.indicator for i in j.indicators]
        if not names:
            raise ConfigError(source=source, key=f"{key}.indicators", reason="at least one")
        if len(set(names)) != len(names):
            raise ConfigError(source=source, key=f"{key}.indicators",
                              reason="an indicator is listed twice")
        if "value_added_per_emission" in names and not j.pollutants:
            raise ConfigError(source=source, key=f"{key}.pollutants", reason=(
                "value_added_per_emission needs the main pollutants (name = weight)"))
        for pollutant in j.pollutants:
            if not pollutant.isalnum() or pollutant.lower() != pollutant:
                raise ConfigError(source=source, key=f"{key}.pollutants.{pollutant}",
                                  reason="pollutant names are lower-case letters and digits "
                                         "(the CSV column is emission_<name>_t)")
        c = j.classes
        if c.method == "thresholds":
            if c.shares or set(c.thresholds) != {"A", "B", "C"}:
                raise ConfigError(source=source, key=f"{key}.classes.thresholds",
                                  reason="thresholds needs exactly A, B and C (no shares)")
            if not c.thresholds["A"] > c.thresholds["B"] > c.thresholds["C"]:
                raise ConfigError(source=source, key=f"{key}.classes.thresholds",
                                  reason="A > B > C")
        else:
            if c.thresholds or set(c.shares) != set(CLASSES):
                raise ConfigError(source=source, key=f"{key}.classes.shares",
                                  reason="rank_shares needs exactly A, B, C and D (no "
                                         "thresholds)")
            if sum(Fraction(str(v)) for v in c.shares.values()) != 1:
                raise ConfigError(source=source, key=f"{key}.classes.shares",
                                  reason="the shares must sum to 1")
        years = [q.year for q in j.energy_quotas]
        if len(set(years)) != len(years):
            raise ConfigError(source=source, key=f"{key}.energy_quotas",
                              reason="a year is given twice")
        try:
            ZoneInfo(j.timezone)
        except (KeyError, ValueError):
            raise ConfigError(source=source, key=f"{key}.timezone",
                              reason=f"unknown time zone {j.timezone!r}") from None


def load_each_mu(path: str | Path) -> EachMuConfig:
    config = load_toml(Path(path), EachMuConfig)
    _check(config, str(path))
    return config
