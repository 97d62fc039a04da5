"""Private numba kernels over plain arrays. No I/O, no globals, no Python objects.

Conventions shared by every kernel:

* time is int64 epoch milliseconds, given as `t_base + offsets[i]` (offsets are
  relative to a chunk start like the wire format's `offsets_ms`, or absolute with
  `t_base = 0`);
* several series (machines, meters) are processed at once: series `s` owns
  `offsets[seg[s]:seg[s + 1]]`, sorted by time;
* windows are half-open `[win[k], win[k + 1])`; time outside `[win[0], win[-1])` is not
  counted; the caller puts every window / shift / day / month boundary in `win`, so
  every interval is split exactly there;
* NaN is a missing sample;
* results are *added* into caller-owned accumulators, so a long history is processed
  chunk by chunk with a small carry per series (`carry_*` arrays, updated in place).

The public, typed wrappers are in `plantstream.analytics.elements` and
`plantstream.analytics.meters`; the slow obvious references are in tests/analytics/naive.py.
"""

from __future__ import annotations

import numpy as np

from plantstream.analytics._numba import kernel

# Accumulator columns of the time-element kernel (milliseconds, or a count).
COL_APT = 0
COL_ASUT = 1
COL_ADET = 2
COL_ADOT = 3
COL_PLANNED_DOWN = 4
COL_NOT_PLANNED = 5
COL_MINOR = 6  # minor stops: folded into ADET (ISO 22400) or APT (TPM) by the wrapper
COL_UNKNOWN = 7  # codes the state model does not know: a loss (ADET), never excluded
COL_MISSING = 8  # no data (gap longer than max_hold, NaN sample): a loss, like unknown
N_TIME_COLS = 9  # columns 0..8 partition the covered time
COL_APT_OUTSIDE_PLAN = 9  # producing while the calendar says break / no plan (info)
COL_MINOR_COUNT = 10
N_COLS = 11

# Calendar kinds.
CAL_PLANNED = 0  # the state decides the element
CAL_PLANNED_DOWN = 1  # break, planned maintenance: PLANNED_DOWN whatever the state
CAL_NOT_PLANNED = 2  # no shift: NOT_PLANNED whatever the state

# Register step counters.
REG_ROLLOVERS = 0
REG_RESETS = 1
REG_NEGATIVES = 2
REG_GAPS = 3
REG_JITTER = 4
REG_JUMPS = 5
N_REG_COUNTS = 6

INT64_MAX = np.iinfo(np.int64).max


@kernel
def _lookup(code: float, tab_lo: np.ndarray, tab_hi: np.ndarray, tab_elem: np.ndarray,
            tab_minor: np.ndarray) -> tuple[int, bool]:
    """(column, minor-stop candidate) of a state code; ranges are sorted, disjoint."""
    if code != code:
        return COL_MISSING, False
    lo = 0
    hi = tab_lo.size
    while lo < hi:  # first range whose lower bound is > code
        mid = (lo + hi) >> 1
        if tab_lo[mid] <= code:
            lo = mid + 1
        else:
            hi = mid
    r = lo - 1
    if r >= 0 and code <= tab_hi[r]:
        return int(tab_elem[r]), tab_minor[r] != 0
    return COL_UNKNOWN, False


@kernel
def _emit(s: int, a: int, b: int, col: int, minor: bool, win: np.ndarray,
          cal_t: np.ndarray, cal_kind: np.ndarray, acc: np.ndarray) -> None:
    """Add the interval [a, b) of column `col` to acc[s], split at windows and calendar."""
    n_win = win.size - 1
    if n_win <= 0:
        return
    if a < win[0]:
        a = win[0]
    if b > win[n_win]:
        b = win[n_win]
    if b <= a:
        return
    k = np.searchsorted(win, a, side="right") - 1
    q = np.searchsorted(cal_t, a, side="right") - 1
    n_cal = cal_t.size
    producing = col == COL_APT
    counted = False
    while a < b:
        nxt = b
        if win[k + 1] < nxt:
            nxt = win[k + 1]
        if q + 1 < n_cal and cal_t[q + 1] < nxt:
            nxt = cal_t[q + 1]
        kind = cal_kind[q] if q >= 0 else CAL_NOT_PLANNED
        d = nxt - a
        if kind == CAL_PLANNED:
            acc[s, k, col] += d
            if minor and not counted:
                acc[s, k, COL_MINOR_COUNT] += 1
                counted = True
        else:
            acc[s, k, COL_PLANNED_DOWN if kind == CAL_PLANNED_DOWN else COL_NOT_PLANNED] += d
            if producing:
                acc[s, k, COL_APT_OUTSIDE_PLAN] += d
        a = nxt
        if a >= win[k + 1]:
            k += 1
        if q + 1 < n_cal and a >= cal_t[q + 1]:
            q += 1


