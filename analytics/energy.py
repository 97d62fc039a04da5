"""Standard-coal (kgce) and CO2 conversion from a versioned coefficient table."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from plantstream.errors import ConfigError

__all__ = ["Carrier", "CoefficientTable", "load_coefficients"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Carrier:
    name: str
    unit: str
    kgce_per_unit: float
    kgco2_per_unit: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CoefficientTable:
    version: str
    source: str
    electricity_basis: str
    grid_year: int
    grid_kgco2_per_kwh: float
    carriers: dict[str, Carrier]

    def carrier(self, name: str) -> Carrier | None:
        return self.carriers.get(name)


def load_coefficients(path: Path | None = None, *, grid_year: int = 2023,
                      overrides: dict[str, float] | None = None) -> CoefficientTable:
    """Read the table (the packaged one by default), apply site overrides of
    kgce_per_unit (a measured natural-gas heating value), and range-check every row."""
    source = str(path) if path else "plantstream.analytics/data/coefficients.toml"
    if path is None:
        text = resources.files("plantstream.analytics").joinpath(
            "data/coefficients.toml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    raw: dict[str, Any] = tomllib.loads(text)
    grid = raw["grid_co2"]
    if str(grid_year) not in grid:
        years = sorted(k for k in grid if k.isdigit())
        raise ConfigError(source=source, key=f"grid_co2.{grid_year}",
                          reason=f"no grid factor for {grid_year}; have {', '.join(years)}")
    grid_factor = float(grid[str(grid_year)])
    carriers: dict[str, Carrier] = {}
    for name, row in raw["carriers"].items():
        kgce = float((overrides or {}).get(name, row["kgce_per_unit"]))
        low, high = row["range"]
        if not low <= kgce <= high:
            raise ConfigError(source=source, key=f"carriers.{name}.kgce_per_unit", reason=(
                f"{kgce} kgce/{row['unit']} is outside the plausible range [{low}, {high}]"
                " (kgce vs tce, or m3 vs 1000 m3?)"))
        co2 = grid_factor if row.get("co2") == "grid" else float(row.get("kgco2_per_unit", 0))
        carriers[name] = Carrier(name=name, unit=row["unit"], kgce_per_unit=kgce,
                                 kgco2_per_unit=co2)
    unknown = set(overrides or {}) - set(carriers)
    if unknown:
        raise ConfigError(source=source, key=f"overrides.{sorted(unknown)[0]}",
                          reason="no such carrier")
    return CoefficientTable(version=raw["meta"]["version"], source=raw["meta"]["kgce_source"],
                            electricity_basis=raw["meta"]["electricity_basis"],
                            grid_year=grid_year, grid_kgco2_per_kwh=grid_factor,
                            carriers=carriers)
