"""The report as a PDF a person reads (matplotlib's PDF backend, A4 portrait pages).

Page 1: headline figures and energy by carrier. Page 2: the year-to-date trajectory
against the quota with the projection, and intensity by month against the target.
Page 3: products against limit grades, data quality, methodology. Fonts are embedded
as TrueType (`pdf.fonttype` 42) so the text can be searched and extracted.

In English or Simplified Chinese (`lang`): every label, unit and date in the language,
figures grouped as `plantstream.i18n.format_number` does; Chinese glyphs come from the
CJK TrueType font of `plantstream.i18n.fonts`. The content hash printed on page 1 is the
canonical JSON's, the same in both languages.
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

from plantstream.i18n import DEFAULT_LANG, N_, Lang, month_label, translator
from plantstream.i18n.fonts import font_family
from plantstream.i18n.terms import carrier_name, unit_name
from plantstream.reports.labels import (
    basis_label,
    data_source_label,
    level_label,
    number,
    period_label,
    role_label,
    scope_type_label,
    source_label,
)
from plantstream.reports.model import Report

__all__ = ["report_pdf"]

_A4 = (8.27, 11.69)
_RENDER_LOCK = threading.Lock()
_LEVEL_COLOURS = {"green": "#2e7d32", "yellow": "#f9a825", "orange": "#ef6c00", "red": "#c62828"}


class _Text:
    """The page texts of one rendering: translations, figures, units in `lang`."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang
        self._ = translator(lang)

    def fmt(self, value: float | None, digits: int = 3) -> str:
        return number(value, self.lang, digits)

    def pct(self, value: float | None) -> str:
        return self._("n/a") if value is None else f"{value * 100:+.1f} %"

    def unit(self, unit: str) -> str:
        return unit_name(unit, self.lang)

    def tce(self, value: float | None, digits: int = 3) -> str:
        return f"{self.fmt(value, digits)} {self.unit('tce')}"

    def day(self, iso: str) -> str:
        return period_label("day", dt.date.fromisoformat(iso[:10]),
                            dt.date.fromisoformat(iso[:10]) + dt.timedelta(days=1), self.lang)

    def period(self, report: Report) -> str:
        p = report.period
        if self.lang == "en":
            return p.label  # as the reports always wrote it: 2026-10, 2026-Q4, 2026
        return period_label(p.kind, dt.date.fromisoformat(p.start[:10]),
                            dt.date.fromisoformat(p.end[:10]), self.lang)


def _table(ax: Axes, rows: Sequence[Sequence[str]], header: Sequence[str], title: str,
           t: _Text, font: float = 8.0, widths: Sequence[float] | None = None) -> None:
    ax.axis("off")
    ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
    if not rows:
        ax.text(0, 0.5, t._("(none)"), fontsize=font)
        return
    table = ax.table(cellText=[list(r) for r in rows], colLabels=list(header),
                     loc="upper left", cellLoc="left", colLoc="left",
                     colWidths=list(widths) if widths else None)
    table.auto_set_font_size(False)
    table.set_fontsize(font)
    table.scale(1, 1.25)


