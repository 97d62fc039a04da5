"""The report document: typed structs whose JSON Schema is published
(docs/report.schema.json, `plantstream reports schema`).

Units are in the field names (`_tce`, `_kgce`, `_kgco2`, `_yuan`, `_s`); a ratio that
is undefined (zero denominator, missing input) is null, never 0.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from plantstream.reports.mu.model import EnterpriseEachMu

__all__ = [
    "CarrierFigure",
    "Comparison",
    "ComparisonFigures",
    "DailyMonthlyCheck",
    "DataQuality",
    "DualControl",
    "EnergySummary",
    "Financials",
    "Gap",
    "MeterCompleteness",
    "MeterEvents",
    "Methodology",
    "MonthFigure",
    "PeriodInfo",
    "ProductFigure",
    "Report",
    "ScopeInfo",
    "report_schema",
]

SCHEMA_VERSION = "1"


class ScopeInfo(msgspec.Struct, frozen=True):
    type: Literal["site", "enterprise"]
    id: str
    name: str
    enterprise_id: str
    enterprise_name: str
    jurisdiction: str
    sites: list[str]
    timezone: str


class PeriodInfo(msgspec.Struct, frozen=True):
    kind: str
    label: str
    start: str  # ISO 8601 local, 00:00 of the first day
    end: str  # exclusive
    data_end: str  # end of the data the report covers (the period end, or as-of)
    days: int


class CarrierFigure(msgspec.Struct, frozen=True):
    carrier: str
    role: str  # controlled, feedstock, renewable_certified, sent_off_site
    unit: str
    quantity: float
    kgce_per_unit: float
    coefficient_basis: str
    kgce: float
    kgco2_per_unit: float
    kgco2: float


class EnergySummary(msgspec.Struct, frozen=True):
    carriers: list[CarrierFigure]
    gross_consumption_tce: float  # every consumed carrier (all roles but sent_off_site)
    sent_off_site_tce: float  # deducted
    total_comprehensive_tce: float  # gross - sent off site
    feedstock_tce: float  # shown separately, excluded from the controlled total
    renewable_certified_tce: float  # shown separately, excluded from the controlled total
    controlled_total_tce: float  # total - feedstock - certified renewable: dual control
    co2_kgco2: float  # consumed carriers minus sent off site
    electricity_co2_factor_kgco2_per_kwh: float
    electricity_co2_data_year: int
    co2_accounting: str


class ProductFigure(msgspec.Struct, frozen=True):
    product: str
    unit: str
    standard: str
    boundary: str  # "site" or the lines of the product's energy boundary
    good: int
    scrap: int
    rework: int
    qualified_output: int
    boundary_kgce: float
    unit_consumption_kgce: float | None
    grades: dict[str, float | None]
    best_grade: int | None  # 1 is the best; null: passes no grade


class MonthFigure(msgspec.Struct, frozen=True):
    month: str
    controlled_tce: float
    value_added_yuan_comparable: float | None
    intensity_tce_per_10k_yuan: float | None


class Financials(msgspec.Struct, frozen=True):
    output_value_yuan: float | None
    value_added_yuan_comparable: float | None
    months: list[str]  # months used (a partial month is prorated by days)
    months_missing: list[str]
    prorated: bool
    tce_per_10k_yuan_output_value: float | None
    tce_per_10k_yuan_value_added: float | None
    months_detail: list[MonthFigure]


class ComparisonFigures(msgspec.Struct, frozen=True):
    label: str
    start: str
    end: str
    controlled_total_tce: float
    tce_per_10k_yuan_value_added: float | None
    change_controlled_total: float | None  # current / base - 1
    change_intensity: float | None


class Comparison(msgspec.Struct, frozen=True):
    same_period_last_year: ComparisonFigures
    base_year: ComparisonFigures | None


class DualControl(msgspec.Struct, frozen=True):
    year: int
    as_of: str
    monthly_tce: list[float]
    ytd_tce: float
    annual_quota_tce: float
    share_elapsed: float
    allowance_to_date_tce: float
    ytd_minus_allowance_tce: float
    projected_year_end_tce: float
    projection_method: str
    projection_ratio: float
    projected_crossing_date: str | None
    intensity_tce_per_10k_yuan: float | None
    intensity_target_tce_per_10k_yuan: float | None
    intensity_ratio: float | None
    warning_level: str
    reasons: list[str]


class MeterCompleteness(msgspec.Struct, frozen=True):
    site: str
    machine: str
    carrier: str
    covered_s: float
    expected_s: float
    completeness: float
    passes: bool


class Gap(msgspec.Struct, frozen=True):
    site: str
    machine: str
    carrier: str
    first_day: str
    last_day: str
    missing_s: float


class MeterEvents(msgspec.Struct, frozen=True):
    """Steps of the register rule (docs/analytics.md "Meters") of one meter in the period."""

    site: str
    machine: str
    carrier: str
    jitter: int  # small backward steps: no consumption, the base kept
    resets: int  # restarts from near zero: counted from the new reading
    rejected: int  # impossible steps (backward or above the maximum rate): not counted


class MeterBalance(msgspec.Struct, frozen=True):
    """A site's main incoming meter against the sum of its sub-meters, one carrier."""

    site: str
    carrier: str
    main_meters: list[str]
    main_quantity: float
    sub_quantity: float
    deviation: float | None  # |sub / main - 1|; None when the main meter read 0
    tolerance: float
    passes: bool


