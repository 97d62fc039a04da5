"""The OPC UA source against a real asyncua server on a loopback port.

One server for the module (building its address space takes a second or two); each
test writes the values it needs. The last test stops and restarts the server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from asyncua import Server, ua

from plantstream.config import convert
from plantstream.devstack.services import free_port
from plantstream.edge.readings import (
    AnalogReading,
    CounterReading,
    MeterReading,
    Reading,
    StateReading,
)
from plantstream.edge.sources import build_source
from plantstream.edge.sources.opcua import OpcUaConfig, OpcUaSource
from plantstream.errors import ConfigError, ServiceError
from tests.edge.sourcing import PATIENCE_S, batch_readings, collect_until, now_ms

pytestmark = pytest.mark.timeout(90)
in_module_loop = pytest.mark.asyncio(loop_scope="module")  # the loop the server runs in

VARIABLES: dict[str, tuple[Any, ua.VariantType]] = {
    "state": (1, ua.VariantType.UInt16),
    "product": ("P-100", ua.VariantType.String),
    "good": (100, ua.VariantType.UInt32),
    "scrap": (65_533, ua.VariantType.UInt16),  # 3 before the 16-bit rollover
    "energy": (4_294_967_000, ua.VariantType.UInt32),  # 296 Wh before 2**32
    "temp": (20.0, ua.VariantType.Double),
}


class Opc:
    def __init__(self, server: Server, url: str, ns: int) -> None:
        self.server = server
        self.url = url
        self.ns = ns

    def node(self, name: str) -> str:
        return f"ns={self.ns};s=press.{name}"

    async def write(self, name: str, value: Any = None, *, at: dt.datetime | None = None,
                    status: int | None = None) -> None:
        """Write a value as the device would, with its own source timestamp `at`."""
        variant = ua.Variant(value, VARIABLES[name][1]) if status is None else ua.Variant()
        data_value = ua.DataValue(variant, SourceTimestamp=at) if status is None else \
            ua.DataValue(variant, StatusCode=ua.StatusCode(status), SourceTimestamp=at)
        await self.server.write_attribute_value(ua.NodeId.from_string(self.node(name)),
                                                data_value)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def opc() -> AsyncIterator[Opc]:
    port = free_port()
    server = Server()
    await server.init()
    url = f"opc.tcp://127.0.0.1:{port}/"
    server.set_endpoint(url)
    ns = await server.register_namespace("urn:plantstream:test")
    press = await server.nodes.objects.add_object(ns, "press")
    for name, (value, variant_type) in VARIABLES.items():
        await press.add_variable(ua.NodeId(f"press.{name}", ns), name,
                                 ua.Variant(value, variant_type))
    await server.start()
    try:
        yield Opc(server, url, ns)
    finally:
        await server.stop()


def opcua_config(opc: Opc, **overrides: Any) -> OpcUaConfig:
    config: dict[str, Any] = {
        "type": "opcua", "url": opc.url, "publishing_interval_s": 0.05, "watchdog_s": 0.2,
        "timeout_s": 1.0, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5,
        "machines": [{
            "id": "press-01",
            "default_product": "P-000",
            "state": {"node": opc.node("state"), "map": {"1": 10000, "2": 190000}},
            "product": {"node": opc.node("product")},
            "counters": {"good": {"node": opc.node("good")},
                         "scrap": {"node": opc.node("scrap"), "bits": 16}},
            "meters": [{"carrier": "electricity", "unit": "kWh", "node": opc.node("energy"),
                        "scale": 0.001}],
            "signals": [{"signal": "oil_temp_c", "node": opc.node("temp"), "deadband": 0.5}],
        }],
    }
    config.update(overrides)
    return convert(config, OpcUaConfig, source="test")


def has(kind: type[Reading], test: Callable[[Any], bool]) -> Callable[[list[Reading]], bool]:
    return lambda seen: any(isinstance(r, kind) and test(r) for r in seen)


async def wait_for(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(PATIENCE_S):
        while not condition():
            await asyncio.sleep(0.02)


@in_module_loop
async def test_subscription_to_batches(opc: Opc) -> None:
    """Source timestamps, state change, product change, 16- and 32-bit counters, an
    energy meter rolling over, a deadband and a bad value: as readings and in batches."""
    t_device = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=10)
    for name, (value, _) in VARIABLES.items():
        await opc.write(name, value, at=t_device)
    source = build_source(opcua_config(opc), start_ms=now_ms() - 60_000)
    assert isinstance(source, OpcUaSource)
    seen: list[Reading] = []
    async with source:
        # the values sent on subscription, with the device's own timestamps
        await wait_for(lambda: source.pending >= 5)
        await collect_until(source, seen, lambda s: len(s) >= 5)
        t_ms = int(t_device.timestamp() * 1000)
        assert {(type(r).__name__, r.t_ms) for r in seen} == {
            ("StateReading", t_ms), ("CounterReading", t_ms), ("MeterReading", t_ms),
            ("AnalogReading", t_ms)}
        counters = {r.kind: r for r in seen if isinstance(r, CounterReading)}
        assert (counters["good"].raw, counters["good"].modulus) == (100, 2**32)
        assert (counters["scrap"].raw, counters["scrap"].modulus) == (65_533, 2**16)
        assert counters["good"].product == "P-100"

        # a changeover to P-200, then a fault (no source timestamp: the time it arrived)
        await opc.write("product", "P-200")
        await opc.write("state", 2)
        await collect_until(source, seen, has(StateReading, lambda r: r.state == 190000))
        await opc.write("temp", 20.3)  # inside the deadband
        await opc.write("good", 110)
        await opc.write("scrap", 3)  # 65533 -> 65535 -> 0 -> 3: +6
        await opc.write("energy", 200)  # +496 Wh across 2**32
        await collect_until(source, seen, lambda s: has(MeterReading, lambda r: r.raw == 200)(s)
                            and has(CounterReading, lambda r: r.raw == 3)(s)
                            and has(CounterReading, lambda r: r.raw == 110)(s))
        await opc.write("temp", 21.0)
        await collect_until(source, seen, has(AnalogReading, lambda r: r.value == 21.0))
        await opc.write("temp", status=ua.StatusCodes.BadSensorFailure)
        await collect_until(source, seen, has(AnalogReading, lambda r: r.value is None))
        assert source.errors == 0

    temps = [r.value for r in seen if isinstance(r, AnalogReading)]
    assert temps == [20.0, 21.0, None]
    closed = batch_readings(seen)
    machines = [m for interval in closed for m in interval.machines]
    counts = {(c.product, kind): getattr(c, kind) for m in machines for c in m.counts
              for kind in ("good", "scrap") if getattr(c, kind)}
    assert counts == {("P-200", "good"): 10, ("P-200", "scrap"): 6}
    meters = [x for m in machines for x in m.meters]
    assert sum(x.delta for x in meters) == pytest.approx(0.496)
    assert sum(x.rollovers for x in meters) == 1
    assert machines[0].state_at_start == 10000
    assert [c.state for m in machines for c in m.changes] == [190000]
    assert [v for m in machines for s in m.samples for v in s.values] == temps


@in_module_loop
async def test_missing_node_is_counted(opc: Opc) -> None:
    config = opcua_config(opc, machines=[{
        "id": "press-01", "default_product": "P-1", "state": {"node": opc.node("state")},
        "signals": [{"signal": "ghost", "node": f"ns={opc.ns};s=press.nothing_here"}]}])
    source = build_source(config, start_ms=now_ms())
    assert isinstance(source, OpcUaSource)
    with pytest.raises(ServiceError, match=r"press\.nothing_here"):
        await source.check()  # what `plantstream edge check` runs
    healthy = build_source(opcua_config(opc), start_ms=now_ms())
    assert isinstance(healthy, OpcUaSource)
    await healthy.check()
    seen: list[Reading] = []
    await opc.write("state", 5)
    async with source:
        await collect_until(source, seen, lambda s: has(StateReading, lambda r: r.state == 5)(s)
                            and source.errors >= 1)
    assert not any(isinstance(r, AnalogReading) and r.value is not None for r in seen)


@in_module_loop
async def test_reconnects_after_the_server_goes_away(opc: Opc) -> None:
    source = build_source(opcua_config(opc), start_ms=now_ms())
    assert isinstance(source, OpcUaSource)
    seen: list[Reading] = []
    await opc.write("state", 1)
    await opc.write("temp", 40.0)
    async with source:
        await collect_until(source, seen, has(AnalogReading, lambda r: r.value == 40.0))
        assert source.connects == 1
        await opc.server.stop()
        try:
            # the lost connection is a missing sample and an error, never an exception
            await collect_until(source, seen, lambda s: has(AnalogReading,
                                                            lambda r: r.value is None)(s)
                                and has(StateReading, lambda r: r.state == 30000)(s))
            assert source.errors >= 1
        finally:
            await opc.server.start()
        await wait_for(lambda: source.connects == 2)
        await opc.write("temp", 50.0)
        await collect_until(source, seen, has(AnalogReading, lambda r: r.value == 50.0))
    states = [r.state for r in seen if isinstance(r, StateReading)]
    assert states[0] == 10000 and 30000 in states and states[-1] == 10000  # unknown while lost


def test_bad_node_id_names_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        convert({"type": "opcua", "url": "opc.tcp://127.0.0.1:4840/", "machines": [
            {"id": "m", "default_product": "P", "state": {"node": "ns=2;q=oops"}}]},
            OpcUaConfig, source="test")
    assert err.value.key == "machines[0].state.node"
