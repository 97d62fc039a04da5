"""KPIs from components: undefined is None, effectiveness above 1 is kept and flagged,
merging is exact and associative; cross-check with the independent PyPI `oee` package."""

from __future__ import annotations

import math
import random

import oee
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plantstream.analytics import (
    TimeComponents,
    kpis,
    merge_time_components,
    six_big_losses,
)
from tests.analytics import naive


def components(*, apt: float, asut: float = 0.0, adet: float = 0.0, adot: float = 0.0,
               planned_down: float = 0.0, not_planned: float = 0.0, pru: float = 1.0,
               good: int = 0, scrap: int = 0, rework: int = 0,
               minor: float = 0.0) -> TimeComponents:
    pbt = apt + asut + adet + adot
    pq = good + scrap + rework
    return TimeComponents(
        interval_s=pbt + planned_down + not_planned, pot_s=pbt + planned_down,
        planned_down_s=planned_down, pbt_s=pbt, apt_s=apt, asut_s=asut, adet_s=adet,
        adot_s=adot, minor_stop_s=minor, pq=pq, gq=good, sq=scrap, rq=rework,
        pru_pq_s=pru * pq, pru_gq_s=pru * good)


def test_undefined_is_none_not_zero() -> None:
    empty = kpis(TimeComponents())
    assert empty.availability is None and empty.oee is None and empty.quality is None
    assert empty.teep is None and empty.nee is None and empty.setup_rate is None
    no_output = kpis(components(apt=0.0, adet=100.0))
    assert no_output.availability == 0.0  # defined: PBT > 0
    assert no_output.effectiveness is None  # APT = 0
    assert no_output.quality is None  # PQ = 0
    assert no_output.oee is None


def test_effectiveness_above_one_is_kept_and_flagged() -> None:
    result = kpis(components(apt=100.0, pru=2.0, good=60))
    assert result.effectiveness == pytest.approx(1.2)
    assert result.effectiveness_above_one
    assert result.oee == pytest.approx(1.2)


# times come from integer milliseconds: 0 or at least 1 ms
times = st.one_of(st.just(0.0), st.integers(1, 10**8).map(lambda ms: ms / 1000))
counts = st.integers(0, 10_000)


@st.composite
def parts(draw: st.DrawFn) -> TimeComponents:
    return components(apt=draw(times), asut=draw(times), adet=draw(times), adot=draw(times),
                      planned_down=draw(times), pru=draw(st.floats(0.1, 60)),
                      good=draw(counts), scrap=draw(counts), rework=draw(counts))


@settings(max_examples=200, deadline=None)
@given(items=st.lists(parts(), min_size=1, max_size=8), seed=st.integers(0, 2**32))
def test_merging_is_associative_and_a_ratio_of_sums(items: list[TimeComponents],
                                                    seed: int) -> None:
    """Any grouping (workers, lines, sites) merges to the same KPIs: ratios of sums."""
    whole = merge_time_components(items)
    shuffled = items[:]
    random.Random(seed).shuffle(shuffled)
    cut = len(shuffled) // 2
    grouped = merge_time_components([merge_time_components(shuffled[:cut]),
                                     merge_time_components(shuffled[cut:])])
    a, b = kpis(whole), kpis(grouped)
    for name in ("availability", "effectiveness", "quality", "oee", "value_adding"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None)
        if x is not None:
            assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    assert whole.gq == sum(c.gq for c in items)
    want = naive.oee_iso(apt_s=whole.apt_s, pbt_s=whole.pbt_s, pru_pq_s=whole.pru_pq_s,
                         gq=whole.gq, pq=whole.pq)
    assert (a.oee is None) == (want is None)
    if want is not None and a.oee is not None:
        assert math.isclose(a.oee, want, rel_tol=1e-9, abs_tol=1e-12)


def test_average_of_ratios_is_not_what_we_compute() -> None:
    fast = components(apt=90.0, adet=10.0, pru=1.0, good=80)  # OEE 0.80
    slow = components(apt=150.0, adet=150.0, pru=1.0, good=135, scrap=15)  # OEE 0.45
    line = kpis(merge_time_components([fast, slow]))
    assert line.oee == pytest.approx((80 + 150) / 400 * (215 / 230))
    assert line.oee != pytest.approx((0.80 + 0.45) / 2)


# --- cross-check with the PyPI `oee` package (Atakan Arikan, MIT, version 0.2.0) ----------

