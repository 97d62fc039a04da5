"""The analytics core: KPI components, KPIs, energy, intensity, dual control.

Typed public API over private numba kernels (see docs/analytics.md). Server-side only.
"""

from plantstream.analytics.calendar import ShiftCalendar, window_boundaries
from plantstream.analytics.dual_control import (
    DualControlStatus,
    WarningThresholds,
    dual_control_status,
)
from plantstream.analytics.elements import ElementTotals, time_element_ms
from plantstream.analytics.energy import Carrier, CoefficientTable, load_coefficients
from plantstream.analytics.errors import AnalyticsInputError, DataImportError
from plantstream.analytics.intensity import (
    FinancialRecord,
    LimitGrades,
    best_grade,
    load_financials,
    per_10k_yuan,
    rate_of_change,
    unit_product_consumption,
)
from plantstream.analytics.kpi import Kpis, SixBigLosses, kpis, six_big_losses
from plantstream.analytics.meters import power_to_energy, register_consumption
from plantstream.analytics.recompute import RawChunk, Signal, recompute, timeline_components
from plantstream.analytics.records import (
    EnergyComponent,
    MachineComponents,
    ProductComponent,
    TimeComponents,
    merge_time_components,
)
from plantstream.analytics.state_model import UMH_RANGES, StateModel, StateRange

__all__ = [
    "UMH_RANGES",
    "AnalyticsInputError",
    "Carrier",
    "CoefficientTable",
    "DataImportError",
    "DualControlStatus",
    "ElementTotals",
    "EnergyComponent",
    "FinancialRecord",
    "Kpis",
    "LimitGrades",
    "MachineComponents",
    "ProductComponent",
    "RawChunk",
    "ShiftCalendar",
    "Signal",
    "SixBigLosses",
    "StateModel",
    "StateRange",
    "TimeComponents",
    "WarningThresholds",
    "best_grade",
    "dual_control_status",
    "kpis",
    "load_coefficients",
    "load_financials",
    "merge_time_components",
    "per_10k_yuan",
    "power_to_energy",
    "rate_of_change",
    "recompute",
    "register_consumption",
    "six_big_losses",
    "time_element_ms",
    "timeline_components",
    "unit_product_consumption",
    "window_boundaries",
]
