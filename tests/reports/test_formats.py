"""PDF (rendered by poppler), CSV, the CLI, and the rollup source."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from plantstream.cli import main
from plantstream.devstack.services import InfluxD
from plantstream.i18n import fonts
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
from plantstream.reports.labels import FIELDS
from plantstream.reports.model import Report
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
    header, *lines = csv.reader(io.StringIO(body.decode()))
    assert header == ["field", "value", "label"]
    rows = {field: value for field, value, _ in lines}
    labels = {field: label for field, _, label in lines}
    assert rows["content_sha256"] == digest == report_json(report)[1]
    assert rows["energy.controlled_total_tce"] == "6.11258"
    assert rows["energy.carriers[electricity].quantity"] == "46500.0"
    assert rows["products[widget].best_grade"] == "1"
    assert rows["products[gadget].grades.1"] == ""  # a grade the standard does not define
    assert rows["data_quality.meters[site-a/m2/electricity].passes"] == "false"
    assert labels["energy.carriers[electricity].quantity"] == \
        "energy / by carrier / electricity / physical quantity"
    assert rows["data_quality.meter_events[site-a/m1/electricity].rejected"] == "1"
    assert rows["data_quality.jitter_steps"] == "5"
    assert labels["data_quality.meter_events[site-a/m1/electricity].rejected"] == \
        "data quality / meter events (register rule) / site-a/m1/electricity / " \
        "rejected impossible jumps"
    # in Chinese: the same fields, values and hash; the header and labels in Chinese
    zh_body, zh_digest = report_csv(report, "zh-CN")
    zh_header, *zh_lines = csv.reader(io.StringIO(zh_body.decode()))
    assert zh_digest == digest and zh_header == ["字段", "数值", "说明"]
    assert [(f, v) for f, v, _ in zh_lines] == [(f, v) for f, v, _ in lines]
    zh_labels = {field: label for field, _, label in zh_lines}
    assert zh_labels["energy.controlled_total_tce"] == "能源消费 / 能耗双控考核量（吨标准煤）"
    assert zh_labels["energy.total_comprehensive_tce"] == \
        "能源消费 / 综合能源消费量（吨标准煤）"
    assert zh_labels["energy.carriers[electricity].quantity"] == "能源消费 / 分品种 / 电力 / 实物量"
    assert zh_labels["financials.months_detail[2026-10].intensity_tce_per_10k_yuan"] == \
        "经济指标 / 分月 / 2026年10月 / 单位增加值能耗（吨标准煤/万元）"
    assert zh_labels["data_quality.meters[site-a/m2/electricity].passes"] == \
        "数据质量 / 计量器具 / site-a/m2/电力 / 是否合格"
    assert zh_labels["data_quality.meter_events[site-a/m1/electricity].resets"] == \
        "数据质量 / 计量器具事件（寄存器规则） / site-a/m1/电力 / 复位次数"
    english = set(FIELDS.values())  # every part a field name gives is in Chinese
    untranslated = [label for label in zh_labels.values()
                    if any(part in english for part in label.split(" / "))]
    assert not untranslated, untranslated[:5]


def _pdf_text(pdf: Path) -> str:
    return subprocess.run([shutil.which("pdftotext") or "pdftotext", "-layout", str(pdf), "-"],
                          check=True, capture_output=True, text=True, timeout=60).stdout


def test_chinese_pdf_has_the_official_terms_and_the_same_figures(
        loaded: LoadedConfig, source: Source, tmp_path: Path) -> None:
    report = build_report(loaded, source, scope_id="site-a", period=parse_period("2026-10"),
                          today=TODAY)
    _, digest = report_json(report)
    pdf = tmp_path / "report-zh.pdf"
    pdf.write_bytes(report_pdf(report, digest, "zh-CN"))
    fonts = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True,
                           text=True, timeout=60)
    assert "DroidSansFallback" in fonts.stdout and "CID TrueType" in fonts.stdout
    assert fonts.stderr == ""  # no "Mismatch between font type and embedded font file"
    assert all(line.split()[-5] == "yes" for line in fonts.stdout.splitlines()[2:])  # emb
    text = _pdf_text(pdf)
    for label in ("能源报告", "报告期 2026年10月", "2026年10月1日 至 2026年11月1日（不含）",
                  "能耗双控考核量", "综合能源消费量", "其中：原料用能（不纳入考核）",
                  "可再生能源电力", "单位增加值能耗（可比价）", "单位产值能耗",
                  "6.113 吨标准煤", "7.326 吨标准煤", "0.0509 吨标准煤/万元",
                  "61.540 / 100.000 吨标准煤", "预警等级", "红",
                  "46,500.000 千瓦时", "电力", "天然气", "立方米", "分品种能耗",
                  "2026年累计用能与年度指标", "分月单位增加值能耗与目标", "10月",
                  "单位产品能耗与限额等级", "1.3375", "数据质量", "计算方法", "当量值",
                  "计量器具事件：2 台", "抖动 5，复位 1，剔除 1", "需核查", digest):
        assert label in text, label
    for english in ("Energy report", "Controlled total", "Warning level", "Headline",
                    "Methodology", "tce", "RED"):
        assert english not in text, english
    english_text = _pdf_text(_english_pdf(report, digest, tmp_path))
    assert not re.search("[\u3400-\u9fff]", english_text)  # the English PDF stays English
    assert "meter events: 2 meters" in english_text
    assert "jitter 3, resets 0, rejected 1" not in english_text  # per meter, in the period
    assert "jitter 5, resets 0, rejected 1" in english_text  # site-a/m1/electricity


def _english_pdf(report: Report, digest: str, tmp_path: Path) -> Path:
    pdf = tmp_path / "report-en.pdf"
    pdf.write_bytes(report_pdf(report, digest))
    return pdf


def test_a_missing_cjk_font_is_a_clear_error(loaded: LoadedConfig, source: Source,
                                             monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    report = build_report(loaded, source, scope_id="site-a", period=parse_period("2026-10"),
                          today=TODAY)
    monkeypatch.setattr(fonts, "_registered_family", _uncached(fonts._registered_family))
    monkeypatch.setattr(fonts, "cjk_font_path", _uncached(fonts.cjk_font_path))
    monkeypatch.setenv(fonts.CJK_FONT_ENV, str(tmp_path / "nowhere.ttf"))
    with pytest.raises(fonts.FontMissingError, match="fonts-droid-fallback"):
        report_pdf(report, "0" * 64, "zh-CN")
    ttc = tmp_path / "NotoSansCJK-Regular.ttc"
    ttc.write_bytes(b"not a font")
    monkeypatch.setenv(fonts.CJK_FONT_ENV, str(ttc))
    with pytest.raises(fonts.FontMissingError, match=r"no \.ttf file"):
        report_pdf(report, "0" * 64, "zh-CN")
    assert report_pdf(report, "0" * 64).startswith(b"%PDF")  # English needs no CJK font


def _uncached(cached: Any) -> Any:
    return cached.__wrapped__


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
    zh = tmp_path / "october-zh.pdf"
    assert main(["reports", "energy", "--site", "site-a", "--period", "2026-10", "--format",
                 "pdf", "--lang", "zh-CN", "-o", str(zh), "--config", str(config_path)]) == 0
    assert "综合能源消费量" in _pdf_text(zh)
    zh_json = tmp_path / "october-zh.json"
    assert main(["reports", "energy", "--site", "site-a", "--period", "2026-10", "--lang",
                 "zh", "-o", str(zh_json), "--config", str(config_path)]) == 0
    assert zh_json.read_bytes() == out.read_bytes()  # the JSON has no language
    with pytest.raises(SystemExit):
        main(["reports", "energy", "--site", "site-a", "--period", "2026-10", "--lang", "fr",
              "--config", str(config_path)])
    assert "unsupported language 'fr'" in capsys.readouterr().err
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
