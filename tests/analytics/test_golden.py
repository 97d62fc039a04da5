"""Golden cases: tests/analytics/cases/<name>/{config.toml, input.jsonl, expected.json},
hand computed and readable by a domain expert. KPI values are written as the
fractions they are ("17130/25200 * 500/519") and evaluated here."""

from __future__ import annotations

import datetime as dt
import json
import math
import tomllib
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from plantstream.analytics import (
    dual_control_status,
    kpis,
    load_coefficients,
    merge_time_components,
    six_big_losses,
)
from plantstream.analytics.calendar import ShiftCalendar, window_boundaries
from plantstream.analytics.meters import register_consumption
from plantstream.analytics.recompute import timeline_components
from plantstream.analytics.state_model import StateModel
from plantstream.config import DEFAULT_STATE_MODEL, PlantConfig, convert
from plantstream.ingest.components import batches_components
from plantstream.wire import decode_batch

CASES = Path(__file__).parent / "cases"


def value(expr: Any) -> Any:
    """A number, null, bool, or a product of fractions written as a string."""
    if not isinstance(expr, str):
        return expr
    result = 1.0
    for factor in expr.split("*"):
        num, _, den = factor.partition("/")
        result *= float(num) / (float(den) if den else 1.0)
    return result


def check(got: Any, want: Any, what: str) -> None:
    want = value(want)
    if want is None or isinstance(want, bool):
        assert got == want, what
    else:
        assert got is not None, what
        assert math.isclose(float(got), want, rel_tol=1e-12, abs_tol=1e-9), \
            f"{what}: got {got}, want {want}"


def ms(text: str | dt.datetime) -> int:
    when = dt.datetime.fromisoformat(text) if isinstance(text, str) else text
    return round(when.timestamp() * 1000)


def lines(case: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in
            (case / "input.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]


def load(case: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    config = tomllib.loads((case / "config.toml").read_text(encoding="utf-8"))
    expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    return config, expected


def run_batches(case: Path) -> None:
    config, expected = load(case)
    plant = convert(config["plant"], PlantConfig, source=str(case / "config.toml"))
    batches = [decode_batch(line.encode()) for line in
               (case / "input.jsonl").read_text(encoding="utf-8").splitlines() if line]
    per_batch = batches_components(batches, plant, load_coefficients())
    total = merge_time_components(m.time for rows in per_batch for m in rows)
    for name, want in expected["components"].items():
        check(getattr(total, name), want, f"components.{name}")
    got_kpis = kpis(total)
    for name, want in expected["kpis"].items():
        check(getattr(got_kpis, name), want, f"kpis.{name}")
    losses = six_big_losses(total, model=plant.oee.model)
    for name, want in expected["six_big_losses"].items():
        check(getattr(losses, name), want, f"six_big_losses.{name}")


def run_timeline(case: Path) -> None:
    config, expected = load(case)
    spec = config["case"]
    calendar = convert(config["calendar"], ShiftCalendar, source=str(case))
    start, end = ms(spec["start"]), ms(spec["end"])
    assert spec["windows"] == "local_days"
    windows = window_boundaries(start, end, calendar=calendar, shifts=False)
    samples: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for row in lines(case):
        samples[row["machine"]][0].append(ms(row["t"]))
        samples[row["machine"]][1].append(float(row["state"]))
    result = timeline_components(
        dict(samples), start_ms=start, end_ms=end, windows=windows,
        model=StateModel(DEFAULT_STATE_MODEL),
        calendar=calendar.arrays(start, end), oee_model=spec["model"],
        minor_stop_threshold_s=spec["minor_stop_threshold_s"])
    (components,) = result.values()
    assert len(components) == len(expected["windows"])
    for k, want_window in enumerate(expected["windows"]):
        assert windows[k] == ms(want_window["start"])
        assert windows[k + 1] == ms(want_window["end"])
        for name, want in want_window["components"].items():
            check(getattr(components[k], name), want, f"window {k} {name}")


def run_meter(case: Path) -> None:
    config, expected = load(case)
    spec = config["case"]
    start, end = ms(spec["start"]), ms(spec["end"])
    windows = np.arange(start, end + 1, spec["window_s"] * 1000, dtype=np.int64)
    rows = lines(case)
    t = [ms(r["t"]) for r in rows]
    raw = [math.nan if r["raw"] is None else r["raw"] for r in rows]
    got = register_consumption(t, raw, [0, len(t)], windows=windows, modulus=spec["modulus"],
                               max_gap_ms=spec["max_gap_s"] * 1000)
    table = load_coefficients(grid_year=spec["grid_year"])
    carrier = table.carrier(spec["carrier"])
    assert carrier is not None
    completeness = got.completeness()
    for k, want in enumerate(expected["windows"]):
        assert (windows[k], windows[k + 1]) == (ms(want["start"]), ms(want["end"]))
        check(got.quantity[0, k], want["quantity"], "quantity")
        check(got.covered_ms[0, k] / 1000, want["covered_s"], "covered_s")
        check(completeness[0, k], want["completeness"], "completeness")
        for name in ("rollovers", "resets", "negatives", "gaps"):
            check(int(getattr(got, name)[0, k]), want[name], name)
        check(got.raw_first[0, k], want["raw_first"], "raw_first")
        check(got.raw_last[0, k], want["raw_last"], "raw_last")
        assert math.isclose(got.quantity[0, k] * carrier.kgce_per_unit, want["kgce"],
                            rel_tol=1e-12)
        assert math.isclose(got.quantity[0, k] * carrier.kgco2_per_unit, want["kgco2"],
                            rel_tol=1e-12)


def run_dual_control(case: Path) -> None:
    config, expected = load(case)
    spec = config["case"]
    monthly: dict[str, float] = defaultdict(float)
    for row in lines(case):
        monthly[row["month"]] += row["tce"]
    as_of: dt.date = spec["as_of"]
    months = [monthly.get(f"{spec['year']}-{m:02d}", 0.0) for m in range(1, as_of.month + 1)]
    status = dual_control_status(year=spec["year"], as_of=as_of, monthly_tce=months,
                                 annual_quota_tce=spec["annual_quota_tce"],
                                 intensity=spec["intensity"],
                                 intensity_target=spec["intensity_target"])
    for name in ("ytd_tce", "share_elapsed", "allowance_to_date_tce",
                 "projected_year_end_tce", "intensity_ratio"):
        check(getattr(status, name), expected[name], name)
    assert status.projection_method == expected["projection_method"]
    assert status.projected_crossing_date == dt.date.fromisoformat(
        expected["projected_crossing_date"])
    assert status.warning_level == expected["warning_level"]


RUNNERS = {"batches": run_batches, "timeline": run_timeline, "meter": run_meter,
           "dual_control": run_dual_control}


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_golden_case(case: str) -> None:
    kind = tomllib.loads((CASES / case / "config.toml").read_text(encoding="utf-8"))[
        "case"]["kind"]
    RUNNERS[kind](CASES / case)
