"""Calendars (tz-aware boundaries, shifts crossing midnight, breaks, planned downtime)
and the state model (exact codes over UMH-style ranges, unknown is a loss)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plantstream.analytics import _kernels as K
from plantstream.analytics.calendar import (
    Break,
    PlannedDowntime,
    Shift,
    ShiftCalendar,
    window_boundaries,
)
from plantstream.analytics.state_model import ELEMENT_COLUMN, StateModel
from plantstream.config import DEFAULT_STATE_MODEL, StateDef, convert
from plantstream.errors import ConfigError

SH = ZoneInfo("Asia/Shanghai")


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, *,
       zone: ZoneInfo = SH) -> int:
    return round(dt.datetime(year, month, day, hour, minute, tzinfo=zone).timestamp() * 1000)


def kind_at(calendar: ShiftCalendar, t: int, t0: int, t1: int) -> int:
    arrays = calendar.arrays(t0, t1)
    return int(arrays.kind[np.searchsorted(arrays.t_ms, t, side="right") - 1])


def test_night_shift_break_and_planned_downtime() -> None:
    calendar = ShiftCalendar(
        shifts=[Shift(name="night", start="22:00", end="06:00",
                      breaks=[Break(start="02:00", end="02:30")])],
        planned_downtime=[PlannedDowntime(start=dt.datetime(2026, 3, 2, 4, 0),
                                          end=dt.datetime(2026, 3, 2, 5, 0))])
    t0, t1 = ms(2026, 3, 1, 12), ms(2026, 3, 2, 12)
    assert kind_at(calendar, ms(2026, 3, 1, 21, 59), t0, t1) == K.CAL_NOT_PLANNED
    assert kind_at(calendar, ms(2026, 3, 1, 22, 0), t0, t1) == K.CAL_PLANNED
    assert kind_at(calendar, ms(2026, 3, 2, 0, 0), t0, t1) == K.CAL_PLANNED
    assert kind_at(calendar, ms(2026, 3, 2, 2, 15), t0, t1) == K.CAL_PLANNED_DOWN
    assert kind_at(calendar, ms(2026, 3, 2, 2, 30), t0, t1) == K.CAL_PLANNED
    assert kind_at(calendar, ms(2026, 3, 2, 4, 30), t0, t1) == K.CAL_PLANNED_DOWN
    assert kind_at(calendar, ms(2026, 3, 2, 6, 0), t0, t1) == K.CAL_NOT_PLANNED


def test_weekdays_only() -> None:
    calendar = ShiftCalendar(shifts=[Shift(name="day", start="08:00", end="17:00",
                                           weekdays=[1, 2, 3, 4, 5])])
    saturday = ms(2026, 3, 7, 10)
    assert kind_at(calendar, saturday, saturday - 1, saturday + 1) == K.CAL_NOT_PLANNED
    monday = ms(2026, 3, 9, 10)
    assert kind_at(calendar, monday, monday - 1, monday + 1) == K.CAL_PLANNED


def test_window_boundaries_are_local_days_months_and_shifts() -> None:
    calendar = ShiftCalendar(shifts=[Shift(name="a", start="06:00", end="18:00"),
                                     Shift(name="b", start="18:00", end="06:00")])
    t0, t1 = ms(2026, 1, 31, 0), ms(2026, 2, 2, 0)
    bounds = window_boundaries(t0, t1, calendar=calendar).tolist()
    assert bounds == [ms(2026, 1, 31, 0), ms(2026, 1, 31, 6), ms(2026, 1, 31, 18),
                      ms(2026, 2, 1, 0), ms(2026, 2, 1, 6), ms(2026, 2, 1, 18),
                      ms(2026, 2, 2, 0)]
    utc_midnight = round(dt.datetime(2026, 2, 1, tzinfo=dt.UTC).timestamp() * 1000)
    assert utc_midnight not in bounds  # 08:00 in Shanghai


def test_daylight_saving_day_has_23_hours() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    calendar = ShiftCalendar(timezone="Europe/Berlin")
    t0, t1 = ms(2026, 3, 28, 0, zone=berlin), ms(2026, 3, 31, 0, zone=berlin)
    bounds = window_boundaries(t0, t1, calendar=calendar)
    assert np.diff(bounds).tolist() == [24 * 3_600_000, 23 * 3_600_000, 24 * 3_600_000]


def test_calendar_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        convert({"shifts": [{"name": "a", "start": "25:00", "end": "06:00"}]},
                ShiftCalendar, source="plant.toml")
    assert "HH:MM" in str(info.value)
    with pytest.raises(ConfigError) as info:
        convert({"timezone": "Mars/Olympus"}, ShiftCalendar, source="plant.toml")
    assert info.value.key == "timezone"
    with pytest.raises(ConfigError) as info:
        convert({"shift": []}, ShiftCalendar, source="plant.toml")
    assert info.value.key == "shift"


def test_umh_ranges_with_exact_codes_on_top() -> None:
    model = StateModel.umh([StateDef(code=150000, name="lunch", element="ADOT")])
    assert model.element(10500) == ("APT", True)
    assert model.element(35000) == ("ADET", False)  # unknown category: a loss
    assert model.element(45000) == ("ADET", True) and model.minor_stop_candidate(45000)
    assert model.element(150000) == ("ADOT", True)  # exact code wins over the range
    assert model.element(150001) == ("PLANNED_DOWN", True)
    assert model.element(165000) == ("NOT_PLANNED", True)
    assert model.element(175000) == ("ADOT", True)
    assert model.element(215000) == ("PLANNED_DOWN", True)
    assert model.element(999999) == ("ADET", False)


@settings(max_examples=200, deadline=None)
@given(code=st.one_of(st.integers(0, 250_000),
                      st.sampled_from([c.code for c in DEFAULT_STATE_MODEL])),
       umh=st.booleans())
def test_compiled_table_agrees_with_the_model(code: int, umh: bool) -> None:
    model = StateModel.umh(DEFAULT_STATE_MODEL) if umh else StateModel(DEFAULT_STATE_MODEL)
    column, minor = K._lookup(float(code), *(lambda t: (t.low, t.high, t.column, t.minor))(
        model.table()))
    element, known = model.element(code)
    assert column == (ELEMENT_COLUMN[element] if known else K.COL_UNKNOWN)
    assert minor == model.minor_stop_candidate(code)


def test_state_model_file(tmp_path: Path) -> None:
    from plantstream.analytics.state_model import load_state_model
    path = tmp_path / "states.toml"
    path.write_text('umh_ranges = true\n'
                    'states = [{ code = 10001, name = "warm_up", element = "ASUT" }]\n'
                    '[[ranges]]\nlow = 300000\nhigh = 300099\nname = "vendor_x_stops"\n'
                    'element = "ADET"\nminor_stop_candidate = true\n', encoding="utf-8")
    model = load_state_model(path)
    assert model.element(10001) == ("ASUT", True)
    assert model.element(10002) == ("APT", True)
    assert model.element(300050) == ("ADET", True) and model.minor_stop_candidate(300050)
    path.write_text('umh_ranges = true\n[[ranges]]\nlow = 1\nhigh = 2\nname = "x"\n'
                    'element = "RUNNING"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_state_model(path)
    assert info.value.key.startswith("ranges[0].element")
