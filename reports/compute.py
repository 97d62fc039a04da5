"""Computing the energy report of a site or an enterprise for a period.

The arithmetic comes from `plantstream.analytics` (coefficients, unit-product
consumption, limit grades, per-10,000-yuan intensities, rates of change, dual control);
this module reads the data, applies the carrier roles and the data-quality rules, and
assembles the typed `Report`.

Reports cover complete local days: the data end is the period end, or the end of the
`as_of` day, or today's local midnight, whichever is earliest. The current day is in
the real-time feed.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from plantstream.analytics import (
    Carrier,
    best_grade,
    dual_control_status,
    per_10k_yuan,
    rate_of_change,
    unit_product_consumption,
)
from plantstream.config import PlantConfig
from plantstream.reports import model
from plantstream.reports.config import LoadedConfig, Role
from plantstream.reports.errors import ReportInputError
from plantstream.reports.periods import Period, local_midnight_ms, month_starts
from plantstream.reports.source import (
    DailyEnergy,
    Source,
    daily_carrier_totals,
    daily_energy,
    meter_balance,
    meter_events,
    monthly_meter_energy,
    monthly_raw_totals,
    production_totals,
)

__all__ = ["Scope", "build_report", "resolve_scope"]

log = logging.getLogger(__name__)

MAX_GAPS = 200
# periods up to a quarter are read per meter and day (gaps listed by day); longer ones
# per meter and month (gaps listed by month)
DAILY_DETAIL_MAX_DAYS = 92


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    type: str  # "site" or "enterprise"
    id: str
    name: str
    plant: PlantConfig
    sites: tuple[str, ...]
    zone: ZoneInfo


def resolve_scope(loaded: LoadedConfig, scope_id: str) -> Scope:
    """A site id or an enterprise id; unknown ids are a 404."""
    found = loaded.site(scope_id)
    if found is not None:
        plant, site = found
        return Scope(type="site", id=site.id, name=site.name or site.id, plant=plant,
                     sites=(site.id,), zone=_zone(site.timezone))
    plant_or_none = loaded.enterprise(scope_id)
    if plant_or_none is None:
        raise ReportInputError(field="scope", reason=f"unknown site or enterprise {scope_id!r}",
                               status=404)
    zones = {s.timezone for s in plant_or_none.sites}
    if len(zones) != 1:
        raise ReportInputError(field="scope", reason=(
            f"enterprise {scope_id!r} has sites in several time zones {sorted(zones)}; "
            "report per site"))
    return Scope(type="enterprise", id=plant_or_none.enterprise.id,
                 name=plant_or_none.enterprise.name, plant=plant_or_none,
                 sites=tuple(s.id for s in plant_or_none.sites), zone=_zone(zones.pop()))


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _iso_local(day: dt.date, zone: ZoneInfo) -> str:
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).isoformat()


# --- energy by carrier -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Conversion:
    role: Role
    coefficient: Carrier


def _conversion(loaded: LoadedConfig, carrier: str) -> _Conversion:
    roles = loaded.config.carriers
    row = roles.coefficient_of.get(carrier, carrier)
    coefficient = loaded.coefficients.carrier(row)
    if coefficient is None:
        raise ReportInputError(field="carrier", reason=(
            f"carrier {carrier!r} has no coefficient: add it to the table or map it in "
            "[carriers.coefficient_of]"))
    return _Conversion(role=roles.role(carrier), coefficient=coefficient)


@dataclass(frozen=True, slots=True)
class _Totals:
    """kgce / kgCO2 by role for a set of carrier quantities."""

    by_role_kgce: dict[str, float]
    consumed_kgco2: float
    sent_kgco2: float

    @property
    def total_kgce(self) -> float:
        return sum(v for k, v in self.by_role_kgce.items() if k != "sent_off_site") \
            - self.by_role_kgce.get("sent_off_site", 0.0)

    @property
    def controlled_kgce(self) -> float:
        return self.by_role_kgce.get("controlled", 0.0) \
            - self.by_role_kgce.get("sent_off_site", 0.0)


def _totals(loaded: LoadedConfig, quantities: dict[str, float]) -> _Totals:
    by_role: dict[str, float] = defaultdict(float)
    consumed_co2 = sent_co2 = 0.0
    for carrier in sorted(quantities):
        conv = _conversion(loaded, carrier)
        quantity = quantities[carrier]
        by_role[conv.role] += quantity * conv.coefficient.kgce_per_unit
        co2 = quantity * conv.coefficient.kgco2_per_unit
        if conv.role == "sent_off_site":
            sent_co2 += co2
        else:
            consumed_co2 += co2
    return _Totals(by_role_kgce=dict(by_role), consumed_kgco2=consumed_co2, sent_kgco2=sent_co2)


def _energy_summary(loaded: LoadedConfig, quantities: dict[str, float]) -> model.EnergySummary:
    figures = []
    for carrier in sorted(quantities):
        conv = _conversion(loaded, carrier)
        c = conv.coefficient
        quantity = quantities[carrier]
        figures.append(model.CarrierFigure(
            carrier=carrier, role=conv.role, unit=c.unit, quantity=quantity,
            kgce_per_unit=c.kgce_per_unit, coefficient_basis=c.basis,
            kgce=quantity * c.kgce_per_unit, kgco2_per_unit=c.kgco2_per_unit,
            kgco2=quantity * c.kgco2_per_unit))
    t = _totals(loaded, quantities)
    gross = sum(v for k, v in t.by_role_kgce.items() if k != "sent_off_site")
    table = loaded.coefficients
    return model.EnergySummary(
        carriers=figures, gross_consumption_tce=gross / 1000.0,
        sent_off_site_tce=t.by_role_kgce.get("sent_off_site", 0.0) / 1000.0,
        total_comprehensive_tce=t.total_kgce / 1000.0,
        feedstock_tce=t.by_role_kgce.get("feedstock", 0.0) / 1000.0,
        renewable_certified_tce=t.by_role_kgce.get("renewable_certified", 0.0) / 1000.0,
        controlled_total_tce=t.controlled_kgce / 1000.0,
        co2_kgco2=t.consumed_kgco2 - t.sent_kgco2,
        electricity_co2_factor_kgco2_per_kwh=table.grid_kgco2_per_kwh,
        electricity_co2_data_year=table.grid_year,
        co2_accounting="location-based (national average grid factor of the data year)")


def _quantities(rows: Iterable[DailyEnergy], start: dt.date, end: dt.date) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for r in rows:
        if start <= r.day < end:
            out[r.carrier] += r.quantity
    return dict(out)


# --- financials ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Money:
    output_value: float | None
    value_added: float | None
    months: list[str]
    missing: list[str]
    prorated: bool


def _money(loaded: LoadedConfig, sites: Sequence[str], start: dt.date, end: dt.date) -> _Money:
    by_key = {(f.site, f.month): f for f in loaded.financials}
    output = added = 0.0
    months: list[str] = []
    missing: list[str] = []
    prorated = False
    for first in month_starts(start, end):
        label = f"{first:%Y-%m}"
        month_days = calendar.monthrange(first.year, first.month)[1]
        month_end = first + dt.timedelta(days=month_days)
        overlap = (min(end, month_end) - max(start, first)).days
        share = overlap / month_days
        prorated = prorated or overlap != month_days
        found = True
        for site in sites:
            record = by_key.get((site, label))
            if record is None:
                missing.append(f"{site} {label}")
                found = False
                continue
            output += record.output_value_yuan * share
            added += record.value_added_yuan_comparable * share
        if found:
            months.append(label)
    if missing:
        return _Money(None, None, months, missing, prorated)
    return _Money(output, added, months, missing, prorated)


# --- products -------------------------------------------------------------------------------

def _products(loaded: LoadedConfig, source: Source, scope: Scope, rows: Sequence[DailyEnergy],
              period: Period, data_end: dt.date) -> list[model.ProductFigure]:
    start_ms = local_midnight_ms(period.start, scope.zone)
    end_ms = local_midnight_ms(data_end, scope.zone)
    totals = production_totals(source, scope.sites, start_ms, end_ms)
    by_product: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    by_product_line: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for t in totals:
        for acc in (by_product[t.product], by_product_line[(t.product, t.line)]):
            acc[0] += t.good
            acc[1] += t.scrap
            acc[2] += t.rework
    kgce_by_line: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        if period.start <= r.day < data_end:
            kgce_by_line[r.line][r.carrier] += r.quantity
    # Only what belongs to the scope: products made in it, and configured products with a
    # boundary line in it (with those lines only); never another enterprise's or site's
    # product, line, standard or grades.
    scope_lines = {x.id for x in scope.plant.lines if x.site in scope.sites}
    configured = {p.product: p for p in loaded.config.products}
    in_scope = set(by_product) | {p.product for p in loaded.config.products
                                  if scope_lines.intersection(p.lines)}
    out = []
    for product in sorted(in_scope):
        product_cfg = configured.get(product)
        limits = loaded.limits.get(product)
        lines = [x for x in product_cfg.lines if x in scope_lines] if product_cfg else []
        if product_cfg is not None and product_cfg.lines and not lines:
            # made in the scope, but none of its boundary lines is: no figure to grade
            good, scrap, rework = by_product[product]
            out.append(model.ProductFigure(
                product=product, unit=limits.unit if limits else "",
                standard=product_cfg.standard, boundary="none (no boundary line in scope)",
                good=good, scrap=scrap, rework=rework, qualified_output=good,
                boundary_kgce=0.0, unit_consumption_kgce=None,
                grades={str(k): v for k, v in sorted(limits.grades.items())} if limits else {},
                best_grade=None))
            continue
        if lines:
            good = sum(by_product_line[(product, x)][0] for x in lines)
            scrap = sum(by_product_line[(product, x)][1] for x in lines)
            rework = sum(by_product_line[(product, x)][2] for x in lines)
            quantities: dict[str, float] = defaultdict(float)
            for line in lines:
                for carrier, q in kgce_by_line.get(line, {}).items():
                    quantities[carrier] += q
            boundary = "lines " + ", ".join(lines)
        else:
            good, scrap, rework = by_product[product]
            quantities = defaultdict(float)
            for carriers in kgce_by_line.values():
                for carrier, q in carriers.items():
                    quantities[carrier] += q
            boundary = scope.type if limits is not None else "none (no limit standard)"
        kgce = _totals(loaded, dict(quantities)).total_kgce if limits is not None else 0.0
        value = unit_product_consumption(kgce, good) if limits is not None else None
        out.append(model.ProductFigure(
            product=product, unit=limits.unit if limits else "",
            standard=product_cfg.standard if product_cfg else "", boundary=boundary,
            good=good, scrap=scrap, rework=rework, qualified_output=good,
            boundary_kgce=kgce, unit_consumption_kgce=value,
            grades={str(k): v for k, v in sorted(limits.grades.items())} if limits else {},
            best_grade=best_grade(value, limits) if limits is not None else None))
    return out


# --- data quality ---------------------------------------------------------------------------

def _buckets(period: Period, data_end: dt.date, daily: bool) -> list[tuple[dt.date, dt.date]]:
    """The [start, end) ranges the meter rows are keyed by: days, or months clipped."""
    if daily:
        return [(period.start + dt.timedelta(days=i), period.start + dt.timedelta(days=i + 1))
                for i in range((data_end - period.start).days)]
    out = []
    for first in month_starts(period.start, data_end):
        nxt = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
        out.append((max(first, period.start), min(nxt, data_end)))
    return out


def _deviation(value: float, reference: float) -> float | None:
    """|value / reference - 1|; 0 when both are 0, None when only the reference is."""
    if reference > 0:
        return abs(value / reference - 1.0)
    return 0.0 if value == 0 else None


def _data_quality(loaded: LoadedConfig, source: Source, scope: Scope,
                  rows: Sequence[DailyEnergy], per_day_carrier: dict[tuple[dt.date, str], float],
                  period: Period, data_end: dt.date, daily: bool) -> model.DataQuality:
    cfg = loaded.config
    zone = scope.zone
    buckets = _buckets(period, data_end, daily)
    days = [lo for lo, _ in buckets]
    day_s = {lo: (local_midnight_ms(hi, zone) - local_midnight_ms(lo, zone)) / 1000.0
             for lo, hi in buckets}
    last_of = {lo: hi - dt.timedelta(days=1) for lo, hi in buckets}
    expected = sum(day_s.values())
    covered: dict[tuple[str, str, str], dict[dt.date, float]] = defaultdict(dict)
    for r in rows:
        if period.start <= r.day < data_end:
            per_day = covered[(r.site, r.machine, r.carrier)]
            per_day[r.day] = per_day.get(r.day, 0.0) + r.covered_s
    seen_machines = {m for _, m, _ in covered}
    site_set = set(scope.sites)
    line_site = {x.id: x.site for x in scope.plant.lines}
    for configured in scope.plant.machines:  # a machine without any energy point: 0 %
        site_of = line_site.get(configured.line, "")
        if configured.main_meter:  # in `energy_main`: see the meter balance
            continue
        if site_of in site_set and configured.id not in seen_machines:
            covered[(site_of, configured.id, "*")] = {}
    meters = []
    gaps: list[model.Gap] = []
    for key in sorted(covered):
        site, machine, carrier = key
        per_day = covered[key]
        total = math.fsum(per_day.values())
        completeness = total / expected if expected > 0 else 0.0
        meters.append(model.MeterCompleteness(
            site=site, machine=machine, carrier=carrier, covered_s=total, expected_s=expected,
            completeness=completeness, passes=completeness >= cfg.completeness_threshold))
        run: list[dt.date] = []
        missing = 0.0
        for d in [*days, None]:
            short = None if d is None else day_s[d] - per_day.get(d, 0.0)
            if d is not None and short is not None and short > 0.5:
                run.append(d)
                missing += short
                continue
            if run:
                gaps.append(model.Gap(site=site, machine=machine, carrier=carrier,
                                      first_day=run[0].isoformat(),
                                      last_day=last_of[run[-1]].isoformat(), missing_s=missing))
                run, missing = [], 0.0
    below = sum(1 for m in meters if not m.passes)

    checks: list[model.DailyMonthlyCheck] = []
    month_ranges = []
    whole: list[tuple[str, int, int]] = []
    partial: list[tuple[str, int, int]] = []
    for first in month_starts(period.start, data_end):
        nxt = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
        lo, hi = max(first, period.start), min(nxt, data_end)
        month = (f"{first:%Y-%m}", local_midnight_ms(lo, zone), local_midnight_ms(hi, zone))
        month_ranges.append((*month, lo, hi))
        (whole if (lo, hi) == (first, nxt) else partial).append(month)
    use_rollup = cfg.influx.monthly_check == "rollup"
    monthly = monthly_raw_totals(source.client, scope.sites,
                                 [*partial, *([] if use_rollup else whole)])
    if use_rollup:
        monthly.update(monthly_raw_totals(source.client, scope.sites, whole,
                                          measurement="energy_1mo"))
    for label, _, _, lo, hi in month_ranges:
        daily_sums: dict[str, float] = defaultdict(float)
        for (day, carrier_name), quantity in per_day_carrier.items():
            if lo <= day < hi:
                daily_sums[carrier_name] += quantity
        for carrier in sorted(set(daily_sums) | {c for m, c in monthly if m == label}):
            d_sum = daily_sums.get(carrier, 0.0)
            m_sum = monthly.get((label, carrier), 0.0)
            deviation = _deviation(d_sum, m_sum)
            checks.append(model.DailyMonthlyCheck(
                month=label, carrier=carrier, sum_of_daily=d_sum, monthly_total=m_sum,
                deviation=deviation,
                passes=deviation is not None and deviation <= cfg.daily_monthly_tolerance))
    daily_from = ("daily values from the energy_site_1d rollup" if source.kind == "rollup" else
                  "daily sums (GROUP BY time(1d) local)")
    monthly_from = ("the energy_1mo rollup (months covered in part: sums of the raw energy "
                    "points)" if use_rollup else "monthly sums of the raw energy points")
    method = f"{daily_from} against {monthly_from}"
    if source.kind == "raw" and not use_rollup:
        method += " (same points: a consistency check of the query path)"
    start_ms, end_ms = local_midnight_ms(period.start, zone), local_midnight_ms(data_end, zone)
    events = meter_events(source.client, scope.sites, start_ms, end_ms)
    balance = _meter_balance(loaded, source, scope, start_ms, end_ms)
    return model.DataQuality(
        completeness_threshold=cfg.completeness_threshold, meters=meters,
        meters_below_threshold=below, passes_completeness=below == 0,
        daily_vs_monthly_tolerance=cfg.daily_monthly_tolerance,
        daily_vs_monthly_method=method, daily_vs_monthly=checks,
        passes_daily_vs_monthly=all(c.passes for c in checks),
        gaps_granularity="day" if daily else "month",
        gaps=gaps[:MAX_GAPS], gaps_truncated=max(0, len(gaps) - MAX_GAPS),
        day_start=f"00:00 {zone.key}",
        meter_events=[model.MeterEvents(site=e.site, machine=e.machine, carrier=e.carrier,
                                        jitter=e.jitter, resets=e.resets, rejected=e.rejected)
                      for e in events if e.jitter or e.resets or e.rejected],
        jitter_steps=sum(e.jitter for e in events), meter_resets=sum(e.resets for e in events),
        rejected_jumps=sum(e.rejected for e in events),
        meter_balance=balance, passes_meter_balance=all(b.passes for b in balance))


def _meter_balance(loaded: LoadedConfig, source: Source, scope: Scope, start_ms: int,
                   end_ms: int) -> list[model.MeterBalance]:
    cfg = loaded.config
    out = []
    for b in meter_balance(source.client, scope.sites, start_ms, end_ms):
        tolerance = cfg.meter_balance_tolerances.get(b.carrier, cfg.meter_balance_tolerance)
        deviation = _deviation(b.sub_quantity, b.main_quantity)
        out.append(model.MeterBalance(
            site=b.site, carrier=b.carrier, main_meters=list(b.main_meters),
            main_quantity=b.main_quantity, sub_quantity=b.sub_quantity, deviation=deviation,
            tolerance=tolerance, passes=deviation is not None and deviation <= tolerance))
    return out


# --- the report -----------------------------------------------------------------------------

def _data_end(period: Period, as_of: dt.date | None, today: dt.date) -> dt.date:
    end = period.end
    if as_of is not None:
        end = min(end, as_of + dt.timedelta(days=1))
    end = min(end, today)
    if end <= period.start:
        raise ReportInputError(field="period", reason=(
            f"{period.label} has no complete local day of data yet "
            f"(data ends {end.isoformat()}); the current day is in the real-time feed"))
    return end


def _controlled_tce(loaded: LoadedConfig, per_day: dict[tuple[dt.date, str], float],
                    start: dt.date, end: dt.date) -> float:
    quantities: dict[str, float] = defaultdict(float)
    for (day, carrier), q in per_day.items():
        if start <= day < end:
            quantities[carrier] += q
    return _totals(loaded, dict(quantities)).controlled_kgce / 1000.0


def _comparison(loaded: LoadedConfig, source: Source, scope: Scope, label: str,
                start: dt.date, end: dt.date, current_tce: float,
                current_intensity: float | None) -> model.ComparisonFigures:
    per_day = daily_carrier_totals(source, scope.sites, local_midnight_ms(start, scope.zone),
                                   local_midnight_ms(end, scope.zone), scope.zone)
    tce = _controlled_tce(loaded, per_day, start, end)
    money = _money(loaded, scope.sites, start, end)
    intensity = per_10k_yuan(tce, money.value_added) if money.value_added is not None else None
    return model.ComparisonFigures(
        label=label, start=_iso_local(start, scope.zone), end=_iso_local(end, scope.zone),
        controlled_total_tce=tce, tce_per_10k_yuan_value_added=intensity,
        change_controlled_total=rate_of_change(current_tce, tce),
        change_intensity=rate_of_change(current_intensity, intensity))


def _shift(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def build_report(loaded: LoadedConfig, source: Source, *, scope_id: str, period: Period,
                 as_of: dt.date | None = None, today: dt.date | None = None) -> model.Report:
    scope = resolve_scope(loaded, scope_id)
    if today is None:
        today = dt.datetime.now(tz=scope.zone).date()
    data_end = _data_end(period, as_of, today)
    last_day = data_end - dt.timedelta(days=1)
    year = last_day.year
    year_start = dt.date(year, 1, 1)
    fetch_start = min(period.start, year_start)
    daily = period.days <= DAILY_DETAIL_MAX_DAYS
    if daily:
        rows = daily_energy(source, scope.sites, local_midnight_ms(period.start, scope.zone),
                            local_midnight_ms(data_end, scope.zone), scope.zone)
    else:
        rows = monthly_meter_energy(source, scope.sites, period.start, data_end, scope.zone)
    per_day = daily_carrier_totals(source, scope.sites,
                                   local_midnight_ms(fetch_start, scope.zone),
                                   local_midnight_ms(data_end, scope.zone), scope.zone)
    log.info("report %s %s: %d meter values", scope.id, period.label, len(rows))

    energy = _energy_summary(loaded, _quantities(rows, period.start, data_end))
    money = _money(loaded, scope.sites, period.start, data_end)
    controlled = energy.controlled_total_tce
    intensity_va = per_10k_yuan(controlled, money.value_added) \
        if money.value_added is not None else None
    intensity_out = per_10k_yuan(controlled, money.output_value) \
        if money.output_value is not None else None

    # month by month over the year to date (dual control, the intensity chart)
    month_figures: list[model.MonthFigure] = []
    monthly_tce: list[float] = []
    for first in month_starts(year_start, data_end):
        nxt = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
        hi = min(nxt, data_end)
        tce = _controlled_tce(loaded, per_day, first, hi)
        monthly_tce.append(tce)
        m = _money(loaded, scope.sites, first, hi)
        month_figures.append(model.MonthFigure(
            month=f"{first:%Y-%m}", controlled_tce=tce, value_added_yuan_comparable=m.value_added,
            intensity_tce_per_10k_yuan=per_10k_yuan(tce, m.value_added)
            if m.value_added is not None else None))
    financials = model.Financials(
        output_value_yuan=money.output_value, value_added_yuan_comparable=money.value_added,
        months=money.months, months_missing=money.missing, prorated=money.prorated,
        tce_per_10k_yuan_output_value=intensity_out, tce_per_10k_yuan_value_added=intensity_va,
        months_detail=month_figures)

    last_year = _comparison(loaded, source, scope, "same period last year",
                            _shift(period.start, -1), _shift(data_end, -1), controlled,
                            intensity_va)
    base = None
    base_year = loaded.config.base_year
    if base_year is not None:
        offset = base_year - period.start.year
        base = _comparison(loaded, source, scope, f"base year {base_year}",
                           _shift(period.start, offset), _shift(data_end, offset), controlled,
                           intensity_va)

    dual = None
    quota = loaded.quota(scope.id, year)
    if quota is not None:
        ytd_money = _money(loaded, scope.sites, year_start, data_end)
        ytd_tce = math.fsum(monthly_tce)
        ytd_intensity = per_10k_yuan(ytd_tce, ytd_money.value_added) \
            if ytd_money.value_added is not None else None
        status = dual_control_status(
            year=year, as_of=last_day, monthly_tce=monthly_tce, annual_quota_tce=quota.annual_tce,
            seasonal_profile=quota.seasonal_profile, intensity=ytd_intensity,
            intensity_target=quota.intensity_target_tce_per_10k_yuan)
        dual = model.DualControl(
            year=year, as_of=last_day.isoformat(), monthly_tce=monthly_tce,
            ytd_tce=status.ytd_tce, annual_quota_tce=status.annual_quota_tce,
            share_elapsed=status.share_elapsed, allowance_to_date_tce=status.allowance_to_date_tce,
            ytd_minus_allowance_tce=status.ytd_minus_allowance_tce,
            projected_year_end_tce=status.projected_year_end_tce,
            projection_method=status.projection_method, projection_ratio=status.projection_ratio,
            projected_crossing_date=status.projected_crossing_date.isoformat()
            if status.projected_crossing_date else None,
            intensity_tce_per_10k_yuan=status.intensity,
            intensity_target_tce_per_10k_yuan=status.intensity_target,
            intensity_ratio=status.intensity_ratio, warning_level=status.warning_level,
            reasons=list(status.reasons))

    in_period = sorted({day for day, _ in per_day if period.start <= day < data_end})
    # imported here: the evaluation reuses this module's energy totals (an import cycle)
    from plantstream.reports.mu.report import enterprise_view
    each_mu = enterprise_view(loaded, source, enterprise_id=scope.id, data_end=data_end) \
        if scope.type == "enterprise" else None
    table = loaded.coefficients
    enterprise = scope.plant.enterprise
    return model.Report(
        schema_version=model.SCHEMA_VERSION, kind="energy",
        scope=model.ScopeInfo(type="site" if scope.type == "site" else "enterprise",
                              id=scope.id, name=scope.name,
                              enterprise_id=enterprise.id, enterprise_name=enterprise.name,
                              jurisdiction=enterprise.jurisdiction, sites=list(scope.sites),
                              timezone=scope.zone.key),
        period=model.PeriodInfo(kind=period.kind, label=period.label,
                                start=_iso_local(period.start, scope.zone),
                                end=_iso_local(period.end, scope.zone),
                                data_end=_iso_local(data_end, scope.zone),
                                days=(data_end - period.start).days),
        energy=energy,
        products=_products(loaded, source, scope, rows, period, data_end),
        financials=financials,
        comparison=model.Comparison(same_period_last_year=last_year, base_year=base),
        dual_control=dual,
        data_quality=_data_quality(loaded, source, scope, rows, per_day, period, data_end,
                                   daily),
        methodology=model.Methodology(
            coefficient_table_version=table.version, coefficient_source=table.source,
            electricity_basis=table.electricity_basis, natural_gas_basis=table.natural_gas_basis,
            grid_co2_data_year=table.grid_year, config_hash=loaded.config_hash,
            data_source=(f"rollups ({'energy_1d' if daily else 'energy_1mo + energy_1d'}, "
                         "energy_site_1d, production_1d)" if source.kind == "rollup"
                         else "energy, production (raw batch points)"),
            data_first=in_period[0].isoformat() if in_period else None,
            data_last=in_period[-1].isoformat() if in_period else None,
            rules=list(RULES)),
        each_mu=each_mu)


RULES = (
    "kgce = physical quantity x coefficient of the carrier's coefficient-table row; "
    "1 tce = 1,000 kgce",
    "total comprehensive consumption = all consumed carriers - energy sent off site",
    "controlled total (dual control) = total - feedstock - certified renewable electricity",
    "unit-product consumption = total comprehensive kgce of the product's boundary / "
    "qualified (good) output; a grade passes when the value is at or below its limit",
    "intensity = tce / (yuan / 10,000); value added at comparable prices; monthly financial "
    "figures prorated by days for partial months",
    "rate of change = current / base - 1, like-for-like days",
    "completeness = covered seconds / seconds of the period per meter, at least the threshold",
    "meter events = jitter steps (no consumption), resets and rejected impossible steps "
    "(not counted) of the register rule, summed per meter from the raw energy points",
    "days start at 00:00 local time; a report covers complete local days",
)