class DailyMonthlyCheck(msgspec.Struct, frozen=True):
    month: str
    carrier: str
    sum_of_daily: float
    monthly_total: float
    deviation: float | None  # |sum_of_daily / monthly_total - 1|
    passes: bool


class DataQuality(msgspec.Struct, frozen=True):
    completeness_threshold: float
    meters: list[MeterCompleteness]
    meters_below_threshold: int
    passes_completeness: bool
    daily_vs_monthly_tolerance: float
    daily_vs_monthly_method: str
    daily_vs_monthly: list[DailyMonthlyCheck]
    passes_daily_vs_monthly: bool
    gaps_granularity: str  # "day" (periods up to 92 days) or "month"
    gaps: list[Gap]
    gaps_truncated: int
    day_start: str
    # meters with at least one jitter step, reset or rejected jump in the period, and the
    # sums over every meter
    meter_events: list[MeterEvents]
    jitter_steps: int
    meter_resets: int
    rejected_jumps: int
    # sites with a main incoming meter: the meter against the sum of the sub-meters
    meter_balance: list[MeterBalance] = []
    passes_meter_balance: bool = True


class Methodology(msgspec.Struct, frozen=True):
    coefficient_table_version: str
    coefficient_source: str
    electricity_basis: str
    natural_gas_basis: str
    grid_co2_data_year: int
    config_hash: str
    data_source: str  # measurement(s) read
    data_first: str | None  # first daily value in the period (local day)
    data_last: str | None
    rules: list[str]


class Report(msgspec.Struct, frozen=True, omit_defaults=True):
    schema_version: str
    kind: Literal["energy"]
    scope: ScopeInfo
    period: PeriodInfo
    energy: EnergySummary
    products: list[ProductFigure]
    financials: Financials
    comparison: Comparison
    dual_control: DualControl | None
    data_quality: DataQuality
    methodology: Methodology
    # an enterprise report: its "Each Mu is a Hero" evaluation; absent for a site or
    # without an evaluation for its jurisdiction (omit_defaults: the JSON, and so the
    # content hash, of every report without it is unchanged)
    each_mu: EnterpriseEachMu | None = None


def report_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of the published report (with its content hash)."""
    schema: dict[str, Any] = msgspec.json.schema(Report)
    defs = schema["$defs"]
    defs["Report"]["properties"]["content_sha256"] = {
        "type": "string", "pattern": "^[0-9a-f]{64}$",
        "description": "SHA-256 of the canonical JSON of the report without this member"}
    defs["Report"]["required"].append("content_sha256")
    defs["Report"]["additionalProperties"] = False
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "PlantStream energy report"
    return schema
