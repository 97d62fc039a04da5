"""The daily `dual_control` point the energy dashboards read (dashboards/energy.py).

One point per site (tag `site`) and local day, timestamp 00:00 local of that day, from
the dual-control section of the site's year-to-date report as of that day:

    dual_control,site=S ytd_tce, annual_quota_tce, allowance_to_date_tce,
        projected_year_end_tce, projection_ratio, intensity, intensity_target,
        intensity_ratio (floats, left out when undefined), warning_code (0 green,
        1 yellow, 2 orange, 3 red), warning_level (string)

Run once a day (`plantstream reports dual-control`); rewriting a day overwrites it.
"""

from __future__ import annotations

import datetime as dt

from plantstream.reports.compute import build_report, resolve_scope
from plantstream.reports.config import LoadedConfig
from plantstream.reports.errors import ReportInputError
from plantstream.reports.model import DualControl
from plantstream.reports.periods import local_midnight_ms, parse_period
from plantstream.reports.source import Source

__all__ = ["WARNING_CODE", "dual_control_line", "write_dual_control"]

WARNING_CODE = {"green": 0, "yellow": 1, "orange": 2, "red": 3}


def dual_control_line(site: str, dc: DualControl, t_ms: int) -> str:
    fields = [f"{name}={value!r}" for name, value in (
        ("ytd_tce", dc.ytd_tce), ("annual_quota_tce", dc.annual_quota_tce),
        ("allowance_to_date_tce", dc.allowance_to_date_tce),
        ("projected_year_end_tce", dc.projected_year_end_tce),
        ("projection_ratio", dc.projection_ratio),
        ("intensity", dc.intensity_tce_per_10k_yuan),
        ("intensity_target", dc.intensity_target_tce_per_10k_yuan),
        ("intensity_ratio", dc.intensity_ratio)) if value is not None]
    fields.append(f"warning_code={WARNING_CODE[dc.warning_level]}i")
    fields.append(f'warning_level="{dc.warning_level}"')
    return f"dual_control,site={site} {','.join(fields)} {t_ms}"


def write_dual_control(loaded: LoadedConfig, source: Source, *, site: str,
                       day: dt.date) -> str:
    """Compute the site's dual-control status at the end of `day` and write the point."""
    scope = resolve_scope(loaded, site)
    if scope.type != "site":
        raise ReportInputError(field="site", reason=f"{site!r} is not a site", status=404)
    period = parse_period(f"{day.year}-01-01..{day.isoformat()}")
    report = build_report(loaded, source, scope_id=site, period=period, as_of=day,
                          today=day + dt.timedelta(days=1))
    if report.dual_control is None:
        raise ReportInputError(field="quotas", reason=f"no quota for {site} in {day.year}")
    line = dual_control_line(site, report.dual_control, local_midnight_ms(day, scope.zone))
    with source.client.writer() as writer:
        writer.write([line])
    return line