@settings(max_examples=200, deadline=None)
@given(apt=st.floats(1, 1e5), losses=st.floats(0, 1e5), setup=st.floats(0, 1e4),
       pru=st.floats(0.01, 10), good=st.integers(0, 5000), bad=st.integers(0, 500),
       planned_down=st.floats(0, 1e4))
def test_agrees_with_the_oee_package(apt: float, losses: float, setup: float, pru: float,
                                     good: int, bad: int, planned_down: float) -> None:
    """Same definitions (single product, TPM mapping planned production time = PBT,
    run time = APT): availability, quality, OEE, TEEP and the loss split agree wherever
    the effectiveness is at most 1."""
    c = components(apt=apt, asut=setup, adet=losses, planned_down=planned_down, pru=pru,
                   good=good, rework=bad)
    if c.pq == 0 or c.pru_pq_s > c.apt_s:
        return  # undefined in `oee` / capped there: see the documented differences below
    ours = kpis(c)
    theirs = oee.oee(planned_production_time=c.pbt_s, run_time=c.apt_s,
                     ideal_cycle_time=pru, total_count=c.pq, good_count=c.gq,
                     all_time=c.interval_s, setup_time=c.asut_s)
    for mine, other in ((ours.availability, theirs.availability),
                        (ours.effectiveness, theirs.performance),
                        (ours.quality, theirs.quality), (ours.oee, theirs.oee),
                        (ours.teep, theirs.teep)):
        assert mine is not None and other is not None
        assert math.isclose(mine, other, rel_tol=1e-9, abs_tol=1e-12)
    losses_view = six_big_losses(c)
    assert theirs.six_losses is not None
    assert math.isclose(losses_view.breakdowns_s + losses_view.idle_s,
                        theirs.six_losses["breakdowns"], rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(losses_view.reduced_speed_s + losses_view.minor_stops_s,
                        theirs.six_losses["minor_stops_and_reduced_speed"],
                        rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(losses_view.defects_s, theirs.six_losses["process_defects"],
                        rel_tol=1e-9, abs_tol=1e-6)


def test_documented_differences_with_the_oee_package() -> None:
    """Where the definitions differ, by design:

    1. performance above 100 %: `oee` caps it at 1 (with an alert); we keep the raw
       effectiveness and flag it (DOMAIN.md: never clip silently);
    2. nothing produced (PQ = 0): `oee` raises; our quality and OEE are None;
    3. PBT = 0: `oee` raises; our availability and OEE are None;
    4. `oee` has one "breakdowns" bucket for all of planned-minus-run time except
       setup; we keep idle time (ADOT) beside the six losses, not inside breakdowns.
    """
    fast = components(apt=100.0, pru=2.0, good=60)
    theirs = oee.oee(planned_production_time=100.0, run_time=100.0, ideal_cycle_time=2.0,
                     total_count=60, good_count=60)
    assert theirs.performance == 1.0 and theirs.performance_raw == pytest.approx(1.2)
    ours = kpis(fast)
    assert ours.effectiveness == pytest.approx(1.2) and ours.effectiveness_above_one
    assert ours.oee == pytest.approx(1.2) and theirs.oee == pytest.approx(1.0)

    with pytest.raises(ValueError):
        oee.oee(planned_production_time=100.0, run_time=50.0, ideal_cycle_time=1.0,
                total_count=0, good_count=0)
    nothing = kpis(components(apt=50.0, adet=50.0))
    assert nothing.quality is None and nothing.oee is None

    with pytest.raises(ValueError):
        oee.oee(planned_production_time=0.0, run_time=0.0, ideal_cycle_time=1.0,
                total_count=1, good_count=1)
    assert kpis(TimeComponents()).availability is None

    idle = components(apt=50.0, adot=30.0, adet=20.0, pru=1.0, good=40)
    theirs = oee.oee(planned_production_time=100.0, run_time=50.0, ideal_cycle_time=1.0,
                     total_count=40, good_count=40)
    view = six_big_losses(idle)
    assert theirs.six_losses is not None
    assert theirs.six_losses["breakdowns"] == pytest.approx(50.0)
    assert (view.breakdowns_s, view.idle_s) == (20.0, 30.0)


def test_six_big_losses_tpm_model_keeps_minor_stops_out_of_run_time() -> None:
    c = components(apt=1000.0, adet=100.0, pru=1.0, good=800, scrap=50)
    c.minor_stop_s = 60.0  # TPM: inside APT
    view = six_big_losses(c, model="tpm")
    assert view.minor_stops_s == 60.0
    assert view.reduced_speed_s == pytest.approx(1000.0 - 60.0 - 850.0)
    assert view.breakdowns_s == 100.0
