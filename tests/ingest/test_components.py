"""batch_components (what ingest calls per micro-batch) against the slow reference,
on random batches; the vectorised batches_components gives the same result."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plantstream.analytics import _kernels as K
from plantstream.analytics import load_coefficients
from plantstream.analytics.calendar import Shift, ShiftCalendar
from plantstream.analytics.elements import FOREVER_MS, fold_time_components
from plantstream.analytics.state_model import ELEMENT_COLUMN, StateModel
from plantstream.config import (
    DEFAULT_STATE_MODEL,
    Enterprise,
    Gateway,
    Line,
    Machine,
    OeeSettings,
    PlantConfig,
    Site,
)
from plantstream.ingest.components import batch_components, batches_components
from plantstream.wire import Batch, CounterDelta, MachineInterval, MeterDelta, StateChange
from tests.analytics import naive

T0 = 1_772_409_600_000  # 2026-03-02T08:00:00+08:00
CODES = [c.code for c in DEFAULT_STATE_MODEL] + [31000, 7]
COEFFICIENTS = load_coefficients()


def plant(model: str = "iso22400") -> PlantConfig:
    return PlantConfig(
        enterprise=Enterprise(id="e", name="E"), sites=[Site(id="s")],
        lines=[Line(id="l", site="s")], gateways=[Gateway(id="g", site="s")],
        machines=[Machine(id=f"m{i}", line="l", gateway="g", ideal_cycle_s={"A": 2.5})
                  for i in range(3)],
        oee=OeeSettings(model=model, minor_stop_threshold_s=3.0))  # type: ignore[arg-type]


@st.composite
def batches(draw: st.DrawFn, seq: int = 1, t0: int = T0) -> Batch:
    span = draw(st.integers(1, 20)) * 1000
    machines = []
    for i in range(draw(st.integers(1, 3))):
        times = sorted(draw(st.lists(st.integers(t0, t0 + span - 1), max_size=8)))
        since = draw(st.one_of(st.none(), st.integers(t0 - 10_000, t0)))
        machines.append(MachineInterval(
            machine=f"m{i}", state_at_start=draw(st.sampled_from(CODES)),
            state_since_ms=since,
            changes=[StateChange(t_ms=t, state=draw(st.sampled_from(CODES))) for t in times],
            counts=[CounterDelta(product=draw(st.sampled_from(["A", "B"])),
                                 good=draw(st.integers(0, 9)), scrap=draw(st.integers(0, 3)),
                                 rework=draw(st.integers(0, 2)))],
            meters=[MeterDelta(carrier="electricity", unit="kWh", delta=1.5, raw_start=10.0,
                               raw_end=11.5, covered_ms=span)]))
    return Batch(v=1, site="s", gateway="g", seq=seq, t_start_ms=t0, t_end_ms=t0 + span,
                 machines=machines)


MODEL = StateModel(DEFAULT_STATE_MODEL)


def lookup(code: float) -> tuple[int, bool]:
    element, known = MODEL.element(int(code))
    return (ELEMENT_COLUMN[element] if known else K.COL_UNKNOWN,
            MODEL.minor_stop_candidate(int(code)))


@settings(max_examples=200, deadline=None)
@given(batch=batches(), tpm=st.booleans())
def test_batch_components_match_reference(batch: Batch, tpm: bool) -> None:
    config = plant("tpm" if tpm else "iso22400")
    got = batch_components(batch, config, COEFFICIENTS)
    for m, mc in zip(batch.machines, got, strict=True):
        times = [batch.t_start_ms, *(c.t_ms for c in m.changes)]
        codes = [float(m.state_at_start), *(float(c.state) for c in m.changes)]
        acc = naive.time_elements(times, codes, [0, len(times)], [batch.t_start_ms],
                                  [batch.t_end_ms], FOREVER_MS, lookup, 3000,
                                  [batch.t_start_ms, batch.t_end_ms], [-(2**63)], [0],
                                  [m.state_since_ms or batch.t_start_ms], open_end=True)
        want = fold_time_components(acc[0][0], "tpm" if tpm else "iso22400")
        tc = mc.time
        for name in ("interval_s", "pot_s", "planned_down_s", "pbt_s", "apt_s", "asut_s",
                     "adet_s", "adot_s", "unknown_s", "minor_stop_s", "minor_stops"):
            assert getattr(tc, name) == getattr(want, name), name
        assert tc.pbt_s == pytest.approx(tc.apt_s + tc.asut_s + tc.adet_s + tc.adot_s)
        assert tc.interval_s == (batch.t_end_ms - batch.t_start_ms) / 1000
        count = m.counts[0]
        assert tc.pq == count.good + count.scrap + count.rework
        assert tc.pru_pq_s == (2.5 * tc.pq if count.product == "A" else 0.0)
        (energy,) = mc.energy
        assert energy.kgce is not None and math.isclose(energy.kgce, 1.5 * 0.1229)
        assert energy.coefficient_basis.startswith("table")


@settings(max_examples=50, deadline=None)
@given(first=batches(seq=1), second=batches(seq=2, t0=T0 + 20_000))
def test_batches_components_equal_one_batch_at_a_time(first: Batch, second: Batch) -> None:
    config = plant()
    together = batches_components([first, second], config, COEFFICIENTS)
    assert together == [batch_components(first, config, COEFFICIENTS),
                        batch_components(second, config, COEFFICIENTS)]


def test_calendar_moves_breaks_out_of_pbt() -> None:
    batch = Batch(v=1, site="s", gateway="g", seq=1, t_start_ms=T0, t_end_ms=T0 + 3_600_000,
                  machines=[MachineInterval(machine="m0", state_at_start=10000)])
    calendar = ShiftCalendar(shifts=[Shift(name="early", start="08:00", end="08:30")])
    (mc,) = batch_components(batch, plant(), COEFFICIENTS, calendar=calendar)
    assert mc.time.apt_s == 1800 and mc.time.pot_s == 1800
    assert mc.time.apt_outside_plan_s == 1800  # it ran after the shift: shown, not counted


def test_unknown_machine_is_an_error() -> None:
    batch = Batch(v=1, site="s", gateway="g", seq=1, t_start_ms=T0, t_end_ms=T0 + 1000,
                  machines=[MachineInterval(machine="ghost", state_at_start=10000)])
    with pytest.raises(KeyError):
        batch_components(batch, plant(), COEFFICIENTS)


def test_warm_up_loads_the_kernel_before_the_first_batch() -> None:
    """A fresh worker process has the time-element kernel ready before its first
    message (loading it took 1-2 s of that message's latency), also with a calendar."""
    script = (
        "from plantstream.analytics import _kernels as K, load_coefficients\n"
        "from plantstream.analytics.calendar import Shift, ShiftCalendar\n"
        "from plantstream.ingest.components import warm_up\n"
        "from tests.ingest.test_components import plant\n"
        "before = len(K.time_elements.signatures)\n"
        "calendar = ShiftCalendar(shifts=[Shift(name='day', start='08:00', end='20:00')])\n"
        "warm_up(plant(), load_coefficients(), calendar=calendar)\n"
        "print(before, len(K.time_elements.signatures))\n")
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                         text=True, cwd=Path(__file__).resolve().parents[2]).stdout.split()
    assert out == ["0", "1"]
