"""The batcher: aligned intervals, state at start, deltas with rollover and resets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plantstream.edge.batcher import Batcher, register_delta
from plantstream.edge.readings import AnalogReading, CounterReading, MeterReading, StateReading

T0 = 1_700_000_000_000 - 1_700_000_000_000 % 60_000


def test_register_delta_rules() -> None:
    assert register_delta(10, 15, 2**16) == (5, 0, 0)
    assert register_delta(65_530, 4, 2**16) == (10, 1, 0)  # wrapped past 65535
    assert register_delta(20_000, 3, 2**16) == (3, 0, 1)  # implausible wrap: a reset
    assert register_delta(7, 7, 2**16) == (0, 0, 0)


@settings(max_examples=200, deadline=None)
@given(start=st.integers(0, 2**16 - 1), steps=st.lists(st.integers(0, 1000), max_size=50))
def test_counter_deltas_sum_to_true_increments_across_rollover(start: int,
                                                               steps: list[int]) -> None:
    """Any walk of a 16-bit counter: the deltas over all intervals sum to the truth."""
    batcher = Batcher(flush_interval_ms=10_000, start_ms=T0)
    readings = [CounterReading("m", T0, "good", "P", start, 2**16)]
    value = start
    for i, step in enumerate(steps):
        value += step
        readings.append(CounterReading("m", T0 + 3_000 * (i + 1), "good", "P", value % 2**16,
                                       2**16))
    readings.append(StateReading("m", T0, 10000))
    readings.sort(key=lambda r: r.t_ms)
    closed = batcher.add(readings)
    closed += batcher.close_until(T0 + 3_000 * (len(steps) + 1) + 10_000)
    counted = sum(c.good for interval in closed for m in interval.machines for c in m.counts)
    assert counted == sum(steps)


def test_state_at_start_and_changes_per_interval() -> None:
    batcher = Batcher(flush_interval_ms=10_000, start_ms=T0)
    closed = batcher.add([StateReading("m", T0, 10000), StateReading("m", T0 + 4_000, 50000),
                          StateReading("m", T0 + 12_000, 10000)])
    closed += batcher.close_until(T0 + 30_000)
    assert [c.t_start_ms - T0 for c in closed] == [0, 10_000, 20_000]
    first, second, third = (c.machines[0] for c in closed)
    assert (first.state_at_start, [(x.t_ms - T0, x.state) for x in first.changes]) == (
        10000, [(4_000, 50000)])
    assert (second.state_at_start, [(x.t_ms - T0, x.state) for x in second.changes]) == (
        50000, [(12_000, 10000)])
    assert (third.state_at_start, third.changes) == (10000, [])


def test_meter_delta_keeps_raw_registers_and_counts_rollover() -> None:
    batcher = Batcher(flush_interval_ms=10_000, start_ms=T0)
    readings = [StateReading("m", T0, 10000)]
    raws = [99_990, 99_995, 3, 9]  # wraps at 100_000 between the 2nd and 3rd reading
    readings += [MeterReading("m", T0 + i * 2_000, "electricity", "kWh", raw, 0.001, 100_000,
                              2_000) for i, raw in enumerate(raws)]
    closed = batcher.add(readings) + batcher.close_until(T0 + 10_000)
    meter = closed[0].machines[0].meters[0]
    assert meter.delta == pytest.approx(0.019)
    assert (meter.raw_start, meter.raw_end, meter.rollovers, meter.resets) == (99_990, 9, 1, 0)
    assert meter.covered_ms == 8_000


def test_samples_are_offsets_from_the_interval_start() -> None:
    batcher = Batcher(flush_interval_ms=10_000, start_ms=T0)
    closed = batcher.add([StateReading("m", T0, 10000), AnalogReading("m", T0 + 1_500, "p", 3.5),
                          AnalogReading("m", T0 + 11_000, "p", None)])
    closed += batcher.close_until(T0 + 20_000)
    assert closed[0].machines[0].samples[0].offsets_ms == [1_500]
    assert closed[1].machines[0].samples[0].values == [None]  # missing stays missing


def test_checkpoint_resumes_without_losing_or_doubling_counts() -> None:
    batcher = Batcher(flush_interval_ms=10_000, start_ms=T0)
    closed = batcher.add([StateReading("m", T0, 10000),
                          CounterReading("m", T0, "good", "P", 100, 2**16),
                          CounterReading("m", T0 + 5_000, "good", "P", 104, 2**16)])
    closed += batcher.close_until(T0 + 10_000)
    checkpoint = closed[-1].checkpoint
    restarted = Batcher(flush_interval_ms=10_000, start_ms=T0 + 25_000, checkpoint=checkpoint)
    assert restarted.t_start_ms == T0 + 20_000
    later = restarted.add([CounterReading("m", T0 + 26_000, "good", "P", 110, 2**16)])
    later += restarted.close_until(T0 + 30_000)
    assert sum(c.good for m in closed[0].machines for c in m.counts) == 4
    assert [c.good for m in later[0].machines for c in m.counts] == [6]


def test_flush_interval_must_divide_a_minute() -> None:
    with pytest.raises(ValueError, match="divide a minute"):
        Batcher(flush_interval_ms=7_000, start_ms=T0)


def test_checkpoint_of_an_interval_is_not_changed_by_later_readings() -> None:
    """Intervals closed in one call keep the baselines of their own end."""
    batcher = Batcher(flush_interval_ms=10_000, start_ms=T0)
    closed = batcher.add([StateReading("m", T0, 10000),
                          MeterReading("m", T0, "electricity", "kWh", 100, 0.001, 10**6, 1000),
                          MeterReading("m", T0 + 5_000, "electricity", "kWh", 150, 0.001, 10**6,
                                       1000),
                          MeterReading("m", T0 + 15_000, "electricity", "kWh", 400, 0.001,
                                       10**6, 1000)])
    assert closed[0].checkpoint["machines"]["m"]["meter_raw"] == {"electricity": 150}


def _meter_deltas(raws: list[int], **extra: object) -> list[tuple[float, int, int, int, int]]:
    """(delta, rollovers, resets, jitter, rejected) per 10 s interval, one reading a second
    on a 16-bit kWh register."""
    batcher = Batcher(flush_interval_ms=10_000, start_ms=T0)
    readings = [MeterReading("m", T0 + i * 1_000, "electricity", "kWh", raw, 1.0, 2**16,
                             1_000, **extra)  # type: ignore[arg-type]
                for i, raw in enumerate(raws)]
    closed = batcher.add([StateReading("m", T0, 10000), *readings])
    closed += batcher.close_until(T0 + 10_000 * (len(raws) // 10 + 1))
    return [(d.delta, d.rollovers, d.resets, d.jitter, d.rejected)
            for c in closed for m in c.machines for d in m.meters]


def test_meter_jitter_adds_nothing_and_rollover_still_counts() -> None:
    """Issue 13: the jittering meter is 10 kWh (was 30,010 as a reset); the same rule as
    analytics (`register_consumption` gives 10 and 13 too, tests/analytics)."""
    assert _meter_deltas([30000, 29999, 30005, 30010]) == [(10.0, 0, 0, 1, 0)]
    assert _meter_deltas([65530, 65534, 2, 7]) == [(13.0, 1, 0, 0, 0)]
    assert register_delta(30000, 29999, 2**16) == (0, 0, 0)


def test_meter_above_its_maximum_rate_is_rejected() -> None:
    """At most 36 kW: +1 kWh in one second is impossible; flagged, not counted."""
    assert _meter_deltas([100, 101, 101], max_rate_per_h=36.0) == [(0.0, 0, 0, 0, 1)]
    assert _meter_deltas([100, 101, 101]) == [(1.0, 0, 0, 0, 0)]


def test_a_meter_without_a_machine_state_reaches_the_wire() -> None:
    """A main incoming meter (no state signal) is sent with its meter deltas and no
    state; an interval in which it said nothing is left out."""
    batcher = Batcher(flush_interval_ms=10_000, start_ms=T0)
    readings = [MeterReading("main", T0 + i * 2_000, "electricity", "kWh", 500 + 7 * i,
                             1.0, 2**32, 2_000) for i in range(5)]
    closed = batcher.add(readings) + batcher.close_until(T0 + 20_000)
    first, second = closed
    (meter_only,) = first.machines
    assert (meter_only.machine, meter_only.state_at_start, meter_only.changes) == (
        "main", None, [])
    assert meter_only.meters[0].delta == 28.0
    assert second.machines == []


def test_meter_jitter_threshold_comes_with_the_reading() -> None:
    """`jitter=0`: a step back of one count is no longer noise but a flagged drop."""
    assert _meter_deltas([30000, 29999, 30005], jitter=0) == [(6.0, 0, 0, 0, 1)]
