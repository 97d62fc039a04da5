"""Unit-product consumption, limit grades, per-10,000-yuan intensity, financial CSV."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from plantstream.analytics import (
    AnalyticsInputError,
    DataImportError,
    FinancialRecord,
    LimitGrades,
    best_grade,
    load_financials,
    per_10k_yuan,
    rate_of_change,
    unit_product_consumption,
)

CEMENT = LimitGrades(product="cement clinker", unit="t", grades={1: 100.0, 2: None, 3: 112.0})


def test_unit_product_consumption() -> None:
    assert unit_product_consumption(105_000.0, 1000.0) == 105.0
    assert unit_product_consumption(1.0, 0.0) is None
    assert unit_product_consumption(math.nan, 10.0) is None
    assert unit_product_consumption(1.0, -5.0) is None


def test_best_grade_at_or_below_and_missing_grades() -> None:
    assert best_grade(99.9, CEMENT) == 1
    assert best_grade(100.0, CEMENT) == 1  # at the limit passes
    assert best_grade(100.1, CEMENT) == 3  # grade 2 is missing for this product
    assert best_grade(112.0, CEMENT) == 3
    assert best_grade(112.1, CEMENT) is None  # fails every grade
    assert best_grade(None, CEMENT) is None
    assert best_grade(math.nan, CEMENT) is None


def test_limit_grades_are_validated() -> None:
    with pytest.raises(AnalyticsInputError, match="stricter"):
        LimitGrades(product="x", unit="t", grades={1: 100.0, 2: 90.0})
    with pytest.raises(AnalyticsInputError, match="start at 1"):
        LimitGrades(product="x", unit="t", grades={0: 100.0})
    with pytest.raises(AnalyticsInputError, match="positive"):
        LimitGrades(product="x", unit="t", grades={1: -1.0})


def test_per_10k_yuan_and_rate_of_change() -> None:
    assert per_10k_yuan(450.0, 10_000_000.0) == pytest.approx(0.45)
    assert per_10k_yuan(1.0, 0.0) is None
    assert rate_of_change(0.45, 0.50) == pytest.approx(-0.10)
    assert rate_of_change(None, 0.5) is None
    assert rate_of_change(0.4, 0.0) is None


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "financials.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_financials(tmp_path: Path) -> None:
    path = write(tmp_path, "site,month,output_value_yuan,value_added_yuan_comparable\n"
                           "site-1,2026-01,\"12,500,000\",3100000.5\n\n"
                           "site-2,2026-01,8000000,2000000\n")
    assert load_financials(path) == [
        FinancialRecord(site="site-1", month="2026-01", output_value_yuan=12_500_000.0,
                        value_added_yuan_comparable=3_100_000.5),
        FinancialRecord(site="site-2", month="2026-01", output_value_yuan=8_000_000.0,
                        value_added_yuan_comparable=2_000_000.0)]


@pytest.mark.parametrize(("text", "row", "column", "reason"), [
    ("site,month,output_value_yuan,value_added_yuan_comparable\ns1,2026-13,1,1\n",
     2, "month", "YYYY-MM"),
    ("site,month,output_value_yuan,value_added_yuan_comparable\ns1,2026-01,abc,1\n",
     2, "output_value_yuan", "not a number"),
    ("site,month,output_value_yuan,value_added_yuan_comparable\ns1,2026-01,1,-5\n",
     2, "value_added_yuan_comparable", "non-negative"),
    ("site,month,output_value_yuan,value_added_yuan_comparable\ns1,2026-01,1,1\n"
     "s1,2026-01,2,2\n", 3, "month", "already given on row 2"),
    ("site,month,output_value_yuan,value_added_yuan_comparable,gdp\n", 1, "gdp",
     "unknown column"),
    ("site,month,output_value_yuan\n", 1, "value_added_yuan_comparable", "missing column"),
    ("site,month,output_value_yuan,value_added_yuan_comparable\n,2026-01,1,1\n", 2, "site",
     "empty"),
])
def test_financial_errors_name_row_and_column(tmp_path: Path, text: str, row: int,
                                              column: str, reason: str) -> None:
    with pytest.raises(DataImportError, match=reason) as info:
        load_financials(write(tmp_path, text))
    assert (info.value.row, info.value.column) == (row, column)
    assert f"row {row}" in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataImportError, match="file not found"):
        load_financials(tmp_path / "nope.csv")


def test_intensity_by_site_month_joins_energy_and_financials() -> None:
    from plantstream.analytics.intensity import intensity_by_site_month
    records = [FinancialRecord(site="s1", month="2026-01", output_value_yuan=20_000_000.0,
                               value_added_yuan_comparable=5_000_000.0)]
    rows = intensity_by_site_month(records, {("s1", "2026-01"): 900.0,
                                             ("s1", "2026-02"): 800.0})
    assert rows[0].tce_per_10k_yuan_output == pytest.approx(0.45)
    assert rows[0].tce_per_10k_yuan_value_added == pytest.approx(1.8)
    assert rows[1].month == "2026-02" and not rows[1].has_financials
    assert rows[1].tce_per_10k_yuan_output is None