@kernel
def _emit_run(s: int, start: int, end: int, code: float, minor_ms: int, judged: bool,
              tab_lo: np.ndarray, tab_hi: np.ndarray, tab_elem: np.ndarray,
              tab_minor: np.ndarray, win: np.ndarray, cal_t: np.ndarray,
              cal_kind: np.ndarray, acc: np.ndarray) -> None:
    """Emit the run [start, end); only a `judged` run (whole, closed) can be a minor stop."""
    col, candidate = _lookup(code, tab_lo, tab_hi, tab_elem, tab_minor)
    minor = judged and candidate and (end - start) < minor_ms
    _emit(s, start, end, COL_MINOR if minor else col, minor, win, cal_t, cal_kind, acc)


@kernel
def time_elements(t_base: int, offsets: np.ndarray, codes: np.ndarray, seg: np.ndarray,
                  seg_start: np.ndarray, seg_end: np.ndarray, seg_since: np.ndarray,
                  open_end: bool, max_hold_ms: int,
                  carry_valid: np.ndarray, carry_start: np.ndarray, carry_last: np.ndarray,
                  carry_code: np.ndarray, final: bool, tab_lo: np.ndarray,
                  tab_hi: np.ndarray, tab_elem: np.ndarray, tab_minor: np.ndarray,
                  minor_ms: int, win: np.ndarray, cal_t: np.ndarray, cal_kind: np.ndarray,
                  acc: np.ndarray) -> None:
    """Milliseconds per time element for every series and window (segmented reduction).

    A sample holds its state until the next sample, at most `max_hold_ms` (state-change
    streams: effectively forever); beyond that, and for NaN samples, time is MISSING.
    A run is a maximal stretch of one code without a gap; a run of a minor-stop
    candidate shorter than `minor_ms` is a minor stop. `seg_start` / `seg_end` bound the
    time each series covers in this chunk. When `final` is False the last run of each
    series is not counted but carried (`carry_*`), so that runs and minor stops are
    judged whole across chunk boundaries.

    Batches (ingest) judge a stop on its whole length without a carry: `seg_since[s]`
    is when the state of the series' first sample began; when that is before
    `seg_start[s]` and the first sample is at `seg_start[s]`, the first run continues a
    run that began earlier and is not judged here (its classification is written when
    it ends, see `ingest.stops`). With `open_end`, the last run of each series is still
    going on at `seg_end` and is not judged either: an open stop is not a minor stop.
    """
    n_series = seg.size - 1
    for s in range(n_series):
        i = seg[s]
        i_end = seg[s + 1]
        have_run = carry_valid[s] != 0
        run_start = carry_start[s]
        run_last = carry_last[s]
        run_code = carry_code[s]
        judged = True  # the current run started here (or is carried whole)
        if not have_run:
            first = t_base + offsets[i] if i < i_end else seg_end[s]
            if first > seg_start[s]:
                _emit(s, seg_start[s], first, COL_MISSING, False, win, cal_t, cal_kind, acc)
        while i < i_end:
            t = t_base + offsets[i]
            c = codes[i]
            if have_run:
                same = (c == run_code) or (c != c and run_code != run_code)
                if same and t - run_last <= max_hold_ms:
                    run_last = t
                else:
                    end = run_last + max_hold_ms
                    if end > t:
                        end = t
                    _emit_run(s, run_start, end, run_code, minor_ms, judged, tab_lo,
                              tab_hi, tab_elem, tab_minor, win, cal_t, cal_kind, acc)
                    if end < t:
                        _emit(s, end, t, COL_MISSING, False, win, cal_t, cal_kind, acc)
                    run_start = t
                    run_last = t
                    run_code = c
                    judged = True
            else:
                have_run = True
                run_start = t
                run_last = t
                run_code = c
                judged = not (i == seg[s] and t == seg_start[s] and seg_since[s] < t)
            # fast scan to the end of the run
            j = i + 1
            prev = offsets[i]
            if c == c:
                while j < i_end:
                    o = offsets[j]
                    if codes[j] != c or o - prev > max_hold_ms:
                        break
                    prev = o
                    j += 1
            else:
                while j < i_end:
                    o = offsets[j]
                    if codes[j] == codes[j] or o - prev > max_hold_ms:
                        break
                    prev = o
                    j += 1
            run_last = t_base + prev
            i = j
        if have_run:
            if final:
                end = run_last + max_hold_ms
                if end > seg_end[s] or end < run_last:  # < : overflow of a huge hold
                    end = seg_end[s]
                if end > run_start:
                    _emit_run(s, run_start, end, run_code, minor_ms,
                              judged and not open_end, tab_lo, tab_hi, tab_elem,
                              tab_minor, win, cal_t, cal_kind, acc)
                else:
                    end = run_start
                if end < seg_end[s]:
                    _emit(s, end, seg_end[s], COL_MISSING, False, win, cal_t, cal_kind, acc)
                carry_valid[s] = 0
            else:
                carry_valid[s] = 1
                carry_start[s] = run_start
                carry_last[s] = run_last
                carry_code[s] = run_code


