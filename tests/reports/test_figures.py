"""Every figure of the JSON report equals the hand-computed value (dataset.py).

Coefficients (analytics/data/coefficients.toml 2026.2): electricity 0.1229 kgce/kWh
and grid 0.5306 kgCO2/kWh (2023); natural gas 1.2143 kgce/m3, 1.9965 kgCO2/m3; diesel
1.4571 kgce/kg, 3.1644 kgCO2/kg; steam 1.0 MPa 0.1086 kgce/kg, 0.3501 kgCO2/kg (each CO2
factor from the heat value of its kgce).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest

from plantstream.reports import (
    LoadedConfig,
    ReportInputError,
    Source,
    build_report,
    parse_period,
    report_json,
    report_schema,
    verify,
)
from plantstream.reports.canonical import canonical_value
from plantstream.reports.compute import RULES

pytestmark = pytest.mark.services

TODAY = dt.date(2026, 11, 27)
DOCS = Path(__file__).resolve().parents[2] / "docs"

# --- hand computation, October 2026, site-a -------------------------------------------
ELEC_KWH = 30 * 1000 + 500 + 20 * 800  # m1 (half a day on 10 Oct) + m2 (1-20 Oct)
GAS_M3 = 31 * 100
GREEN_KWH = 31 * 200
DIESEL_KG = 31 * 10
STEAM_KG = 31 * 1000
ELEC_KGCE = ELEC_KWH * 0.1229  # 5,714.85
GAS_KGCE = GAS_M3 * 1.2143  # 3,764.33
GREEN_KGCE = GREEN_KWH * 0.1229  # 761.98
DIESEL_KGCE = DIESEL_KG * 1.4571  # 451.701
STEAM_KGCE = STEAM_KG * 0.1086  # 3,366.6
GROSS_TCE = (ELEC_KGCE + GAS_KGCE + GREEN_KGCE + DIESEL_KGCE) / 1000  # 10.692861
TOTAL_TCE = GROSS_TCE - STEAM_KGCE / 1000  # 7.326261
CONTROLLED_TCE = TOTAL_TCE - DIESEL_KGCE / 1000 - GREEN_KGCE / 1000  # 6.11258
CO2 = (ELEC_KWH * 0.5306 + GREEN_KWH * 0.5306 + GAS_M3 * 1.9965 + DIESEL_KG * 3.1644
       - STEAM_KG * 0.3501)  # 24,279.634
VA_OCT, OUT_OCT = 1_200_000.0, 5_000_000.0
LAST_YEAR_TCE = 40_000 * 0.1229 / 1000  # 4.916
LAST_YEAR_INTENSITY = LAST_YEAR_TCE / 100  # 1,000,000 yuan = 100 x 10,000
INTENSITY = CONTROLLED_TCE / 120  # 0.050938...
WIDGET_KGCE = 30_500 * 0.1229 + GAS_KGCE - STEAM_KGCE  # line-1: 4,146.18
GADGET_KGCE = 16_000 * 0.1229 + GREEN_KGCE + DIESEL_KGCE  # line-2: 3,180.081
JAN_SEP = [50_000 * 0.1229 / 1000] * 8 + [51_000 * 0.1229 / 1000]  # 6.145, Sep 6.2679
MONTHLY = [*JAN_SEP, CONTROLLED_TCE]
YTD = sum(MONTHLY)  # 61.54048
SHARE = 304 / 365  # 1 January to 31 October
YTD_INTENSITY = YTD / (9 * 100 + 120)  # value added 10.2 million yuan
MONTH_S = 31 * 86_400.0
ZONE = "+08:00"


def carrier(name: str, role: str, unit: str, quantity: float, kgce_per_unit: float,
            basis: str, kgco2_per_unit: float) -> dict[str, Any]:
    return {"carrier": name, "role": role, "unit": unit, "quantity": quantity,
            "kgce_per_unit": kgce_per_unit, "coefficient_basis": basis,
            "kgce": quantity * kgce_per_unit, "kgco2_per_unit": kgco2_per_unit,
            "kgco2": quantity * kgco2_per_unit}


def meter(machine: str, carrier_name: str, covered: float) -> dict[str, Any]:
    return {"site": "site-a", "machine": machine, "carrier": carrier_name, "covered_s": covered,
            "expected_s": MONTH_S, "completeness": covered / MONTH_S,
            "passes": covered / MONTH_S >= 0.9}


def check(carrier_name: str, quantity: float) -> dict[str, Any]:
    return {"month": "2026-10", "carrier": carrier_name, "sum_of_daily": quantity,
            "monthly_total": quantity, "deviation": 0.0, "passes": True}


def expected(config_hash: str) -> dict[str, Any]:
    months = [f"2026-{m:02d}" for m in range(1, 11)]
    vas = [1_000_000.0] * 9 + [VA_OCT]
    return {
        "schema_version": "1", "kind": "energy",
        "scope": {"type": "site", "id": "site-a", "name": "Alpha Ningbo",
                  "enterprise_id": "ent-a", "enterprise_name": "Alpha Components",
                  "jurisdiction": "prov-zj", "sites": ["site-a"], "timezone": "Asia/Shanghai"},
        "period": {"kind": "month", "label": "2026-10", "start": f"2026-10-01T00:00:00{ZONE}",
                   "end": f"2026-11-01T00:00:00{ZONE}",
                   "data_end": f"2026-11-01T00:00:00{ZONE}", "days": 31},
        "energy": {
            "carriers": [
                carrier("diesel_feed", "feedstock", "kg", DIESEL_KG, 1.4571, "table 2026.2",
                        3.1644),
                carrier("electricity", "controlled", "kWh", ELEC_KWH, 0.1229,
                        "table 2026.2 (equivalent)", 0.5306),
                carrier("green_power", "renewable_certified", "kWh", GREEN_KWH, 0.1229,
                        "table 2026.2 (equivalent)", 0.5306),
                carrier("natural_gas", "controlled", "m3", GAS_M3, 1.2143, "table 2026.2",
                        1.9965),
                carrier("steam_export", "sent_off_site", "kg", STEAM_KG, 0.1086,
                        "table 2026.2", 0.3501),
            ],
            "gross_consumption_tce": GROSS_TCE, "sent_off_site_tce": STEAM_KGCE / 1000,
            "total_comprehensive_tce": TOTAL_TCE, "feedstock_tce": DIESEL_KGCE / 1000,
            "renewable_certified_tce": GREEN_KGCE / 1000, "controlled_total_tce": CONTROLLED_TCE,
            "co2_kgco2": CO2, "electricity_co2_factor_kgco2_per_kwh": 0.5306,
            "electricity_co2_data_year": 2023,
            "co2_accounting": "location-based (national average grid factor of the data year)",
        },
        "products": [
            {"product": "gadget", "unit": "piece", "standard": "", "boundary": "lines line-2",
             "good": 1000, "scrap": 0, "rework": 0, "qualified_output": 1000,
             "boundary_kgce": GADGET_KGCE, "unit_consumption_kgce": GADGET_KGCE / 1000,
             "grades": {"1": None, "2": 1.0, "3": 20.0}, "best_grade": 3},
            {"product": "widget", "unit": "piece", "standard": "GB 99999-2026 (test)",
             "boundary": "lines line-1", "good": 3100, "scrap": 155, "rework": 62,
             "qualified_output": 3100, "boundary_kgce": WIDGET_KGCE,
             "unit_consumption_kgce": WIDGET_KGCE / 3100,  # 1.3375 kgce/piece
             "grades": {"1": 2.0, "2": 2.5, "3": 3.0}, "best_grade": 1},
        ],
        "financials": {
            "output_value_yuan": OUT_OCT, "value_added_yuan_comparable": VA_OCT,
            "months": ["2026-10"], "months_missing": [], "prorated": False,
            "tce_per_10k_yuan_output_value": CONTROLLED_TCE / 500,
            "tce_per_10k_yuan_value_added": INTENSITY,
            "months_detail": [
                {"month": m, "controlled_tce": t, "value_added_yuan_comparable": va,
                 "intensity_tce_per_10k_yuan": t / (va / 10_000)}
                for m, t, va in zip(months, MONTHLY, vas, strict=True)],
        },
        "comparison": {
            "same_period_last_year": {
                "label": "same period last year", "start": f"2025-10-01T00:00:00{ZONE}",
                "end": f"2025-11-01T00:00:00{ZONE}", "controlled_total_tce": LAST_YEAR_TCE,
                "tce_per_10k_yuan_value_added": LAST_YEAR_INTENSITY,
                "change_controlled_total": CONTROLLED_TCE / LAST_YEAR_TCE - 1,
                "change_intensity": INTENSITY / LAST_YEAR_INTENSITY - 1},
            "base_year": {  # 2024: no data, no financials -> no intensity, no rates
                "label": "base year 2024", "start": f"2024-10-01T00:00:00{ZONE}",
                "end": f"2024-11-01T00:00:00{ZONE}", "controlled_total_tce": 0.0,
                "tce_per_10k_yuan_value_added": None, "change_controlled_total": None,
                "change_intensity": None},
        },
        "dual_control": {
            "year": 2026, "as_of": "2026-10-31", "monthly_tce": MONTHLY, "ytd_tce": YTD,
            "annual_quota_tce": 100.0, "share_elapsed": SHARE,
            "allowance_to_date_tce": 100 * SHARE, "ytd_minus_allowance_tce": YTD - 100 * SHARE,
            "projected_year_end_tce": YTD / SHARE,  # 73.889
            "projection_method": "straight_line_run_rate",
            "projection_ratio": YTD / SHARE / 100, "projected_crossing_date": None,
            "intensity_tce_per_10k_yuan": YTD_INTENSITY,
            "intensity_target_tce_per_10k_yuan": 0.05,
            "intensity_ratio": YTD_INTENSITY / 0.05,  # 1.2067 > 1.10: red
            "warning_level": "red",
            "reasons": [f"intensity / target = {YTD_INTENSITY / 0.05:.3f} > 1.10 (red)"],
        },
        "data_quality": {
            "completeness_threshold": 0.9,
            "meters": [meter("m1", "electricity", MONTH_S - 43_200),
                       meter("m1", "natural_gas", MONTH_S), meter("m1", "steam_export", MONTH_S),
                       meter("m2", "diesel_feed", MONTH_S),
                       meter("m2", "electricity", 20 * 86_400.0),  # 64.5 %: fails
                       meter("m2", "green_power", MONTH_S)],
            "meters_below_threshold": 1, "passes_completeness": False,
            "daily_vs_monthly_tolerance": 0.05,
            "daily_vs_monthly_method": (
                "daily sums (GROUP BY time(1d) local) against monthly sums of the raw energy "
                "points (same points: a consistency check of the query path)"),
            "daily_vs_monthly": [check("diesel_feed", DIESEL_KG),
                                 check("electricity", ELEC_KWH),
                                 check("green_power", GREEN_KWH), check("natural_gas", GAS_M3),
                                 check("steam_export", STEAM_KG)],
            "passes_daily_vs_monthly": True,
            "gaps_granularity": "day",
            "gaps": [{"site": "site-a", "machine": "m1", "carrier": "electricity",
                      "first_day": "2026-10-10", "last_day": "2026-10-10", "missing_s": 43_200.0},
                     {"site": "site-a", "machine": "m2", "carrier": "electricity",
                      "first_day": "2026-10-21", "last_day": "2026-10-31",
                      "missing_s": 11 * 86_400.0}],
            "gaps_truncated": 0, "day_start": "00:00 Asia/Shanghai",
            # dataset.METER_EVENTS: only meters with an event; site-b and 1 Nov left out
            "meter_events": [
                {"site": "site-a", "machine": "m1", "carrier": "electricity",
                 "jitter": 5, "resets": 0, "rejected": 1},
                {"site": "site-a", "machine": "m2", "carrier": "green_power",
                 "jitter": 0, "resets": 1, "rejected": 0}],
            "jitter_steps": 5, "meter_resets": 1, "rejected_jumps": 1,
            # no main incoming meter in this plant: nothing to balance
            "meter_balance": [], "passes_meter_balance": True,
        },
        "methodology": {
            "coefficient_table_version": "2026.2",
            "coefficient_source": "GB/T 2589-2020 Annex A (general principles for calculation "
                                  "of comprehensive energy consumption)",
            "electricity_basis": "equivalent", "natural_gas_basis": "table 2026.2",
            "grid_co2_data_year": 2023, "config_hash": config_hash,
            "data_source": "energy, production (raw batch points)",
            "data_first": "2026-10-01", "data_last": "2026-10-31", "rules": list(RULES),
        },
    }


def _october(loaded: LoadedConfig, source: Source, scope: str = "site-a") -> dict[str, Any]:
    report = build_report(loaded, source, scope_id=scope, period=parse_period("2026-10"),
                          today=TODAY)
    body, digest = report_json(report)
    document = json.loads(body)
    assert document.pop("content_sha256") == digest
    return document


def _numbers(value: Any, path: str = "") -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _numbers(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _numbers(v, f"{path}[{i}]")]
    return [path] if isinstance(value, int | float) and not isinstance(value, bool) else []


def test_every_figure_equals_the_hand_computed_value(loaded: LoadedConfig,
                                                     source: Source) -> None:
    document = _october(loaded, source)
    want = canonical_value(expected(loaded.config_hash))
    for section in want:  # section by section for a readable failure
        assert document[section] == want[section], section
    assert document == want
    assert len(_numbers(document)) > 150  # every one of them compared above


def test_enterprise_report_sums_its_sites(loaded: LoadedConfig, source: Source) -> None:
    document = _october(loaded, source, "ent-a")
    assert document["scope"]["type"] == "enterprise"
    assert document["energy"]["controlled_total_tce"] == round(CONTROLLED_TCE, 6)
    assert document["dual_control"] is None  # the quota is the site's, not the enterprise's


def test_same_inputs_give_the_same_bytes_and_hash(loaded: LoadedConfig, source: Source) -> None:
    period = parse_period("2026-10")
    first, h1 = report_json(build_report(loaded, source, scope_id="site-a", period=period,
                                         today=TODAY))
    second, h2 = report_json(build_report(loaded, source, scope_id="site-a", period=period,
                                          today=TODAY))
    assert first == second and h1 == h2
    assert verify(first)
    tampered = first.replace(b'"controlled_total_tce":6.11258', b'"controlled_total_tce":5.11258')
    assert tampered != first and not verify(tampered)


def test_published_schema_is_current_and_validates_the_report(loaded: LoadedConfig,
                                                              source: Source) -> None:
    published = json.loads((DOCS / "report.schema.json").read_text())
    assert published == report_schema(), "run: plantstream reports schema > docs/report.schema.json"
    body, _ = report_json(build_report(loaded, source, scope_id="site-a",
                                       period=parse_period("2026-10"), today=TODAY))
    jsonschema.Draft202012Validator(published).validate(json.loads(body))
    broken = msgspec.json.decode(body)
    del broken["energy"]["controlled_total_tce"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(published).validate(broken)


def test_a_period_without_a_complete_day_is_refused(loaded: LoadedConfig,
                                                    source: Source) -> None:
    with pytest.raises(ReportInputError, match="no complete local day"):
        build_report(loaded, source, scope_id="site-a", period=parse_period("2026-11-27"),
                     today=TODAY)
    with pytest.raises(ReportInputError, match="unknown site or enterprise") as info:
        build_report(loaded, source, scope_id="nowhere", period=parse_period("2026-10"),
                     today=TODAY)
    assert info.value.status == 404


def test_as_of_cuts_the_period_at_a_local_day(loaded: LoadedConfig, source: Source) -> None:
    report = build_report(loaded, source, scope_id="site-a", period=parse_period("2026-10"),
                          as_of=dt.date(2026, 10, 10), today=TODAY)
    # 1-10 Oct: m1 9 x 1,000 + 500 kWh, m2 10 x 800 kWh
    electricity = next(c for c in report.energy.carriers if c.carrier == "electricity")
    assert electricity.quantity == 9_500 + 8_000
    assert report.period.days == 10
    assert report.financials.prorated
    assert report.financials.value_added_yuan_comparable == pytest.approx(VA_OCT * 10 / 31)


def test_a_year_report_reads_months_and_lists_gaps_by_month(loaded: LoadedConfig,
                                                           source: Source) -> None:
    report = build_report(loaded, source, scope_id="site-a", period=parse_period("2026"),
                          today=TODAY)  # data to 26 November, the last complete day
    assert report.period.data_end.startswith("2026-11-27")
    november = 9_999 * 0.1229 / 1000
    assert report.energy.controlled_total_tce == pytest.approx(YTD + november)
    assert report.dual_control is not None
    assert report.dual_control.monthly_tce == pytest.approx([*MONTHLY, november])
    quality = report.data_quality
    assert quality.gaps_granularity == "month"
    m2 = [g for g in quality.gaps if (g.machine, g.carrier) == ("m2", "electricity")]
    # m2's electricity meter exists from October: the whole year but 1-20 October is missing
    assert [(g.first_day, g.last_day) for g in m2] == [("2026-01-01", "2026-11-26")]
    assert m2[0].missing_s == (330 - 20) * 86_400.0
    oct_check = [c for c in quality.daily_vs_monthly if c.month == "2026-10"]
    assert {c.carrier: c.sum_of_daily for c in oct_check}["electricity"] == ELEC_KWH
    # the meter events of October and of 1 November (7 of each kind on m1 electricity)
    assert [(e.machine, e.carrier, e.jitter, e.resets, e.rejected)
            for e in quality.meter_events] == [("m1", "electricity", 12, 7, 8),
                                               ("m2", "green_power", 0, 1, 0)]
    assert (quality.jitter_steps, quality.meter_resets, quality.rejected_jumps) == (12, 8, 8)


def test_meter_events_are_per_meter_and_scope(loaded: LoadedConfig, source: Source) -> None:
    """site-b's jittering meter is in its own report, never in site-a's; a report
    ending before the events has none."""
    october = parse_period("2026-10")
    site_b = build_report(loaded, source, scope_id="site-b", period=october,
                          today=TODAY).data_quality
    assert [(e.site, e.machine, e.carrier, e.jitter, e.resets, e.rejected)
            for e in site_b.meter_events] == [("site-b", "b1", "electricity", 5, 0, 0)]
    assert (site_b.jitter_steps, site_b.meter_resets, site_b.rejected_jumps) == (5, 0, 0)
    early = build_report(loaded, source, scope_id="site-a", period=october,
                         as_of=dt.date(2026, 10, 4), today=TODAY).data_quality
    assert early.meter_events == []
    assert (early.jitter_steps, early.meter_resets, early.rejected_jumps) == (0, 0, 0)
    ent = build_report(loaded, source, scope_id="ent-a", period=october,
                       today=TODAY).data_quality
    assert sum(e.jitter for e in ent.meter_events) == ent.jitter_steps == 5


def test_config_hash_covers_figures_not_access(config_path: Path) -> None:
    from plantstream.reports import load_report_config

    base = load_report_config(config_path).config_hash
    text = config_path.read_text()
    config_path.write_text(text.replace('id = "ningbo-park"', 'id = "ningbo-park-2"')
                           .replace("per_minute = 6000", "per_minute = 60")
                           .replace('audit_log = "audit.jsonl"',
                                    'audit_log = "audit.jsonl"\nsecurity_log = "sec.jsonl"'))
    assert load_report_config(config_path).config_hash == base  # who may pull: not covered
    plant = config_path.parent / "plant-a.toml"
    plant_text = plant.read_text()
    plant.write_text(plant_text.replace('name = "Alpha Ningbo"\n', 'name = "Alpha Ningbo"\n'
                                        'limits = { long_stop_min = 20.0 }\n', 1)
                     .replace('site = "site-a"\n', 'site = "site-a"\noee_target = 0.8\n', 1))
    assert load_report_config(config_path).plants[0].sites[0].limits.long_stop_min == 20.0
    assert load_report_config(config_path).config_hash == base  # alert thresholds: not covered
    plant.write_text(plant_text)
    config_path.write_text(text.replace("annual_tce = 100.0", "annual_tce = 101.0"))
    assert load_report_config(config_path).config_hash != base  # a quota: covered


def test_a_regulator_verifies_with_the_standard_library(loaded: LoadedConfig,
                                                        source: Source) -> None:
    """The recipe in docs/reports.md, with nothing from PlantStream."""
    import hashlib

    body, digest = report_json(build_report(loaded, source, scope_id="site-a",
                                            period=parse_period("2026-10"), today=TODAY))
    document = json.loads(body)
    claimed = document.pop("content_sha256")
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canonical.encode()).hexdigest() == claimed == digest


def test_a_product_names_lines_of_one_enterprise(config_path: Path) -> None:
    """A report lists a product with its scope's lines only: a boundary line id must be
    a configured line, used by one enterprise."""
    from plantstream.errors import ConfigError
    from plantstream.reports import load_report_config

    text = config_path.read_text()
    config_path.write_text(text.replace('lines = ["line-1"]', 'lines = ["line-9"]'))
    with pytest.raises(ConfigError, match=r"products\[0\]\.lines.*'line-9' is no configured"):
        load_report_config(config_path)
    plant_b = config_path.parent / "plant-b.toml"
    plant_b.write_text(plant_b.read_text().replace('id = "line-b"', 'id = "line-1"')
                       .replace('line = "line-b"', 'line = "line-1"'))
    config_path.write_text(text)
    with pytest.raises(ConfigError, match="'line-1' is used by enterprises ent-a, ent-b"):
        load_report_config(config_path)
