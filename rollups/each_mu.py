"""The `each_mu` points the jurisdiction dashboard reads (dashboards/jurisdiction.py).

One point per enterprise and one per jurisdiction and evaluation, stamped 00:00 local
of the day after the period (when the evaluation became possible):

    each_mu,jurisdiction=J,enterprise=E  rank (int), score, class (string), class_code
        (int: A 1 ... D 4, 0 not evaluable), evaluable (bool), one field per indicator
        value (left out when undefined), land_area_mu, controlled_tce, missing (string)
    each_mu_jurisdiction,jurisdiction=J  enterprises, evaluable, not_evaluable, class_a
        ... class_d (ints), and with a quota: annual_quota_tce, ytd_tce,
        headroom_to_date_tce, projected_year_end_tce, projected_headroom_tce,
        warning_code (0 green ... 3 red), warning_level (string)

Run after each month's financials are in (`plantstream rollups each-mu`);
rewriting an evaluation overwrites its points.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from plantstream.reports.config import LoadedConfig
from plantstream.reports.mu.model import JurisdictionReport
from plantstream.reports.mu.report import EachMuPeriod, build_jurisdiction_report
from plantstream.reports.source import Source
from plantstream.rollups.dual_control import WARNING_CODE

__all__ = ["CLASS_CODE", "each_mu_lines", "write_each_mu"]

CLASS_CODE = {"A": 1, "B": 2, "C": 3, "D": 4}


def _tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=") \
        .replace(" ", "\\ ")


def _string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def each_mu_lines(report: JurisdictionReport, t_ms: int) -> list[str]:
    j = _tag(report.jurisdiction.id)
    out = []
    for row in report.ranking:
        fields = [f"evaluable={'true' if row.evaluable else 'false'}",
                  f"class_code={CLASS_CODE.get(row.class_ or '', 0)}i"]
        if row.rank is not None:
            fields.append(f"rank={row.rank}i")
        if row.score is not None:
            fields.append(f"score={row.score!r}")
        if row.class_ is not None:
            fields.append(f"class={_string(row.class_)}")
        fields += [f"{f.indicator}={f.value!r}" for f in row.indicators if f.value is not None]
        fields += [f"{name}={value!r}" for name, value in (
            ("land_area_mu", row.inputs.land_area_mu),
            ("controlled_tce", row.inputs.controlled_tce)) if value is not None]
        if row.missing:
            fields.append(f"missing={_string('; '.join(row.missing)[:1000])}")
        out.append(f"each_mu,jurisdiction={j},enterprise={_tag(row.enterprise)} "
                   f"{','.join(fields)} {t_ms}")
    counts = {c.class_: c.count for c in report.classes}
    fields = [f"enterprises={report.enterprises}i", f"evaluable={report.evaluable}i",
              f"not_evaluable={report.not_evaluable}i",
              *(f"class_{c.lower()}={counts.get(c, 0)}i" for c in CLASS_CODE)]
    h = report.headroom
    if h is not None:
        fields += [f"annual_quota_tce={h.annual_quota_tce!r}", f"ytd_tce={h.ytd_tce!r}",
                   f"headroom_to_date_tce={h.headroom_to_date_tce!r}",
                   f"projected_year_end_tce={h.projected_year_end_tce!r}",
                   f"projected_headroom_tce={h.projected_headroom_tce!r}",
                   f"warning_code={WARNING_CODE[h.warning_level]}i",
                   f"warning_level={_string(h.warning_level)}"]
    out.append(f"each_mu_jurisdiction,jurisdiction={j} {','.join(fields)} {t_ms}")
    return out


def write_each_mu(loaded: LoadedConfig, source: Source, *, jurisdiction_id: str,
                  period: EachMuPeriod, today: dt.date | None = None) -> list[str]:
    """Evaluate the jurisdiction for `period` and write its points (returned)."""
    report = build_jurisdiction_report(loaded, source, jurisdiction_id=jurisdiction_id,
                                       period=period, today=today)
    zone = ZoneInfo(report.jurisdiction.timezone)
    t_ms = int(dt.datetime.combine(period.end, dt.time(0), tzinfo=zone).timestamp() * 1000)
    lines = each_mu_lines(report, t_ms)
    with source.client.writer() as writer:
        writer.write(lines)
    return lines
