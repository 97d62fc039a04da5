"""The demo's regulator view: a report configuration for the demo plant, its daily
dual-control points, the monthly report as PDF and JSON, and how to pull it.

Quota, intensity target, limit grades and financials are **demo values**, derived from
the demo's own (synthetic) history so that the figures are interesting: the quota sits
a little below the run-rate projection, so the dual-control warning is not green, and
the heat-treatment line passes grade 2 of an illustrative limit standard.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from plantstream.config import PlantConfig, to_toml
from plantstream.i18n import Lang
from plantstream.reports.compute import build_report
from plantstream.reports.config import hash_token, load_report_config
from plantstream.reports.document import report_json
from plantstream.reports.pdf import report_pdf
from plantstream.reports.periods import parse_period
from plantstream.reports.source import Source
from plantstream.rollups.dual_control import write_dual_control
from plantstream.store.influxql import InfluxQL

__all__ = ["REPORT_PORT", "RegulatorView", "dual_control_days", "regulator_view",
           "write_report_config"]

REPORT_PORT = 8600
REGULATOR_ID = "demo-regulator"
PRODUCT, PRODUCT_LINE = "P-100", "line-3"  # heat treatment makes P-100 only


@dataclass(frozen=True, slots=True)
class RegulatorView:
    config_path: Path
    token_path: Path
    pdf: Path
    json: Path
    period: str
    digest: str
    warning_level: str | None
    dual_control_points: int


def _monthly_financials(plant: PlantConfig, years: range) -> str:
    rows = ["site,month,output_value_yuan,value_added_yuan_comparable"]
    for site in plant.sites:
        for year in years:
            for month in range(1, 13):
                growth = 1 + 0.015 * (month - 1) + 0.06 * (year - years.start)
                value_added = round(2_600_000 * growth)
                rows.append(f"{site.id},{year}-{month:02d},{value_added * 4},{value_added}")
    return "\n".join(rows) + "\n"


def write_report_config(directory: Path, *, plant: PlantConfig, influx: InfluxQL, year: int,
                        ytd_end: dt.date, lang: Lang = "en") -> tuple[Path, Path]:
    """`reports.toml`, `financials.csv` and `regulator.token` (0600) in `directory`,
    with demo quota and grades sized from what InfluxDB holds for `year` up to
    `ytd_end` (exclusive); the demo regulator reads `lang`. Returns (config path, token
    path)."""
    site = plant.sites[0]
    zone = ZoneInfo(site.timezone)
    start = dt.datetime(year, 1, 1, tzinfo=zone)
    end = dt.datetime.combine(ytd_end, dt.time(), tzinfo=zone)
    window = f"time >= {int(start.timestamp() * 1000)}ms AND time < {int(end.timestamp() * 1000)}ms"
    kgce = float(influx.scalar(f'SELECT sum("kgce") FROM "energy" WHERE {window}') or 0.0)
    line_kgce = float(influx.scalar(f'SELECT sum("kgce") FROM "energy" WHERE {window} '
                                    f"AND \"line\" = '{PRODUCT_LINE}'") or 0.0)
    good = float(influx.scalar(f'SELECT sum("good") FROM "production" WHERE {window} '
                               f"AND \"line\" = '{PRODUCT_LINE}' AND \"product\" = '{PRODUCT}'")
                 or 0.0)
    elapsed_days = max((end - start).days, 1)
    projected_tce = kgce / 1000 * (366 if year % 4 == 0 else 365) / elapsed_days
    per_unit = line_kgce / good if good else 1.0
    token = secrets.token_urlsafe(24)
    token_path = directory / "regulator.token"
    token_path.write_text(token + "\n")
    token_path.chmod(0o600)
    (directory / "financials.csv").write_text(_monthly_financials(plant, range(year - 1,
                                                                              year + 1)))
    value_added_10k = sum(2_600_000 * (1 + 0.015 * m + 0.06) for m in range(12)) / 10_000
    config = {
        "plants": ["plant.toml"],
        "financials": "financials.csv",
        "base_year": year - 1,
        "audit_log": "reports-audit.jsonl",
        "influx": {"url": influx.url, "database": influx.database, "source": "raw"},
        "products": [{
            "product": PRODUCT, "unit": "piece", "lines": [PRODUCT_LINE],
            "standard": "illustrative limit standard for the demo (not a real GB standard)",
            "grades": {"1": round(per_unit * 0.85, 4), "2": round(per_unit * 1.05, 4),
                       "3": round(per_unit * 1.3, 4)}}],
        # demo values: a quota 3 % under the run-rate projection (warning not green), the
        # same for the site and its enterprise (the demo enterprise has one site)
        "quotas": [{
            "scope": scope, "year": year,
            "annual_tce": round(max(projected_tce, 1.0) * 0.97, 1),
            "intensity_target_tce_per_10k_yuan": round(
                max(projected_tce, 1.0) / value_added_10k * 1.02, 5)}
            for scope in (site.id, plant.enterprise.id)],
        "rate_limit": {"per_minute": 600, "burst": 100},
        "regulators": [{
            "id": REGULATOR_ID, "name": "Demo county energy-saving office (演示)",
            "token_sha256": hash_token(token), "scope": [plant.enterprise.id],
            "lang": lang}],
    }
    path = directory / "reports.toml"
    path.write_bytes(b"# The demo's report configuration: quota, grades and financials are\n"
                     b"# demo values sized from the demo's own history.\n" + to_toml(config))
    return path, token_path


def dual_control_days(year_start: dt.date, last_day: dt.date) -> list[dt.date]:
    """The days that get a dual-control point: every month end of the year and each of
    the last 7 days (the daily job, `plantstream rollups dual-control`, writes every
    day; the demo samples the past to stay within its minute)."""
    days = set()
    day = year_start
    while day <= last_day:
        month_end = (day + dt.timedelta(days=1)).day == 1
        if month_end or (last_day - day).days < 7:
            days.add(day)
        day += dt.timedelta(days=1)
    return sorted(days)


def regulator_view(config_path: Path, token_path: Path, *, plant: PlantConfig, out_dir: Path,
                   period: str, days: list[dt.date],
                   on_progress: Callable[[int, int], None] | None = None) -> RegulatorView:
    """Write the dual-control points of `days`, then the `period` report (PDF, JSON),
    the PDF in the demo regulator's language."""
    loaded = load_report_config(config_path)
    lang: Lang = next((r.lang for r in loaded.config.regulators if r.id == REGULATOR_ID),
                      "en")
    site = plant.sites[0].id
    settings = loaded.config.influx
    out_dir.mkdir(parents=True, exist_ok=True)
    with settings.client() as client:
        source = Source(client=client, kind=settings.source)
        for i, day in enumerate(days):
            write_dual_control(loaded, source, site=site, day=day)
            if on_progress is not None:
                on_progress(i + 1, len(days))
        parsed = parse_period(period)
        report = build_report(loaded, source, scope_id=plant.enterprise.id, period=parsed,
                              as_of=parsed.end - dt.timedelta(days=1))
    body, digest = report_json(report)
    json_path = out_dir / f"energy-report-{period}.json"
    pdf_path = out_dir / f"energy-report-{period}.pdf"
    json_path.write_bytes(body)
    pdf_path.write_bytes(report_pdf(report, digest, lang))
    level = report.dual_control.warning_level if report.dual_control else None
    return RegulatorView(config_path=config_path, token_path=token_path, pdf=pdf_path,
                         json=json_path, period=period, digest=digest, warning_level=level,
                         dual_control_points=len(days))
