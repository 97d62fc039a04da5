"""Recompute components over a long history from raw arrays, chunk by chunk.

The path for a changed calendar, state model or ideal cycle time: raw state samples
(or changes), counter registers and power samples are read chunk by chunk (a day, say)
from any source, and added into accumulators of size machines x windows. Memory is
bounded by one chunk plus the accumulators, whatever the length of the history; runs
(minor stops), counter steps and power trapezoids are carried across chunk
boundaries, so the result equals one pass over the whole history (a property test
checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from plantstream.analytics.calendar import CalendarArrays
from plantstream.analytics.elements import (
    FOREVER_MS,
    ElementTotals,
    OeeModel,
    StateCarry,
    time_element_ms,
)
from plantstream.analytics.errors import AnalyticsInputError
from plantstream.analytics.meters import (
    EnergyTotals,
    RegisterCarry,
    RegisterTotals,
    SampleCarry,
    power_to_energy,
    register_consumption,
)
from plantstream.analytics.records import TimeComponents
from plantstream.analytics.state_model import StateModel, StateTable

__all__ = ["RawChunk", "RecomputeResult", "Signal", "recompute", "timeline_components"]


@dataclass(frozen=True, slots=True)
class Signal:
    """Samples of one kind for all machines in a chunk: offsets from the chunk's
    `t_base_ms`, values (NaN: missing), and segment bounds per machine."""

    offsets_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    segments: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class RawChunk:
    """Raw data of every machine for [t0_ms, t1_ms); a sample at t belongs to the
    chunk with t0 <= t < t1."""

    t0_ms: int
    t1_ms: int
    states: Signal
    counters: Signal | None = None  # cumulative part counters (one register a machine)
    power: Signal | None = None  # power samples (kW)


@dataclass(frozen=True, slots=True)
class RecomputeResult:
    elements: ElementTotals
    counters: RegisterTotals | None
    energy: EnergyTotals | None
    chunks: int

    def time_components(self, machine: int, window: int | None = None, *,
                        model: OeeModel = "iso22400") -> TimeComponents:
        return self.elements.time_components(machine, window, model=model)


def _lookahead(chunks: Iterable[RawChunk]) -> Iterator[tuple[RawChunk, bool]]:
    iterator = iter(chunks)
    current = next(iterator, None)
    while current is not None:
        following = next(iterator, None)
        yield current, following is None
        current = following


def recompute(chunks: Iterable[RawChunk], *, n_machines: int, windows: npt.ArrayLike,
              model: StateModel | StateTable, calendar: CalendarArrays | None = None,
              max_hold_ms: int = FOREVER_MS, minor_stop_threshold_s: float = 120.0,
              counter_modulus: float | npt.ArrayLike = np.nan, max_gap_ms: int = 60_000,
              check: bool = False, threads: int = 1,
              open_end: bool = False) -> RecomputeResult:
    """Components per machine and window from raw chunks in time order.

    `open_end`: the history ends now and each machine's last state is still going on
    (not judged as a minor stop: what the live path does, see `ingest.stops`).

    `threads` > 1 runs the state, counter and power kernels of a chunk side by side
    (the kernels release the GIL and write separate accumulators); the result is the
    same.
    """
    win = np.ascontiguousarray(windows, dtype=np.int64)
    table = model.table() if isinstance(model, StateModel) else model
    state_carry = StateCarry.empty(n_machines)
    counter_carry = RegisterCarry.empty(n_machines)
    power_carry = SampleCarry.empty(n_machines)
    elements: ElementTotals | None = None
    counters: RegisterTotals | None = None
    energy: EnergyTotals | None = None
    count = 0
    previous_end: int | None = None
    pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None
    try:
        for chunk, last in _lookahead(chunks):
            if previous_end is not None and chunk.t0_ms != previous_end:
                raise AnalyticsInputError(field="chunks",
                                          reason=f"chunk at {chunk.t0_ms} does not follow "
                                                 f"{previous_end}: chunks must be contiguous")
            previous_end = chunk.t1_ms
            if chunk.states.segments.size != n_machines + 1:
                raise AnalyticsInputError(field="states.segments",
                                          reason=f"expected {n_machines + 1} bounds")
            span_start = np.full(n_machines, chunk.t0_ms, np.int64)
            span_end = np.full(n_machines, chunk.t1_ms, np.int64)
            jobs: list[Callable[[], Any]] = [partial(
                time_element_ms, chunk.states.offsets_ms, chunk.states.values,
                chunk.states.segments, windows=win, model=table, calendar=calendar,
                seg_start=span_start, seg_end=span_end, max_hold_ms=max_hold_ms,
                minor_stop_threshold_s=minor_stop_threshold_s, t_base_ms=chunk.t0_ms,
                carry=state_carry, final=last, open_end=open_end, out=elements,
                check=check)]
            if chunk.counters is not None:
                jobs.append(partial(
                    register_consumption, chunk.counters.offsets_ms, chunk.counters.values,
                    chunk.counters.segments, windows=win, modulus=counter_modulus,
                    max_gap_ms=max_gap_ms, t_base_ms=chunk.t0_ms, carry=counter_carry,
                    out=counters, check=check))
            if chunk.power is not None:
                jobs.append(partial(
                    power_to_energy, chunk.power.offsets_ms, chunk.power.values,
                    chunk.power.segments, windows=win, max_gap_ms=max_gap_ms,
                    t_base_ms=chunk.t0_ms, carry=power_carry, out=energy, check=check))
            if pool is None:
                results = [job() for job in jobs]
            else:
                results = [f.result() for f in [pool.submit(job) for job in jobs]]
            elements = results[0]
            rest = results[1:]
            if chunk.counters is not None:
                counters = rest.pop(0)
            if chunk.power is not None:
                energy = rest.pop(0)
            count += 1
    finally:
        if pool is not None:
            pool.shutdown()
    if elements is None:
        raise AnalyticsInputError(field="chunks", reason="no chunks")
    return RecomputeResult(elements=elements, counters=counters, energy=energy, chunks=count)


def timeline_components(samples: Mapping[str, tuple[Sequence[int], Sequence[float]]], *,
                        start_ms: int, end_ms: int, windows: npt.ArrayLike,
                        model: StateModel, calendar: CalendarArrays | None = None,
                        oee_model: OeeModel = "iso22400", max_hold_ms: int = FOREVER_MS,
                        minor_stop_threshold_s: float = 120.0, open_end: bool = False
                        ) -> dict[str, list[TimeComponents]]:
    """Time components per machine and window from state samples or changes
    (`machine -> (t_ms, codes)`), each machine covering [start_ms, end_ms); with
    `open_end` the last state of each machine is still going on (not judged)."""
    names = list(samples)
    t_parts = [np.asarray(samples[n][0], dtype=np.int64) for n in names]
    c_parts = [np.asarray(samples[n][1], dtype=np.float64) for n in names]
    segments = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum([p.size for p in t_parts], out=segments[1:])
    totals = time_element_ms(
        np.concatenate(t_parts) if t_parts else np.zeros(0, np.int64),
        np.concatenate(c_parts) if c_parts else np.zeros(0),
        segments, windows=windows, model=model, calendar=calendar,
        seg_start=np.full(len(names), start_ms, np.int64),
        seg_end=np.full(len(names), end_ms, np.int64), max_hold_ms=max_hold_ms,
        minor_stop_threshold_s=minor_stop_threshold_s, open_end=open_end)
    n_windows = totals.ms.shape[1]
    return {name: [totals.time_components(i, k, model=oee_model) for k in range(n_windows)]
            for i, name in enumerate(names)}
