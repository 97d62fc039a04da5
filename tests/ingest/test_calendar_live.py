"""The shift calendar on the live path (`PlantConfig.calendar`): what ingest computes
batch by batch equals a recompute of the whole timeline with the same calendar, per
minute, in both OEE models, breaks, shift ends and stops across them included."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plantstream.analytics import ShiftCalendar, StateModel, timeline_components
from plantstream.calendar import Break, Shift, ShiftPlan
from plantstream.config import PlantConfig, load_plant
from plantstream.edge.readings import StateReading
from plantstream.errors import ConfigError
from tests.ingest.test_stops import CODES, T0, edge_batches, ingest_points, plant, summed

SPAN = 2 * 3_600_000  # T0 is 08:00 in Asia/Shanghai: the timeline is 08:00-10:00 local


def clock(minute: int) -> str:
    return f"{8 + minute // 60:02d}:{minute % 60:02d}"


@st.composite
def calendars(draw: st.DrawFn) -> ShiftPlan:
    start = draw(st.integers(0, 50))
    end = draw(st.integers(start + 20, 119))
    brk = draw(st.integers(start + 1, end - 5))
    return ShiftPlan(shifts=[Shift(name="early", start=clock(start), end=clock(end),
                                   breaks=[Break(start=clock(brk),
                                                 end=clock(brk + draw(st.integers(1, 4))))])])


@st.composite
def timelines(draw: st.DrawFn) -> list[StateReading]:
    readings = []
    for machine in ("m0", "m1"):
        times = draw(st.lists(st.integers(T0 + 1, T0 + SPAN - 1), max_size=60))
        readings.append(StateReading(machine, T0, draw(st.sampled_from(CODES))))
        readings += [StateReading(machine, t, draw(st.sampled_from(CODES)))
                     for t in sorted(times)]
    readings.sort(key=lambda r: r.t_ms)
    return readings


def with_calendar(config: PlantConfig, calendar: ShiftPlan) -> PlantConfig:
    return msgspec.structs.replace(config, calendar=calendar)


@settings(max_examples=20, deadline=None)
@given(readings=timelines(), calendar=calendars(), tpm=st.booleans(),
       threshold_s=st.sampled_from([3.0, 120.0]), flush_ms=st.sampled_from([10_000, 60_000]))
def test_live_components_equal_recompute(readings: list[StateReading], calendar: ShiftPlan,
                                         tpm: bool, threshold_s: float, flush_ms: int) -> None:
    model_name = "tpm" if tpm else "iso22400"
    config = with_calendar(plant(model_name, threshold_s=threshold_s), calendar)
    cal = ShiftCalendar.of(calendar)
    live = summed(ingest_points(edge_batches(readings, flush_ms, T0 + SPAN), config,
                                calendar=cal), 60_000)
    samples = {m: ([r.t_ms for r in readings if r.machine == m],
                   [float(r.state) for r in readings if r.machine == m])
               for m in ("m0", "m1")}
    windows = np.arange(T0, T0 + SPAN + 1, 60_000, dtype=np.int64)
    again = timeline_components(samples, start_ms=T0, end_ms=T0 + SPAN, windows=windows,
                                model=StateModel(config.states),
                                calendar=cal.arrays(T0, T0 + SPAN), oee_model=model_name,
                                minor_stop_threshold_s=threshold_s, open_end=True)
    recomputed = summed([(int(windows[k]), m, tc) for m, per_window in again.items()
                         for k, tc in enumerate(per_window)], 60_000)
    assert live == recomputed


def test_a_break_is_planned_down_on_the_live_path() -> None:
    """Running through a 10-minute break: APT outside it, the break outside PBT."""
    calendar = ShiftPlan(shifts=[Shift(name="early", start="08:00", end="09:00",
                                       breaks=[Break(start="08:20", end="08:30")])])
    config = with_calendar(plant(), calendar)
    points = ingest_points(edge_batches([StateReading("m0", T0, 10000)], 10_000,
                                        T0 + 3_600_000), config,
                           calendar=ShiftCalendar.of(calendar))
    apt = sum(tc.apt_s for _, _, tc in points)
    planned_down = sum(tc.planned_down_s for _, _, tc in points)
    assert (apt, planned_down) == (pytest.approx(3000.0), pytest.approx(600.0))


PLANT_TOML = """
enterprise = {id = "e", name = "E"}
sites = [{id = "s"}]
lines = [{id = "l", site = "s"}]
gateways = [{id = "g", site = "s"}]
machines = [{id = "m0", line = "l", gateway = "g"}]

[calendar]
timezone = "Asia/Shanghai"
[[calendar.shifts]]
name = "early"
start = "08:00"
end = "16:00"
breaks = [{start = "12:00", end = "12:30"}]
"""


def test_plant_file_carries_the_calendar_and_rejects_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "plant.toml"
    path.write_text(PLANT_TOML, encoding="utf-8")
    calendar = load_plant(path).calendar
    assert calendar is not None and calendar.shifts[0].breaks[0].end == "12:30"
    path.write_text(PLANT_TOML.replace('name = "early"', 'name = "early"\nlenght = 8'),
                    encoding="utf-8")
    with pytest.raises(ConfigError, match="lenght"):
        load_plant(path)
