"""`plantstream bench analytics`: kernel throughput beside same-run baselines.

Generated data: 10 machines, one day at 1 Hz of state codes (runs of about 5 minutes,
minor stops, failures, breaks), a part counter register (rolls over) and power samples
(0.1 % missing). Figures (single thread):

* OEE component kernel (`time_elements`, hourly windows, a two-shift calendar) against
  the same computation in plain numpy (`_baseline`), results checked equal first;
* energy kernels (counter registers + power integration) in samples/s;
* the machine's read bandwidth (numpy sum over a large array) as the ceiling;
* a year of 1 Hz state, counter and power samples for 10 machines recomputed in day
  chunks into hourly windows (`recompute`).

Ends with one line of key=value pairs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt

from plantstream.analytics.calendar import Break, Shift, ShiftCalendar, window_boundaries
from plantstream.analytics.elements import StateCarry, time_element_ms
from plantstream.analytics.meters import power_to_energy, register_consumption
from plantstream.analytics.recompute import RawChunk, RecomputeResult, Signal, recompute
from plantstream.analytics.state_model import StateModel
from plantstream.bench._numpy_baseline import numpy_time_elements
from plantstream.config import DEFAULT_STATE_MODEL

__all__ = ["run"]

MACHINES = 10
DAY_S = 86_400
DAY_MS = DAY_S * 1000
T0_MS = 1_767_196_800_000  # 2026-01-01T00:00:00+08:00
# state code, share of runs, mean run length in seconds
STATES = ((10000, 0.62, 600), (50000, 0.15, 40), (190000, 0.05, 900), (110000, 0.05, 1200),
          (60000, 0.08, 300), (30000, 0.05, 200))


def _day(rng: np.random.Generator) -> dict[str, npt.NDArray[np.float64] | npt.NDArray[np.int64]]:
    """One day of 1 Hz samples for every machine, back to back."""
    offsets = np.tile(np.arange(DAY_S, dtype=np.int64) * 1000, MACHINES)
    codes = np.empty(DAY_S * MACHINES)
    counters = np.empty(DAY_S * MACHINES)
    moduli = np.empty(MACHINES)
    probabilities = np.array([p for _, p, _ in STATES])
    for m in range(MACHINES):
        kinds = rng.choice(len(STATES), size=2000, p=probabilities / probabilities.sum())
        lengths = np.maximum(1, rng.exponential([STATES[k][2] for k in kinds])).astype(int)
        day = np.repeat(np.array([STATES[k][0] for k in kinds], float), lengths)[:DAY_S]
        codes[m * DAY_S:(m + 1) * DAY_S] = day
        made = np.cumsum(day == 10000)  # one part a second while producing
        modulus = max(int(made[-1]), 2)  # the day ends exactly on a rollover
        counters[m * DAY_S:(m + 1) * DAY_S] = made % modulus
        moduli[m] = modulus
    power = rng.normal(80.0, 15.0, DAY_S * MACHINES)
    power[rng.random(power.size) < 0.001] = np.nan
    return {"offsets": offsets, "codes": codes, "counters": counters, "power": power,
            "moduli": moduli}


def _best(function: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def _read_bandwidth() -> float:
    big = np.ones(16_000_000)  # 128 MB
    seconds = _best(lambda: big.sum(), 5)
    return big.nbytes / seconds / 1e9


def run(args: argparse.Namespace) -> int:
    rng = np.random.default_rng(7)
    day = _day(rng)
    segments = np.arange(MACHINES + 1, dtype=np.int64) * DAY_S
    calendar = ShiftCalendar(shifts=[
        Shift(name="day", start="08:00", end="20:00", breaks=[Break(start="12:00", end="12:30")]),
        Shift(name="night", start="20:00", end="08:00", breaks=[Break(start="00:00", end="00:30")]),
    ])
    model = StateModel(DEFAULT_STATE_MODEL)
    table = model.table()
    t1 = T0_MS + DAY_MS
    windows = window_boundaries(T0_MS, t1, step_ms=3_600_000, calendar=calendar)
    cal = calendar.arrays(T0_MS, t1)
    starts = np.full(MACHINES, T0_MS, np.int64)
    ends = np.full(MACHINES, t1, np.int64)
    offsets = np.asarray(day["offsets"], dtype=np.int64)
    codes = np.asarray(day["codes"], dtype=np.float64)
    n = offsets.size

    def kernel() -> npt.NDArray[np.int64]:
        return time_element_ms(offsets, codes, segments, windows=windows, model=table,
                               calendar=cal, seg_start=starts, seg_end=ends,
                               max_hold_ms=5000, t_base_ms=T0_MS,
                               carry=StateCarry.empty(MACHINES), check=False).ms

    absolute = offsets + T0_MS

    def baseline() -> npt.NDArray[np.int64]:
        return numpy_time_elements(absolute, codes, segments, starts, ends, 5000, table,
                                   120_000, windows, cal)

    machine_of = np.repeat(np.arange(MACHINES), DAY_S)

    def scatter() -> npt.NDArray[np.int64]:
        """The per-sample translation (no runs, no minor stops, no calendar)."""
        hold = np.minimum(np.diff(absolute, append=t1), 5000)
        hold[segments[1:-1] - 1] = np.minimum(t1 - absolute[segments[1:-1] - 1], 5000)
        row = np.clip(np.searchsorted(table.low, codes, side="right") - 1, 0, None)
        column = np.where(codes <= table.high[row], table.column[row], 7)
        window = np.searchsorted(windows, absolute, side="right") - 1
        acc = np.zeros((MACHINES, windows.size - 1, 11), np.int64)
        np.add.at(acc, (machine_of, window, column), hold)
        return acc

    same = bool(np.array_equal(kernel(), baseline()))
    oee_s = _best(kernel, 7)
    numpy_s = _best(baseline, 3)
    scatter_s = _best(scatter, 2)
    modulus = np.asarray(day["moduli"], dtype=np.float64)
    counters = np.asarray(day["counters"], dtype=np.float64)
    power = np.asarray(day["power"], dtype=np.float64)

    def energy() -> None:
        register_consumption(offsets, counters, segments, windows=windows, modulus=modulus,
                             t_base_ms=T0_MS, check=False)
        power_to_energy(offsets, power, segments, windows=windows, t_base_ms=T0_MS,
                        check=False)

    energy()
    energy_s = _best(energy, 5)
    bandwidth = _read_bandwidth()

    # one year, day chunks; the same generated day is replayed with its own t_base
    year_windows = window_boundaries(T0_MS, T0_MS + 365 * DAY_MS, step_ms=3_600_000,
                                     calendar=calendar)
    year_cal = calendar.arrays(T0_MS, T0_MS + 365 * DAY_MS)
    states = Signal(offsets_ms=offsets, values=codes, segments=segments)
    counter_signal = Signal(offsets_ms=offsets, values=counters, segments=segments)
    power_signal = Signal(offsets_ms=offsets, values=power, segments=segments)

    def chunks() -> Iterator[RawChunk]:
        for d in range(365):
            start = T0_MS + d * DAY_MS
            yield RawChunk(t0_ms=start, t1_ms=start + DAY_MS, states=states,
                           counters=counter_signal, power=power_signal)

    def year_run(threads: int) -> tuple[float, RecomputeResult]:
        begin = time.perf_counter()
        result = recompute(chunks(), n_machines=MACHINES, windows=year_windows, model=table,
                           calendar=year_cal, max_hold_ms=5000, counter_modulus=modulus,
                           threads=threads)
        return time.perf_counter() - begin, result

    year_s, year = year_run(1)
    year2_s, year2 = year_run(2)
    same_year = bool(np.array_equal(year.elements.ms, year2.elements.ms))
    year_samples = 3 * n * 365
    total = year.elements.total()

    oee_rate = n / oee_s
    numpy_rate = n / numpy_s
    energy_rate = 2 * n / energy_s
    print(f"data: {MACHINES} machines x 1 day at 1 Hz = {n:,} samples per signal")
    print(f"OEE kernel      {oee_s * 1e3:8.2f} ms  {oee_rate / 1e6:8.1f} M samples/s "
          f"({n * 16 / oee_s / 1e9:.2f} GB/s of offsets + codes)")
    print(f"numpy baseline  {numpy_s * 1e3:8.2f} ms  {numpy_rate / 1e6:8.1f} M samples/s  "
          f"same result: {same}  kernel/numpy = {oee_rate / numpy_rate:.1f}x")
    print(f"numpy add.at    {scatter_s * 1e3:8.2f} ms  {n / scatter_s / 1e6:8.1f} M samples/s  "
          f"(per-sample scatter translation, fewer rules: for scale only)")
    print(f"energy kernels  {energy_s * 1e3:8.2f} ms  {energy_rate / 1e6:8.1f} M samples/s "
          f"(counter registers + power integration)")
    print(f"read bandwidth  {bandwidth:8.2f} GB/s (numpy sum over 128 MB)")
    print(f"year recompute  {year_s:8.2f} s   {year_samples / year_s / 1e6:8.1f} M samples/s "
          f"({year_samples:,} samples, {year.chunks} chunks, "
          f"{year_windows.size - 1} windows; APT {total.apt_s / 3600:,.0f} h, "
          f"availability {total.apt_s / total.pbt_s:.3f})")
    print(f"year recompute  {year2_s:8.2f} s   with threads=2 (state / counter / power kernels "
          f"side by side; same result: {same_year})")
    print(f"oee_samples_per_s={oee_rate:.0f} numpy_samples_per_s={numpy_rate:.0f} "
          f"oee_vs_numpy={oee_rate / numpy_rate:.1f} energy_samples_per_s={energy_rate:.0f} "
          f"mem_read_gb_per_s={bandwidth:.2f} year_recompute_s={year_s:.2f} "
          f"numpy_same_result={same} numpy_addat_samples_per_s={n / scatter_s:.0f} "
          f"year_recompute_2threads_s={year2_s:.2f}")
    return 0 if same else 1
