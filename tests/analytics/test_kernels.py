"""Kernels against the slow references (naive.py) on random inputs, and chunked
processing against one pass: NaN, empty series, single samples, window / calendar
boundaries anywhere, rollover, resets, gaps."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plantstream.analytics import _kernels as K
from plantstream.analytics.calendar import CalendarArrays
from plantstream.analytics.elements import FOREVER_MS, StateCarry, time_element_ms
from plantstream.analytics.meters import (
    RegisterCarry,
    SampleCarry,
    power_to_energy,
    register_consumption,
)
from plantstream.analytics.state_model import ELEMENT_COLUMN, StateModel
from plantstream.config import DEFAULT_STATE_MODEL
from tests.analytics import naive
from tests.analytics.strategies import CODES, Series, calendars, series, windows

PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
MODEL = StateModel.umh(DEFAULT_STATE_MODEL)


def lookup(code: float) -> tuple[int, bool]:
    element, known = MODEL.element(int(code))
    column = ELEMENT_COLUMN[element] if known else K.COL_UNKNOWN
    return column, MODEL.minor_stop_candidate(int(code))


holds = st.sampled_from([300, 2000, FOREVER_MS])
minor_ms = st.integers(100, 6000)


@PROPERTY
@given(data=series(st.sampled_from(CODES)), win=windows(), cal=calendars(),
       hold=holds, minor=minor_ms)
def test_time_elements_match_reference(data: Series, win: list[int],
                                       cal: tuple[list[int], list[int]], hold: int,
                                       minor: int) -> None:
    cal_arrays = CalendarArrays(t_ms=np.array(cal[0], np.int64), kind=np.array(cal[1], np.int8))
    got = time_element_ms(data.times, data.values, data.segments, windows=win, model=MODEL,
                          calendar=cal_arrays, seg_start=data.seg_start,
                          seg_end=data.seg_end, max_hold_ms=hold,
                          minor_stop_threshold_s=minor / 1000)
    want = naive.time_elements(data.times, data.values, data.segments, data.seg_start,
                               data.seg_end, hold, lookup, minor, win, cal[0], cal[1])
    assert got.ms.tolist() == want


@PROPERTY
@given(data=series(st.sampled_from(CODES)), win=windows(), cal=calendars(),
       hold=holds, minor=minor_ms, cuts=st.lists(st.integers(0, 20000), max_size=3))
def test_time_elements_chunked_equal_one_pass(data: Series, win: list[int],
                                              cal: tuple[list[int], list[int]], hold: int,
                                              minor: int, cuts: list[int]) -> None:
    """Runs (and minor stops) are judged whole across chunks thanks to the carry."""
    cal_arrays = CalendarArrays(t_ms=np.array(cal[0], np.int64), kind=np.array(cal[1], np.int8))
    lo = min(data.seg_start)
    hi = max(data.seg_end)
    # chunked processing needs one common span per chunk
    seg_start = [lo] * len(data.seg_start)
    seg_end = [hi] * len(data.seg_end)
    whole = time_element_ms(data.times, data.values, data.segments, windows=win,
                            model=MODEL, calendar=cal_arrays, seg_start=seg_start,
                            seg_end=seg_end, max_hold_ms=hold,
                            minor_stop_threshold_s=minor / 1000)
    bounds = sorted({lo, hi, *(c for c in cuts if lo < c < hi)})
    times = np.array(data.times, np.int64)
    values = np.array(data.values)
    carry = StateCarry.empty(len(data.segments) - 1)
    out = None
    for c0, c1 in itertools.pairwise(bounds):
        t_parts, v_parts, seg = [], [], [0]
        for s in range(len(data.segments) - 1):
            t_s = times[data.segments[s]:data.segments[s + 1]]
            v_s = values[data.segments[s]:data.segments[s + 1]]
            last_chunk = c1 == hi
            pick = (t_s >= c0) & ((t_s < c1) | last_chunk)
            t_parts.append(t_s[pick] - c0)
            v_parts.append(v_s[pick])
            seg.append(seg[-1] + int(pick.sum()))
        out = time_element_ms(np.concatenate(t_parts), np.concatenate(v_parts), seg,
                              windows=win, model=MODEL, calendar=cal_arrays,
                              seg_start=[c0] * (len(seg) - 1), seg_end=[c1] * (len(seg) - 1),
                              max_hold_ms=hold, minor_stop_threshold_s=minor / 1000,
                              t_base_ms=c0, carry=carry, final=c1 == hi, out=out)
    assert out is not None
    assert out.ms.tolist() == whole.ms.tolist()


@PROPERTY
@given(data=series(st.sampled_from(CODES)), win=windows(), hold=holds, minor=minor_ms,
       keep=st.lists(st.booleans(), min_size=8, max_size=8))
def test_merging_windows_is_exact(data: Series, win: list[int], hold: int, minor: int,
                                  keep: list[bool]) -> None:
    """Summing fine windows gives exactly the coarse windows (ratios of sums merge)."""
    coarse = [w for i, w in enumerate(win) if i in (0, len(win) - 1) or keep[i % 8]]
    fine = time_element_ms(data.times, data.values, data.segments, windows=win, model=MODEL,
                           seg_start=data.seg_start, seg_end=data.seg_end, max_hold_ms=hold,
                           minor_stop_threshold_s=minor / 1000)
    big = time_element_ms(data.times, data.values, data.segments, windows=coarse,
                          model=MODEL, seg_start=data.seg_start, seg_end=data.seg_end,
                          max_hold_ms=hold, minor_stop_threshold_s=minor / 1000)
    for k in range(len(coarse) - 1):
        members = [j for j in range(len(win) - 1) if coarse[k] <= win[j] < coarse[k + 1]]
        assert fine.ms[:, members].sum(axis=1).tolist() == big.ms[:, k].tolist()


registers = st.one_of(st.floats(0, 1000, allow_nan=False), st.just(math.nan),
                      st.sampled_from([0.0, 999.0, 999.9, 1.0]))
moduli = st.sampled_from([math.nan, 1000.0])


def _close(a: object, b: object) -> None:
    assert np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                       rtol=1e-9, atol=1e-9, equal_nan=True)


@PROPERTY
@given(data=series(registers), win=windows(), modulus=moduli,
       gap=st.sampled_from([500, 3000, 10**9]), jitter=st.sampled_from([0.0, 3.0, 50.0]),
       rate=st.sampled_from([math.nan, 3_600_000.0, 360_000_000.0]))
def test_register_deltas_match_reference(data: Series, win: list[int], modulus: float,
                                         gap: int, jitter: float, rate: float) -> None:
    """The numba kernel applies the core register rule (`meter_rule`, the edge's)."""
    got = register_consumption(data.times, data.values, data.segments, windows=win,
                               modulus=modulus, max_gap_ms=gap, jitter=jitter,
                               max_rate_per_h=rate)
    n_series = len(data.segments) - 1
    q, cov, counts, first, last = naive.register_deltas(
        data.times, data.values, data.segments, [modulus] * n_series, gap,
        win, jitter=jitter, max_per_ms=[rate / 3_600_000.0] * n_series)
    _close(got.quantity, q)
    assert got.covered_ms.tolist() == cov
    assert got.counts.tolist() == counts
    _close(got.raw_first, first)
    _close(got.raw_last, last)


@PROPERTY
@given(data=series(registers), win=windows(), modulus=moduli,
       gap=st.sampled_from([500, 3000, 10**9]),
       cuts=st.lists(st.integers(0, 20000), max_size=3))
def test_register_deltas_chunked_equal_one_pass(data: Series, win: list[int],
                                                modulus: float, gap: int,
                                                cuts: list[int]) -> None:
    whole = register_consumption(data.times, data.values, data.segments, windows=win,
                                 modulus=modulus, max_gap_ms=gap)
    carry = RegisterCarry.empty(len(data.segments) - 1)
    out = None
    for t_part, v_part, seg in _chunks(data, cuts):
        out = register_consumption(t_part, v_part, seg, windows=win, modulus=modulus,
                                   max_gap_ms=gap, carry=carry, out=out)
    assert out is not None
    _close(out.quantity, whole.quantity)
    assert out.counts.tolist() == whole.counts.tolist()
    assert out.covered_ms.tolist() == whole.covered_ms.tolist()


powers = st.one_of(st.floats(-50, 500, allow_nan=False), st.just(math.nan))


@PROPERTY
@given(data=series(powers), win=windows(), gap=st.sampled_from([500, 3000, 10**9]))
def test_power_energy_matches_reference(data: Series, win: list[int], gap: int) -> None:
    got = power_to_energy(data.times, data.values, data.segments, windows=win,
                          max_gap_ms=gap)
    energy, covered, gaps = naive.power_energy(data.times, data.values, data.segments, gap,
                                               win)
    assert np.allclose(got.energy_unit_ms, energy, rtol=1e-9, atol=1e-6)
    assert got.covered_ms.tolist() == covered
    assert got.gaps.tolist() == gaps


@PROPERTY
@given(data=series(powers), win=windows(), gap=st.sampled_from([500, 3000, 10**9]),
       cuts=st.lists(st.integers(0, 20000), max_size=3))
def test_power_energy_chunked_equal_one_pass(data: Series, win: list[int], gap: int,
                                             cuts: list[int]) -> None:
    whole = power_to_energy(data.times, data.values, data.segments, windows=win,
                            max_gap_ms=gap)
    carry = SampleCarry.empty(len(data.segments) - 1)
    out = None
    for t_part, v_part, seg in _chunks(data, cuts):
        out = power_to_energy(t_part, v_part, seg, windows=win, max_gap_ms=gap, carry=carry,
                              out=out)
    assert out is not None
    assert np.allclose(out.energy_unit_ms, whole.energy_unit_ms, rtol=1e-9, atol=1e-6)
    assert out.covered_ms.tolist() == whole.covered_ms.tolist()


def _chunks(data: Series, cuts: list[int]
            ) -> list[tuple[np.ndarray, np.ndarray, list[int]]]:
    bounds = sorted({-(10**9), 10**9, *cuts})
    times = np.array(data.times, np.int64)
    values = np.array(data.values, dtype=float)
    out = []
    for c0, c1 in itertools.pairwise(bounds):
        t_parts, v_parts, seg = [], [], [0]
        for s in range(len(data.segments) - 1):
            t_s = times[data.segments[s]:data.segments[s + 1]]
            v_s = values[data.segments[s]:data.segments[s + 1]]
            pick = (t_s >= c0) & (t_s < c1)
            t_parts.append(t_s[pick])
            v_parts.append(v_s[pick])
            seg.append(seg[-1] + int(pick.sum()))
        out.append((np.concatenate(t_parts), np.concatenate(v_parts), seg))
    return out


def test_rollover_of_a_six_digit_register() -> None:
    """999,998 -> 000,003 on a 1,000,000 register is 5 units and one rollover."""
    got = register_consumption([0, 1000, 2000], [999_990.0, 999_998.0, 3.0], [0, 3],
                               windows=[0, 1500, 3000], modulus=1_000_000.0)
    assert got.quantity.tolist() == [[8.0 + 2.5, 2.5]]
    assert got.rollovers.tolist() == [[1, 0]]  # counted in the first window of the step
    assert got.resets.sum() == 0


def test_reset_and_negative_are_counted_not_consumed() -> None:
    got = register_consumption([0, 1, 2, 3], [500.0, 20.0, 15.0, 25.0], [0, 4],
                               windows=[0, 10])
    # reset to 0 then 20 counted; 20 -> 15 negative (0, base 15); 15 -> 25 is 10
    assert got.quantity.tolist() == [[30.0]]
    assert got.resets.tolist() == [[1]]
    assert got.negatives.tolist() == [[1]]


def test_jitter_never_adds_and_true_rollover_still_counts() -> None:
    """Issue 13: a 16-bit register read 30000, 29999, 30005, 30010 is 10 (not 11, not
    30,010); 65530, 65534, 2, 7 is 13 (a rollover). Same numbers as the edge."""
    jittery = register_consumption([0, 1, 2, 3], [30000.0, 29999.0, 30005.0, 30010.0],
                                   [0, 4], windows=[0, 10], modulus=65536.0)
    assert jittery.quantity.tolist() == [[10.0]]
    assert (jittery.jitter.tolist(), jittery.negatives.sum(), jittery.resets.sum()) == (
        [[1]], 0, 0)
    wrapped = register_consumption([0, 1, 2, 3], [65530.0, 65534.0, 2.0, 7.0], [0, 4],
                                   windows=[0, 10], modulus=65536.0)
    assert wrapped.quantity.tolist() == [[13.0]]
    assert wrapped.rollovers.tolist() == [[1]]


def test_impossible_jump_is_flagged_not_counted() -> None:
    """At most 100 units per hour: +5000 in one second is a jump (a misread); the return
    reads as a reset whose 100 units in one second are a jump too; then it counts on."""
    got = register_consumption([0, 1000, 2000, 3000], [100.0, 5100.0, 100.01, 100.02],
                               [0, 4], windows=[0, 10_000], max_rate_per_h=100.0)
    assert got.quantity[0, 0] == pytest.approx(0.01)  # only the last, real step
    assert (got.jumps.tolist(), got.resets.tolist()) == ([[2]], [[0]])


def test_empty_input_gives_zeros() -> None:
    got = time_element_ms([], [], [0, 0], windows=[0, 1000], model=MODEL)
    assert got.ms[0, 0, K.COL_MISSING] == 1000
    assert int(got.ms[0, 0, : K.N_TIME_COLS].sum()) == 1000
    energy = power_to_energy([], [], [0], windows=[0, 10])
    assert energy.energy_unit_ms.shape == (0, 1)


def test_bad_input_is_rejected() -> None:
    from plantstream.analytics.errors import AnalyticsInputError
    with pytest.raises(AnalyticsInputError, match="sorted"):
        time_element_ms([5, 1], [1.0, 1.0], [0, 2], windows=[0, 10], model=MODEL)
    with pytest.raises(AnalyticsInputError, match="segments"):
        register_consumption([1], [1.0], [0, 2], windows=[0, 10])


@PROPERTY
@given(data=series(st.sampled_from(CODES)), win=windows(), cal=calendars(),
       hold=holds, minor=minor_ms)
def test_numpy_baseline_matches_kernel(data: Series, win: list[int],
                                       cal: tuple[list[int], list[int]], hold: int,
                                       minor: int) -> None:
    """The benchmark's numpy baseline computes the same thing as the kernel."""
    from plantstream.bench._numpy_baseline import numpy_time_elements
    cal_arrays = CalendarArrays(t_ms=np.array(cal[0], np.int64), kind=np.array(cal[1], np.int8))
    got = time_element_ms(data.times, data.values, data.segments, windows=win, model=MODEL,
                          calendar=cal_arrays, seg_start=data.seg_start,
                          seg_end=data.seg_end, max_hold_ms=hold,
                          minor_stop_threshold_s=minor / 1000)
    base = numpy_time_elements(np.array(data.times, np.int64), np.array(data.values),
                               np.array(data.segments, np.int64),
                               np.array(data.seg_start, np.int64),
                               np.array(data.seg_end, np.int64), hold, MODEL.table(), minor,
                               np.array(win, np.int64), cal_arrays)
    assert base.tolist() == got.ms.tolist()
