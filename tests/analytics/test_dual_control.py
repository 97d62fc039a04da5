"""Dual control: allowance, projection, crossing date and warning levels."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plantstream.analytics import AnalyticsInputError, WarningThresholds, dual_control_status


def status(months: list[float], quota: float, as_of: dt.date, **kwargs: object):  # type: ignore[no-untyped-def]
    return dual_control_status(year=as_of.year, as_of=as_of, monthly_tce=months,
                               annual_quota_tce=quota, **kwargs)  # type: ignore[arg-type]


def test_on_track_is_green() -> None:
    s = status([700.0] * 6, 10_000.0, dt.date(2026, 6, 30))
    assert s.projected_year_end_tce == pytest.approx(4200 * 365 / 181)
    assert s.projection_ratio < 0.9
    assert s.warning_level == "green" and s.reasons == ()
    assert s.projected_crossing_date is None


@pytest.mark.parametrize(("ratio", "level"), [(0.85, "green"), (0.95, "yellow"),
                                              (1.05, "orange"), (1.15, "red")])
def test_warning_thresholds(ratio: float, level: str) -> None:
    # as of 2 July 2026, day 183 of 365; projected / quota = ratio
    ytd = ratio * 10_000.0 * 183 / 365
    s = status([ytd / 7] * 7, 10_000.0, dt.date(2026, 7, 2))
    assert s.projection_ratio == pytest.approx(ratio)
    assert s.warning_level == level


def test_intensity_above_target_raises_the_level() -> None:
    s = status([800.0] * 6, 10_000.0, dt.date(2026, 6, 30), intensity=0.56,
               intensity_target=0.50)
    assert s.intensity_ratio == pytest.approx(1.12)
    assert s.warning_level == "red"
    assert any("intensity" in r for r in s.reasons)


def test_quota_already_exceeded_is_red_whatever_the_thresholds() -> None:
    s = status([6000.0, 5000.0], 10_000.0, dt.date(2026, 2, 28),
               thresholds=WarningThresholds(yellow=50, orange=60, red=70))
    assert s.warning_level == "red"
    assert any("already exceeds" in r for r in s.reasons)


def test_seasonal_profile_allowance_and_projection() -> None:
    profile = [2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2]  # heating months weigh double
    s = status([1250.0, 1250.0], 10_000.0, dt.date(2026, 2, 28), seasonal_profile=profile)
    assert s.share_elapsed == pytest.approx(4 / 16)
    assert s.allowance_to_date_tce == pytest.approx(2500.0)
    assert s.projected_year_end_tce == pytest.approx(10_000.0)
    assert s.projection_method == "seasonal_run_rate"
    assert s.warning_level == "yellow"  # 1.0 is above 0.90 but not above 1.00


def test_zero_seasonal_share_falls_back_to_straight_line() -> None:
    profile = [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    s = status([100.0], 10_000.0, dt.date(2026, 1, 31), seasonal_profile=profile)
    assert s.projection_method.startswith("straight_line_run_rate")
    assert s.projected_year_end_tce == pytest.approx(100.0 * 365 / 31)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"monthly_tce": [1.0, 2.0]}, "monthly_tce"),
    ({"monthly_tce": [math.nan]}, "monthly_tce[0]"),
    ({"annual_quota_tce": 0.0}, "annual_quota_tce"),
    ({"as_of": dt.date(2025, 1, 31)}, "as_of"),
    ({"seasonal_profile": [1.0] * 11}, "seasonal_profile"),
])
def test_invalid_input_names_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"year": 2026, "as_of": dt.date(2026, 1, 31),
                               "monthly_tce": [1.0], "annual_quota_tce": 100.0}
    args.update(kwargs)
    with pytest.raises(AnalyticsInputError) as info:
        dual_control_status(**args)  # type: ignore[arg-type]
    assert info.value.field == field


@settings(max_examples=200, deadline=None)
@given(day=st.dates(dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
       pace=st.floats(0.1, 100.0), quota=st.floats(100.0, 1e5),
       profile=st.one_of(st.none(), st.lists(st.floats(0.1, 5.0), min_size=12, max_size=12)))
def test_projection_is_consistent(day: dt.date, pace: float, quota: float,
                                  profile: list[float] | None) -> None:
    """allowance / quota = share; projection x share = ytd; the crossing date is the
    first day the projected curve reaches the quota."""
    months = [pace] * day.month
    s = status(months, quota, day, seasonal_profile=profile)
    assert s.allowance_to_date_tce == pytest.approx(quota * s.share_elapsed)
    assert s.projected_year_end_tce * s.share_elapsed == pytest.approx(s.ytd_tce)
    if s.projected_year_end_tce > quota:
        assert s.projected_crossing_date is not None
        assert s.warning_level in ("orange", "red")
    else:
        assert s.projected_crossing_date is None
