"""`plantstream bench reports`: a year report for a site with 500 machines from rollups.

Starts its own InfluxD (a temporary data directory), writes synthetic daily rollups
(`energy_1d`: 500 machines x 2 carriers x 2025-2026; `energy_1mo`, `energy_site_1d`,
`production_1d`)
and a plant / report configuration, then times the year-2026 report (median of 3)
beside a same-run baseline: the one InfluxQL statement that sums the year's daily
rollup per carrier (the least any year report must read). Then the "Each Mu is a
Hero" jurisdiction report for 2,000 enterprises (`plantstream.bench.each_mu`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from plantstream.devstack.services import InfluxD
from plantstream.reports.compute import build_report
from plantstream.reports.config import load_report_config
from plantstream.reports.document import report_json
from plantstream.reports.pdf import report_pdf
from plantstream.reports.periods import local_midnight_ms, parse_period
from plantstream.reports.source import Source
from plantstream.store.influxql import InfluxQL
from plantstream.store.writer import LineWriter

__all__ = ["run"]

MACHINES = 500
LINES = 10
ZONE = ZoneInfo("Asia/Shanghai")
CARRIERS = (("electricity", "kWh", 900.0), ("natural_gas", "m3", 40.0))


def _plant() -> str:
    parts = ['[enterprise]\nid = "ent-bench"\nname = "Bench Works"\n',
             '[[sites]]\nid = "site-bench"\n']
    for line in range(LINES):
        parts.append(f'[[lines]]\nid = "line-{line}"\nsite = "site-bench"\n')
        parts.append(f'[[gateways]]\nid = "gw-{line}"\nsite = "site-bench"\n')
    for m in range(MACHINES):
        line = m % LINES
        parts.append(f'[[machines]]\nid = "m{m:03d}"\nline = "line-{line}"\n'
                     f'gateway = "gw-{line}"\n')
    return "\n".join(parts)


def _config(url: str, database: str) -> str:
    return f"""plants = ["plant.toml"]