@kernel
def _first_window(a: int, b: int, win: np.ndarray) -> int:
    """Index of the first window the step [a, b) (or the instant a == b) falls in, -1 if none."""
    n_win = win.size - 1
    if n_win <= 0 or a >= win[n_win] or b < win[0] or (b == win[0] and b > a):
        return -1
    if a < win[0]:
        return 0
    return int(np.searchsorted(win, a, side="right") - 1)


@kernel
def _spread(s: int, a: int, b: int, amount: float, covered: bool, win: np.ndarray,
            acc_q: np.ndarray, acc_cov: np.ndarray) -> None:
    """Spread `amount` over the step [a, b) in proportion to time in each window."""
    n_win = win.size - 1
    if b == a:
        k0 = _first_window(a, b, win)
        if k0 >= 0:
            acc_q[s, k0] += amount
        return
    span = b - a
    lo = a if a > win[0] else win[0]
    hi = b if b < win[n_win] else win[n_win]
    if hi <= lo:
        return
    k = np.searchsorted(win, lo, side="right") - 1
    x = lo
    while x < hi:
        nxt = win[k + 1] if win[k + 1] < hi else hi
        part = nxt - x
        acc_q[s, k] += amount * (part / span)
        if covered:
            acc_cov[s, k] += part
        x = nxt
        k += 1


