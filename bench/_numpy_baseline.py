"""The time-element computation written with plain numpy: the benchmark's baseline.

Same inputs and the same result as the `time_elements` kernel for one pass (no carry;
`final=True`), vectorised the way a numpy programmer would: run detection with
`diff`, look-ups with `searchsorted`, splitting by merging all cut points, and a
`bincount` scatter. The benchmark checks that both agree before timing them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from plantstream.analytics import _kernels as K
from plantstream.analytics.calendar import CalendarArrays
from plantstream.analytics.state_model import StateTable

__all__ = ["numpy_time_elements"]

I64 = npt.NDArray[np.int64]


def _pieces(t: I64, c: npt.NDArray[np.float64], start: int, end: int, hold: int,
            table: StateTable, minor_ms: int) -> tuple[I64, I64, I64, npt.NDArray[np.bool_]]:
    """(start, end, column, minor) of the runs and missing stretches of one series."""
    if t.size == 0:
        return (np.array([start]), np.array([end]), np.array([K.COL_MISSING]),
                np.array([False]))
    nan = np.isnan(c)
    same = (c[1:] == c[:-1]) | (nan[1:] & nan[:-1])
    new_run = np.empty(t.size, dtype=bool)
    new_run[0] = True
    new_run[1:] = ~same | (np.diff(t) > hold)
    first = np.flatnonzero(new_run)
    last = np.append(first[1:] - 1, t.size - 1)
    run_start = t[first]
    following = np.append(run_start[1:], end)
    run_end = np.minimum(following, t[last] + hold)
    run_end = np.maximum(run_end, run_start)
    code = c[first]
    r = np.searchsorted(table.low, code, side="right") - 1
    rc = np.clip(r, 0, max(table.low.size - 1, 0))
    known = (r >= 0) & (table.low.size > 0)
    if table.low.size:
        known &= code <= table.high[rc]
        column = np.where(known, table.column[rc], K.COL_UNKNOWN).astype(np.int64)
        candidate = known & (table.minor[rc] != 0)
    else:
        column = np.full(code.size, K.COL_UNKNOWN, np.int64)
        candidate = np.zeros(code.size, bool)
    column[np.isnan(code)] = K.COL_MISSING
    minor = candidate & (run_end - run_start < minor_ms)
    column[minor] = K.COL_MINOR
    gap = following > run_end
    starts = [run_start, run_end[gap]]
    ends = [run_end, following[gap]]
    cols = [column, np.full(int(gap.sum()), K.COL_MISSING, np.int64)]
    minors = [minor, np.zeros(int(gap.sum()), bool)]
    if t[0] > start:
        starts.append(np.array([start]))
        ends.append(np.array([t[0]]))
        cols.append(np.array([K.COL_MISSING]))
        minors.append(np.array([False]))
    s, e = np.concatenate(starts), np.concatenate(ends)
    order = np.argsort(s, kind="stable")
    return s[order], e[order], np.concatenate(cols)[order], np.concatenate(minors)[order]


def numpy_time_elements(t_ms: I64, codes: npt.NDArray[np.float64], segments: I64,
                        seg_start: I64, seg_end: I64, max_hold_ms: int, table: StateTable,
                        minor_ms: int, windows: I64, calendar: CalendarArrays) -> I64:
    n_series, n_win = segments.size - 1, windows.size - 1
    acc = np.zeros((n_series, n_win, K.N_COLS), np.int64)
    for s in range(n_series):
        lo, hi = segments[s], segments[s + 1]
        ps, pe, pc, pm = _pieces(t_ms[lo:hi], codes[lo:hi], int(seg_start[s]),
                                 int(seg_end[s]), max_hold_ms, table, minor_ms)
        keep = pe > ps
        ps, pe, pc, pm = ps[keep], pe[keep], pc[keep], pm[keep]
        cuts = np.unique(np.concatenate([ps, pe, windows, calendar.t_ms[1:]]))
        cuts = cuts[(cuts >= windows[0]) & (cuts <= windows[-1])]
        a, b = cuts[:-1], cuts[1:]
        piece = np.searchsorted(ps, a, side="right") - 1
        valid = (piece >= 0) & (a < pe[np.clip(piece, 0, None)])
        a, b, piece = a[valid], b[valid], piece[valid]
        col = pc[piece]
        k = np.searchsorted(windows, a, side="right") - 1
        kind = calendar.kind[np.searchsorted(calendar.t_ms, a, side="right") - 1]
        effective = np.where(kind == K.CAL_PLANNED, col,
                             np.where(kind == K.CAL_PLANNED_DOWN, K.COL_PLANNED_DOWN,
                                      K.COL_NOT_PLANNED))
        d = b - a
        flat = acc[s].reshape(-1)
        flat += np.bincount(k * K.N_COLS + effective, weights=d,
                            minlength=flat.size).astype(np.int64)
        outside = (kind != K.CAL_PLANNED) & (col == K.COL_APT)
        flat += np.bincount(k[outside] * K.N_COLS + K.COL_APT_OUTSIDE_PLAN,
                            weights=d[outside], minlength=flat.size).astype(np.int64)
        counted = pm[piece] & (kind == K.CAL_PLANNED)
        _, first = np.unique(piece[counted], return_index=True)
        np.add.at(acc[s, :, K.COL_MINOR_COUNT], k[counted][first], 1)
    return acc
