"""Slow, obvious reference implementations of the analytics kernels (stumpy's naive.py).

Plain Python loops over lists, no numpy tricks, no numba: each follows the rule as it
is written in the docstrings of plantstream.analytics._kernels. Tests compare the
kernels with these on random inputs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

from plantstream.analytics import _kernels as K
from plantstream.meter_rule import DEFAULT_JITTER, meter_step

Lookup = Callable[[float], tuple[int, bool]]


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _window_of(t: int, windows: Sequence[int]) -> int | None:
    for k in range(len(windows) - 1):
        if windows[k] <= t < windows[k + 1]:
            return k
    return None


def _kind_at(t: int, cal_t: Sequence[int], cal_kind: Sequence[int]) -> int:
    kind = K.CAL_NOT_PLANNED
    for start, k in zip(cal_t, cal_kind, strict=True):
        if start <= t:
            kind = k
    return kind


def state_pieces(times: Sequence[int], codes: Sequence[float], seg_start: int, seg_end: int,
                 max_hold_ms: int) -> list[tuple[int, int, float | None]]:
    """[(start, end, code)] covering the series; code None is missing data.

    A run is consecutive samples of one code with no step longer than max_hold; it
    lasts from its first sample to the next sample, at most max_hold after its last.
    """
    return [p[:3] for p in run_pieces(times, codes, seg_start, seg_end, max_hold_ms)]


def run_pieces(times: Sequence[int], codes: Sequence[float], seg_start: int, seg_end: int,
               max_hold_ms: int) -> list[tuple[int, int, float | None, int, int]]:
    """`state_pieces` with the run's index and the number of runs (-1 for a gap)."""
    pieces: list[tuple[int, int, float | None, int, int]] = []
    if not times:
        if seg_end > seg_start:
            pieces.append((seg_start, seg_end, None, -1, 0))
        return pieces
    if times[0] > seg_start:
        pieces.append((seg_start, times[0], None, -1, 0))
    runs: list[tuple[int, int, float]] = []  # start, last sample, code
    for t, c in zip(times, codes, strict=True):
        if runs and _same(runs[-1][2], c) and t - runs[-1][1] <= max_hold_ms:
            runs[-1] = (runs[-1][0], t, c)
        else:
            runs.append((t, t, c))
    for i, (start, last, code) in enumerate(runs):
        following = runs[i + 1][0] if i + 1 < len(runs) else seg_end
        end = min(following, last + max_hold_ms)
        if end > start:
            pieces.append((start, end, code, i, len(runs)))
        else:
            end = start
        if following > end:
            pieces.append((end, following, None, -1, len(runs)))
    return pieces


def time_elements(times: Sequence[int], codes: Sequence[float], segments: Sequence[int],
                  seg_start: Sequence[int], seg_end: Sequence[int], max_hold_ms: int,
                  lookup: Lookup, minor_ms: int, windows: Sequence[int],
                  cal_t: Sequence[int], cal_kind: Sequence[int],
                  seg_since: Sequence[int] | None = None,
                  open_end: bool = False) -> list[list[list[int]]]:
    """acc[series][window][column] in ms (and the minor-stop count column).

    Only a whole run can be a minor stop: not the first run when it began before the
    series' start (`seg_since`), nor, with `open_end`, the last run (still going on)."""
    n_win = len(windows) - 1
    acc = [[[0] * K.N_COLS for _ in range(n_win)] for _ in range(len(segments) - 1)]
    for s in range(len(segments) - 1):
        lo, hi = segments[s], segments[s + 1]
        pieces = run_pieces(list(times[lo:hi]), list(codes[lo:hi]), seg_start[s],
                            seg_end[s], max_hold_ms)
        continues = (seg_since is not None and hi > lo and times[lo] == seg_start[s]
                     and seg_since[s] < seg_start[s])
        for start, end, code, run, n_runs in pieces:
            if code is None or math.isnan(code):
                col, minor = K.COL_MISSING, False
            else:
                col, candidate = lookup(code)
                whole = not (run == 0 and continues) and not (open_end and run == n_runs - 1)
                minor = candidate and end - start < minor_ms and whole
                if minor:
                    col = K.COL_MINOR
            cuts = sorted({start, end, *windows, *cal_t})
            cuts = [x for x in cuts if start <= x <= end]
            counted = False
            for a, b in itertools.pairwise(cuts):
                k = _window_of(a, windows)
                if k is None:
                    continue
                kind = _kind_at(a, cal_t, cal_kind)
                if kind == K.CAL_PLANNED:
                    acc[s][k][col] += b - a
                    if minor and not counted:
                        acc[s][k][K.COL_MINOR_COUNT] += 1
                        counted = True
                else:
                    target = (K.COL_PLANNED_DOWN if kind == K.CAL_PLANNED_DOWN
                              else K.COL_NOT_PLANNED)
                    acc[s][k][target] += b - a
                    if col == K.COL_APT:
                        acc[s][k][K.COL_APT_OUTSIDE_PLAN] += b - a
    return acc


