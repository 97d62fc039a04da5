"""Energy intensity: unit-product consumption against limit grades, energy per
10,000 yuan of output value / value added, rates of change, financial inputs.

Undefined is `None`, never 0: a ratio whose denominator is zero, negative or missing
(NaN) has no value. Financial inputs are not telemetry; they come from configuration
or a CSV import per site and month (`load_financials`).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from plantstream.analytics.errors import AnalyticsInputError, DataImportError

__all__ = [
    "FINANCIAL_COLUMNS",
    "OPTIONAL_FINANCIAL_COLUMNS",
    "FinancialRecord",
    "IntensityRow",
    "LimitGrades",
    "best_grade",
    "intensity_by_site_month",
    "load_financials",
    "per_10k_yuan",
    "rate_of_change",
    "unit_product_consumption",
]


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


@dataclass(frozen=True, slots=True)
class LimitGrades:
    """Limit-standard grades of one product: grade number -> max kgce per unit.

    Grade 1 is the best (the strictest limit). `None` marks a grade the standard does
    not define for this product. Defined limits must not get stricter as the grade
    number grows (grade 2 allows at least what grade 1 allows).
    """

    product: str
    unit: str
    grades: dict[int, float | None]

    def __post_init__(self) -> None:
        if not self.grades:
            raise AnalyticsInputError(field="grades", reason=f"{self.product}: no grades")
        previous: tuple[int, float] | None = None
        for grade in sorted(self.grades):
            limit = self.grades[grade]
            if grade < 1:
                raise AnalyticsInputError(field=f"grades[{grade}]",
                                          reason="grade numbers start at 1")
            if limit is None:
                continue
            if not math.isfinite(limit) or limit <= 0:
                raise AnalyticsInputError(field=f"grades[{grade}]",
                                          reason=f"limit {limit} is not a positive number")
            if previous is not None and limit < previous[1]:
                raise AnalyticsInputError(
                    field=f"grades[{grade}]",
                    reason=f"limit {limit} is stricter than grade {previous[0]} ({previous[1]})")
            previous = (grade, limit)


def unit_product_consumption(kgce: float, qualified_output: float) -> float | None:
    """kgce per unit (or tonne) of qualified output; None when output is 0 or missing."""
    if not _finite(kgce) or not _finite(qualified_output) or qualified_output <= 0:
        return None
    return kgce / qualified_output


def best_grade(value: float | None, limits: LimitGrades) -> int | None:
    """The best (lowest-numbered) grade whose limit `value` is at or below.

    Missing grades are skipped; None when the value is missing or passes no grade.
    """
    if value is None or not math.isfinite(value):
        return None
    for grade in sorted(limits.grades):
        limit = limits.grades[grade]
        if limit is not None and value <= limit:
            return grade
    return None


def per_10k_yuan(tce: float, yuan: float) -> float | None:
    """tce per 10,000 yuan (of output value or of value added); None if yuan <= 0."""
    if not _finite(tce) or not _finite(yuan) or yuan <= 0:
        return None
    return tce / (yuan / 10_000.0)


def rate_of_change(current: float | None, base: float | None) -> float | None:
    """current / base - 1 (e.g. -0.035 = intensity fell 3.5 %); None if undefined."""
    if current is None or base is None or not _finite(current) or not _finite(base) \
            or base == 0:
        return None
    return current / base - 1.0


# --- financial inputs -----------------------------------------------------------------

FINANCIAL_COLUMNS = ("site", "month", "output_value_yuan", "value_added_yuan_comparable")
# optional columns (the "Each Mu is a Hero" evaluation): an empty cell is a missing
# value (None), never 0; emissions are `emission_<pollutant>_t`, in tonnes
OPTIONAL_FINANCIAL_COLUMNS = ("tax_paid_yuan", "main_revenue_yuan", "rd_expenditure_yuan",
                              "employees")
_EMISSION = re.compile(r"^emission_([a-z0-9]+)_t$")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, slots=True, kw_only=True)
class FinancialRecord:
    """Output value and value added (at comparable prices) of one site in one month."""

    site: str
    month: str  # "YYYY-MM"
    output_value_yuan: float
    value_added_yuan_comparable: float
    tax_paid_yuan: float | None = None
    main_revenue_yuan: float | None = None
    rd_expenditure_yuan: float | None = None
    employees: float | None = None  # persons employed (average of the month)
    # (pollutant, tonnes or None when the cell is empty), sorted by pollutant
    emissions_t: tuple[tuple[str, float | None], ...] = ()

    def __post_init__(self) -> None:
        if not self.site:
            raise AnalyticsInputError(field="site", reason="empty")
        if not _MONTH.match(self.month):
            raise AnalyticsInputError(field="month",
                                      reason=f"{self.month!r} is not YYYY-MM")
        for name in ("output_value_yuan", "value_added_yuan_comparable"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise AnalyticsInputError(field=name,
                                          reason=f"{value} is not a non-negative number")

    @property
    def year(self) -> int:
        return int(self.month[:4])


def load_financials(path: str | Path) -> list[FinancialRecord]:
    """Read financial inputs from a CSV file with the header
    `site,month,output_value_yuan,value_added_yuan_comparable` and optionally
    `tax_paid_yuan`, `main_revenue_yuan`, `rd_expenditure_yuan`, `employees` and
    `emission_<pollutant>_t` columns (other columns are an error, a duplicated site and
    month is an error; an empty optional cell is a missing value). Every error names the
    row (file line number) and the column.
    """
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataImportError(source=source, row=None, column="",
                              reason="file not found") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None:
        raise DataImportError(source=source, row=1, column="", reason="empty file, no header")
    header = [h.strip() for h in header]
    for column in header:
        if column not in FINANCIAL_COLUMNS and column not in OPTIONAL_FINANCIAL_COLUMNS \
                and not _EMISSION.match(column):
            raise DataImportError(source=source, row=1, column=column, reason=(
                f"unknown column; expected {', '.join(FINANCIAL_COLUMNS)}, optionally "
                f"{', '.join(OPTIONAL_FINANCIAL_COLUMNS)}, emission_<pollutant>_t (tonnes)"))
    optional = [c for c in header if c in OPTIONAL_FINANCIAL_COLUMNS or _EMISSION.match(c)]
    for column in FINANCIAL_COLUMNS:
        if column not in header:
            raise DataImportError(source=source, row=1, column=column, reason="missing column")
    if len(set(header)) != len(header):
        raise DataImportError(source=source, row=1, column="", reason="duplicate column")
    records: list[FinancialRecord] = []
    seen: dict[tuple[str, str], int] = {}
    for line_no, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataImportError(source=source, row=line_no, column="",
                                  reason=f"{len(row)} cells, header has {len(header)}")
        cells: Mapping[str, str] = {h: c.strip() for h, c in zip(header, row, strict=True)}
        site = cells["site"]
        if not site:
            raise DataImportError(source=source, row=line_no, column="site", reason="empty")
        month = cells["month"]
        if not _MONTH.match(month):
            raise DataImportError(source=source, row=line_no, column="month",
                                  reason=f"{month!r} is not YYYY-MM")
        values: dict[str, float] = {}
        for column in ("output_value_yuan", "value_added_yuan_comparable"):
            raw = cells[column].replace(",", "").replace("_", "")
            try:
                value = float(raw)
            except ValueError:
                raise DataImportError(source=source, row=line_no, column=column,
                                      reason=f"{cells[column]!r} is not a number") from None
            if not math.isfinite(value) or value < 0:
                raise DataImportError(source=source, row=line_no, column=column,
                                      reason=f"{cells[column]!r} is not a non-negative number")
            values[column] = value
        extra: dict[str, float | None] = {}
        for column in optional:
            raw = cells[column].replace(",", "").replace("_", "")
            if not raw:
                extra[column] = None
                continue
            try:
                value = float(raw)
            except ValueError:
                raise DataImportError(source=source, row=line_no, column=column,
                                      reason=f"{cells[column]!r} is not a number") from None
            if not math.isfinite(value) or value < 0:
                raise DataImportError(source=source, row=line_no, column=column,
                                      reason=f"{cells[column]!r} is not a non-negative number")
            extra[column] = value
        key = (site, month)
        if key in seen:
            raise DataImportError(source=source, row=line_no, column="month",
                                  reason=f"{site} {month} already given on row {seen[key]}")
        seen[key] = line_no
        records.append(FinancialRecord(
            site=site, month=month, output_value_yuan=values["output_value_yuan"],
            value_added_yuan_comparable=values["value_added_yuan_comparable"],
            tax_paid_yuan=extra.get("tax_paid_yuan"),
            main_revenue_yuan=extra.get("main_revenue_yuan"),
            rd_expenditure_yuan=extra.get("rd_expenditure_yuan"),
            employees=extra.get("employees"),
            emissions_t=tuple(sorted((m.group(1), extra[c]) for c in optional
                                     if (m := _EMISSION.match(c)) is not None))))
    return records


@dataclass(frozen=True, slots=True, kw_only=True)
class IntensityRow:
    """Energy intensity of one site in one month (None where undefined or no data)."""

    site: str
    month: str
    tce: float
    tce_per_10k_yuan_output: float | None
    tce_per_10k_yuan_value_added: float | None
    has_financials: bool


def intensity_by_site_month(financials: Iterable[FinancialRecord],
                            tce: Mapping[tuple[str, str], float]) -> list[IntensityRow]:
    """Join energy (`(site, "YYYY-MM") -> tce`) with financial inputs; one row per
    (site, month) that has energy, sorted. A month without financial inputs gives
    None intensities and `has_financials=False` (never 0)."""
    by_key = {(f.site, f.month): f for f in financials}
    rows = []
    for (site, month), total in sorted(tce.items()):
        record = by_key.get((site, month))
        rows.append(IntensityRow(
            site=site, month=month, tce=total,
            tce_per_10k_yuan_output=(per_10k_yuan(total, record.output_value_yuan)
                                     if record else None),
            tce_per_10k_yuan_value_added=(
                per_10k_yuan(total, record.value_added_yuan_comparable) if record else None),
            has_financials=record is not None))
    return rows
