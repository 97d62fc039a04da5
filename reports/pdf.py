"""The report as a PDF a person reads (matplotlib's PDF backend, A4 portrait pages).

Page 1: headline figures and energy by carrier. Page 2: the year-to-date trajectory
against the quota with the projection, and intensity by month against the target.
Page 3: products against limit grades, data quality, methodology. Fonts are embedded
as TrueType (`pdf.fonttype` 42) so the text can be searched and extracted.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections.abc import Sequence

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from plantstream.reports.model import Report

__all__ = ["report_pdf"]

_A4 = (8.27, 11.69)
_RENDER_LOCK = threading.Lock()
_LEVEL_COLOURS = {"green": "#2e7d32", "yellow": "#f9a825", "orange": "#ef6c00", "red": "#c62828"}


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.1f} %"


def _table(ax: Axes, rows: Sequence[Sequence[str]], header: Sequence[str], title: str,
           font: float = 8.0, widths: Sequence[float] | None = None) -> None:
    ax.axis("off")
    ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
    if not rows:
        ax.text(0, 0.5, "(none)", fontsize=font)
        return
    table = ax.table(cellText=[list(r) for r in rows], colLabels=list(header),
                     loc="upper left", cellLoc="left", colLoc="left",
                     colWidths=list(widths) if widths else None)
    table.auto_set_font_size(False)
    table.set_fontsize(font)
    table.scale(1, 1.25)


def _page_headline(report: Report, digest: str) -> Figure:
    fig = Figure(figsize=_A4)
    e, f, s = report.energy, report.financials, report.scope
    dc = report.dual_control
    fig.text(0.06, 0.955, f"Energy report: {s.name} ({s.type} {s.id})", fontsize=15,
             fontweight="bold")
    fig.text(0.06, 0.932, f"Enterprise {s.enterprise_name} ({s.enterprise_id}), "
             f"jurisdiction {s.jurisdiction}", fontsize=8)
    fig.text(0.06, 0.917, f"Period {report.period.label}: {report.period.start[:10]} to "
             f"{report.period.data_end[:10]} (exclusive), {report.period.days} days, "
             f"days from 00:00 {s.timezone}", fontsize=8)
    fig.text(0.06, 0.902, f"Content SHA-256: {digest}", fontsize=7, family="monospace")
    head = fig.add_axes((0.06, 0.59, 0.88, 0.29))
    rows = [
        ["Controlled total (dual control)", f"{_fmt(e.controlled_total_tce)} tce"],
        ["Total comprehensive energy consumption", f"{_fmt(e.total_comprehensive_tce)} tce"],
        ["  of which feedstock (excluded)", f"{_fmt(e.feedstock_tce)} tce"],
        ["  of which certified renewable electricity (excluded)",
         f"{_fmt(e.renewable_certified_tce)} tce"],
        ["Energy sent off site (deducted)", f"{_fmt(e.sent_off_site_tce)} tce"],
        ["CO2, location-based (grid "
         f"{e.electricity_co2_factor_kgco2_per_kwh} kgCO2/kWh, {e.electricity_co2_data_year})",
         f"{_fmt(e.co2_kgco2 / 1000.0)} tCO2"],
        ["Intensity, value added (comparable prices)",
         f"{_fmt(f.tce_per_10k_yuan_value_added, 4)} tce / 10,000 yuan"],
        ["Intensity, output value",
         f"{_fmt(f.tce_per_10k_yuan_output_value, 4)} tce / 10,000 yuan"],
        ["Change vs same period last year (total / intensity)",
         f"{_pct(report.comparison.same_period_last_year.change_controlled_total)} / "
         f"{_pct(report.comparison.same_period_last_year.change_intensity)}"],
    ]
    if dc is not None:
        rows += [
            [f"Dual control {dc.year}: year to date / quota",
             f"{_fmt(dc.ytd_tce)} / {_fmt(dc.annual_quota_tce)} tce"],
            ["Allowance to date / projected year end",
             f"{_fmt(dc.allowance_to_date_tce)} / {_fmt(dc.projected_year_end_tce)} tce"],
            ["Warning level", dc.warning_level.upper()],
        ]
    _table(head, rows, ["Indicator", "Value"], "Headline figures", font=8.5,
           widths=[0.64, 0.36])
    carriers = fig.add_axes((0.06, 0.08, 0.88, 0.45))
    _table(carriers, [[c.carrier, c.role, f"{c.quantity:,.3f} {c.unit}",
                       f"{c.kgce_per_unit:g}", f"{c.kgce:,.3f}", f"{c.kgco2:,.3f}"]
                      for c in e.carriers],
           ["Carrier", "Role", "Quantity", "kgce/unit", "kgce", "kgCO2"], "Energy by carrier")
    return fig


def _page_charts(report: Report) -> Figure:
    fig = Figure(figsize=_A4)
    fig.text(0.06, 0.955, f"Dual control and intensity: {report.scope.name}, "
             f"{report.period.label}", fontsize=14, fontweight="bold")
    ax = fig.add_axes((0.10, 0.55, 0.84, 0.35))
    dc = report.dual_control
    if dc is None:
        ax.axis("off")
        ax.text(0, 0.5, "No annual quota configured for this scope and year.")
    else:
        year = dc.year
        start, year_end_day = dt.date(year, 1, 1), dt.date(year + 1, 1, 1)

        def x_of(day: dt.date) -> float:
            return float((day - start).days)

        ends: list[float] = []
        cumulative: list[float] = []
        total = 0.0
        for i, tce in enumerate(dc.monthly_tce):
            total += tce
            nxt = dt.date(year + (i + 1) // 12, (i + 1) % 12 + 1, 1)
            ends.append(x_of(min(nxt, dt.date.fromisoformat(dc.as_of) + dt.timedelta(days=1))))
            cumulative.append(total)
        year_end = x_of(year_end_day)
        ticks = [dt.date(year, m, 1) for m in range(1, 13)]
        ax.set_xticks([x_of(d) for d in ticks], [f"{d:%b}" for d in ticks])
        ax.set_xlim(0.0, year_end)
        ax.plot([0.0, *ends], [0.0, *cumulative], marker="o", color="#1565c0",
                label=f"year to date ({_fmt(dc.ytd_tce, 1)} tce)")
        ax.plot([0.0, year_end], [0.0, dc.annual_quota_tce], color="#757575", linestyle=":",
                label="straight-line allowance")
        ax.axhline(dc.annual_quota_tce, color="#c62828",
                   label=f"annual quota ({_fmt(dc.annual_quota_tce, 1)} tce)")
        ax.plot([ends[-1], year_end], [dc.ytd_tce, dc.projected_year_end_tce], color="#1565c0",
                linestyle="--", label=f"projection ({_fmt(dc.projected_year_end_tce, 1)} tce)")
        ax.set_ylabel("tce (controlled total)")
        ax.set_title(f"Year-to-date trajectory {year} against the quota; warning level "
                     f"{dc.warning_level.upper()}", fontsize=10,
                     color=_LEVEL_COLOURS.get(dc.warning_level, "black"))
        ax.legend(fontsize=8, loc="upper left", framealpha=0.9)
        ax.grid(alpha=0.3)
    bx = fig.add_axes((0.10, 0.10, 0.84, 0.35))
    months = report.financials.months_detail
    labels = [m.month[5:] for m in months]
    values = [m.intensity_tce_per_10k_yuan or 0.0 for m in months]
    positions = list(range(len(labels)))
    bx.bar(positions, values, color="#1565c0", label="intensity (value added)")
    bx.set_xticks(positions, labels)
    target = dc.intensity_target_tce_per_10k_yuan if dc is not None else None
    if target is not None:
        bx.axhline(target, color="#c62828", label=f"target {target:g}")
    for x, m in zip(positions, months, strict=True):
        if m.intensity_tce_per_10k_yuan is None:
            bx.text(float(x), 0.0, "n/a", ha="center", va="bottom", fontsize=7)
    bx.set_ylabel("tce / 10,000 yuan")
    bx.set_xlabel(f"month of {months[0].month[:4]}" if months else "month")
    bx.set_title("Energy intensity by month against the target", fontsize=10)
    bx.legend(fontsize=8, loc="lower right", framealpha=0.9)
    bx.grid(alpha=0.3, axis="y")
    return fig


def _page_details(report: Report) -> Figure:
    fig = Figure(figsize=_A4)
    fig.text(0.06, 0.955, "Products, data quality, methodology", fontsize=14,
             fontweight="bold")
    products = fig.add_axes((0.06, 0.74, 0.88, 0.18))
    _table(products, [[p.product, f"{p.qualified_output:,}", p.unit or "-", p.boundary,
                       _fmt(p.unit_consumption_kgce, 4),
                       ", ".join(f"{k}: {v:g}" if v is not None else f"{k}: -"
                                 for k, v in p.grades.items()) or "-",
                       str(p.best_grade) if p.best_grade is not None else "none"]
                      for p in report.products],
           ["Product", "Qualified", "Unit", "Boundary", "kgce/unit", "Grades", "Best"],
           "Unit-product consumption against limit grades", font=7)
    q = report.data_quality
    failing = [m for m in q.meters if not m.passes][:8]
    quality = fig.add_axes((0.06, 0.46, 0.88, 0.24))
    rows = [[f"{m.site}/{m.machine}/{m.carrier}", f"{m.completeness * 100:.1f} %", "below"]
            for m in failing]
    rows.insert(0, [f"{len(q.meters)} meters", f"threshold {q.completeness_threshold:.0%}",
                    f"{q.meters_below_threshold} below"])
    bad_checks = [c for c in q.daily_vs_monthly if not c.passes][:4]
    rows.append([f"daily vs monthly ({len(q.daily_vs_monthly)} checks)",
                 f"tolerance {q.daily_vs_monthly_tolerance:.0%}",
                 "pass" if q.passes_daily_vs_monthly else f"{len(bad_checks)}+ fail"])
    rows += [[f"  {c.month} {c.carrier}", _pct(c.deviation), "fail"] for c in bad_checks]
    rows.append([f"gaps ({q.gaps_granularity}s): {len(q.gaps) + q.gaps_truncated}",
                 f"days start {q.day_start}", ""])
    rows += [[f"  {g.site}/{g.machine}/{g.carrier}", f"{g.first_day} to {g.last_day}",
              f"{g.missing_s / 3600:,.1f} h missing"] for g in q.gaps[:6]]
    _table(quality, rows, ["Data quality", "Value", "Status"], "Data quality", font=7)
    m = report.methodology
    method = fig.add_axes((0.06, 0.06, 0.88, 0.36))
    _table(method, [["Coefficients", f"table {m.coefficient_table_version}, "
                     f"{m.coefficient_source.split('(')[0].strip()[:60]}"],
                    ["Electricity basis", m.electricity_basis],
                    ["Natural gas", m.natural_gas_basis[:70]],
                    ["Grid CO2 data year", str(m.grid_co2_data_year)],
                    ["Configuration hash", m.config_hash],
                    ["Data source", m.data_source[:70]],
                    ["Data range", f"{m.data_first} to {m.data_last}"]],
           ["Methodology", ""], "Methodology", font=7, widths=[0.28, 0.72])
    return fig


def report_pdf(report: Report, digest: str) -> bytes:
    buffer = io.BytesIO()
    # rc_context changes process-wide settings: one rendering at a time (the API server
    # renders in a thread pool)
    with _RENDER_LOCK, matplotlib.rc_context({"pdf.fonttype": 42, "font.family": "DejaVu Sans"}), \
            PdfPages(buffer, metadata={"Title": f"Energy report {report.scope.id} "
                                                f"{report.period.label}",
                                       "Subject": f"content sha256 {digest}",
                                       "Creator": "PlantStream", "CreationDate": None}) as pdf:
        pages = [_page_headline(report, digest), _page_charts(report), _page_details(report)]
        if report.each_mu is not None:  # an enterprise's own "Each Mu is a Hero" evaluation
            from plantstream.reports.mu.pdf import enterprise_page
            pages.append(enterprise_page(report.each_mu, report.scope.name))
        for page in pages:
            pdf.savefig(page)
    return buffer.getvalue()