def _first_window(a: int, b: int, windows: Sequence[int]) -> int | None:
    if a == b:
        return _window_of(a, windows)
    for k in range(len(windows) - 1):
        if max(a, windows[k]) < min(b, windows[k + 1]):
            return k
    return None


_KIND_COLUMN = {"step": None, "jitter": K.REG_JITTER, "rollover": K.REG_ROLLOVERS,
                "reset": K.REG_RESETS, "backward": K.REG_NEGATIVES, "jump": K.REG_JUMPS}


def register_deltas(times: Sequence[int], raw: Sequence[float], segments: Sequence[int],
                    modulus: Sequence[float], max_gap_ms: int, windows: Sequence[int], *,
                    jitter: float = DEFAULT_JITTER, max_per_ms: Sequence[float] | None = None
                    ) -> tuple[list[list[float]], list[list[int]], list[list[list[int]]],
                               list[list[float]], list[list[float]]]:
    """quantity, covered ms, counts (`K.REG_*`), first, last: each step by the core
    register rule (`plantstream.meter_rule.meter_step`, what the edge uses)."""
    n_series, n_win = len(segments) - 1, len(windows) - 1
    quantity = [[0.0] * n_win for _ in range(n_series)]
    covered = [[0] * n_win for _ in range(n_series)]
    counts = [[[0] * K.N_REG_COUNTS for _ in range(n_win)] for _ in range(n_series)]
    first = [[math.nan] * n_win for _ in range(n_series)]
    last = [[math.nan] * n_win for _ in range(n_series)]
    for s in range(n_series):
        readings = [(times[i], raw[i]) for i in range(segments[s], segments[s + 1])
                    if not math.isnan(raw[i])]
        for t, r in readings:
            k = _window_of(t, windows)
            if k is not None:
                if math.isnan(first[s][k]):
                    first[s][k] = r
                last[s][k] = r
        rate = math.nan if max_per_ms is None else max_per_ms[s]
        base = readings[0][1] if readings else math.nan
        for (t0, _), (t1, r1) in itertools.pairwise(readings):
            step = meter_step(base, r1, modulus=None if math.isnan(modulus[s]) else modulus[s],
                              jitter=jitter,
                              max_delta=None if math.isnan(rate) else rate * (t1 - t0))
            base = step.base
            delta, kind = step.consumption, _KIND_COLUMN[step.kind]
            gap = t1 - t0 > max_gap_ms
            if t1 == t0:
                k = _window_of(t0, windows)
                if k is not None:
                    quantity[s][k] += delta
            else:
                for k in range(n_win):
                    overlap = min(t1, windows[k + 1]) - max(t0, windows[k])
                    if overlap > 0:
                        quantity[s][k] += delta * (overlap / (t1 - t0))
                        if not gap:
                            covered[s][k] += overlap
            k0 = _first_window(t0, t1, windows)
            if k0 is not None:
                if kind is not None:
                    counts[s][k0][kind] += 1
                if gap:
                    counts[s][k0][K.REG_GAPS] += 1
    return quantity, covered, counts, first, last


def power_energy(times: Sequence[int], power: Sequence[float], segments: Sequence[int],
                 max_gap_ms: int, windows: Sequence[int]
                 ) -> tuple[list[list[float]], list[list[int]], list[list[int]]]:
    """energy (power x ms), covered ms, gaps per series and window (trapezoids)."""
    n_series, n_win = len(segments) - 1, len(windows) - 1
    energy = [[0.0] * n_win for _ in range(n_series)]
    covered = [[0] * n_win for _ in range(n_series)]
    gaps = [[0] * n_win for _ in range(n_series)]
    for s in range(n_series):
        samples = [(times[i], power[i]) for i in range(segments[s], segments[s + 1])
                   if not math.isnan(power[i])]
        for (t0, p0), (t1, p1) in itertools.pairwise(samples):
            if t1 <= t0:
                continue
            if t1 - t0 > max_gap_ms:
                k0 = _first_window(t0, t1, windows)
                if k0 is not None:
                    gaps[s][k0] += 1
                continue

            def p(x: int, t0: int = t0, t1: int = t1, p0: float = p0, p1: float = p1
                  ) -> float:
                if x == t0:
                    return p0
                if x == t1:
                    return p1
                return p0 + (p1 - p0) * ((x - t0) / (t1 - t0))

            for k in range(n_win):
                a, b = max(t0, windows[k]), min(t1, windows[k + 1])
                if b > a:
                    energy[s][k] += 0.5 * (p(a) + p(b)) * (b - a)
                    covered[s][k] += b - a
    return energy, covered, gaps


def oee_iso(*, apt_s: float, pbt_s: float, pru_pq_s: float, gq: int, pq: int
            ) -> float | None:
    """OEE the long way: availability x effectiveness x quality, None when undefined."""
    if pbt_s <= 0 or apt_s <= 0 or pq <= 0:
        return None
    return (apt_s / pbt_s) * (pru_pq_s / apt_s) * (gq / pq)
