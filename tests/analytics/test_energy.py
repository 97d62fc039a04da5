"""Coefficient table: site overrides, natural-gas heating value (which one was used is
said), electricity bases never mixed, sanity ranges, grid factors by year."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest

from plantstream.analytics.energy import (
    CONSISTENCY,
    KgceFigure,
    grid_factors,
    load_coefficients,
    sum_kgce,
)
from plantstream.errors import ConfigError


def test_default_table() -> None:
    table = load_coefficients()
    gas = table.carrier("natural_gas")
    assert gas is not None and gas.kgce_per_unit == 1.2143
    assert table.natural_gas_basis.startswith("table")
    assert table.electricity_basis == "equivalent"
    assert table.grid_kgco2_per_kwh == 0.5306


def test_measured_heating_value_wins_and_is_reported() -> None:
    table = load_coefficients(natural_gas_lhv_kj_per_m3=35_000.0,
                              overrides={"natural_gas": 1.2})
    gas = table.carrier("natural_gas")
    assert gas is not None
    assert gas.kgce_per_unit == pytest.approx(35_000 / 29_307)
    assert "measured heating value 35000 kJ/m3" in table.natural_gas_basis
    assert load_coefficients(overrides={"natural_gas": 1.2}).natural_gas_basis == \
        "site override"


def test_implausible_values_are_rejected() -> None:
    with pytest.raises(ConfigError, match="plausible range"):
        load_coefficients(overrides={"electricity": 122.9})  # kgce vs tce slip
    with pytest.raises(ConfigError, match="plausible range"):
        load_coefficients(natural_gas_lhv_kj_per_m3=35_000_000.0)  # 1000 m3
    with pytest.raises(ConfigError, match="no such carrier"):
        load_coefficients(overrides={"unobtainium": 1.0})


def test_electricity_bases_never_mix() -> None:
    with pytest.raises(ConfigError, match="no default"):
        load_coefficients(electricity_basis="equal_value")
    equal = load_coefficients(electricity_basis="equal_value", equal_value_kgce_per_kwh=0.3)
    electricity = equal.carrier("electricity")
    assert electricity is not None and electricity.kgce_per_unit == 0.3
    with pytest.raises(ConfigError, match="never mix"):
        load_coefficients(equal_value_kgce_per_kwh=0.3)
    with pytest.raises(ConfigError, match="never mix"):
        sum_kgce([KgceFigure(kgce=1.0, electricity_basis="equivalent"),
                  KgceFigure(kgce=2.0, electricity_basis="equal_value")])
    total = sum_kgce([KgceFigure(kgce=1.0, electricity_basis="equivalent"),
                      KgceFigure(kgce=2.0, electricity_basis="equivalent")])
    assert total == KgceFigure(kgce=3.0, electricity_basis="equivalent")
    assert sum_kgce([]) is None


def test_grid_factors_by_year() -> None:
    assert grid_factors() == {2021: 0.5568, 2022: 0.5366, 2023: 0.5306}
    assert load_coefficients(grid_year=2021).grid_kgco2_per_kwh == 0.5568
    with pytest.raises(ConfigError, match="no grid factor"):
        load_coefficients(grid_year=2019)


def test_every_row_rests_on_one_heat_value() -> None:
    """kgce = heat / 29.307 MJ/kgce and CO2 = heat x kgCO2/MJ, for every row of the
    packaged table (the steam row once had its kgce from 3.18 MJ/kg and its CO2 from
    2.78); every row names its source."""
    raw = tomllib.loads((resources.files("plantstream.analytics") / "data/coefficients.toml")
                        .read_text(encoding="utf-8"))
    assert len(raw["carriers"]) >= 5
    table = load_coefficients()
    for name, row in raw["carriers"].items():
        heat = row["heat_mj_per_unit"]
        assert row["kgce_per_unit"] == pytest.approx(heat / 29.307, rel=CONSISTENCY), name
        assert row["source"], name
        carrier = table.carrier(name)
        assert carrier is not None
        if row.get("co2") == "grid":
            assert carrier.kgco2_per_unit == table.grid_kgco2_per_kwh
            continue
        assert row["kgco2_per_unit"] == pytest.approx(heat * row["co2_kg_per_mj"],
                                                      rel=CONSISTENCY), name
        assert carrier.kgco2_per_unit == row["kgco2_per_unit"], name
        if row["kgco2_per_unit"]:
            assert row["co2_source"], name


def test_an_inconsistent_row_is_rejected(tmp_path: Path) -> None:
    text = (resources.files("plantstream.analytics") / "data/coefficients.toml").read_text(
        encoding="utf-8")
    bad = tmp_path / "coefficients.toml"
    bad.write_text(text.replace("kgco2_per_unit = 0.3501", "kgco2_per_unit = 0.3058"),
                   encoding="utf-8")
    with pytest.raises(ConfigError, match=r"steam_1_0mpa\.kgco2_per_unit"):
        load_coefficients(bad)


def test_an_override_keeps_co2_on_the_same_heat_value() -> None:
    """A measured gas heating value 5 % above the table's: kgce and CO2 both +5 %."""
    table = load_coefficients(natural_gas_lhv_kj_per_m3=35_588.0 * 1.05)
    gas = table.carrier("natural_gas")
    assert gas is not None
    assert gas.kgce_per_unit == pytest.approx(1.2143 * 1.05, rel=1e-4)
    assert gas.kgco2_per_unit == pytest.approx(1.9965 * 1.05, rel=1e-4)