@kernel
def register_deltas(t_base: int, offsets: np.ndarray, raw: np.ndarray, seg: np.ndarray,
                    modulus: np.ndarray, jitter: float, max_per_ms: np.ndarray,
                    max_gap_ms: int, carry_valid: np.ndarray,
                    carry_t: np.ndarray, carry_raw: np.ndarray, win: np.ndarray,
                    acc_q: np.ndarray, acc_cov: np.ndarray, acc_counts: np.ndarray,
                    raw_first: np.ndarray, raw_last: np.ndarray) -> None:
    """Consumption from cumulative registers (energy meters, part counters).

    The register rule of `plantstream.meter_rule`, mirrored (a property test checks
    they agree). Between the base (the high-water mark; `carry_raw`) and a valid
    reading (NaN readings are skipped), with `back = base - raw`: a rise is consumed
    (`raw - base`); a drop of at most `jitter`, or a rise of all but `jitter` of the
    register range (back across the wrap), is jitter (nothing, the base stays); a
    drop of more than half the register range (`modulus`, NaN when the register does
    not roll over) is a rollover (`raw + modulus - base`); another drop to a value not
    above `back` is a reset to zero (`raw`); any other drop is a negative step (nothing,
    the base becomes `raw`). A consumption above `max_per_ms` (per series, NaN: no
    limit) times the time since the previous reading is a jump (nothing, the base
    becomes `raw`). Each step's consumption is spread over windows in proportion to
    time; a step longer than `max_gap_ms` is a gap: its consumption still counts (the
    register integrates across it) but its time is not covered. Counts go to the first
    window of the step.
    """
    n_series = seg.size - 1
    n_win = win.size - 1
    if n_win <= 0:
        return
    w_lo = win[0]
    w_hi = win[n_win]
    for s in range(n_series):
        have = carry_valid[s] != 0
        prev_t = carry_t[s]
        prev_r = carry_raw[s]
        mod = modulus[s]
        rate = max_per_ms[s]
        limited = rate == rate
        k = 0  # window pointer: win[k] <= t < win[k + 1] for the current reading
        rk = -1  # window of the readings seen last (raw_last is flushed on change)
        last_r = np.nan
        ck = -1  # window the local sums belong to (flushed on change)
        q_local = 0.0
        cov_local = 0
        i = seg[s]
        i_end = seg[s + 1]
        while i < i_end:
            if have and ck == k and rk == k and ck >= 0 and prev_t >= win[k]:
                # tight loop: valid readings going up inside window k, no gap
                w_next = win[k + 1]
                while i < i_end:
                    r = raw[i]
                    t = t_base + offsets[i]
                    d = r - prev_r
                    if not (d >= 0.0) or t >= w_next or t <= prev_t \
                            or t - prev_t > max_gap_ms \
                            or (limited and d > rate * (t - prev_t)) \
                            or (mod > 0.0 and mod - d <= jitter):
                        break  # NaN, a drop, a new window, a gap, a jump, a wrap back:
                        # the general path
                    q_local += d
                    cov_local += t - prev_t
                    last_r = r
                    prev_t = t
                    prev_r = r
                    i += 1
                if i >= i_end:
                    break
            r = raw[i]
            i += 1
            if r != r:
                continue
            t = t_base + offsets[i - 1]
            inside = w_lo <= t < w_hi
            if inside:
                while win[k + 1] <= t:
                    k += 1
                if k != rk:
                    if rk >= 0:
                        raw_last[s, rk] = last_r
                    rk = k
                    if raw_first[s, k] != raw_first[s, k]:
                        raw_first[s, k] = r
                last_r = r
            base = r
            if have:
                d = r - prev_r
                kind = -1
                if d >= 0.0 and mod > 0.0 and mod - d <= jitter:
                    delta = 0.0  # a count back across the wrap
                    kind = REG_JITTER
                    base = prev_r
                elif d >= 0.0:
                    delta = d
                elif -d <= jitter:
                    delta = 0.0
                    kind = REG_JITTER
                    base = prev_r
                elif mod > 0.0 and -d > 0.5 * mod:
                    delta = d + mod
                    kind = REG_ROLLOVERS
                elif r <= -d:
                    delta = r
                    kind = REG_RESETS
                else:
                    delta = 0.0
                    kind = REG_NEGATIVES
                if limited and delta > rate * (t - prev_t):
                    delta = 0.0
                    kind = REG_JUMPS
                gap = t - prev_t > max_gap_ms
                if inside and t > prev_t and prev_t >= win[k]:
                    # fast path: the whole step lies in window k; sum locally
                    if k != ck:
                        if ck >= 0:
                            acc_q[s, ck] += q_local
                            acc_cov[s, ck] += cov_local
                        ck = k
                        q_local = 0.0
                        cov_local = 0
                    q_local += delta
                    if not gap:
                        cov_local += t - prev_t
                    kf = k
                else:
                    _spread(s, prev_t, t, delta, not gap, win, acc_q, acc_cov)
                    kf = _first_window(prev_t, t, win)
                if (kind >= 0 or gap) and kf >= 0:
                    if kind >= 0:
                        acc_counts[s, kf, kind] += 1
                    if gap:
                        acc_counts[s, kf, REG_GAPS] += 1
            have = True
            prev_t = t
            prev_r = base
        if ck >= 0:
            acc_q[s, ck] += q_local
            acc_cov[s, ck] += cov_local
        if rk >= 0:
            raw_last[s, rk] = last_r
        carry_valid[s] = 1 if have else 0
        carry_t[s] = prev_t
        carry_raw[s] = prev_r


