"""The Modbus TCP source against a real pymodbus TCP server on a loopback port.

The test owns the server's registers and changes them like a PLC would; the source
polls on its own schedule; what it reports goes through the real batcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from plantstream.config import convert
from plantstream.devstack.services import Mosquitto, free_port
from plantstream.edge.agent import EdgeAgent
from plantstream.edge.config import EdgeConfig
from plantstream.edge.readings import (
    AnalogReading,
    CounterReading,
    MeterReading,
    Reading,
    StateReading,
)
from plantstream.edge.sources import build_source
from plantstream.edge.sources.modbus import ModbusConfig, ModbusSource
from plantstream.edge.sources.modbus._registers import Block, plan_blocks
from plantstream.errors import ConfigError, ServiceError
from plantstream.wire import Batch, MachineInterval, decode_batch
from tests.edge.sourcing import PATIENCE_S, batch_readings, collect_until, now_ms

pytestmark = pytest.mark.timeout(60)

DEVICE_ID = 3
HOLDING, INPUT = 16, 4  # function codes that address the holding / input register tables


class Plc:
    """A real Modbus TCP server whose registers the test writes."""

    def __init__(self, server: ModbusTcpServer, port: int) -> None:
        self.server = server
        self.port = port

    async def holding(self, address: int, values: list[int]) -> None:
        await self.server.async_setValues(DEVICE_ID, HOLDING, address, values)

    async def input(self, address: int, values: list[int]) -> None:
        await self.server.async_setValues(DEVICE_ID, INPUT, address, values)


@pytest.fixture
async def plc() -> AsyncIterator[Plc]:
    port = free_port()
    registers = [SimData(0, count=200, values=0, datatype=DataType.REGISTERS)]
    bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
    device = SimDevice(id=DEVICE_ID, simdata=(bits, bits, registers, registers))
    server = ModbusTcpServer([device], address=("127.0.0.1", port))
    task = asyncio.create_task(server.serve_forever(), name="test-modbus-server")
    await asyncio.sleep(0)  # let it bind
    try:
        yield Plc(server, port)
    finally:
        await server.shutdown()
        await task


def machine_map(**overrides: Any) -> dict[str, Any]:
    machine: dict[str, Any] = {
        "id": "press-01",
        "default_product": "P-000",
        # hr0 state, hr1 product number, hr2 temperature: one write changes them together
        "state": {"address": 0, "map": {"1": 10000, "2": 190000}},
        "product": {"address": 1, "map": {"1": "P-100", "2": "P-200"}},
        "counters": {
            "good": {"address": 10},  # 16-bit
            "scrap": {"address": 11, "words": 2, "word_order": "big"},
            "rework": {"address": 13, "words": 2, "word_order": "little"},
        },
        "meters": [{"carrier": "electricity", "unit": "kWh", "table": "input",
                    "address": 20, "words": 2, "scale": 0.001}],
        "signals": [{"signal": "oil_temp_c", "address": 2, "signed": True, "scale": 0.1,
                     "deadband": 0.5}],
    }
    machine.update(overrides)
    return machine


def modbus_config(*devices: dict[str, Any]) -> ModbusConfig:
    return convert({"type": "modbus", "devices": list(devices)}, ModbusConfig, source="test")


def device(port: int, *machines: dict[str, Any]) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "device_id": DEVICE_ID, "timeout_s": 0.5,
            "poll_interval_s": 0.05, "machines": list(machines)}


def has(kind: type[Reading], test: Callable[[Any], bool]) -> Callable[[list[Reading]], bool]:
    return lambda seen: any(isinstance(r, kind) and test(r) for r in seen)


async def test_register_map_to_batches(plc: Plc) -> None:
    """States, a 16-bit counter rollover, 32-bit counters in both word orders, a 32-bit
    energy register rolling over, an analog signal with a deadband: as readings and as
    deltas in batches."""
    await plc.holding(0, [1, 1, 200])  # producing, P-100, 20.0 °C
    await plc.holding(10, [65_530,  # good: 6 counts before the 16-bit rollover
                           0x0001, 0xFFFF,  # scrap 0x0001FFFF, high word first
                           0xFFFF, 0x0000])  # rework 0x0000FFFF, low word first
    await plc.input(20, [0xFFFF, 0xFF00])  # energy 4294967040 Wh: 256 before rollover
    source = build_source(modbus_config(device(plc.port, machine_map())),
                          start_ms=now_ms() - 1000)
    assert isinstance(source, ModbusSource)
    await source.check()  # reachable, every register readable
    seen: list[Reading] = []
    async with source:
        await collect_until(source, seen, has(CounterReading, lambda r: True))
        first = {(type(r).__name__, getattr(r, "kind", "")): r for r in seen}
        assert first[("StateReading", "")].state == 10000
        good, scrap, rework = (first[("CounterReading", k)] for k in ("good", "scrap", "rework"))
        assert (good.raw, good.modulus, good.product) == (65_530, 2**16, "P-100")
        assert (scrap.raw, scrap.modulus) == (0x0001FFFF, 2**32)
        assert (rework.raw, rework.modulus) == (0x0000FFFF, 2**32)
        meter = first[("MeterReading", "")]
        assert (meter.raw, meter.modulus, meter.scale, meter.unit, meter.period_ms) == (
            0xFFFFFF00, 2**32, 0.001, "kWh", 50)

        # a failure and a product change in one write; 20.2 °C is inside the deadband
        await plc.holding(0, [2, 2, 202])
        await collect_until(source, seen, has(StateReading, lambda r: r.state == 190000))
        # counters and the meter move on, across their rollovers
        await plc.holding(10, [4,  # good: 65530 -> 65535 -> 0 -> 4: +10
                               0x0002, 0x0004,  # scrap 0x00020004: +5 across the low word
                               0x0002, 0x0001])  # rework 0x00010002 (little): +3
        await plc.input(20, [0x0000, 0x0100])  # energy 256 Wh: +512 Wh across 2**32
        await collect_until(source, seen, lambda s: has(CounterReading, lambda r: r.raw == 4)(s)
                            and has(MeterReading, lambda r: r.raw == 256)(s))
        await plc.holding(2, [210])  # 21.0 °C: outside the deadband
        await collect_until(source, seen, has(AnalogReading, lambda r: r.value == 21.0))
        await plc.holding(2, [0x10000 - 15])  # -1.5 °C, a signed register
        await collect_until(source, seen, has(AnalogReading, lambda r: r.value == -1.5))
        assert source.errors == 0

    temps = [r.value for r in seen if isinstance(r, AnalogReading)]
    assert temps == [pytest.approx(20.0), pytest.approx(21.0), pytest.approx(-1.5)]
    last_rework = [r for r in seen if isinstance(r, CounterReading) and r.kind == "rework"][-1]
    assert last_rework.raw == 0x00010002

    closed = batch_readings(seen)
    machines = [m for interval in closed for m in interval.machines]
    assert {m.machine for m in machines} == {"press-01"}
    totals: dict[tuple[str, str], int] = {}
    for m in machines:
        for c in m.counts:
            for kind in ("good", "scrap", "rework"):
                key = (c.product, kind)
                totals[key] = totals.get(key, 0) + getattr(c, kind)
    assert {k: v for k, v in totals.items() if v} == {
        ("P-200", "good"): 10, ("P-200", "scrap"): 5, ("P-200", "rework"): 3}
    meters = [x for m in machines for x in m.meters]
    assert sum(x.delta for x in meters) == pytest.approx(0.512)
    assert sum(x.rollovers for x in meters) == 1
    assert sum(x.resets for x in meters) == 0
    assert machines[0].state_at_start == 10000
    changes = [c for m in machines for c in m.changes]
    assert [c.state for c in changes] == [190000]
    samples = [v for m in machines for s in m.samples for v in s.values]
    assert samples == temps


async def test_missing_device_and_bad_register_are_counted(plc: Plc) -> None:
    """A device nobody answers for and a register the device refuses: counted errors and
    missing samples; the healthy device goes on; `poll` never raises."""
    dead_port = free_port()  # nothing listens there
    healthy = machine_map(signals=[
        {"signal": "oil_temp_c", "address": 2, "scale": 0.1},
        {"signal": "pressure_bar", "address": 5000}])  # outside the register map
    dead = machine_map(id="oven-01")
    await plc.holding(0, [1, 1, 200])
    source = build_source(modbus_config(device(plc.port, healthy), device(dead_port, dead)),
                          start_ms=now_ms() - 1000)
    assert isinstance(source, ModbusSource)
    with pytest.raises(ServiceError, match=f"127.0.0.1:{dead_port}") as err:
        await source.check()  # what `plantstream edge check` runs
    assert f"127.0.0.1:{plc.port}" in str(err.value)  # the refused register
    seen: list[Reading] = []

    def enough(seen: list[Reading]) -> bool:
        missing = {(r.machine, r.signal) for r in seen
                   if isinstance(r, AnalogReading) and r.value is None}
        return {("oven-01", "oil_temp_c"), ("press-01", "pressure_bar")} <= missing and any(
            isinstance(r, StateReading) and r.machine == "press-01" for r in seen)

    async with source:
        await collect_until(source, seen, enough)
        await plc.holding(0, [2])
        await collect_until(source, seen, has(StateReading, lambda r: r.state == 190000))
    assert source.errors >= 2
    # the unreachable machine: unknown state (30000) and missing samples, nothing else
    oven = [r for r in seen if r.machine == "oven-01"]
    assert {(type(r).__name__, getattr(r, "state", getattr(r, "value", 0))) for r in oven} == {
        ("StateReading", 30000), ("AnalogReading", None)}
    temps = [r.value for r in seen if isinstance(r, AnalogReading) and r.signal == "oil_temp_c"
             and r.machine == "press-01"]
    assert temps and all(t == pytest.approx(20.0) for t in temps)  # no deadband: every read
    # the missing samples reach the batch as None
    closed = batch_readings(seen)
    values = [v for i in closed for m in i.machines if m.machine == "press-01"
              for s in m.samples if s.signal == "pressure_bar" for v in s.values]
    assert values and all(v is None for v in values)


async def test_device_comes_back_after_an_outage() -> None:
    """The server goes away and returns on the same port: the source reconnects."""
    port = free_port()
    registers = [SimData(0, count=50, values=0, datatype=DataType.REGISTERS)]
    bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]

    async def serve() -> tuple[ModbusTcpServer, asyncio.Task[None]]:
        device = SimDevice(id=DEVICE_ID, simdata=(bits, bits, registers, registers))
        server = ModbusTcpServer([device], address=("127.0.0.1", port))
        return server, asyncio.create_task(server.serve_forever())

    config = modbus_config(device(port, {"id": "press-01", "default_product": "P-1",
                                         "state": {"address": 0}}))
    source = build_source(config, start_ms=now_ms() - 1000)
    assert isinstance(source, ModbusSource)
    seen: list[Reading] = []
    server, task = await serve()
    async with source:
        await collect_until(source, seen, has(StateReading, lambda r: r.state == 0))
        await server.shutdown()
        await task
        errors_before = source.errors
        async with asyncio.timeout(20):
            while source.errors == errors_before:
                await source.poll(now_ms())
                await asyncio.sleep(0.02)
        server, task = await serve()
        try:
            await server.async_setValues(DEVICE_ID, HOLDING, 0, [7])
            await collect_until(source, seen, has(StateReading, lambda r: r.state == 7))
        finally:
            await server.shutdown()
            await task


@pytest.mark.parametrize(("patch", "key"), [
    ({"bogus": 1}, "devices[0].machines[0].bogus"),
    ({"state": {"address": 0, "map": {"x": 1}}}, "devices[0].machines[0].state: `map`"),
    ({"meters": [{"carrier": "electricity", "unit": "kWh", "address": 1, "words": 1,
                  "modulus": 2**20}]}, "devices[0].machines[0].meters[0]: `modulus`"),
])
def test_config_errors_name_the_key(patch: dict[str, Any], key: str) -> None:
    """Unknown keys and bad values are errors naming where they are."""
    with pytest.raises(ConfigError) as err:
        modbus_config(device(502, machine_map(**patch)))
    where, _, field = key.partition(": ")
    assert err.value.key == where
    assert field in err.value.reason


@pytest.mark.services
async def test_agent_publishes_modbus_batches(plc: Plc, broker: Mosquitto, topic_root: str,
                                              state_dir: Path) -> None:
    """End to end: the agent polls the real PLC and publishes batches to the real broker
    with the counter delta across a 16-bit rollover and the state change."""
    await plc.holding(0, [1, 1, 200])
    await plc.holding(10, [65_530])
    config = convert({
        "gateway": {"id": "gw-1", "site": "site-1", "flush_interval_s": 1,
                    "state_dir": str(state_dir), "health_interval_s": 60},
        "mqtt": {"port": broker.port, "topic_root": topic_root},
        "sources": [{"type": "modbus", "devices": [device(plc.port, {
            "id": "press-01", "default_product": "P-1", "state": {"address": 0,
                                                                  "map": {"1": 10000, "2": 190000}},
            "counters": {"good": {"address": 10}}})]}],
    }, EdgeConfig, source="test")
    batches: dict[int, Batch] = {}

    def machine_intervals() -> list[MachineInterval]:
        return [m for b in batches.values() for m in b.machines if m.machine == "press-01"]

    async def receive(watcher: aiomqtt.Client, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(PATIENCE_S):
            async for message in watcher.messages:
                assert isinstance(message.payload, bytes)
                batch = decode_batch(message.payload, topic=str(message.topic))
                batches[batch.seq] = batch  # a QoS 1 redelivery replaces, never adds
                if done():
                    return

    async with aiomqtt.Client("127.0.0.1", broker.port) as watcher:
        await watcher.subscribe(f"{topic_root}/v1/+/+/batch", qos=1)
        async with EdgeAgent(config=config) as agent:
            await receive(watcher, lambda: bool(machine_intervals()))
            await plc.holding(0, [2])
            await plc.holding(10, [4])
            await receive(watcher, lambda: sum(
                c.good for m in machine_intervals() for c in m.counts) >= 10 and any(
                m.changes for m in machine_intervals()))
            assert await agent.stop(drain_timeout_s=10)
    intervals = machine_intervals()
    assert intervals[0].state_at_start == 10000
    assert [c.state for m in intervals for c in m.changes] == [190000]
    assert sum(c.good for m in intervals for c in m.counts) == 10
    assert {b.gateway for b in batches.values()} == {"gw-1"}


def test_registers_share_read_requests() -> None:
    spans = [("holding", 0, 1), ("holding", 1, 1), ("holding", 2, 2),  # adjacent: one
             ("holding", 3, 1),  # inside the previous span
             ("holding", 10, 2),  # a gap of 6
             ("input", 10, 2), ("input", 12, 1),  # another table
             ("holding", 500, 1), ("holding", 620, 10)]  # too far for one request
    assert plan_blocks(spans, max_gap=0) == [
        Block("holding", 0, 4), Block("holding", 10, 2), Block("holding", 500, 1),
        Block("holding", 620, 10), Block("input", 10, 3)]
    assert plan_blocks(spans, max_gap=6)[:2] == [Block("holding", 0, 12),
                                                 Block("holding", 500, 1)]
    assert plan_blocks(spans, max_gap=120)[1] == Block("holding", 500, 1)  # 130 > 125
    assert plan_blocks([], max_gap=0) == []
