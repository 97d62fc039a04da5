"""The "Each Mu is a Hero" documents: the jurisdiction report and the enterprise's own
view (a section of its energy report). Units are in the field names or in `unit`; a
value that is undefined or missing is null, never 0."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "BenchmarkFigure",
    "ClassFigure",
    "EachMuMethodology",
    "EnterpriseEachMu",
    "EnterpriseRow",
    "Headroom",
    "IndicatorFigure",
    "InputFigures",
    "JurisdictionInfo",
    "JurisdictionReport",
    "LastYear",
    "NextClassFigure",
    "PeriodFigure",
    "jurisdiction_schema",
]

SCHEMA_VERSION = "1"


class IndicatorFigure(msgspec.Struct, frozen=True):
    indicator: str
    unit: str
    value: float | None
    benchmark: float | None
    ratio: float | None  # value / benchmark, before the cap
    weight: float
    cap: float
    points: float | None
    last_year_value: float | None
    change: float | None  # value / last year's value - 1
    note: str


class InputFigures(msgspec.Struct, frozen=True):
    land_area_mu: float | None
    tax_paid_yuan: float | None
    value_added_yuan_comparable: float | None
    main_revenue_yuan: float | None
    rd_expenditure_yuan: float | None
    employees_average: float | None
    main_pollutants_weighted_t: float | None
    controlled_tce: float | None


class LastYear(msgspec.Struct, frozen=True):
    evaluable: bool
    score: float | None
    class_: str | None = msgspec.field(name="class")
    rank: int | None


class NextClassFigure(msgspec.Struct, frozen=True):
    target_class: str
    bar_score: float  # the least score of the target class
    points_needed: float
    indicator: str  # the indicator with the largest weighted gap
    weighted_gap_points: float  # weight x cap - points
    value_now: float | None
    value_needed: float | None  # that indicator alone reaching the bar; null: beyond its cap
    unit: str
    gaps: dict[str, float]  # every indicator's weighted gap (points)


class EnterpriseRow(msgspec.Struct, frozen=True):
    rank: int | None
    enterprise: str
    name: str
    industry: str
    benchmark_group: str
    sites: list[str]
    evaluable: bool
    missing: list[str]
    score: float | None
    class_: str | None = msgspec.field(name="class")
    indicators: list[IndicatorFigure]
    inputs: InputFigures
    last_year: LastYear
    score_change: float | None  # points, this year - last year
    next_class: NextClassFigure | None


class BenchmarkFigure(msgspec.Struct, frozen=True):
    group: str  # industry code, or "all"
    indicator: str
    unit: str
    value: float | None
    source: str  # "aggregate" (sum / sum over the evaluable enterprises) or "configured"
    numerator_total: float
    denominator_total: float
    enterprises: int
    last_year_value: float | None


class ClassFigure(msgspec.Struct, frozen=True):
    class_: str = msgspec.field(name="class")
    count: int
    share: float | None  # of the evaluable enterprises
    least_score: float | None  # threshold, or the lowest score ranked into the class
    last_year_count: int
    land_area_mu: float
    controlled_tce: float


class Headroom(msgspec.Struct, frozen=True):
    year: int
    as_of: str
    annual_quota_tce: float
    monthly_tce: list[float]
    ytd_tce: float
    headroom_to_date_tce: float  # quota - year to date
    allowance_to_date_tce: float
    projected_year_end_tce: float
    projected_headroom_tce: float  # quota - projected year end
    projection_method: str
    warning_level: str
    reasons: list[str]


class JurisdictionInfo(msgspec.Struct, frozen=True):
    id: str
    name: str
    timezone: str


class PeriodFigure(msgspec.Struct, frozen=True):
    label: str  # "2026" or "2026-01..2026-09" (year to date)
    year: int
    months: list[str]
    start: str
    end: str  # exclusive
    last_year_label: str


class EachMuMethodology(msgspec.Struct, frozen=True):
    note: str
    benchmark_group: str
    classes_method: str
    thresholds: dict[str, float]
    shares: dict[str, float]
    pollutants: dict[str, float]  # pollutant -> weight in the emission total
    energy_basis: str
    config_hash: str
    data_source: str
    rules: list[str]


class JurisdictionReport(msgspec.Struct, frozen=True):
    schema_version: str
    kind: Literal["each_mu"]
    jurisdiction: JurisdictionInfo
    period: PeriodFigure
    enterprises: int
    evaluable: int
    not_evaluable: int
    ranking: list[EnterpriseRow]  # evaluable by rank, then not evaluable by id
    benchmarks: list[BenchmarkFigure]
    classes: list[ClassFigure]
    headroom: Headroom | None
    methodology: EachMuMethodology


class EnterpriseEachMu(msgspec.Struct, frozen=True):
    """An enterprise's own evaluation, in its energy report."""

    jurisdiction: str
    period: PeriodFigure
    enterprises_in_jurisdiction: int
    evaluable_in_jurisdiction: int
    row: EnterpriseRow
    benchmarks: list[BenchmarkFigure]  # of its benchmark group
    classes_method: str
    class_bars: dict[str, float | None]
    config_note: str


def jurisdiction_schema() -> dict[str, Any]:
    schema: dict[str, Any] = msgspec.json.schema(JurisdictionReport)
    defs = schema["$defs"]
    defs["JurisdictionReport"]["properties"]["content_sha256"] = {
        "type": "string", "pattern": "^[0-9a-f]{64}$",
        "description": "SHA-256 of the canonical JSON of the report without this member"}
    defs["JurisdictionReport"]["required"].append("content_sha256")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "PlantStream Each Mu is a Hero jurisdiction report"
    return schema