financials = "financials.csv"
base_year = 2025
[influx]
url = "{url}"
database = "{database}"
source = "rollup"
monthly_check = "rollup"
[[products]]
product = "part"
unit = "piece"
grades = {{ "1" = 0.5, "2" = 0.8, "3" = 1.2 }}
[[quotas]]
scope = "site-bench"
year = 2026
annual_tce = 45000.0
intensity_target_tce_per_10k_yuan = 0.08
"""


def _days(year: int) -> list[dt.date]:
    first = dt.date(year, 1, 1)
    return [first + dt.timedelta(days=i) for i in range((dt.date(year + 1, 1, 1) - first).days)]


def _quantity(per_day: float, day: dt.date) -> float:
    """A seasonal daily quantity (a 90-day saw tooth, +0-20 %), rounded to 0.001."""
    return round(per_day * (1.0 + 0.2 * ((day.timetuple().tm_yday - 1) % 90) / 90.0), 3)


def _lines() -> list[str]:
    """Every rollup `plantstream.rollups.energy` writes, for 2025 and 2026."""
    out: list[str] = []
    for year in (2025, 2026):
        monthly: dict[tuple[int, str], float] = {}
        for i, day in enumerate(_days(year)):
            t = local_midnight_ms(day, ZONE)
            for carrier, _, per_day in CARRIERS:
                q = _quantity(per_day, day)
                monthly[(day.month, carrier)] = monthly.get((day.month, carrier), 0.0) + q
                out.append(f"energy_site_1d,site=site-bench,carrier={carrier} "
                           f"quantity={q * MACHINES!r} {t}")
            for line in range(LINES):
                out.append(f"production_1d,site=site-bench,line=line-{line},product=part "
                           f"good={1000 * MACHINES // LINES}i,scrap={12 * MACHINES // LINES}i,"
                           f"rework={3 * MACHINES // LINES}i {t}")
            for m in range(MACHINES):
                tags = f"site=site-bench,line=line-{m % LINES},machine=m{m:03d}"
                covered = 86_400.0 if (m + i) % 97 else 79_200.0
                for carrier, _, per_day in CARRIERS:
                    out.append(f"energy_1d,{tags},carrier={carrier} "
                               f"quantity={_quantity(per_day, day)!r},covered_s={covered},"
                               f"interval_s={covered},points=1440i {t}")
        for (month, carrier), total in monthly.items():
            first = dt.date(year, month, 1)
            t = local_midnight_ms(first, ZONE)
            days = [d for d in _days(year) if d.month == month]
            for m in range(MACHINES):
                tags = f"site=site-bench,line=line-{m % LINES},machine=m{m:03d}"
                covered = sum(86_400.0 if (m + (d - dt.date(year, 1, 1)).days) % 97 else 79_200.0
                              for d in days)
                out.append(f"energy_1mo,{tags},carrier={carrier} quantity={total!r},"
                           f"covered_s={covered!r} {t}")
    return out


def _financials() -> str:
    rows = ["site,month,output_value_yuan,value_added_yuan_comparable"]
    for year in (2025, 2026):
        rows += [f"site-bench,{year}-{m:02d},80000000,22000000" for m in range(1, 13)]
    return "\n".join(rows) + "\n"


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="plantstream-bench-reports-") as tmp:
        directory = Path(tmp)
        influx = InfluxD(data_dir=directory / "influxd")
        influx.start()
        try:
            code = _measure(influx, directory)
            # the "Each Mu is a Hero" jurisdiction report for 2,000 enterprises
            from plantstream.bench.each_mu import measure_jurisdiction
            print(measure_jurisdiction(influx, directory))
            return code
        finally:
            influx.stop()


def _measure(influx: InfluxD, directory: Path) -> int:
    database = "bench"
    (directory / "plant.toml").write_text(_plant())
    (directory / "financials.csv").write_text(_financials())
    (directory / "reports.toml").write_text(_config(influx.url, database))
    with InfluxQL(url=influx.url, database=database, timeout_s=300) as client, \
            LineWriter(url=influx.url, database=database, timeout_s=300,
                       chunk_lines=10_000) as writer:
        client.create_database()
        lines = _lines()
        started = time.perf_counter()
        writer.write(lines)
        write_s = time.perf_counter() - started
        print(f"wrote {len(lines):,} rollup points in {write_s:.1f} s "
              f"({len(lines) / write_s:,.0f} points/s)")
        year_start, year_end = (local_midnight_ms(dt.date(2026, 1, 1), ZONE),
                                local_midnight_ms(dt.date(2027, 1, 1), ZONE))
        baseline = []
        for _ in range(3):
            started = time.perf_counter()
            client.query(f'SELECT sum("quantity") FROM "energy_1d" WHERE "site" = '
                         f"'site-bench' AND time >= {year_start}ms AND time < {year_end}ms "
                         'GROUP BY "carrier"')
            baseline.append(time.perf_counter() - started)
        loaded = load_report_config(directory / "reports.toml")
        source = Source(client=client, kind="rollup")
        timings = []
        report = None
        for _ in range(3):
            started = time.perf_counter()
            report = build_report(loaded, source, scope_id="site-bench",
                                  period=parse_period("2026"), today=dt.date(2027, 1, 10))
            timings.append(time.perf_counter() - started)
        assert report is not None
        started = time.perf_counter()
        body, digest = report_json(report)
        json_s = time.perf_counter() - started
        started = time.perf_counter()
        pdf = report_pdf(report, digest)
        pdf_s = time.perf_counter() - started
    year_s = statistics.median(timings)
    base_s = statistics.median(baseline)
    print(f"year report, site with {MACHINES} machines, 2 carriers, from rollups: "
          f"{year_s:.2f} s (median of 3: {', '.join(f'{t:.2f}' for t in timings)})")
    print(f"baseline: one sum of the year's energy_1d per carrier: {base_s:.2f} s")
    print(f"canonical JSON + hash: {json_s:.3f} s ({len(body):,} bytes); "
          f"PDF: {pdf_s:.2f} s ({len(pdf):,} bytes)")
    print(f"controlled total {report.energy.controlled_total_tce:,.1f} tce, "
          f"{len(report.data_quality.meters)} meters, hash {digest[:16]}")
    print(f"year_report_s={year_s:.3f} baseline_year_sum_s={base_s:.3f} json_s={json_s:.3f} "
          f"pdf_s={pdf_s:.3f} machines={MACHINES} rollup_points={len(lines)} "
          f"write_points_per_s={len(lines) / write_s:.0f}")
    return 0
