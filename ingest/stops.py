"""Minor stops judged on their whole length, whatever the batch length.

A minor stop is a stop of a minor-stop candidate state shorter than the threshold
(`oee.minor_stop_threshold_s`, default 120 s) *as a whole*. A batch alone cannot judge
a stop that began before its t_start, so:

* `batch_components` never judges a run that is still going on at t_end (an open stop
  counts under its state's element, e.g. ADET as a breakdown, not as a minor stop) and
  never judges a run that began before t_start (`state_since_ms` on the wire);
* when such a stop ends inside a batch, `stop_corrections` judges it on its whole
  length `[state_since_ms, end)`. If it is a minor stop, it returns the change to the
  components for its whole length, split at minute boundaries (and at the shift
  calendar), each piece keyed by its own start: `minor_stop_s` up, one minor stop
  counted at its first planned piece, and in the TPM model the time moved from ADET
  to APT. The ingest worker writes them as `oee_components` points tagged
  `correction=minor_stop` beside the batch's own points and marks their minutes dirty
  for the rollups.

So the sums over any window that is a union of whole batches (of every batching
compared) equal those of one batch covering it; with batches of a minute or shorter,
per-minute sums are equal too. The points are keyed by machine and piece start (pieces
of different stops of one machine never overlap), so a redelivered batch rewrites the
same points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plantstream.analytics import StateModel, TimeComponents
from plantstream.analytics.calendar import ShiftCalendar
from plantstream.analytics.elements import FOREVER_MS, fold_time_components, time_element_ms
from plantstream.config import PlantConfig
from plantstream.wire import Batch, MachineInterval

__all__ = ["CORRECTION_TAG", "StopCorrection", "spanning_stop", "stop_corrections"]

CORRECTION_TAG = "minor_stop"  # value of the `correction` tag of the points
_MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class StopCorrection:
    """Change to the components of one machine, for the piece of a stop starting at
    `t_ms` (its key); `time` holds differences (most fields 0)."""

    site: str
    line: str
    machine: str
    t_ms: int
    time: TimeComponents


def spanning_stop(m: MachineInterval, t_start_ms: int) -> tuple[int, int, int] | None:
    """`(code, began_ms, ended_ms)` of the run at t_start that began before t_start and
    ended inside the batch; None when there is none (or its start is unknown)."""
    if m.state_at_start is None or m.state_since_ms is None \
            or m.state_since_ms >= t_start_ms:
        return None
    for change in m.changes:
        if change.state != m.state_at_start:
            return m.state_at_start, m.state_since_ms, change.t_ms
    return None


def stop_corrections(batch: Batch, plant: PlantConfig, model: StateModel, *,
                     calendar: ShiftCalendar | None = None) -> list[StopCorrection]:
    """The corrections for every minor stop that began before the batch and ended in it."""
    threshold_ms = round(plant.oee.minor_stop_threshold_s * 1000)
    out: list[StopCorrection] = []
    for m in batch.machines:
        stop = spanning_stop(m, batch.t_start_ms)
        if stop is None:
            continue
        code, began, ended = stop
        if ended - began >= threshold_ms or not model.minor_stop_candidate(code):
            continue  # a long stop: every batch counted it under its element already
        line = plant.line_of(m.machine)
        for t_ms, delta in _minor_minus_plain(code, began, ended, plant, model, calendar):
            out.append(StopCorrection(site=batch.site, line=line, machine=m.machine,
                                      t_ms=t_ms, time=delta))
    return out


def _minor_minus_plain(code: int, began: int, ended: int, plant: PlantConfig,
                       model: StateModel, calendar: ShiftCalendar | None
                       ) -> list[tuple[int, TimeComponents]]:
    """Per minute piece of [began, ended): components of the stop as a minor stop minus
    components of it as a plain stop of its element (the same kernel, two thresholds)."""
    first = -(-began // _MINUTE_MS) * _MINUTE_MS
    bounds = np.unique(np.concatenate([
        np.array([began, ended], dtype=np.int64),
        np.arange(first, ended, _MINUTE_MS, dtype=np.int64)]))
    cal = calendar.arrays(began, ended) if calendar is not None else None
    totals = []
    for threshold_s in ((ended - began) / 1000.0 + 1.0, 0.001):  # minor, then plain
        totals.append(time_element_ms(
            [began], [float(code)], [0, 1], windows=bounds, model=model, calendar=cal,
            seg_start=[began], seg_end=[ended], max_hold_ms=FOREVER_MS,
            minor_stop_threshold_s=threshold_s, check=False).ms[0])
    delta = totals[0] - totals[1]
    out = []
    for k in range(bounds.size - 1):
        if delta[k].any():
            out.append((int(bounds[k]), fold_time_components(delta[k], plant.oee.model)))
    return out
