"""The analytics core: KPI components, KPIs, energy conversion (typed public API)."""

from plantstream.analytics.components import (
    EnergyComponent,
    MachineComponents,
    ProductComponent,
    StateModel,
    TimeComponents,
    batch_components,
)
from plantstream.analytics.energy import Carrier, CoefficientTable, load_coefficients
from plantstream.analytics.kpi import Kpis, kpis

__all__ = [
    "Carrier",
    "CoefficientTable",
    "EnergyComponent",
    "Kpis",
    "MachineComponents",
    "ProductComponent",
    "StateModel",
    "TimeComponents",
    "batch_components",
    "kpis",
    "load_coefficients",
]
