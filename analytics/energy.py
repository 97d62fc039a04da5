"""Standard-coal (kgce) and CO2 conversion from a versioned coefficient table.

Every carrier records which coefficient was used (`Carrier.basis`): the table value,
a site override, or a measured natural-gas heating value (kJ/m3 / 29,307 kJ/kgce).
Electricity is converted on ONE basis per table (`electricity_basis`: "equivalent",
0.1229 kgce/kWh by default, or "equal_value", a year-specific coefficient that must be
given); `sum_kgce` refuses to add figures of different bases.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

from plantstream.errors import ConfigError

__all__ = [
    "CONSISTENCY",
    "KJ_PER_KGCE",
    "Carrier",
    "CoefficientTable",
    "ElectricityBasis",
    "KgceFigure",
    "grid_factors",
    "load_coefficients",
    "sum_kgce",
]

KJ_PER_KGCE: Final = 29_307.0  # 1 kgce, lower heating value
CONSISTENCY: Final = 0.001  # a row's kgce and CO2 agree with its heat value within 0.1 %
ElectricityBasis = Literal["equivalent", "equal_value"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Carrier:
    name: str
    unit: str
    kgce_per_unit: float
    kgco2_per_unit: float
    basis: str = "table"  # where kgce_per_unit came from, said in every report


@dataclass(frozen=True, slots=True, kw_only=True)
class CoefficientTable:
    version: str
    source: str
    electricity_basis: str
    grid_year: int
    grid_kgco2_per_kwh: float
    carriers: dict[str, Carrier]
    natural_gas_basis: str = "table"

    def carrier(self, name: str) -> Carrier | None:
        return self.carriers.get(name)


def _read(path: Path | None) -> tuple[str, dict[str, Any]]:
    source = str(path) if path else "plantstream.analytics/data/coefficients.toml"
    if path is None:
        text = resources.files("plantstream.analytics").joinpath(
            "data/coefficients.toml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return source, tomllib.loads(text)


def grid_factors(path: Path | None = None) -> dict[int, float]:
    """Grid CO2 factors (kgCO2/kWh) by data year, from the table."""
    _, raw = _read(path)
    return {int(k): float(v) for k, v in raw["grid_co2"].items() if k.isdigit()}


def load_coefficients(path: Path | None = None, *, grid_year: int = 2023,
                      overrides: dict[str, float] | None = None,
                      natural_gas_lhv_kj_per_m3: float | None = None,
                      electricity_basis: ElectricityBasis = "equivalent",
                      equal_value_kgce_per_kwh: float | None = None) -> CoefficientTable:
    """Read the table (the packaged one by default), apply site overrides of
    kgce_per_unit, a measured natural-gas heating value (kJ/m3, lower heating value)
    and the electricity basis, and range-check every row.

    Precedence for natural gas: a measured heating value, then an override, then the
    table's default; `CoefficientTable.natural_gas_basis` says which one was used.
    """
    source, raw = _read(path)
    grid = raw["grid_co2"]
    if str(grid_year) not in grid:
        years = sorted(k for k in grid if k.isdigit())
        raise ConfigError(source=source, key=f"grid_co2.{grid_year}",
                          reason=f"no grid factor for {grid_year}; have {', '.join(years)}")
    grid_factor = float(grid[str(grid_year)])
    table_basis = raw["meta"]["electricity_basis"]
    if electricity_basis not in ("equivalent", "equal_value"):
        raise ConfigError(source=source, key="electricity_basis",
                          reason=f"{electricity_basis!r}: equivalent or equal_value")
    if electricity_basis == "equal_value" and equal_value_kgce_per_kwh is None:
        raise ConfigError(source=source, key="equal_value_kgce_per_kwh", reason=(
            "the equal-value basis needs the year's coefficient; there is no default"))
    if electricity_basis == "equivalent" and equal_value_kgce_per_kwh is not None:
        raise ConfigError(source=source, key="equal_value_kgce_per_kwh",
                          reason="given with the equivalent basis: the bases never mix")
    unknown = set(overrides or {}) - set(raw["carriers"])
    if unknown:
        raise ConfigError(source=source, key=f"overrides.{sorted(unknown)[0]}",
                          reason="no such carrier")
    carriers: dict[str, Carrier] = {}
    gas_basis = "table"
    for name, row in raw["carriers"].items():
        _check_row(source, name, row)
        kgce = float(row["kgce_per_unit"])
        table_kgce = kgce
        basis = f"table {raw['meta']['version']} ({table_basis})" \
            if name == "electricity" else f"table {raw['meta']['version']}"
        low, high = row["range"]
        if overrides and name in overrides:
            kgce = float(overrides[name])
            basis = "site override"
        if name == "natural_gas" and natural_gas_lhv_kj_per_m3 is not None:
            kgce = natural_gas_lhv_kj_per_m3 / KJ_PER_KGCE
            basis = (f"measured heating value {natural_gas_lhv_kj_per_m3:g} kJ/m3 "
                     f"/ {KJ_PER_KGCE:g} kJ/kgce")
        if name == "electricity" and electricity_basis == "equal_value":
            assert equal_value_kgce_per_kwh is not None
            kgce = float(equal_value_kgce_per_kwh)
            low, high = 0.25, 0.40  # equal value: generation coal rate, ~0.28-0.35
            basis = "equal value (generation based), site parameter"
        if name == "natural_gas":
            gas_basis = basis
        if not low <= kgce <= high:
            raise ConfigError(source=source, key=f"carriers.{name}.kgce_per_unit", reason=(
                f"{kgce} kgce/{row['unit']} is outside the plausible range [{low}, {high}]"
                " (kgce vs tce, or m3 vs 1000 m3?)"))
        # the CO2 factor rests on the same heat value as the kgce actually used
        co2 = (grid_factor if row.get("co2") == "grid"
               else float(row["kgco2_per_unit"]) * (kgce / table_kgce))
        carriers[name] = Carrier(name=name, unit=row["unit"], kgce_per_unit=kgce,
                                 kgco2_per_unit=co2, basis=basis)
    return CoefficientTable(version=raw["meta"]["version"], source=raw["meta"]["kgce_source"],
                            electricity_basis=electricity_basis,
                            grid_year=grid_year, grid_kgco2_per_kwh=grid_factor,
                            carriers=carriers, natural_gas_basis=gas_basis)


def _check_row(source: str, name: str, row: dict[str, Any]) -> None:
    """kgce = heat / 29.307 MJ/kgce and CO2 = heat x kgCO2/MJ (or the grid factor)."""
    def off(got: float, want: float) -> bool:
        return abs(got - want) > CONSISTENCY * max(abs(want), 1e-12)

    for key in ("heat_mj_per_unit", "kgce_per_unit", "source"):
        if key not in row:
            raise ConfigError(source=source, key=f"carriers.{name}.{key}", reason="missing")
    heat = float(row["heat_mj_per_unit"])
    if off(float(row["kgce_per_unit"]), heat * 1000.0 / KJ_PER_KGCE):
        raise ConfigError(source=source, key=f"carriers.{name}.kgce_per_unit", reason=(
            f"{row['kgce_per_unit']} does not match {heat} MJ/{row['unit']} "
            f"/ {KJ_PER_KGCE / 1000:g} MJ/kgce"))
    if row.get("co2") == "grid":
        return
    for key in ("co2_kg_per_mj", "kgco2_per_unit"):
        if key not in row:
            raise ConfigError(source=source, key=f"carriers.{name}.{key}", reason="missing")
    if off(float(row["kgco2_per_unit"]), heat * float(row["co2_kg_per_mj"])):
        raise ConfigError(source=source, key=f"carriers.{name}.kgco2_per_unit", reason=(
            f"{row['kgco2_per_unit']} does not match {heat} MJ/{row['unit']} x "
            f"{row['co2_kg_per_mj']} kgCO2/MJ (the heat value of its kgce)"))


@dataclass(frozen=True, slots=True, kw_only=True)
class KgceFigure:
    """A kgce total and the electricity basis it was computed on."""

    kgce: float
    electricity_basis: str


def sum_kgce(figures: list[KgceFigure]) -> KgceFigure | None:
    """Add kgce figures; mixing electricity bases is an error, never a silent sum."""
    if not figures:
        return None
    bases = {f.electricity_basis for f in figures}
    if len(bases) > 1:
        raise ConfigError(source="sum_kgce", key="electricity_basis",
                          reason=f"figures on different bases {sorted(bases)} never mix")
    return KgceFigure(kgce=math.fsum(f.kgce for f in figures),
                      electricity_basis=figures[0].electricity_basis)
