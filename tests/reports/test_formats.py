"""PDF (rendered by poppler), CSV, the CLI, and the rollup source."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from plantstream.cli import main
from plantstream.devstack.services import InfluxD
from plantstream.reports import (
    LoadedConfig,
    Source,
    build_report,
    load_report_config,
    parse_period,
    report_csv,
    report_json,
    verify,
)
from plantstream.reports.pdf import report_pdf
from plantstream.rollups.energy import rollup_daily
from plantstream.store.influxql import InfluxQL
from tests.reports.dataset import ZONE, write_configs, write_points

pytestmark = pytest.mark.services

TODAY = dt.date(2026, 11, 27)


def _october(loaded: LoadedConfig, source: Source) -> tuple[bytes, str]:
    report = build_report(loaded, source, scope_id="site-a", period=parse_period("2026-10"),
                          today=TODAY)
    return report_json(report)


def test_pdf_renders_and_shows_the_headline_figures(loaded: LoadedConfig, source: Source,
                                                    tmp_path: Path) -> None:
    report = build_report(loaded, source, scope_id="site-a", period=parse_period("2026-10"),
                          today=TODAY)
    _, digest = report_json(report)
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(report_pdf(report, digest))
    subprocess.run([shutil.which("pdftoppm") or "pdftoppm", "-png", "-r", "40", str(pdf),
                    str(tmp_path / "page")], check=True, timeout=60)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 3 and all(p.stat().st_size > 5_000 for p in pages)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                          capture_output=True, text=True, timeout=60).stdout
    for figure in ("6.113 tce",  # controlled total
                   "7.326 tce",  # total comprehensive consumption
                   "0.452 tce", "0.762 tce", "3.367 tce",  # feedstock, renewable, sent off
                   "24.280 tCO2", "0.0509 tce / 10,000 yuan",
                   "61.540 / 100.000 tce", "83.288 / 73.889 tce", "RED",
                   "+24.3 % / +3.6 %", digest,
                   "46,500.000 kWh", "1.3375",  # widget, kgce per piece
                   "Year-to-date trajectory 2026", "Energy intensity by month"):
        assert figure in text, figure


def test_csv_carries_the_json_hash_and_every_figure(loaded: LoadedConfig,
                                                    source: Source) -> None:
    report = build_report(loaded, source, scope_id="site-a", period=parse_period("2026-10"),
                          today=TODAY)
    body, digest = report_csv(report)
    rows = dict(line.split(",", 1) for line in body.decode().splitlines()[1:])
    assert rows["content_sha256"] == digest == report_json(report)[1]
    assert rows["energy.controlled_total_tce"] == "6.11258"
    assert rows["energy.carriers[electricity].quantity"] == "46500.0"
    assert rows["products[widget].best_grade"] == "1"
    assert rows["products[gadget].grades.1"] == ""  # a grade the standard does not define
    assert rows["data_quality.meters[site-a/m2/electricity].passes"] == "false"


def test_cli_writes_the_same_report(config_path: Path, loaded: LoadedConfig, source: Source,
                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "october.json"
    code = main(["reports", "energy", "--site", "site-a", "--period", "2026-10", "--format",
                 "json", "-o", str(out), "--config", str(config_path)])
    assert code == 0 and verify(out.read_bytes())
    assert out.read_bytes() == _october(loaded, source)[0]
    pdf = tmp_path / "october.pdf"
    assert main(["reports", "energy", "--site", "site-a", "--period", "2026-10", "--format",
                 "pdf", "-o", str(pdf), "--config", str(config_path)]) == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    assert main(["reports", "check", "--config", str(config_path)]) == 0
    assert "InfluxDB" in capsys.readouterr().out
    # an unknown key in the configuration is an error naming it
    bad = tmp_path / "bad.toml"
    bad.write_text(config_path.read_text().replace("base_year = 2024", "base_yaer = 2024"))
    for name in ("plant-a.toml", "plant-b.toml", "financials.csv"):
        (tmp_path / name).write_bytes((config_path.parent / name).read_bytes())
    assert main(["reports", "check", "--config", str(bad)]) == 2
    assert "base_yaer" in capsys.readouterr().err


def test_rollup_source_gives_the_same_report_and_flags_a_stale_rollup(
        influxd: InfluxD, database: str, influxql: InfluxQL, config_path: Path,
        tmp_path: Path) -> None:
    raw = load_report_config(config_path)
    raw_doc = json.loads(_october(raw, Source(client=influxql, kind="raw"))[0])
    rollup_daily(influxql, sites=["site-a", "site-b"], start=dt.date(2025, 1, 1),
                 end=dt.date(2026, 11, 2), zone=ZONE)
    rolled_dir = tmp_path / "rollup"
    rolled_dir.mkdir()
    rolled = load_report_config(write_configs(rolled_dir, url=influxd.url, database=database,
                                              source="rollup"))
    source = Source(client=influxql, kind="rollup")
    doc = json.loads(_october(rolled, source)[0])
    for section in ("energy", "products", "financials", "comparison", "dual_control"):
        assert doc[section] == raw_doc[section], section
    assert doc["data_quality"]["meters"] == raw_doc["data_quality"]["meters"]
    assert doc["data_quality"]["passes_daily_vs_monthly"]
    # a year: energy_1mo for the whole months, energy_1d for the partial one (November)
    year = parse_period("2026")
    raw_year = json.loads(report_json(build_report(
        raw, Source(client=influxql, kind="raw"), scope_id="site-a", period=year,
        today=TODAY))[0])
    rolled_year = json.loads(report_json(build_report(
        rolled, source, scope_id="site-a", period=year, today=TODAY))[0])
    for section in ("energy", "products", "financials", "comparison", "dual_control"):
        assert rolled_year[section] == raw_year[section], section
    for key in ("meters", "gaps", "daily_vs_monthly"):
        assert rolled_year["data_quality"][key] == raw_year["data_quality"][key], key
    # the monthly rollup: one point per meter and month at 00:00 local on the 1st
    october = influxql.query('SELECT "quantity" FROM "energy_1mo" WHERE "machine" = \'m1\' '
                             'AND "carrier" = \'natural_gas\'')
    assert october[0].values == [[int(dt.datetime(2026, 10, 1, tzinfo=ZONE).timestamp() * 1000),
                                  3100.0]]
    monthly_dir = tmp_path / "monthly"
    monthly_dir.mkdir()
    path = write_configs(monthly_dir, url=influxd.url, database=database, source="rollup")
    path.write_text(path.read_text().replace('source = "rollup"',
                                             'source = "rollup"\nmonthly_check = "rollup"'))
    by_rollup = json.loads(_october(load_report_config(path), source)[0])["data_quality"]
    assert by_rollup["daily_vs_monthly"] == doc["data_quality"]["daily_vs_monthly"]
    assert "energy_1mo" in by_rollup["daily_vs_monthly_method"]
    # a late batch after the rollup: the raw monthly sum moves, the rollup's days do not
    late = int(dt.datetime(2026, 10, 20, 12, tzinfo=ZONE).timestamp() * 1000)
    write_points(influxd.url, database, [
        f"energy,site=site-a,line=line-1,machine=m1,carrier=natural_gas quantity=200.0,"
        f'unit="m3",covered_s=900.0,interval_s=900.0 {late}'])
    stale = json.loads(_october(rolled, source)[0])["data_quality"]
    gas = next(c for c in stale["daily_vs_monthly"] if c["carrier"] == "natural_gas")
    assert gas["sum_of_daily"] == 3100.0 and gas["monthly_total"] == 3300.0
    assert gas["deviation"] == round(abs(3100 / 3300 - 1), 6) and not gas["passes"]
    assert not stale["passes_daily_vs_monthly"]
    rollup_daily(influxql, sites=["site-a"], start=dt.date(2026, 10, 20),
                 end=dt.date(2026, 10, 21), zone=ZONE)  # recomputed: agrees again
    assert json.loads(_october(rolled, source)[0])["data_quality"]["passes_daily_vs_monthly"]


def test_dual_control_point_for_the_dashboards(config_path: Path,
                                               influxql: InfluxQL) -> None:
    assert main(["rollups", "dual-control", "--config", str(config_path), "--site", "site-a",
                 "--day", "2026-10-31"]) == 0
    rows = influxql.query('SELECT * FROM "dual_control"')[0].rows()
    assert len(rows) == 1
    point = rows[0]
    assert point["time"] == int(dt.datetime(2026, 10, 31, tzinfo=ZONE).timestamp() * 1000)
    assert point["site"] == "site-a"
    assert point["ytd_tce"] == pytest.approx(61.54048)  # as in test_figures
    assert point["projected_year_end_tce"] == pytest.approx(61.54048 / (304 / 365))
    assert point["intensity"] == pytest.approx(61.54048 / 1020)
    assert (point["warning_code"], point["warning_level"]) == (3, "red")