def _page_headline(report: Report, digest: str, t: _Text) -> Figure:
    _ = t._
    fig = Figure(figsize=_A4)
    e, f, s = report.energy, report.financials, report.scope
    dc = report.dual_control
    per_10k = _("tce / 10,000 yuan")
    title = _("Energy report: {name} ({type} {id})").format(
        name=s.name, type=scope_type_label(s.type, t.lang), id=s.id)
    # a long enterprise name must not run off the page: shrink to fit the width (a CJK
    # character is about two Latin ones wide)
    width = sum(2 if ord(c) >= 0x2E80 else 1 for c in title)
    fig.text(0.06, 0.955, title, fontsize=min(15.0, max(9.0, 15.0 * 52 / max(width, 1))),
             fontweight="bold")
    fig.text(0.06, 0.932, _("Enterprise {name} ({id}), jurisdiction {jurisdiction}").format(
        name=s.enterprise_name, id=s.enterprise_id, jurisdiction=s.jurisdiction), fontsize=8)
    fig.text(0.06, 0.917, _("Period {label}: {start} to {end} (exclusive), {days} days, "
                            "days from 00:00 {zone}").format(
        label=t.period(report), start=t.day(report.period.start),
        end=t.day(report.period.data_end), days=report.period.days, zone=s.timezone),
        fontsize=8)
    fig.text(0.06, 0.902, _("Content SHA-256: {digest}").format(digest=digest), fontsize=7,
             family=["monospace", *matplotlib.rcParams["font.family"]])
    head = fig.add_axes((0.06, 0.59, 0.88, 0.29))
    rows = [
        [_("Controlled total (dual control)"), t.tce(e.controlled_total_tce)],
        [_("Total comprehensive energy consumption"), t.tce(e.total_comprehensive_tce)],
        ["  " + _("of which feedstock (excluded)"), t.tce(e.feedstock_tce)],
        ["  " + _("of which certified renewable electricity (excluded)"),
         t.tce(e.renewable_certified_tce)],
        [_("Energy sent off site (deducted)"), t.tce(e.sent_off_site_tce)],
        [_("CO2, location-based (grid {factor} kgCO2/kWh, {year})").format(
            factor=e.electricity_co2_factor_kgco2_per_kwh, year=e.electricity_co2_data_year),
         f"{t.fmt(e.co2_kgco2 / 1000.0)} {t.unit('tCO2')}"],
        [_("Intensity, value added (comparable prices)"),
         f"{t.fmt(f.tce_per_10k_yuan_value_added, 4)} {per_10k}"],
        [_("Intensity, output value"),
         f"{t.fmt(f.tce_per_10k_yuan_output_value, 4)} {per_10k}"],
        [_("Change vs same period last year (total / intensity)"),
         f"{t.pct(report.comparison.same_period_last_year.change_controlled_total)} / "
         f"{t.pct(report.comparison.same_period_last_year.change_intensity)}"],
    ]
    if dc is not None:
        rows += [
            [_("Dual control {year}: year to date / quota").format(year=dc.year),
             f"{t.fmt(dc.ytd_tce)} / {t.tce(dc.annual_quota_tce)}"],
            [_("Allowance to date / projected year end"),
             f"{t.fmt(dc.allowance_to_date_tce)} / {t.tce(dc.projected_year_end_tce)}"],
            [_("Warning level"), level_label(dc.warning_level, t.lang)],
        ]
    _table(head, rows, [_("Indicator"), _("Value")], _("Headline figures"), t, font=8.5,
           widths=[0.64, 0.36])
    carriers = fig.add_axes((0.06, 0.08, 0.88, 0.45))
    _table(carriers, [[carrier_name(c.carrier, t.lang), role_label(c.role, t.lang),
                       f"{t.fmt(c.quantity)} {t.unit(c.unit)}", f"{c.kgce_per_unit:g}",
                       t.fmt(c.kgce), t.fmt(c.kgco2)]
                      for c in e.carriers],
           [_("Carrier"), _("Role"), _("Quantity"), _("kgce/unit"), t.unit("kgce"),
            t.unit("kgCO2")], _("Energy by carrier"), t,
           widths=[0.17, 0.17, 0.2, 0.12, 0.17, 0.17])
    return fig


