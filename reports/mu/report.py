"""The jurisdiction's "Each Mu is a Hero" report and the enterprise's own view.

Reads the controlled energy of every site per local month (one InfluxQL statement per
month from the raw points, or one per year from the `energy_1mo` rollup), joins it with
the plant registry (land) and the financials CSV, evaluates this period and the same
months of last year (`plantstream.reports.mu.scoring`), and adds the jurisdiction's
energy headroom from the dual-control code (`plantstream.analytics.dual_control_status`).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from plantstream.analytics import dual_control_status, rate_of_change
from plantstream.config import PlantConfig
from plantstream.reports.compute import _totals  # the dual-control basis, not a copy
from plantstream.reports.config import LoadedConfig
from plantstream.reports.errors import ReportInputError
from plantstream.reports.mu import model
from plantstream.reports.mu.config import CLASSES, EachMuConfig, Jurisdiction
from plantstream.reports.mu.inputs import enterprise_inputs
from plantstream.reports.mu.scoring import (
    DEFINITIONS,
    EnterpriseInputs,
    EnterpriseResult,
    Evaluation,
    evaluate,
    next_class,
)
from plantstream.reports.periods import local_midnight_ms
from plantstream.reports.source import Source

__all__ = ["EachMuPeriod", "build_jurisdiction_report", "enterprise_view",
           "parse_each_mu_period"]

log = logging.getLogger(__name__)

_YEAR = re.compile(r"([0-9]{4})", re.ASCII)
_YTD = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])", re.ASCII)


@dataclass(frozen=True, slots=True)
class EachMuPeriod:
    """January to `last_month` of `year` (12: the whole year)."""

    year: int
    last_month: int

    @property
    def months(self) -> list[str]:
        return [f"{self.year}-{m:02d}" for m in range(1, self.last_month + 1)]

    @property
    def label(self) -> str:
        if self.last_month == 12:
            return str(self.year)
        return f"{self.year}-01..{self.year}-{self.last_month:02d}"

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 1, 1)

    @property
    def end(self) -> dt.date:
        return dt.date(self.year + self.last_month // 12, self.last_month % 12 + 1, 1)

    def last_year(self) -> EachMuPeriod:
        return EachMuPeriod(self.year - 1, self.last_month)


def parse_each_mu_period(text: str) -> EachMuPeriod:
    """`2026` (the year) or `2026-09` (year to date: January to September 2026)."""
    if (m := _YEAR.fullmatch(text)) is not None:
        period = EachMuPeriod(int(m.group(1)), 12)
    elif (m := _YTD.fullmatch(text)) is not None:
        period = EachMuPeriod(int(m.group(1)), int(m.group(2)))
    else:
        raise ReportInputError(field="period", reason=(
            f"{text[:40]!r} is neither YYYY (a year) nor YYYY-MM (year to date)"))
    if not 2001 <= period.year <= 2100:
        raise ReportInputError(field="period", reason=f"{period.year} is outside 2001-2100")
    return period


# --- reading ---------------------------------------------------------------------------

def _month_of(ms: int, zone: ZoneInfo) -> str:
    return f"{dt.datetime.fromtimestamp(ms / 1000, tz=zone):%Y-%m}"


def site_month_quantities(source: Source, period: EachMuPeriod, zone: ZoneInfo,
                          ) -> dict[tuple[str, str], dict[str, float]]:
    """(site, "YYYY-MM") -> carrier -> quantity, every site in the database."""
    out: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    if source.kind == "rollup":
        # one point per machine, carrier and month, stamped 00:00 local on the 1st
        q = (f'SELECT "quantity" FROM "energy_1mo" WHERE '
             f"time >= {local_midnight_ms(period.start, zone)}ms AND "
             f'time < {local_midnight_ms(period.end, zone)}ms GROUP BY "site", "carrier"')
        for series in source.client.query(q):
            site, carrier = series.tags.get("site", ""), series.tags.get("carrier", "")
            for t, quantity in series.values:
                if isinstance(quantity, int | float):
                    out[(site, _month_of(int(t), zone))][carrier] += float(quantity)
        return out
    for number, month in enumerate(period.months, start=1):
        lo = dt.date(period.year, number, 1)
        hi = dt.date(period.year + number // 12, number % 12 + 1, 1)
        q = (f'SELECT sum("quantity") AS "quantity" FROM "energy" WHERE '
             f"time >= {local_midnight_ms(lo, zone)}ms AND "
             f'time < {local_midnight_ms(hi, zone)}ms GROUP BY "site", "carrier"')
        for series in source.client.query(q):
            site, carrier = series.tags.get("site", ""), series.tags.get("carrier", "")
            for _, quantity in series.values:
                if isinstance(quantity, int | float):
                    out[(site, month)][carrier] += float(quantity)
    return out


@dataclass(frozen=True, kw_only=True)  # no slots: cached look-ups
class _Evaluated:
    period: EachMuPeriod
    plants: tuple[PlantConfig, ...]
    inputs: Mapping[str, EnterpriseInputs]
    evaluation: Evaluation
    site_month_tce: Mapping[tuple[str, str], float]

    @functools.cached_property
    def plant_of(self) -> dict[str, PlantConfig]:
        return {p.enterprise.id: p for p in self.plants}


def _plants(loaded: LoadedConfig, jurisdiction: Jurisdiction) -> tuple[PlantConfig, ...]:
    return tuple(p for p in loaded.plants if p.enterprise.jurisdiction == jurisdiction.id)


def _evaluate(loaded: LoadedConfig, source: Source, jurisdiction: Jurisdiction,
              period: EachMuPeriod) -> _Evaluated:
    plants = _plants(loaded, jurisdiction)
    zone = ZoneInfo(jurisdiction.timezone)
    sites = {s.id for p in plants for s in p.sites}
    quantities = site_month_quantities(source, period, zone)
    tce = {key: _totals(loaded, dict(q)).controlled_kgce / 1000.0
           for key, q in quantities.items() if key[0] in sites}
    financials = {(f.site, f.month): f for f in loaded.financials}
    inputs = {p.enterprise.id: enterprise_inputs(p, jurisdiction, financials, period.months,
                                                 tce) for p in plants}
    evaluation = evaluate(list(inputs.values()), jurisdiction)
    return _Evaluated(period=period, plants=plants, inputs=inputs, evaluation=evaluation,
                      site_month_tce=tce)


# --- assembling ---------------------------------------------------------------------------

def _period_figure(period: EachMuPeriod, zone: ZoneInfo) -> model.PeriodFigure:
    def iso(day: dt.date) -> str:
        return dt.datetime.combine(day, dt.time(0), tzinfo=zone).isoformat()
    return model.PeriodFigure(label=period.label, year=period.year, months=period.months,
                              start=iso(period.start), end=iso(period.end),
                              last_year_label=period.last_year().label)


def _row(now: _Evaluated, last: _Evaluated, result: EnterpriseResult) -> model.EnterpriseRow:
    inputs = now.inputs[result.enterprise]
    plant = now.plant_of[result.enterprise]
    before = last.evaluation.result(result.enterprise)
    before_values = {f.indicator: f.value for f in before.indicators} if before else {}
    indicators = [model.IndicatorFigure(
        indicator=f.indicator, unit=DEFINITIONS[f.indicator].unit, value=f.value,
        benchmark=f.benchmark, ratio=f.ratio, weight=f.weight, cap=f.cap, points=f.points,
        last_year_value=before_values.get(f.indicator),
        change=rate_of_change(f.value, before_values.get(f.indicator)), note=f.note)
        for f in result.indicators]
    lever = next_class(result, now.evaluation)
    score_change = None
    if before is not None and before.score is not None and result.score is not None:
        score_change = result.score - before.score
    return model.EnterpriseRow(
        rank=result.rank, enterprise=result.enterprise, name=inputs.name,
        industry=inputs.industry, benchmark_group=result.group or "all",
        sites=[s.id for s in plant.sites], evaluable=result.evaluable,
        missing=list(result.missing), score=result.score, class_=result.klass,
        indicators=indicators,
        inputs=model.InputFigures(
            land_area_mu=inputs.land_area_mu, tax_paid_yuan=inputs.tax_paid_yuan,
            value_added_yuan_comparable=inputs.value_added_yuan,
            main_revenue_yuan=inputs.main_revenue_yuan,
            rd_expenditure_yuan=inputs.rd_expenditure_yuan,
            employees_average=inputs.employees, main_pollutants_weighted_t=inputs.emissions_t,
            controlled_tce=inputs.controlled_tce),
        last_year=model.LastYear(
            evaluable=before.evaluable if before else False,
            score=before.score if before else None, class_=before.klass if before else None,
            rank=before.rank if before else None),
        score_change=score_change,
        next_class=None if lever is None else model.NextClassFigure(
            target_class=lever.target_class, bar_score=lever.bar_score,
            points_needed=lever.points_needed, indicator=lever.indicator,
            weighted_gap_points=lever.weighted_gap_points, value_now=lever.value_now,
            value_needed=lever.value_needed, unit=DEFINITIONS[lever.indicator].unit,
            gaps=dict(lever.gaps)))


def _benchmarks(now: _Evaluated, last: _Evaluated,
                group: str | None = None) -> list[model.BenchmarkFigure]:
    before = {(b.group, b.indicator): b.value for b in last.evaluation.benchmarks}
    return [model.BenchmarkFigure(
        group=b.group or "all", indicator=b.indicator, unit=DEFINITIONS[b.indicator].unit,
        value=b.value, source=b.source, numerator_total=b.numerator_total,
        denominator_total=b.denominator_total, enterprises=b.enterprises,
        last_year_value=before.get((b.group, b.indicator)))
        for b in now.evaluation.benchmarks if group is None or b.group == group]


def _classes(now: _Evaluated, last: _Evaluated) -> list[model.ClassFigure]:
    evaluable = sum(now.evaluation.class_counts.values())
    out = []
    for c in CLASSES:
        members = [r.enterprise for r in now.evaluation.enterprises if r.klass == c]
        count = now.evaluation.class_counts[c]
        out.append(model.ClassFigure(
            class_=c, count=count, share=count / evaluable if evaluable else None,
            least_score=now.evaluation.class_bars.get(c),
            last_year_count=last.evaluation.class_counts[c],
            land_area_mu=math.fsum(now.inputs[e].land_area_mu or 0.0 for e in members),
            controlled_tce=math.fsum(now.inputs[e].controlled_tce or 0.0 for e in members)))
    return out


def _headroom(now: _Evaluated, jurisdiction: Jurisdiction) -> model.Headroom | None:
    period = now.period
    quota = jurisdiction.quota(period.year)
    if quota is None:
        return None
    sites = [s.id for p in now.plants for s in p.sites]
    monthly = [math.fsum(now.site_month_tce.get((s, month), 0.0) for s in sites)
               for month in period.months]
    as_of = period.end - dt.timedelta(days=1)
    status = dual_control_status(year=period.year, as_of=as_of, monthly_tce=monthly,
                                 annual_quota_tce=quota.annual_tce,
                                 seasonal_profile=quota.seasonal_profile)
    return model.Headroom(
        year=period.year, as_of=as_of.isoformat(), annual_quota_tce=quota.annual_tce,
        monthly_tce=monthly, ytd_tce=status.ytd_tce,
        headroom_to_date_tce=quota.annual_tce - status.ytd_tce,
        allowance_to_date_tce=status.allowance_to_date_tce,
        projected_year_end_tce=status.projected_year_end_tce,
        projected_headroom_tce=quota.annual_tce - status.projected_year_end_tce,
        projection_method=status.projection_method, warning_level=status.warning_level,
        reasons=list(status.reasons))


def _each_mu(loaded: LoadedConfig) -> EachMuConfig:
    if loaded.each_mu is None:
        raise ReportInputError(field="each_mu", status=404, reason=(
            "no Each Mu is a Hero configuration (each_mu in the report configuration)"))
    return loaded.each_mu


def _jurisdiction(loaded: LoadedConfig, jurisdiction_id: str) -> Jurisdiction:
    found = _each_mu(loaded).jurisdiction(jurisdiction_id)
    if found is None:
        raise ReportInputError(field="jurisdiction", status=404,
                               reason=f"no evaluation configured for {jurisdiction_id!r}")
    return found


def _check_complete(period: EachMuPeriod, zone: ZoneInfo, today: dt.date | None) -> None:
    if today is None:
        today = dt.datetime.now(tz=zone).date()
    if period.end > today:
        raise ReportInputError(field="period", reason=(
            f"{period.label} is not complete (it ends {period.end.isoformat()}); evaluate "
            "the year to the last complete month (YYYY-MM)"))


def jurisdiction_enterprises(loaded: LoadedConfig, jurisdiction_id: str) -> list[str]:
    """The enterprise ids of a configured jurisdiction (404 if not configured)."""
    return [p.enterprise.id for p in _plants(loaded, _jurisdiction(loaded, jurisdiction_id))]


def build_jurisdiction_report(loaded: LoadedConfig, source: Source, *, jurisdiction_id: str,
                              period: EachMuPeriod, today: dt.date | None = None,
                              ) -> model.JurisdictionReport:
    jurisdiction = _jurisdiction(loaded, jurisdiction_id)
    zone = ZoneInfo(jurisdiction.timezone)
    _check_complete(period, zone, today)
    now = _evaluate(loaded, source, jurisdiction, period)
    last = _evaluate(loaded, source, jurisdiction, period.last_year())
    rows = [_row(now, last, r) for r in now.evaluation.enterprises]
    evaluable = sum(1 for r in rows if r.evaluable)
    log.info("each mu %s %s: %d enterprises, %d evaluable", jurisdiction.id, period.label,
             len(rows), evaluable)
    return model.JurisdictionReport(
        schema_version=model.SCHEMA_VERSION, kind="each_mu",
        jurisdiction=model.JurisdictionInfo(id=jurisdiction.id, name=jurisdiction.name,
                                            timezone=jurisdiction.timezone),
        period=_period_figure(period, zone), enterprises=len(rows), evaluable=evaluable,
        not_evaluable=len(rows) - evaluable, ranking=rows,
        benchmarks=_benchmarks(now, last), classes=_classes(now, last),
        headroom=_headroom(now, jurisdiction),
        methodology=_methodology(loaded, jurisdiction, source))


def enterprise_view(loaded: LoadedConfig, source: Source, *, enterprise_id: str,
                    data_end: dt.date) -> model.EnterpriseEachMu | None:
    """The enterprise's own evaluation for the latest evaluation period that `data_end`
    (exclusive) completes: its year to the last complete month (a report ending in
    January: last year). None without an evaluation for its jurisdiction."""
    if loaded.each_mu is None:
        return None
    plant = loaded.enterprise(enterprise_id)
    if plant is None:
        return None
    jurisdiction = loaded.each_mu.jurisdiction(plant.enterprise.jurisdiction)
    if jurisdiction is None:
        return None
    last_complete = dt.date(data_end.year, data_end.month, 1) - dt.timedelta(days=1)
    period = EachMuPeriod(last_complete.year, last_complete.month)
    now = _evaluate(loaded, source, jurisdiction, period)
    last = _evaluate(loaded, source, jurisdiction, period.last_year())
    result = now.evaluation.result(enterprise_id)
    assert result is not None  # the plant is in the jurisdiction
    zone = ZoneInfo(jurisdiction.timezone)
    return model.EnterpriseEachMu(
        jurisdiction=jurisdiction.id, period=_period_figure(period, zone),
        enterprises_in_jurisdiction=len(now.evaluation.enterprises),
        evaluable_in_jurisdiction=sum(now.evaluation.class_counts.values()),
        row=_row(now, last, result), benchmarks=_benchmarks(now, last, result.group),
        classes_method=jurisdiction.classes.method,
        class_bars=dict(now.evaluation.class_bars), config_note=loaded.each_mu.note)


def _methodology(loaded: LoadedConfig, jurisdiction: Jurisdiction,
                 source: Source) -> model.EachMuMethodology:
    assert loaded.each_mu is not None
    return model.EachMuMethodology(
        note=loaded.each_mu.note, benchmark_group=jurisdiction.benchmark_group,
        classes_method=jurisdiction.classes.method,
        thresholds=dict(jurisdiction.classes.thresholds),
        shares=dict(jurisdiction.classes.shares), pollutants=dict(jurisdiction.pollutants),
        energy_basis=("controlled total (dual-control basis: total - feedstock - certified "
                      f"renewable electricity), {loaded.coefficients.electricity_basis} "
                      "electricity basis"),
        config_hash=loaded.config_hash,
        data_source=("energy_1mo rollup" if source.kind == "rollup"
                     else "energy (raw batch points), summed per local month"),
        rules=list(RULES))


RULES = (
    "indicator = summed numerator / summed denominator over the period's months and the "
    "enterprise's sites; yuan are divided by 10,000",
    "benchmark = the same ratio summed over the evaluable enterprises of the benchmark "
    "group (sum / sum, not an average of ratios), or a configured value",
    "points = weight x min(max(value / benchmark, 0), cap); score = sum of points, "
    "rounded to 6 decimals",
    "classes: score at or above a threshold is in the higher class; or by rank shares "
    "(cumulative share x evaluable count, rounded half up), ties ranked by enterprise id",
    "a missing input makes the enterprise not evaluable (never scored as 0)",
    "employees = average of the monthly head counts; emissions = sum of the main "
    "pollutants in tonnes x their weights; no emissions gives the indicator's full points",
    "energy headroom = the jurisdiction's annual quota - measured controlled consumption "
    "to date, and - the projected year end (dual-control run rate)",
)
