"""`plantstream bench reports`, second part: an "Each Mu is a Hero" jurisdiction report
for 2,000 enterprises (one site each, 5 industries, every 50th without land: not
evaluable) from the `energy_1mo` rollup, this year and last, with the energy headroom.

Timed: the report (median of 3), beside a same-run baseline: the one InfluxQL statement
that reads the year's monthly rollup (the least the report must read); then canonical
JSON + hash, CSV and PDF.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from plantstream.devstack.services import InfluxD
from plantstream.reports.config import load_report_config
from plantstream.reports.mu.document import jurisdiction_csv, jurisdiction_json
from plantstream.reports.mu.pdf import jurisdiction_pdf
from plantstream.reports.mu.report import build_jurisdiction_report, parse_each_mu_period
from plantstream.reports.periods import local_midnight_ms
from plantstream.reports.source import Source
from plantstream.store.influxql import InfluxQL
from plantstream.store.writer import LineWriter

__all__ = ["measure_jurisdiction"]

ENTERPRISES = 2000
INDUSTRIES = ("C13", "C26", "C33", "C34", "C38")
ZONE = ZoneInfo("Asia/Shanghai")

_EACH_MU = """note = "BENCH configuration"
[[jurisdictions]]
id = "bench-county"
name = "Bench County"
pollutants = { cod = 1.0, nox = 1.0 }
classes = { method = "rank_shares", shares = { A = 0.2, B = 0.5, C = 0.2, D = 0.1 } }
energy_quotas = [{ year = 2026, annual_tce = 2500000.0 }]
""" + "".join(f"""
[[jurisdictions.indicators]]
indicator = "{name}"
weight = {weight}
cap = 1.5
""" for name, weight in (("tax_per_mu", 30.0), ("value_added_per_mu", 20.0),
                         ("value_added_per_tce", 15.0), ("value_added_per_emission", 10.0),
                         ("rd_share", 10.0), ("labour_productivity", 15.0)))


def _plant(i: int) -> str:
    land = "" if i % 50 == 49 else f"land_area_mu = {20 + i % 180}.0\n"
    return (f'[enterprise]\nid = "e{i:04d}"\nname = "Enterprise {i}"\n'
            f'jurisdiction = "bench-county"\nindustry = "{INDUSTRIES[i % len(INDUSTRIES)]}"\n'
            f'[[sites]]\nid = "s{i:04d}"\n{land}'
            f'[[lines]]\nid = "l{i:04d}"\nsite = "s{i:04d}"\n'
            f'[[gateways]]\nid = "g{i:04d}"\nsite = "s{i:04d}"\n'
            f'[[machines]]\nid = "m{i:04d}"\nline = "l{i:04d}"\ngateway = "g{i:04d}"\n')


def _financials() -> str:
    rows = ["site,month,output_value_yuan,value_added_yuan_comparable,tax_paid_yuan,"
            "main_revenue_yuan,rd_expenditure_yuan,employees,emission_cod_t,emission_nox_t"]
    for year in (2025, 2026):
        for i in range(ENTERPRISES):
            scale = 1.0 + (i * 7919 % 1000) / 250.0
            for m in range(1, 13):
                va = 2_000_000 * scale
                rows.append(f"s{i:04d},{year}-{m:02d},{va * 4:.0f},{va:.0f},{va * 0.2:.0f},"
                            f"{va * 3.5:.0f},{va * 0.1 * (i % 7) / 6:.0f},{50 + i % 300},"
                            f"{0.5 + i % 7 / 10:.2f},{0.3 + i % 3 / 10:.2f}")
    return "\n".join(rows) + "\n"


def _lines() -> list[str]:
    out = []
    for year in (2025, 2026):
        for m in range(1, 13):
            t = local_midnight_ms(dt.date(year, m, 1), ZONE)
            for i in range(ENTERPRISES):
                kwh = 100_000.0 * (1 + i % 13) * (1 + (m % 4) / 10)
                out.append(f"energy_1mo,site=s{i:04d},line=l{i:04d},machine=m{i:04d},"
                           f"carrier=electricity quantity={kwh!r},covered_s=2592000.0 {t}")
    return out


def measure_jurisdiction(influx: InfluxD, directory: Path) -> str:
    """Write the data, time the report; returns the `key=value` figures line."""
    database = "bench_each_mu"
    plants = []
    for i in range(ENTERPRISES):
        name = f"plant-{i:04d}.toml"
        (directory / name).write_text(_plant(i))
        plants.append(f'"{name}"')
    (directory / "financials-mu.csv").write_text(_financials())
    (directory / "each-mu.toml").write_text(_EACH_MU)
    (directory / "reports-mu.toml").write_text(
        f"plants = [{', '.join(plants)}]\nfinancials = \"financials-mu.csv\"\n"
        f'each_mu = "each-mu.toml"\n[influx]\nurl = "{influx.url}"\n'
        f'database = "{database}"\nsource = "rollup"\nmonthly_check = "rollup"\n')
    with InfluxQL(url=influx.url, database=database, timeout_s=300) as client, \
            LineWriter(url=influx.url, database=database, timeout_s=300,
                       chunk_lines=10_000) as writer:
        client.create_database()
        writer.write(_lines())
        started = time.perf_counter()
        loaded = load_report_config(directory / "reports-mu.toml")
        load_s = time.perf_counter() - started
        baseline = []
        for _ in range(3):
            started = time.perf_counter()
            client.query('SELECT "quantity" FROM "energy_1mo" WHERE time >= '
                         f"{local_midnight_ms(dt.date(2026, 1, 1), ZONE)}ms AND time < "
                         f'{local_midnight_ms(dt.date(2027, 1, 1), ZONE)}ms GROUP BY "site", '
                         '"carrier"')
            baseline.append(time.perf_counter() - started)
        source = Source(client=client, kind="rollup")
        timings = []
        report = None
        for _ in range(3):
            started = time.perf_counter()
            report = build_jurisdiction_report(loaded, source, jurisdiction_id="bench-county",
                                               period=parse_each_mu_period("2026"),
                                               today=dt.date(2027, 1, 10))
            timings.append(time.perf_counter() - started)
        assert report is not None
        started = time.perf_counter()
        body, digest = jurisdiction_json(report)
        json_s = time.perf_counter() - started
        started = time.perf_counter()
        jurisdiction_csv(report)
        csv_s = time.perf_counter() - started
        started = time.perf_counter()
        pdf = jurisdiction_pdf(report, digest)
        pdf_s = time.perf_counter() - started
    report_s, base_s = statistics.median(timings), statistics.median(baseline)
    print(f"jurisdiction report (Each Mu is a Hero), {ENTERPRISES} enterprises, 2026 and "
          f"2025 from energy_1mo: {report_s:.2f} s (median of 3: "
          f"{', '.join(f'{t:.2f}' for t in timings)}); loading the 2,000 plant configs "
          f"{load_s:.2f} s")
    print(f"baseline: one read of the year's energy_1mo: {base_s:.2f} s; canonical JSON + "
          f"hash {json_s:.3f} s ({len(body):,} bytes), CSV {csv_s:.3f} s, PDF {pdf_s:.2f} s "
          f"({len(pdf):,} bytes)")
    print(f"{report.evaluable} evaluable, classes "
          f"{', '.join(f'{c.class_} {c.count}' for c in report.classes)}; headroom "
          f"{report.headroom.projected_headroom_tce if report.headroom else 0:,.0f} tce "
          f"projected, hash {digest[:16]}")
    return (f"jurisdiction_report_s={report_s:.3f} jurisdiction_baseline_read_s={base_s:.3f} "
            f"jurisdiction_json_s={json_s:.3f} jurisdiction_pdf_s={pdf_s:.3f} "
            f"enterprises={ENTERPRISES}")