def _page_charts(report: Report, t: _Text) -> Figure:
    _ = t._
    fig = Figure(figsize=_A4)
    fig.text(0.06, 0.955, _("Dual control and intensity: {name}, {period}").format(
        name=report.scope.name, period=t.period(report)), fontsize=14, fontweight="bold")
    ax = fig.add_axes((0.10, 0.55, 0.84, 0.35))
    dc = report.dual_control
    tce = t.unit("tce")
    if dc is None:
        ax.axis("off")
        ax.text(0, 0.5, _("No annual quota configured for this scope and year."))
    else:
        year = dc.year
        start, year_end_day = dt.date(year, 1, 1), dt.date(year + 1, 1, 1)

        def x_of(day: dt.date) -> float:
            return float((day - start).days)

        ends: list[float] = []
        cumulative: list[float] = []
        total = 0.0
        for i, month_tce in enumerate(dc.monthly_tce):
            total += month_tce
            nxt = dt.date(year + (i + 1) // 12, (i + 1) % 12 + 1, 1)
            ends.append(x_of(min(nxt, dt.date.fromisoformat(dc.as_of) + dt.timedelta(days=1))))
            cumulative.append(total)
        year_end = x_of(year_end_day)
        ticks = [dt.date(year, m, 1) for m in range(1, 13)]
        ax.set_xticks([x_of(d) for d in ticks], [_month_tick(d, t) for d in ticks])
        ax.set_xlim(0.0, year_end)
        ax.plot([0.0, *ends], [0.0, *cumulative], marker="o", color="#1565c0",
                label=_("year to date ({value} tce)").format(value=t.fmt(dc.ytd_tce, 1)))
        ax.plot([0.0, year_end], [0.0, dc.annual_quota_tce], color="#757575", linestyle=":",
                label=_("straight-line allowance"))
        ax.axhline(dc.annual_quota_tce, color="#c62828",
                   label=_("annual quota ({value} tce)").format(
                       value=t.fmt(dc.annual_quota_tce, 1)))
        ax.plot([ends[-1], year_end], [dc.ytd_tce, dc.projected_year_end_tce], color="#1565c0",
                linestyle="--", label=_("projection ({value} tce)").format(
                    value=t.fmt(dc.projected_year_end_tce, 1)))
        ax.set_ylabel(_("{unit} (controlled total)").format(unit=tce))
        ax.set_title(_("Year-to-date trajectory {year} against the quota; warning level "
                       "{level}").format(year=year, level=level_label(dc.warning_level,
                                                                      t.lang)),
                     fontsize=10, color=_LEVEL_COLOURS.get(dc.warning_level, "black"))
        ax.legend(fontsize=8, loc="upper left", framealpha=0.9)
        ax.grid(alpha=0.3)
    bx = fig.add_axes((0.10, 0.10, 0.84, 0.35))
    months = report.financials.months_detail
    labels = [_month_tick(dt.date.fromisoformat(m.month + "-01"), t) for m in months]
    values = [m.intensity_tce_per_10k_yuan or 0.0 for m in months]
    positions = list(range(len(labels)))
    bx.bar(positions, values, color="#1565c0", label=_("intensity (value added)"))
    bx.set_xticks(positions, labels)
    target = dc.intensity_target_tce_per_10k_yuan if dc is not None else None
    if target is not None:
        bx.axhline(target, color="#c62828", label=_("target {value}").format(value=f"{target:g}"))
    for x, m in zip(positions, months, strict=True):
        if m.intensity_tce_per_10k_yuan is None:
            bx.text(float(x), 0.0, _("n/a"), ha="center", va="bottom", fontsize=7)
    bx.set_ylabel(_("tce / 10,000 yuan"))
    bx.set_xlabel(_("month of {year}").format(year=months[0].month[:4]) if months
                  else _("month"))
    bx.set_title(_("Energy intensity by month against the target"), fontsize=10)
    bx.legend(fontsize=8, loc="lower right", framealpha=0.9)
    bx.grid(alpha=0.3, axis="y")
    return fig


def _month_tick(day: dt.date, t: _Text) -> str:
    """`Jan` ... in English (as before), `1月` ... in Chinese."""
    if t.lang == "en":
        return f"{day:%b}"
    return month_label(day.year, day.month, t.lang).split("年", 1)[1]


_NO_BOUNDARY = {"none (no boundary line in scope)": N_("none (no boundary line in scope)"),
                "none (no limit standard)": N_("none (no limit standard)")}


def _boundary(boundary: str, t: _Text) -> str:
    """A product's energy boundary as compute words it: the scope type, `lines line-1,
    line-2`, or why there is none."""
    if boundary in ("site", "enterprise"):
        return scope_type_label(boundary, t.lang)
    if boundary in _NO_BOUNDARY:
        return t._(_NO_BOUNDARY[boundary])
    if boundary.startswith("lines "):
        return t._("lines {lines}").format(lines=boundary.removeprefix("lines "))
    return boundary


def _page_details(report: Report, t: _Text) -> Figure:
    _ = t._
    fig = Figure(figsize=_A4)
    fig.text(0.06, 0.955, _("Products, data quality, methodology"), fontsize=14,
             fontweight="bold")
    products = fig.add_axes((0.06, 0.74, 0.88, 0.18))
    _table(products, [[p.product, t.fmt(p.qualified_output, 0), t.unit(p.unit) or "-",
                       _boundary(p.boundary, t),
                       t.fmt(p.unit_consumption_kgce, 4),
                       ", ".join(_("grade {grade}: {limit}").format(
                           grade=k, limit=f"{v:g}" if v is not None else "-")
                           for k, v in p.grades.items()) or "-",
                       str(p.best_grade) if p.best_grade is not None else _("none")]
                      for p in report.products],
           [_("Product"), _("Qualified"), _("Unit"), _("Boundary"), _("kgce per unit"),
            _("Grades"), _("Best")],
           _("Unit-product consumption against limit grades"), t, font=7,
           widths=[0.12, 0.1, 0.08, 0.14, 0.14, 0.32, 0.1])
    q = report.data_quality
    failing = [m for m in q.meters if not m.passes][:8]
    quality = fig.add_axes((0.06, 0.46, 0.88, 0.24))
    rows = [[f"{m.site}/{m.machine}/{carrier_name(m.carrier, t.lang)}",
             f"{m.completeness * 100:.1f} %", _("below")] for m in failing]
    rows.insert(0, [_("{n} meters").format(n=len(q.meters)),
                    _("threshold {share}").format(share=f"{q.completeness_threshold:.0%}"),
                    _("{n} below").format(n=q.meters_below_threshold)])
    bad_checks = [c for c in q.daily_vs_monthly if not c.passes][:4]
    rows.append([_("daily vs monthly ({n} checks)").format(n=len(q.daily_vs_monthly)),
                 _("tolerance {share}").format(share=f"{q.daily_vs_monthly_tolerance:.0%}"),
                 _("pass") if q.passes_daily_vs_monthly
                 else _("{n}+ fail").format(n=len(bad_checks))])
    rows += [[f"  {c.month} {carrier_name(c.carrier, t.lang)}", t.pct(c.deviation), _("fail")]
             for c in bad_checks]
    granularity = _("day") if q.gaps_granularity == "day" else _("month")
    rows.append([_("gaps (by {granularity}): {n}").format(
                     granularity=granularity, n=len(q.gaps) + q.gaps_truncated),
                 _("days start {time}").format(time=q.day_start), ""])
    rows += [[f"  {g.site}/{g.machine}/{carrier_name(g.carrier, t.lang)}",
              _("{first} to {last}").format(first=g.first_day, last=g.last_day),
              _("{hours} h missing").format(hours=t.fmt(g.missing_s / 3600, 1))]
             for g in q.gaps[:6]]
    rows.append([_("meter events: {n} meters").format(n=len(q.meter_events)),
                 _("jitter {jitter}, resets {resets}, rejected {rejected}").format(
                     jitter=q.jitter_steps, resets=q.meter_resets, rejected=q.rejected_jumps),
                 _("check") if q.meter_resets or q.rejected_jumps else ""])
    rows += [[f"  {e.site}/{e.machine}/{carrier_name(e.carrier, t.lang)}",
              _("jitter {jitter}, resets {resets}, rejected {rejected}").format(
                  jitter=e.jitter, resets=e.resets, rejected=e.rejected), ""]
             for e in q.meter_events[:3]]
    rows += [[_("main meter {site}/{carrier}").format(
                  site=b.site, carrier=carrier_name(b.carrier, t.lang)),
              _("sub-meters {sub} of {main}").format(
                  sub=t.fmt(b.sub_quantity, 0), main=t.fmt(b.main_quantity, 0)) + ", "
              + _("tolerance {share}").format(share=f"{b.tolerance:.0%}"),
              _("pass") if b.passes else _("fail")]
             for b in q.meter_balance[:3]]
    _table(quality, rows, [_("Data quality"), _("Value"), _("Status")], _("Data quality"), t,
           font=7)
    m = report.methodology
    method = fig.add_axes((0.06, 0.06, 0.88, 0.36))
    _table(method, [[_("Coefficients"), _("table {version}").format(
                        version=m.coefficient_table_version) + ", "
                     + source_label(m.coefficient_source.split("(")[0].strip()[:60], t.lang)],
                    [_("Electricity basis"), basis_label(m.electricity_basis, t.lang)],
                    [_("Natural gas"), basis_label(m.natural_gas_basis, t.lang)[:70]],
                    [_("Grid CO2 data year"), str(m.grid_co2_data_year)],
                    [_("Configuration hash"), m.config_hash],
                    [_("Data source"), data_source_label(m.data_source, t.lang)[:70]],
                    [_("Data range"), _("{first} to {last}").format(
                        first=m.data_first, last=m.data_last)]],
           [_("Methodology"), ""], _("Methodology"), t, font=7, widths=[0.28, 0.72])
    return fig


def report_pdf(report: Report, digest: str, lang: Lang = DEFAULT_LANG) -> bytes:
    """The report as A4 pages in `lang`; Chinese text is drawn with the CJK font
    (plantstream.i18n.fonts; FontMissingError when it is not installed)."""
    t = _Text(lang)
    family = font_family(lang)
    buffer = io.BytesIO()
    # rc_context changes process-wide settings: one rendering at a time (the API server
    # renders in a thread pool)
    with _RENDER_LOCK, matplotlib.rc_context({"pdf.fonttype": 42, "font.family": family}), \
            PdfPages(buffer, metadata={"Title": t._("Energy report {id} {period}").format(
                                           id=report.scope.id, period=t.period(report)),
                                       "Subject": f"content sha256 {digest}",
                                       "Creator": "PlantStream", "CreationDate": None}) as pdf:
        pages = [_page_headline(report, digest, t), _page_charts(report, t),
                 _page_details(report, t)]
        if report.each_mu is not None:  # an enterprise's own "Each Mu is a Hero" evaluation
            from plantstream.reports.mu.pdf import enterprise_page
            pages.append(enterprise_page(report.each_mu, report.scope.name))
        for page in pages:
            pdf.savefig(page)
    return buffer.getvalue()
