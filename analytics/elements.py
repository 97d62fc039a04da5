"""Time elements from machine states, for many machines and windows at once.

Public, typed wrapper of the `time_elements` kernel: validates and converts the
inputs, runs the kernel, and wraps the integer-millisecond totals (`ElementTotals`),
which fold into `TimeComponents` per machine and window under the ISO 22400 or the
TPM model. Sums are integer milliseconds, so results are exact and merge exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from plantstream.analytics import _kernels as K
from plantstream.analytics.calendar import CalendarArrays
from plantstream.analytics.errors import AnalyticsInputError
from plantstream.analytics.records import TimeComponents
from plantstream.analytics.state_model import StateModel, StateTable

__all__ = [
    "FOREVER_MS",
    "ElementTotals",
    "OeeModel",
    "StateCarry",
    "fold_time_components",
    "time_element_ms",
]

OeeModel = Literal["iso22400", "tpm"]

# "A state holds until the next change": change streams never have gaps.
FOREVER_MS: Final = 1 << 62

ArrayLike = npt.ArrayLike


@dataclass(frozen=True, slots=True)
class StateCarry:
    """The open run of each series between chunks (updated in place by the kernel)."""

    valid: npt.NDArray[np.int8]
    start_ms: npt.NDArray[np.int64]
    last_ms: npt.NDArray[np.int64]
    code: npt.NDArray[np.float64]

    @staticmethod
    def empty(n_series: int) -> StateCarry:
        return StateCarry(valid=np.zeros(n_series, np.int8),
                          start_ms=np.zeros(n_series, np.int64),
                          last_ms=np.zeros(n_series, np.int64),
                          code=np.full(n_series, np.nan))


def fold_time_components(ms: npt.NDArray[np.int64] | Sequence[int],
                         model: OeeModel = "iso22400") -> TimeComponents:
    """TimeComponents of one accumulator row (`N_COLS` integer milliseconds)."""
    v: list[int] = ms.tolist() if isinstance(ms, np.ndarray) else list(ms)
    minor = v[K.COL_MINOR]
    apt = v[K.COL_APT] + (minor if model == "tpm" else 0)
    adet = (v[K.COL_ADET] + v[K.COL_UNKNOWN] + v[K.COL_MISSING]
            + (minor if model == "iso22400" else 0))
    interval = sum(v[: K.N_TIME_COLS])
    pot = interval - v[K.COL_NOT_PLANNED]
    pbt = pot - v[K.COL_PLANNED_DOWN]
    return TimeComponents(
        interval_s=interval / 1000.0, pot_s=pot / 1000.0,
        planned_down_s=v[K.COL_PLANNED_DOWN] / 1000.0, pbt_s=pbt / 1000.0,
        apt_s=apt / 1000.0, asut_s=v[K.COL_ASUT] / 1000.0, adet_s=adet / 1000.0,
        adot_s=v[K.COL_ADOT] / 1000.0,
        unknown_s=(v[K.COL_UNKNOWN] + v[K.COL_MISSING]) / 1000.0,
        minor_stop_s=minor / 1000.0, minor_stops=v[K.COL_MINOR_COUNT],
        missing_s=v[K.COL_MISSING] / 1000.0,
        apt_outside_plan_s=v[K.COL_APT_OUTSIDE_PLAN] / 1000.0)


@dataclass(frozen=True, slots=True)
class ElementTotals:
    """Milliseconds per (series, window, column); columns are the `_kernels.COL_*`."""

    windows: npt.NDArray[np.int64]  # boundaries, K + 1
    ms: npt.NDArray[np.int64]  # (series, K, N_COLS)

    def time_components(self, series: int, window: int | None = None, *,
                        model: OeeModel = "iso22400") -> TimeComponents:
        """Components of one series in one window (all windows when None)."""
        row = self.ms[series].sum(axis=0) if window is None else self.ms[series, window]
        return fold_time_components(row, model)

    def total(self, *, model: OeeModel = "iso22400") -> TimeComponents:
        return fold_time_components(self.ms.sum(axis=(0, 1)), model)


def _table(model: StateModel | StateTable) -> StateTable:
    return model.table() if isinstance(model, StateModel) else model


def time_element_ms(t_ms: ArrayLike, codes: ArrayLike, segments: ArrayLike, *,
                    windows: ArrayLike, model: StateModel | StateTable,
                    calendar: CalendarArrays | None = None,
                    seg_start: ArrayLike | None = None, seg_end: ArrayLike | None = None,
                    seg_since: ArrayLike | None = None, open_end: bool = False,
                    max_hold_ms: int = FOREVER_MS, minor_stop_threshold_s: float = 120.0,
                    t_base_ms: int = 0, carry: StateCarry | None = None,
                    final: bool = True, out: ElementTotals | None = None,
                    check: bool = True) -> ElementTotals:
    """Integer milliseconds per time element for every series and window.

    `t_ms` (epoch ms, or offsets from `t_base_ms`) and `codes` (state codes; NaN is a
    missing sample) are the samples or state changes of all series back to back;
    series `s` is `[segments[s], segments[s + 1])`, sorted by time. A sample holds its
    state until the next one, at most `max_hold_ms`. Series `s` covers
    `[seg_start[s], seg_end[s])` (default: all windows). `windows` are the sorted
    window boundaries (use `calendar.window_boundaries`). Results are added to `out`
    when given (chunked processing, with `carry` and `final=False` between chunks).

    A run of a minor-stop candidate is a minor stop when it is shorter than the
    threshold *as a whole*. `seg_since[s]` (default `seg_start[s]`) is when the state at
    `seg_start[s]` began: a first run that began before the series' span is not judged
    here (ingest writes its classification when it ends, `ingest.stops`). With
    `open_end`, the last run of every series is still going on at its end and is not
    judged (an open stop is not a minor stop yet).
    """
    t = np.ascontiguousarray(t_ms, dtype=np.int64)
    c = np.ascontiguousarray(codes, dtype=np.float64)
    seg = np.ascontiguousarray(segments, dtype=np.int64)
    win = np.ascontiguousarray(windows, dtype=np.int64)
    if t.ndim != 1 or c.shape != t.shape:
        raise AnalyticsInputError(field="codes", reason="t_ms and codes differ in shape")
    if seg.ndim != 1 or seg.size < 1 or seg[0] != 0 or seg[-1] != t.size:
        raise AnalyticsInputError(field="segments",
                                  reason="must start at 0 and end at len(t_ms)")
    if win.ndim != 1 or win.size < 2:
        raise AnalyticsInputError(field="windows", reason="need at least 2 boundaries")
    n_series = seg.size - 1
    if check:
        if np.any(np.diff(seg) < 0):
            raise AnalyticsInputError(field="segments", reason="not non-decreasing")
        if np.any(np.diff(win) <= 0):
            raise AnalyticsInputError(field="windows", reason="not strictly increasing")
        steps = np.diff(t)
        inner = np.ones(steps.size, dtype=bool)
        inner[seg[1:-1][(seg[1:-1] > 0) & (seg[1:-1] < t.size)] - 1] = False
        if np.any(steps[inner] < 0):
            raise AnalyticsInputError(field="t_ms", reason="not sorted within a series")
    s_start = (np.full(n_series, win[0], np.int64) if seg_start is None
               else np.ascontiguousarray(seg_start, dtype=np.int64))
    s_end = (np.full(n_series, win[-1], np.int64) if seg_end is None
             else np.ascontiguousarray(seg_end, dtype=np.int64))
    s_since = (s_start if seg_since is None
               else np.ascontiguousarray(seg_since, dtype=np.int64))
    if s_start.shape != (n_series,) or s_end.shape != (n_series,) \
            or s_since.shape != (n_series,):
        raise AnalyticsInputError(field="seg_start", reason="one value per series")
    if max_hold_ms <= 0 or minor_stop_threshold_s <= 0:
        raise AnalyticsInputError(field="max_hold_ms", reason="must be positive")
    cal = calendar if calendar is not None else CalendarArrays.always_planned()
    table = _table(model)
    state = carry if carry is not None else StateCarry.empty(n_series)
    if out is None:
        out = ElementTotals(windows=win,
                            ms=np.zeros((n_series, win.size - 1, K.N_COLS), np.int64))
    elif out.ms.shape != (n_series, win.size - 1, K.N_COLS):
        raise AnalyticsInputError(field="out", reason="shape does not match")
    K.time_elements(int(t_base_ms), t, c, seg, s_start, s_end, s_since, bool(open_end),
                    int(max_hold_ms),
                    state.valid, state.start_ms, state.last_ms, state.code, final,
                    table.low, table.high, table.column, table.minor,
                    round(minor_stop_threshold_s * 1000), win, cal.t_ms, cal.kind, out.ms)
    return out
