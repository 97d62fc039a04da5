"""Coefficient table: site overrides, natural-gas heating value (which one was used is
said), electricity bases never mixed, sanity ranges, grid factors by year."""

from __future__ import annotations

import pytest

from plantstream.analytics.energy import (
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
