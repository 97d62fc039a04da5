"""Energy "dual control": year-to-date total against the annual quota, the allowance to
date, a projected year-end total, intensity against its target, and a warning level.

Projection method (also in docs/analytics.md):

* the *share of the year elapsed* at the end of `as_of` is, straight line, the days
  elapsed (1 January to `as_of` inclusive) over the days of the year; with a seasonal
  profile (12 monthly weights, normalised to sum 1) it is the weights of the complete
  months before `as_of` plus the weight of the current month times the share of its
  days elapsed;
* allowance to date = annual quota x share elapsed;
* projected year-end = year-to-date / share elapsed (a run-rate projection along the
  same profile: the rest of the year continues at the pace seen so far). When the
  seasonal share is 0 the straight-line share is used and the method says so;
* projected crossing date: the first day on which the projected cumulative curve
  (projected year-end x share elapsed at that day) reaches the quota, if it does.

Warning level (`WarningThresholds`, defaults yellow 0.90, orange 1.00, red 1.10), from
the ratios projected / quota and intensity / intensity target (the larger counts):
green when both are at or below `yellow`; yellow above `yellow`; orange above
`orange` (the projection crosses the quota or the intensity exceeds its target); red
above `red`, or whenever the year-to-date total already exceeds the quota.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from plantstream.analytics.errors import AnalyticsInputError

__all__ = [
    "DEFAULT_THRESHOLDS",
    "DualControlStatus",
    "WarningLevel",
    "WarningThresholds",
    "dual_control_status",
    "year_share_elapsed",
]

WarningLevel = Literal["green", "yellow", "orange", "red"]
_LEVELS: tuple[WarningLevel, ...] = ("green", "yellow", "orange", "red")


@dataclass(frozen=True, slots=True, kw_only=True)
class WarningThresholds:
    """Ratios (value / limit) above which the level rises."""

    yellow: float = 0.90
    orange: float = 1.00
    red: float = 1.10

    def __post_init__(self) -> None:
        if not 0 < self.yellow <= self.orange <= self.red:
            raise AnalyticsInputError(field="thresholds",
                                      reason="need 0 < yellow <= orange <= red")


DEFAULT_THRESHOLDS = WarningThresholds()


@dataclass(frozen=True, slots=True, kw_only=True)
class DualControlStatus:
    year: int
    as_of: dt.date
    ytd_tce: float
    annual_quota_tce: float
    share_elapsed: float  # of the year (straight line or seasonal), at the end of as_of
    allowance_to_date_tce: float
    ytd_minus_allowance_tce: float  # > 0: ahead of the allowance
    projected_year_end_tce: float
    projection_method: str
    projection_ratio: float  # projected / quota
    projected_crossing_date: dt.date | None  # first day the projection reaches the quota
    intensity: float | None
    intensity_target: float | None
    intensity_ratio: float | None
    warning_level: WarningLevel
    reasons: tuple[str, ...]  # why the level is not green, readable


def _days_in_year(year: int) -> int:
    return 366 if calendar.isleap(year) else 365


def year_share_elapsed(day: dt.date, profile: Sequence[float] | None = None) -> float:
    """Share of the year elapsed at the end of `day` (straight line or seasonal).

    `profile` must already be normalised (12 weights summing to 1) when given.
    """
    if profile is None:
        return day.timetuple().tm_yday / _days_in_year(day.year)
    month_days = calendar.monthrange(day.year, day.month)[1]
    return math.fsum(profile[: day.month - 1]) + profile[day.month - 1] * day.day / month_days


def _normalised_profile(seasonal_profile: Sequence[float]) -> list[float]:
    weights = [float(w) for w in seasonal_profile]
    if len(weights) != 12:
        raise AnalyticsInputError(field="seasonal_profile",
                                  reason=f"needs 12 monthly weights, got {len(weights)}")
    for i, w in enumerate(weights):
        if not math.isfinite(w) or w < 0:
            raise AnalyticsInputError(field=f"seasonal_profile[{i}]",
                                      reason=f"{w} is not a non-negative number")
    total = math.fsum(weights)
    if total <= 0:
        raise AnalyticsInputError(field="seasonal_profile", reason="weights sum to 0")
    return [w / total for w in weights]


def _crossing_date(year: int, projected: float, quota: float,
                   profile: Sequence[float] | None) -> dt.date | None:
    if projected <= quota:
        return None
    day = dt.date(year, 1, 1)
    while day.year == year:
        if projected * year_share_elapsed(day, profile) >= quota:
            return day
        day += dt.timedelta(days=1)
    return dt.date(year, 12, 31)  # rounding at the very end of the year


def dual_control_status(*, year: int, as_of: dt.date, monthly_tce: Sequence[float],
                        annual_quota_tce: float,
                        seasonal_profile: Sequence[float] | None = None,
                        intensity: float | None = None,
                        intensity_target: float | None = None,
                        thresholds: WarningThresholds = DEFAULT_THRESHOLDS,
                        ) -> DualControlStatus:
    """Dual-control status of one enterprise (or site) for `year`, at the end of `as_of`.

    `monthly_tce[i]` is the consumption (tce) of month i+1; the list runs from January
    to the month of `as_of` (its last entry is that month to date), so its length is
    `as_of.month`.
    """
    if as_of.year != year:
        raise AnalyticsInputError(field="as_of", reason=f"{as_of} is not in {year}")
    if not math.isfinite(annual_quota_tce) or annual_quota_tce <= 0:
        raise AnalyticsInputError(field="annual_quota_tce",
                                  reason=f"{annual_quota_tce} is not a positive number")
    months = [float(x) for x in monthly_tce]
    if len(months) != as_of.month:
        raise AnalyticsInputError(
            field="monthly_tce",
            reason=f"{len(months)} months given; January to {as_of:%B} is {as_of.month}")
    for i, x in enumerate(months):
        if not math.isfinite(x) or x < 0:
            raise AnalyticsInputError(field=f"monthly_tce[{i}]",
                                      reason=f"{x} is not a non-negative number (missing?)")
    profile = _normalised_profile(seasonal_profile) if seasonal_profile is not None else None
    ytd = math.fsum(months)
    share = year_share_elapsed(as_of, profile)
    method = "seasonal_run_rate" if profile is not None else "straight_line_run_rate"
    projection_profile = profile
    if share <= 0:  # seasonal weights put nothing before as_of: no pace to extrapolate
        projection_profile = None
        method = "straight_line_run_rate (seasonal share to date is 0)"
        projection_share = year_share_elapsed(as_of)
    else:
        projection_share = share
    projected = ytd / projection_share
    allowance = annual_quota_tce * share
    projection_ratio = projected / annual_quota_tce

    intensity_ratio: float | None = None
    if intensity is not None and intensity_target is not None and math.isfinite(intensity) \
            and math.isfinite(intensity_target) and intensity_target > 0:
        intensity_ratio = intensity / intensity_target

    level = 0
    reasons: list[str] = []

    def raise_to(new: int, reason: str) -> None:
        nonlocal level
        level = max(level, new)
        reasons.append(reason)

    for name, ratio in (("projected year-end / quota", projection_ratio),
                        ("intensity / target", intensity_ratio)):
        if ratio is None:
            continue
        for new, limit in ((3, thresholds.red), (2, thresholds.orange),
                           (1, thresholds.yellow)):
            if ratio > limit:
                raise_to(new, f"{name} = {ratio:.3f} > {limit:.2f} ({_LEVELS[new]})")
                break
    if ytd > annual_quota_tce:
        raise_to(3, f"year-to-date {ytd:.1f} tce already exceeds the quota "
                    f"{annual_quota_tce:.1f} tce (red)")
    return DualControlStatus(
        year=year, as_of=as_of, ytd_tce=ytd, annual_quota_tce=annual_quota_tce,
        share_elapsed=share, allowance_to_date_tce=allowance,
        ytd_minus_allowance_tce=ytd - allowance, projected_year_end_tce=projected,
        projection_method=method, projection_ratio=projection_ratio,
        projected_crossing_date=_crossing_date(year, projected, annual_quota_tce,
                                               projection_profile),
        intensity=intensity, intensity_target=intensity_target,
        intensity_ratio=intensity_ratio, warning_level=_LEVELS[level],
        reasons=tuple(reasons))
