"""For a handful of panels, the value the panel's query returns equals what the
analytics API computes from the stored components for the same window and machines
(KPIs as ratios of sums, `analytics.kpis` over `merge_time_components`), or what the
edge reports (the cut-off gateway's backlog)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from plantstream.analytics import TimeComponents, kpis, load_coefficients, merge_time_components
from plantstream.dashboards import ALL, DashboardSettings, TimeRange, build_all, run_dashboard
from plantstream.dashboards.execute import TargetResult
from tests.dashboards.shift import CUT_OFF_GATEWAY, Shift

pytestmark = [pytest.mark.services, pytest.mark.slow]

MODELS = build_all(DashboardSettings())
TIME_FIELDS = ("interval_s", "pot_s", "planned_down_s", "pbt_s", "apt_s", "asut_s", "adet_s",
               "adot_s", "unknown_s", "minor_stop_s", "minor_stops", "pq", "gq", "sq", "rq",
               "pru_pq_s", "pru_gq_s")


def _panel(name: str, shift: Shift, title: str, selection: Mapping[str, Sequence[str] | str],
           window: TimeRange) -> list[TargetResult]:
    results = [r for r in run_dashboard(MODELS[name], shift.client, time_range=window,
                                        selection=selection) if r.panel["title"] == title]
    assert results, f"no panel {title!r} in {name}"
    return results


def _stored_components(shift: Shift, window: TimeRange, machines: set[str]) -> TimeComponents:
    """Every stored component row of the machines in the window, summed in Python."""
    fields = ", ".join(f'"{f}"' for f in TIME_FIELDS)
    rows = [row for s in shift.client.query(
        f'SELECT {fields}, "machine"::tag FROM "oee_components" WHERE '
        f'time >= {window.from_ms}ms AND time <= {window.to_ms}ms') for row in s.rows()]
    # minor-stop correction rows carry only the fields they change: the rest is 0
    parts = [TimeComponents(**{f: row[f] or 0 for f in TIME_FIELDS}) for row in rows
             if row["machine"] in machines]
    assert len(parts) > 100  # a shift of 10 s batches
    return merge_time_components(parts)


def test_line_oee_for_the_shift_equals_the_analytics(shift: Shift) -> None:
    plant = shift.result.plant
    by_line = {row["line"]: row for r in _panel(
        "plant-overview.json", shift, "OEE by line",
        {"site": ALL, "line": ALL, "machine": ALL}, shift.shift_range)
        for s in r.series for row in [{**s.tags, **s.rows()[0]}]}
    assert set(by_line) == {line.id for line in plant.lines}
    for line in plant.lines:
        machines = {m.id for m in plant.machines if m.line == line.id}
        expected = kpis(_stored_components(shift, shift.shift_range, machines))
        row = by_line[line.id]
        assert expected.oee is not None and 0.2 < expected.oee < 1.0
        assert row["availability"] == pytest.approx(expected.availability, rel=1e-9)
        assert row["performance"] == pytest.approx(expected.effectiveness, rel=1e-9)
        assert row["quality"] == pytest.approx(expected.quality, rel=1e-9)
        assert row["oee"] == pytest.approx(expected.oee, rel=1e-9), line.id
    # the OEE stat with one line selected shows the same number
    stat = _panel("plant-overview.json", shift, "OEE",
                  {"site": ALL, "line": ["line-1"], "machine": ALL}, shift.shift_range)
    assert stat[0].series[0].values[0][1] == pytest.approx(by_line["line-1"]["oee"], rel=1e-9)


def test_energy_today_equals_quantities_times_coefficients(shift: Shift) -> None:
    """The panel looks at today (`now/d`, plant time) with `now` at the end of the shift."""
    tz = ZoneInfo(shift.timezone)
    end = shift.shift_end_ms
    day_start = dt.datetime.fromtimestamp((end - 1) / 1000, tz).replace(
        hour=0, minute=0, second=0, microsecond=0)
    results = _panel("plant-overview.json", shift, "Energy today",
                     {"site": ALL, "line": ALL, "machine": ALL}, shift.shift_range)
    assert {r.time_range for r in results} == {TimeRange(int(day_start.timestamp() * 1000),
                                                          end)}
    values = {r.columns[0]: r.series[0].values[0][1] for r in results}
    window = results[0].time_range
    table = load_coefficients()
    kgce = kwh = 0.0
    for s in shift.client.query(
            'SELECT "quantity", "carrier"::tag FROM "energy" WHERE '
            f'time >= {window.from_ms}ms AND time <= {window.to_ms}ms'):
        for row in s.rows():
            carrier = table.carrier(row["carrier"])
            assert carrier is not None, row["carrier"]
            kgce += row["quantity"] * carrier.kgce_per_unit
            kwh += row["quantity"] if row["carrier"] == "electricity" else 0.0
    assert kwh > 100  # six machines for a shift
    assert values["electricity"] == pytest.approx(kwh, rel=1e-9)
    assert values["kgce"] == pytest.approx(kgce, rel=1e-9)


def _by_gateway(results: list[TargetResult], column: str) -> dict[str, Any]:
    return {s.tags["gateway"]: s.rows()[-1][column] for r in results for s in r.series
            if column in s.columns}


def test_backlog_of_the_cut_off_gateway_is_what_the_gateway_reports(shift: Shift) -> None:
    selection = {"site": ALL, "gateway": ALL}
    cut_off = shift.cut_off
    assert cut_off.backlog_batches >= 30 and cut_off.outages >= 1
    health = _panel("gateways-ingest.json", shift, "Gateways: link health", selection,
                    shift.wall_range)
    assert _by_gateway(health, "backlog")[CUT_OFF_GATEWAY] == cut_off.backlog_batches
    assert _by_gateway(health, "outages")[CUT_OFF_GATEWAY] == cut_off.outages
    assert _by_gateway(health, "backlog age")[CUT_OFF_GATEWAY] == pytest.approx(
        cut_off.backlog_age_s)
    series = _panel("gateways-ingest.json", shift, "Backlog", selection, shift.wall_range)
    latest = [v for r in series if r.ref == "A" for s in r.series
              if s.tags["gateway"] == CUT_OFF_GATEWAY for v in s.column("batches")
              if v is not None][-1]
    # the chart shows the largest backlog of each bucket; the last bucket holds the report
    assert latest >= cut_off.backlog_batches


def test_dead_letters_are_counted_by_reason(shift: Shift) -> None:
    results = _panel("gateways-ingest.json", shift, "Dead letters by reason",
                     {"site": ALL, "gateway": ALL}, shift.wall_range)
    counted = {s.tags["reason"]: sum(s.column("dead letters")) for s in results[0].series}
    # the malformed messages the fixture published (the pipeline itself may add others,
    # e.g. future_timestamp when its simulated clock overshoots on a loaded machine)
    assert (counted.get("bad_json"), counted.get("invalid_field")) == (2, 1)
    stored = shift.client.scalar('SELECT count("count") FROM "dead_letter"')
    assert sum(counted.values()) == stored
    latest = _panel("gateways-ingest.json", shift, "Latest dead letters",
                    {"site": ALL, "gateway": ALL}, shift.wall_range)
    assert len(latest[0].series[0].values) == min(stored, 100)


def test_dual_control_status_is_the_analytics_warning(shift: Shift) -> None:
    results = _panel("plant-overview.json", shift, "Dual control",
                     {"site": ALL, "line": ALL, "machine": ALL}, shift.shift_range)
    row = results[0].series[0].rows()[0]
    # the fixture's run rate ends the year 4 % above the quota: orange (code 2)
    assert row["warning"] == 2
    assert row["projected year end"] == pytest.approx(row["annual quota"] * 1.04, rel=1e-9)
    assert 0 < row["year to date"] <= row["projected year end"]


def test_jurisdiction_panels_show_the_hand_computed_evaluation(shift: Shift) -> None:
    """The Each Mu dashboard shows what the jurisdiction report computed
    (tests/reports/test_each_mu.py has the hand computation)."""
    name, selection = "jurisdiction-each-mu.json", {"jurisdiction": "county-x"}
    [classes] = _panel(name, shift, "Enterprises by class", selection, shift.shift_range)
    [row] = classes.series[0].values
    assert row[1:] == [1, 2, 0, 2, 1]  # A, B, C, D, not evaluable
    [ranking] = _panel(name, shift, "Ranking", selection, shift.shift_range)
    by_enterprise = {s.tags["enterprise"]: dict(zip(s.columns, s.values[0], strict=True))
                     for s in ranking.series}
    assert {e: (r["rank"], r["score"], r["class"]) for e, r in by_enterprise.items()} == {
        "ent-1": (1, 150.0, "A"), "ent-4": (2, 109.5, "B"), "ent-3": (3, 100.0, "B"),
        "ent-2": (4, 75.5, "D"), "ent-5": (5, 56.666667, "D"), "ent-6": (None, None, None)}
    assert by_enterprise["ent-5"]["tax / mu"] == 10.0
    assert "site-6 land_area_mu" in by_enterprise["ent-6"]["missing"]
    [headroom] = _panel(name, shift, "Energy headroom", selection, shift.shift_range)
    values = dict(zip(headroom.series[0].columns, headroom.series[0].values[0], strict=True))
    assert values["quota"] == 12000.0 and values["warning"] == 1  # yellow
    assert values["headroom to date"] == pytest.approx(12000 - 921.75)


def test_chinese_dashboards_show_the_same_figures(shift: Shift) -> None:
    """The Chinese dashboards run the same queries (only the column names are Chinese):
    every panel of both languages returns the same values, column for column."""
    chinese_models = build_all(DashboardSettings(), "zh-CN")
    selection = {"site": ALL, "line": ALL, "machine": ALL}
    for name in ("plant-overview.json", "energy-dual-control.json"):
        english = run_dashboard(MODELS[name], shift.client, time_range=shift.shift_range,
                                selection=selection)
        chinese = run_dashboard(chinese_models[name], shift.client,
                                time_range=shift.shift_range, selection=selection)
        assert len(english) == len(chinese)
        compared = 0
        for en, zh in zip(english, chinese, strict=True):
            assert len(en.columns) == len(zh.columns) and en.columns != zh.columns, en.title
            assert [s.tags for s in en.series] == [s.tags for s in zh.series]
            for en_series, zh_series in zip(en.series, zh.series, strict=True):
                assert en_series.values == zh_series.values, (en.title, zh.title)
                compared += len(en_series.values)
        assert compared > 10, name
    # the warning level reads 预警等级 with the official colour names
    (dual,) = [p for p in chinese_models["plant-overview.json"]["panels"]
               if p["title"] == "能耗双控"]
    (warning,) = [o for o in dual["fieldConfig"]["overrides"]
                  if o["matcher"]["options"] == "预警等级"]
    (mapping,) = [p["value"] for p in warning["properties"] if p["id"] == "mappings"]
    assert [o["text"] for o in mapping[0]["options"].values()] == ["绿", "黄", "橙", "红"]
