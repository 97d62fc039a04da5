"""Plausibility limits and the arithmetic guard, without services (issue 14)."""

from __future__ import annotations

import msgspec
import pytest

from plantstream.analytics import load_coefficients
from plantstream.config import convert
from plantstream.devstack.plant import demo_plant
from plantstream.errors import ConfigError, WireError
from plantstream.ingest.components import batch_components
from plantstream.ingest.config import IngestConfig, PlausibilityConfig
from plantstream.ingest.plausibility import Plausibility, check_components
from plantstream.ingest.points import component_lines
from plantstream.wire import Batch, CounterDelta, MachineInterval, MeterDelta

T0 = 1_795_700_000_000 - 1_795_700_000_000 % 60_000
NOW = T0 + 60_000


def _batch(plant_machine: str, gateway: str, site: str, **machine: object) -> Batch:
    return Batch(v=1, site=site, gateway=gateway, seq=1, t_start_ms=T0, t_end_ms=T0 + 10_000,
                 machines=[MachineInterval(machine=plant_machine, state_at_start=10000,
                                           **machine)])  # type: ignore[arg-type]


def test_an_overflowing_result_is_refused_before_it_is_formatted() -> None:
    """Inputs within every bound whose product is infinite: a plant whose ideal cycle
    time is 1e308 s (a unit slip) times 10 parts. Unchecked, `inf` reaches the line."""
    plant, _ = demo_plant(1)
    m = plant.machines[0]
    slipped = msgspec.structs.replace(plant, machines=[
        msgspec.structs.replace(m, ideal_cycle_s={"P-100": 1e308})])
    batch = _batch(m.id, m.gateway, plant.sites[0].id,
                   counts=[CounterDelta(product="P-100", good=10)])
    components = batch_components(batch, slipped, load_coefficients())
    assert "pru_pq_s=inf" in component_lines(components)[0]  # the fault is real
    with pytest.raises(WireError) as caught:
        check_components(components, batch, topic="t")
    assert caught.value.reason == "non_finite_result"
    big = _batch(m.id, m.gateway, plant.sites[0].id,
                 counts=[CounterDelta(product="P-100", good=2**62, scrap=2**62)])
    with pytest.raises(WireError) as caught:  # each count fits int64, their sum does not
        check_components(batch_components(big, plant, load_coefficients()), big, topic="t")
    assert caught.value.reason == "integer_out_of_range"


def test_rates_follow_the_device_class_then_default_then_builtin() -> None:
    plant, _ = demo_plant(1)
    m = plant.machines[0]
    plant = msgspec.structs.replace(plant, machines=[
        msgspec.structs.replace(m, device_class="arc_furnace")])
    site = plant.sites[0].id
    config = convert({"limits": {"default": {"max_parts_per_s": 5.0},
                                 "arc_furnace": {"max_meter_per_s": {"electricity": 1000.0}}}},
                     PlausibilityConfig, source="test")
    check = Plausibility(config=config, plant=plant)

    def verdict(**machine: object) -> str:
        try:
            check.check(_batch(m.id, m.gateway, site, **machine), topic="t", now_ms=NOW)
        except WireError as exc:
            return exc.reason
        return "ok"

    def kwh(delta: float) -> list[MeterDelta]:
        return [MeterDelta(carrier="electricity", unit="kWh", delta=delta, raw_start=0.0,
                           raw_end=delta, covered_ms=10_000)]

    assert verdict(counts=[CounterDelta(product="P-100", good=50)]) == "ok"  # 5/s
    assert verdict(counts=[CounterDelta(product="P-100", good=51)]) == "implausible_rate"
    assert verdict(meters=kwh(9_000.0)) == "ok"  # the class allows 1,000 kWh/s
    assert verdict(meters=kwh(10_001.0)) == "implausible_rate"
    builtin = Plausibility(config=PlausibilityConfig(), plant=plant)
    with pytest.raises(WireError, match="implausible_rate"):
        builtin.check(_batch(m.id, m.gateway, site, meters=kwh(1_001.0)), topic="t",
                      now_ms=NOW)  # the built-in 100 kWh/s


def test_the_time_window_is_configurable() -> None:
    plant, _ = demo_plant(1)
    m = plant.machines[0]
    batch = _batch(m.id, m.gateway, plant.sites[0].id)
    check = Plausibility(config=PlausibilityConfig(max_past_s=3600.0, max_future_s=0.0),
                         plant=plant)
    check.check(batch, topic="t", now_ms=T0 + 3_600_000)
    for now_ms, reason in ((T0 + 3_600_001, "timestamp_too_old"),
                           (T0 + 9_999, "future_timestamp")):
        with pytest.raises(WireError) as caught:
            check.check(batch, topic="t", now_ms=now_ms)
        assert caught.value.reason == reason


def test_an_unknown_plausibility_key_is_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        convert({"plant": "p.toml", "plausibility": {"max_past_days": 3}}, IngestConfig,
                source="ingest.toml")
    assert caught.value.key == "plausibility.max_past_days"
