"""Chunked recompute over a long history equals one pass over all of it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from plantstream.analytics.calendar import Shift, ShiftCalendar, window_boundaries
from plantstream.analytics.elements import time_element_ms
from plantstream.analytics.errors import AnalyticsInputError
from plantstream.analytics.meters import power_to_energy, register_consumption
from plantstream.analytics.recompute import RawChunk, Signal, recompute
from plantstream.analytics.state_model import StateModel
from plantstream.config import DEFAULT_STATE_MODEL

T0 = 1_767_196_800_000  # 2026-01-01T00:00:00+08:00
HOUR = 3_600_000
MACHINES = 3
SPAN = 48 * HOUR
STEP = 20_000  # a sample every 20 s


def history() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    t = np.arange(T0, T0 + SPAN, STEP, dtype=np.int64)
    codes = rng.choice([10000.0, 50000.0, 190000.0, 60000.0, np.nan], size=(MACHINES, t.size),
                       p=[0.6, 0.2, 0.1, 0.09, 0.01])
    codes = np.repeat(codes[:, ::6], 6, axis=1)[:, : t.size]  # runs of 2 minutes
    counters = np.cumsum(rng.integers(0, 3, size=(MACHINES, t.size)), axis=1) % 500.0
    power = rng.normal(50, 10, size=(MACHINES, t.size))
    power[:, 1000:1010] = np.nan  # a gap longer than max_gap
    return t, codes, counters.astype(float), power


@pytest.mark.parametrize("threads", [1, 2])
def test_recompute_in_chunks_equals_one_pass(threads: int) -> None:
    t, codes, counters, power = history()
    calendar = ShiftCalendar(shifts=[Shift(name="day", start="08:00", end="20:00")])
    windows = window_boundaries(T0, T0 + SPAN, step_ms=HOUR, calendar=calendar)
    cal = calendar.arrays(T0, T0 + SPAN)
    model = StateModel(DEFAULT_STATE_MODEL)
    flat_t = np.tile(t, MACHINES)
    segments = np.arange(MACHINES + 1) * t.size

    def chunks(hours: int) -> Iterator[RawChunk]:
        for c0 in range(T0, T0 + SPAN, hours * HOUR):
            c1 = min(c0 + hours * HOUR, T0 + SPAN)
            pick = (t >= c0) & (t < c1)
            seg = np.arange(MACHINES + 1) * int(pick.sum())
            offsets = np.tile(t[pick] - c0, MACHINES)
            yield RawChunk(t0_ms=c0, t1_ms=c1,
                           states=Signal(offsets, codes[:, pick].ravel(), seg),
                           counters=Signal(offsets, counters[:, pick].ravel(), seg),
                           power=Signal(offsets, power[:, pick].ravel(), seg))

    result = recompute(chunks(5), n_machines=MACHINES, windows=windows, model=model,
                       calendar=cal, max_hold_ms=60_000, counter_modulus=500.0,
                       max_gap_ms=60_000, check=True, threads=threads)
    assert result.chunks == 10
    one = time_element_ms(flat_t, codes.ravel(), segments, windows=windows, model=model,
                          calendar=cal, max_hold_ms=60_000)
    assert result.elements.ms.tolist() == one.ms.tolist()
    registers = register_consumption(flat_t, counters.ravel(), segments, windows=windows,
                                     modulus=500.0, max_gap_ms=60_000)
    assert result.counters is not None
    assert np.allclose(result.counters.quantity, registers.quantity)
    assert result.counters.rollovers.sum() == registers.rollovers.sum() > 0
    energy = power_to_energy(flat_t, power.ravel(), segments, windows=windows,
                             max_gap_ms=60_000)
    assert result.energy is not None
    assert np.allclose(result.energy.energy_unit_ms, energy.energy_unit_ms)
    assert result.energy.gaps.sum() == MACHINES
    assert result.energy.completeness().min() < 1.0
    # per machine, whole history: PBT = APT + ASUT + ADET + ADOT
    tc = result.time_components(0)
    assert tc.pbt_s == pytest.approx(tc.apt_s + tc.asut_s + tc.adet_s + tc.adot_s)
    assert tc.interval_s == SPAN / 1000


def test_chunks_must_be_contiguous() -> None:
    empty = Signal(np.zeros(0, np.int64), np.zeros(0), np.zeros(2, np.int64))
    with pytest.raises(AnalyticsInputError, match="contiguous"):
        recompute([RawChunk(t0_ms=0, t1_ms=10, states=empty),
                   RawChunk(t0_ms=20, t1_ms=30, states=empty)], n_machines=1,
                  windows=[0, 30], model=StateModel(DEFAULT_STATE_MODEL))