@kernel
def power_energy(t_base: int, offsets: np.ndarray, power: np.ndarray, seg: np.ndarray,
                 max_gap_ms: int, carry_valid: np.ndarray, carry_t: np.ndarray,
                 carry_p: np.ndarray, win: np.ndarray, acc_e: np.ndarray,
                 acc_cov: np.ndarray, acc_gaps: np.ndarray) -> None:
    """Energy (power x milliseconds) from power samples: trapezoids between
    consecutive valid samples, split at window boundaries with the power linearly
    interpolated there. A step longer than `max_gap_ms` is a gap: not integrated, not
    covered, counted in the first window it touches. NaN samples are skipped.
    """
    n_series = seg.size - 1
    n_win = win.size - 1
    if n_win <= 0:
        return
    w_lo = win[0]
    w_hi = win[n_win]
    for s in range(n_series):
        have = carry_valid[s] != 0
        t0 = carry_t[s]
        p0 = carry_p[s]
        k = 0
        ck = -1  # window the local sums belong to (flushed on change)
        e_local = 0.0
        cov_local = 0
        i = seg[s]
        i_end = seg[s + 1]
        while i < i_end:
            if have and ck == k and ck >= 0 and t0 >= win[k]:
                # tight loop: valid samples inside window k, no gap
                w_next = win[k + 1]
                while i < i_end:
                    p1 = power[i]
                    t1 = t_base + offsets[i]
                    if p1 != p1 or t1 >= w_next or t1 <= t0 or t1 - t0 > max_gap_ms:
                        break  # NaN, a new window, a gap: the general path
                    e_local += 0.5 * (p0 + p1) * (t1 - t0)
                    cov_local += t1 - t0
                    t0 = t1
                    p0 = p1
                    i += 1
                if i >= i_end:
                    break
            p1 = power[i]
            i += 1
            if p1 != p1:
                continue
            t1 = t_base + offsets[i - 1]
            if have and t1 > t0:
                if t1 - t0 > max_gap_ms:
                    kg = _first_window(t0, t1, win)
                    if kg >= 0:
                        acc_gaps[s, kg] += 1
                else:
                    inside = w_lo <= t1 < w_hi
                    if inside:
                        while win[k + 1] <= t1:
                            k += 1
                    if inside and t0 >= win[k]:
                        # fast path: the whole step lies in window k; sum locally
                        if k != ck:
                            if ck >= 0:
                                acc_e[s, ck] += e_local
                                acc_cov[s, ck] += cov_local
                            ck = k
                            e_local = 0.0
                            cov_local = 0
                        e_local += 0.5 * (p0 + p1) * (t1 - t0)
                        cov_local += t1 - t0
                    else:
                        _trapezoids(s, t0, p0, t1, p1, win, acc_e, acc_cov)
            have = True
            t0 = t1
            p0 = p1
        if ck >= 0:
            acc_e[s, ck] += e_local
            acc_cov[s, ck] += cov_local
        carry_valid[s] = 1 if have else 0
        carry_t[s] = t0
        carry_p[s] = p0


@kernel
def _trapezoids(s: int, t0: int, p0: float, t1: int, p1: float, win: np.ndarray,
                acc_e: np.ndarray, acc_cov: np.ndarray) -> None:
    """Trapezoids of the step (t0, p0) -> (t1, p1) split at window boundaries."""
    n_win = win.size - 1
    lo = t0 if t0 > win[0] else win[0]
    hi = t1 if t1 < win[n_win] else win[n_win]
    if lo >= hi:
        return
    k = np.searchsorted(win, lo, side="right") - 1
    span = t1 - t0
    x = lo
    while x < hi:
        nxt = win[k + 1] if win[k + 1] < hi else hi
        pa = p0 if x == t0 else p0 + (p1 - p0) * ((x - t0) / span)
        pb = p1 if nxt == t1 else p0 + (p1 - p0) * ((nxt - t0) / span)
        acc_e[s, k] += 0.5 * (pa + pb) * (nxt - x)
        acc_cov[s, k] += nxt - x
        x = nxt
        k += 1
