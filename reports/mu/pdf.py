"""The jurisdiction report as a PDF (matplotlib, A4 portrait, fonts embedded like the
energy report's).

Page 1: summary, class distribution (this year and last), the top of the ranking.
Page 2: the energy headroom (year to date against the quota, projection) and the
benchmarks. Then the rest of the ranking (up to `MAX_RANKING_ROWS`) and the not
evaluable enterprises with what is missing; the CSV has every row.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from plantstream.reports.labels import number
from plantstream.reports.mu.model import EnterpriseEachMu, EnterpriseRow, JurisdictionReport
from plantstream.reports.pdf import _A4, _LEVEL_COLOURS, _RENDER_LOCK, _Text
from plantstream.reports.pdf import _table as _pdf_table

__all__ = ["enterprise_page", "jurisdiction_pdf"]

FIRST_PAGE_ROWS = 22
ROWS_PER_PAGE = 48
MAX_RANKING_ROWS = 22 + 3 * 48
_CLASS_COLOURS = {"A": "#2e7d32", "B": "#1565c0", "C": "#f9a825", "D": "#c62828"}
_SHORT = {"tax_per_mu": "tax/mu", "value_added_per_mu": "VA/mu", "value_added_per_tce": "VA/tce",
          "value_added_per_emission": "VA/emission", "rd_share": "R&D share",
          "labour_productivity": "VA/employee"}


def _fmt(value: float | None, digits: int = 3) -> str:
    """A figure as the (English) evaluation pages write it."""
    return number(value, "en", digits)


_EN = _Text("en")  # the evaluation pages are English (not yet in the catalogue)


def _table(ax: Axes, rows: Sequence[Sequence[str]], header: Sequence[str], title: str,
           font: float = 8.0, widths: Sequence[float] | None = None) -> None:
    _pdf_table(ax, rows, header, title, _EN, font=font, widths=widths)


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f}"


def _ranking_rows(rows: list[EnterpriseRow]) -> list[list[str]]:
    return [[str(r.rank), r.enterprise[:16], r.name[:26], r.industry or "-",
             _fmt(r.score, 2), r.class_ or "-", r.last_year.class_ or "-",
             _signed(r.score_change),
             (f"{r.next_class.target_class}: +{r.next_class.points_needed:.2f} "
              f"({_SHORT.get(r.next_class.indicator, r.next_class.indicator)})")
             if r.next_class else "-"] for r in rows]


_RANK_HEADER = ["#", "Enterprise", "Name", "Ind.", "Score", "Class", "Last", "Change",
                "Next class (lever)"]
_RANK_WIDTHS = [0.05, 0.14, 0.25, 0.06, 0.08, 0.06, 0.06, 0.08, 0.22]


def _page_summary(report: JurisdictionReport, digest: str) -> Figure:
    fig = Figure(figsize=_A4)
    j, p = report.jurisdiction, report.period
    fig.text(0.06, 0.955, f"Each Mu is a Hero: {j.name} ({j.id})", fontsize=15,
             fontweight="bold")
    fig.text(0.06, 0.933, f"Evaluation period {p.label} ({p.start[:10]} to {p.end[:10]} "
             f"exclusive, months in {j.timezone}); compared with {p.last_year_label}",
             fontsize=8)
    fig.text(0.06, 0.918, f"Content SHA-256: {digest}", fontsize=7, family="monospace")
    if report.methodology.note:
        fig.text(0.06, 0.903, report.methodology.note[:130], fontsize=7.5, color="#c62828",
                 fontweight="bold")
    head = fig.add_axes((0.06, 0.70, 0.50, 0.17))
    h = report.headroom
    rows = [["Enterprises", str(report.enterprises)],
            ["Evaluable / not evaluable", f"{report.evaluable} / {report.not_evaluable}"],
            ["Classes by", report.methodology.classes_method.replace("_", " ")],
            ["Benchmarks per", report.methodology.benchmark_group]]
    if h is not None:
        rows += [[f"Energy quota {h.year}", f"{_fmt(h.annual_quota_tce, 1)} tce"],
                 ["Measured to date / headroom",
                  f"{_fmt(h.ytd_tce, 1)} / {_fmt(h.headroom_to_date_tce, 1)} tce"],
                 ["Projected year end / headroom",
                  f"{_fmt(h.projected_year_end_tce, 1)} / {_fmt(h.projected_headroom_tce, 1)}"
                  " tce"],
                 ["Warning level", h.warning_level.upper()]]
    _table(head, rows, ["Jurisdiction", "Value"], "Summary", font=8, widths=[0.55, 0.45])
    bars = fig.add_axes((0.64, 0.71, 0.31, 0.15))
    names = [c.class_ for c in report.classes]
    xs = list(range(len(names)))
    bars.bar([x - 0.2 for x in xs], [c.last_year_count for c in report.classes], width=0.4,
             color="#bdbdbd", label=p.last_year_label)
    bars.bar([x + 0.2 for x in xs], [c.count for c in report.classes], width=0.4,
             color=[_CLASS_COLOURS[n] for n in names], label=p.label)
    for x, c in zip(xs, report.classes, strict=True):
        bars.text(x + 0.2, c.count, str(c.count), ha="center", va="bottom", fontsize=7)
    bars.set_xticks(xs, names)
    bars.set_title("Class distribution (enterprises)", fontsize=9)
    top = max([1, *(c.count for c in report.classes), *(c.last_year_count
                                                         for c in report.classes)])
    bars.set_ylim(0, top * 1.2)
    bars.yaxis.set_major_locator(MaxNLocator(integer=True))
    bars.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2,
                frameon=False)
    bars.tick_params(labelsize=7)
    ranked = [r for r in report.ranking if r.evaluable]
    ranking = fig.add_axes((0.06, 0.05, 0.88, 0.60))
    shown = ranked[:FIRST_PAGE_ROWS]
    _table(ranking, _ranking_rows(shown), _RANK_HEADER,
           f"Ranking by score (top {len(shown)} of {len(ranked)})", font=6.5,
           widths=_RANK_WIDTHS)
    return fig


def _page_headroom(report: JurisdictionReport) -> Figure:
    fig = Figure(figsize=_A4)
    fig.text(0.06, 0.955, f"Energy headroom and benchmarks: {report.jurisdiction.name}, "
             f"{report.period.label}", fontsize=13, fontweight="bold")
    ax = fig.add_axes((0.10, 0.58, 0.84, 0.32))
    h = report.headroom
    if h is None:
        ax.axis("off")
        ax.text(0, 0.5, "No energy quota configured for this jurisdiction and year.")
    else:
        start = dt.date(h.year, 1, 1)
        year_end = float((dt.date(h.year + 1, 1, 1) - start).days)
        ends, cumulative, total = [0.0], [0.0], 0.0
        for i, tce in enumerate(h.monthly_tce):
            total += tce
            nxt = dt.date(h.year + (i + 1) // 12, (i + 1) % 12 + 1, 1)
            ends.append(float((nxt - start).days))
            cumulative.append(total)
        ticks = [dt.date(h.year, m, 1) for m in range(1, 13)]
        ax.set_xticks([float((d - start).days) for d in ticks], [f"{d:%b}" for d in ticks])
        ax.set_xlim(0.0, year_end)
        ax.plot(ends, cumulative, marker="o", color="#1565c0",
                label=f"measured, controlled ({_fmt(h.ytd_tce, 1)} tce)")
        ax.axhline(h.annual_quota_tce, color="#c62828",
                   label=f"annual quota ({_fmt(h.annual_quota_tce, 1)} tce)")
        ax.plot([ends[-1], year_end], [h.ytd_tce, h.projected_year_end_tce], color="#1565c0",
                linestyle="--", label=f"projection ({_fmt(h.projected_year_end_tce, 1)} tce)")
        ax.set_ylabel("tce")
        ax.set_title(f"Headroom to date {_fmt(h.headroom_to_date_tce, 1)} tce, projected "
                     f"{_fmt(h.projected_headroom_tce, 1)} tce; warning level "
                     f"{h.warning_level.upper()}", fontsize=9,
                     color=_LEVEL_COLOURS.get(h.warning_level, "black"))
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    table = fig.add_axes((0.06, 0.05, 0.88, 0.46))
    _table(table, [[b.group, b.indicator, b.unit, _fmt(b.value, 4), b.source,
                    str(b.enterprises), _fmt(b.last_year_value, 4)]
                   for b in report.benchmarks[:40]],
           ["Group", "Indicator", "Unit", "Benchmark", "Source", "N", "Last year"],
           "Benchmarks (aggregate = sum / sum over the evaluable enterprises)", font=6.5,
           widths=[0.08, 0.25, 0.17, 0.13, 0.12, 0.07, 0.13])
    return fig


def _pages_rest(report: JurisdictionReport) -> list[Figure]:
    pages = []
    ranked = [r for r in report.ranking if r.evaluable][FIRST_PAGE_ROWS:MAX_RANKING_ROWS]
    for i in range(0, len(ranked), ROWS_PER_PAGE):
        fig = Figure(figsize=_A4)
        ax = fig.add_axes((0.06, 0.04, 0.88, 0.92))
        _table(ax, _ranking_rows(ranked[i:i + ROWS_PER_PAGE]), _RANK_HEADER,
               "Ranking (continued; the CSV has every enterprise)", font=6.5,
               widths=_RANK_WIDTHS)
        pages.append(fig)
    missing = [r for r in report.ranking if not r.evaluable]
    fig = Figure(figsize=_A4)
    ax = fig.add_axes((0.06, 0.04, 0.88, 0.92))
    rows = [[r.enterprise[:16], r.name[:24], "; ".join(r.missing)[:95]
             + (" ..." if len("; ".join(r.missing)) > 95 else "")] for r in missing[:48]]
    _table(ax, rows, ["Enterprise", "Name", "Missing inputs"],
           f"Not evaluable ({len(missing)}): never scored as 0", font=6.5,
           widths=[0.15, 0.22, 0.63])
    pages.append(fig)
    return pages


def jurisdiction_pdf(report: JurisdictionReport, digest: str) -> bytes:
    buffer = io.BytesIO()
    with _RENDER_LOCK, matplotlib.rc_context({"pdf.fonttype": 42, "font.family": "DejaVu Sans"}), \
            PdfPages(buffer, metadata={"Title": f"Each Mu is a Hero {report.jurisdiction.id} "
                                                f"{report.period.label}",
                                       "Subject": f"content sha256 {digest}",
                                       "Creator": "PlantStream", "CreationDate": None}) as pdf:
        for page in (_page_summary(report, digest), _page_headroom(report),
                     *_pages_rest(report)):
            pdf.savefig(page)
    return buffer.getvalue()


def enterprise_page(view: EnterpriseEachMu, enterprise_name: str) -> Figure:
    """The enterprise's own evaluation, a page of its energy report."""
    fig = Figure(figsize=_A4)
    row = view.row
    fig.text(0.06, 0.955, f"Each Mu is a Hero: {enterprise_name}", fontsize=14,
             fontweight="bold")
    fig.text(0.06, 0.933, f"Jurisdiction {view.jurisdiction}, evaluation period "
             f"{view.period.label}; {view.evaluable_in_jurisdiction} of "
             f"{view.enterprises_in_jurisdiction} enterprises evaluable", fontsize=8)
    if view.config_note:
        fig.text(0.06, 0.918, view.config_note[:130], fontsize=7.5, color="#c62828",
                 fontweight="bold")
    head = fig.add_axes((0.06, 0.72, 0.88, 0.17))
    if row.evaluable:
        rows = [["Score / class", f"{_fmt(row.score, 2)} / {row.class_}"],
                ["Rank", f"{row.rank} of {view.evaluable_in_jurisdiction}"],
                [f"Last year ({view.period.last_year_label})",
                 f"{_fmt(row.last_year.score, 2)} / {row.last_year.class_ or '-'}"]]
        n = row.next_class
        if n is not None:
            needed = (f"{_fmt(n.value_now, 4)} -> {_fmt(n.value_needed, 4)} {n.unit}"
                      if n.value_needed is not None else "beyond its cap alone")
            rows += [[f"To class {n.target_class} (least score {_fmt(n.bar_score, 2)})",
                      f"+{_fmt(n.points_needed, 2)} points"],
                     [f"Largest weighted gap: {n.indicator}",
                      f"{_fmt(n.weighted_gap_points, 2)} points; {needed}"]]
    else:
        rows = [["Not evaluable; missing", "; ".join(row.missing)[:80]]]
    _table(head, rows, ["Evaluation", ""], "Score and class", font=8, widths=[0.45, 0.55])
    table = fig.add_axes((0.06, 0.30, 0.88, 0.36))
    _table(table, [[f.indicator, f.unit, _fmt(f.value, 4), _fmt(f.benchmark, 4),
                    _fmt(f.ratio, 3), f"{f.weight:g} x {f.cap:g}", _fmt(f.points, 2),
                    _fmt(f.last_year_value, 4)] for f in row.indicators],
           ["Indicator", "Unit", "Value", "Benchmark", "Ratio", "Weight x cap", "Points",
            "Last year"], f"Indicators against the {row.benchmark_group} benchmarks",
           font=7, widths=[0.22, 0.15, 0.11, 0.11, 0.08, 0.12, 0.09, 0.12])
    return fig
