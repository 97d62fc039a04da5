"""Energy meters and part counters from raw samples, for many series and windows.

Public, typed wrappers of the `register_deltas` and `power_energy` kernels:

* `register_consumption`: cumulative registers (kWh meters, gas meters, part counters)
  -> consumption per window under the one register rule (`plantstream.meter_rule`:
  jitter, rollover, resets, negative steps, impossible jumps) with gaps handled and
  every kind counted, and the covered time per window (completeness);
* `power_to_energy`: power samples (kW) -> energy (kWh) per window, trapezoids between
  consecutive valid samples, split at window boundaries; gaps are not integrated.

Both add into their result when `out` is given, with a carry per series, so a long
history is processed chunk by chunk (see `recompute`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from plantstream.analytics import _kernels as K
from plantstream.analytics.errors import AnalyticsInputError
from plantstream.meter_rule import DEFAULT_JITTER

__all__ = [
    "EnergyTotals",
    "RegisterCarry",
    "RegisterTotals",
    "SampleCarry",
    "power_to_energy",
    "register_consumption",
]

MS_PER_HOUR = 3_600_000.0


@dataclass(frozen=True, slots=True)
class RegisterCarry:
    """Last valid reading of each series between chunks (updated in place)."""

    valid: npt.NDArray[np.int8]
    t_ms: npt.NDArray[np.int64]
    raw: npt.NDArray[np.float64]

    @staticmethod
    def empty(n_series: int) -> RegisterCarry:
        return RegisterCarry(valid=np.zeros(n_series, np.int8),
                             t_ms=np.zeros(n_series, np.int64),
                             raw=np.full(n_series, np.nan))


SampleCarry = RegisterCarry  # same shape: last valid (time, value) per series


@dataclass(frozen=True, slots=True)
class RegisterTotals:
    """Per (series, window): consumption, covered ms, step counts, first/last reading."""

    windows: npt.NDArray[np.int64]
    quantity: npt.NDArray[np.float64]  # (S, K) in the register's unit
    covered_ms: npt.NDArray[np.int64]  # (S, K)
    counts: npt.NDArray[np.int64]  # (S, K, 6): rollovers, resets, negatives, gaps,
    # jitter, jumps (`_kernels.REG_*`)
    raw_first: npt.NDArray[np.float64]  # (S, K) first valid reading in the window (NaN)
    raw_last: npt.NDArray[np.float64]

    @property
    def rollovers(self) -> npt.NDArray[np.int64]:
        return self.counts[:, :, K.REG_ROLLOVERS]

    @property
    def resets(self) -> npt.NDArray[np.int64]:
        return self.counts[:, :, K.REG_RESETS]

    @property
    def negatives(self) -> npt.NDArray[np.int64]:
        return self.counts[:, :, K.REG_NEGATIVES]

    @property
    def gaps(self) -> npt.NDArray[np.int64]:
        return self.counts[:, :, K.REG_GAPS]

    @property
    def jitter(self) -> npt.NDArray[np.int64]:
        return self.counts[:, :, K.REG_JITTER]

    @property
    def jumps(self) -> npt.NDArray[np.int64]:
        return self.counts[:, :, K.REG_JUMPS]

    def completeness(self) -> npt.NDArray[np.float64]:
        """Covered share of each window (0..1)."""
        return self.covered_ms / np.diff(self.windows)[np.newaxis, :]


@dataclass(frozen=True, slots=True)
class EnergyTotals:
    windows: npt.NDArray[np.int64]
    energy_unit_ms: npt.NDArray[np.float64]  # (S, K): power unit x milliseconds
    covered_ms: npt.NDArray[np.int64]
    gaps: npt.NDArray[np.int64]

    def energy_unit_h(self) -> npt.NDArray[np.float64]:
        """Energy in power-unit hours (kW samples -> kWh)."""
        return self.energy_unit_ms / MS_PER_HOUR

    def completeness(self) -> npt.NDArray[np.float64]:
        return self.covered_ms / np.diff(self.windows)[np.newaxis, :]


def _common(t_ms: npt.ArrayLike, values: npt.ArrayLike, segments: npt.ArrayLike,
            windows: npt.ArrayLike, max_gap_ms: int, check: bool
            ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64],
                       npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    t = np.ascontiguousarray(t_ms, dtype=np.int64)
    v = np.ascontiguousarray(values, dtype=np.float64)
    seg = np.ascontiguousarray(segments, dtype=np.int64)
    win = np.ascontiguousarray(windows, dtype=np.int64)
    if t.ndim != 1 or v.shape != t.shape:
        raise AnalyticsInputError(field="values", reason="t_ms and values differ in shape")
    if seg.ndim != 1 or seg.size < 1 or seg[0] != 0 or seg[-1] != t.size:
        raise AnalyticsInputError(field="segments",
                                  reason="must start at 0 and end at len(t_ms)")
    if win.ndim != 1 or win.size < 2:
        raise AnalyticsInputError(field="windows", reason="need at least 2 boundaries")
    if max_gap_ms <= 0:
        raise AnalyticsInputError(field="max_gap_ms", reason="must be positive")
    if check:
        if np.any(np.diff(seg) < 0) or np.any(np.diff(win) <= 0):
            raise AnalyticsInputError(field="segments", reason="segments or windows unsorted")
        steps = np.diff(t)
        inner = np.ones(steps.size, dtype=bool)
        inner[seg[1:-1][(seg[1:-1] > 0) & (seg[1:-1] < t.size)] - 1] = False
        if np.any(steps[inner] < 0):
            raise AnalyticsInputError(field="t_ms", reason="not sorted within a series")
    return t, v, seg, win


def register_consumption(t_ms: npt.ArrayLike, raw: npt.ArrayLike, segments: npt.ArrayLike,
                         *, windows: npt.ArrayLike,
                         modulus: float | npt.ArrayLike = np.nan,
                         jitter: float = DEFAULT_JITTER,
                         max_rate_per_h: float | npt.ArrayLike = np.nan,
                         max_gap_ms: int = 60_000,
                         t_base_ms: int = 0, carry: RegisterCarry | None = None,
                         out: RegisterTotals | None = None,
                         check: bool = True) -> RegisterTotals:
    """Consumption per series and window from cumulative register readings.

    `raw` are register readings (NaN: missing), series `s` is
    `[segments[s], segments[s + 1])` sorted by time; `modulus` is the register range
    where it rolls over (e.g. 1e6 for a 6-digit kWh register; NaN: never), one value
    or one per series; `jitter` the largest backward step that is read-out noise;
    `max_rate_per_h` the most a register can advance per hour (the meter's maximum
    power, in register units; NaN: no limit), one value or one per series; a step
    longer than `max_gap_ms` is a gap. The rule is `plantstream.meter_rule` (the edge
    applies the same one); see `_kernels.register_deltas`.
    """
    t, v, seg, win = _common(t_ms, raw, segments, windows, max_gap_ms, check)
    n_series, n_win = seg.size - 1, win.size - 1
    mod = np.ascontiguousarray(np.broadcast_to(np.asarray(modulus, dtype=np.float64),
                                               (n_series,)))
    if np.any(mod <= 0):
        raise AnalyticsInputError(field="modulus", reason="must be positive or NaN")
    rate = np.ascontiguousarray(np.broadcast_to(
        np.asarray(max_rate_per_h, dtype=np.float64), (n_series,))) / MS_PER_HOUR
    if np.any(rate < 0) or not jitter >= 0:
        raise AnalyticsInputError(field="max_rate_per_h",
                                  reason="jitter and rates must not be negative")
    state = carry if carry is not None else RegisterCarry.empty(n_series)
    if out is None:
        out = RegisterTotals(windows=win, quantity=np.zeros((n_series, n_win)),
                             covered_ms=np.zeros((n_series, n_win), np.int64),
                             counts=np.zeros((n_series, n_win, K.N_REG_COUNTS), np.int64),
                             raw_first=np.full((n_series, n_win), np.nan),
                             raw_last=np.full((n_series, n_win), np.nan))
    K.register_deltas(int(t_base_ms), t, v, seg, mod, float(jitter), rate, int(max_gap_ms),
                      state.valid,
                      state.t_ms, state.raw, win, out.quantity, out.covered_ms, out.counts,
                      out.raw_first, out.raw_last)
    return out


def power_to_energy(t_ms: npt.ArrayLike, power: npt.ArrayLike, segments: npt.ArrayLike, *,
                    windows: npt.ArrayLike, max_gap_ms: int = 60_000, t_base_ms: int = 0,
                    carry: SampleCarry | None = None, out: EnergyTotals | None = None,
                    check: bool = True) -> EnergyTotals:
    """Energy per series and window from power samples (NaN: missing), gap-aware."""
    t, v, seg, win = _common(t_ms, power, segments, windows, max_gap_ms, check)
    n_series, n_win = seg.size - 1, win.size - 1
    state = carry if carry is not None else SampleCarry.empty(n_series)
    if out is None:
        out = EnergyTotals(windows=win, energy_unit_ms=np.zeros((n_series, n_win)),
                           covered_ms=np.zeros((n_series, n_win), np.int64),
                           gaps=np.zeros((n_series, n_win), np.int64))
    K.power_energy(int(t_base_ms), t, v, seg, int(max_gap_ms), state.valid, state.t_ms,
                   state.raw, win, out.energy_unit_ms, out.covered_ms, out.gaps)
    return out
