"""The analytics core: KPI components, KPIs, energy conversion (typed public API)."""

from plantstream.analytics.components import (
    EnergyComponent,
    MachineComponents,
    ProductComponent,
    StateModel,
    TimeComponents,
    batch_components,
)
from plantstream.analytics.dual_control import (
    DualControlStatus,
    WarningThresholds,
    dual_control_status,
)
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
from plantstream.analytics.kpi import Kpis, kpis

__all__ = [
    "AnalyticsInputError",
    "Carrier",
    "CoefficientTable",
    "DataImportError",
    "DualControlStatus",
    "EnergyComponent",
    "FinancialRecord",
    "Kpis",
    "LimitGrades",
    "MachineComponents",
    "ProductComponent",
    "StateModel",
    "TimeComponents",
    "WarningThresholds",
    "batch_components",
    "best_grade",
    "dual_control_status",
    "kpis",
    "load_coefficients",
    "load_financials",
    "per_10k_yuan",
    "rate_of_change",
    "unit_product_consumption",
]
