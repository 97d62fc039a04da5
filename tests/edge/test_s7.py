"""The S7 source against python-snap7's S7 server running in a process of its own.

The test writes the PLC's memory over S7 (like an HMI) and kills and restarts the
server process mid-stream; what the source reports goes through the real batcher.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from snap7 import Area, AsyncClient

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
from plantstream.edge.sources.s7 import S7Config, S7Source
from plantstream.edge.sources.s7._address import parse_address
from plantstream.edge.sources.s7._plan import Block, pack, plan_blocks
from plantstream.errors import ConfigError, ServiceError
from tests.edge.sourcing import batch_readings, collect_until, now_ms

pytestmark = pytest.mark.timeout(90)

SERVER = Path(__file__).with_name("s7_plc.py")


class PlcProcess:
    """python-snap7's S7 server in a child process on a fixed loopback port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[str] | None = None

    def start(self, retained_db1: bytes = b"") -> None:
        """Start the server; DB1 begins with `retained_db1` (what a PLC keeps over a
        restart in retentive memory), zeros after it."""
        self.process = subprocess.Popen([sys.executable, str(SERVER), str(self.port),
                                         retained_db1.hex()],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the server prints "ready" once it listens
        assert line.strip() == "ready", f"S7 server did not start: {line!r}"

    def kill(self) -> None:
        """SIGKILL: the PLC vanishes mid-stream, no goodbye on the wire."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        assert self.process.wait(timeout=10) == -signal.SIGKILL
        self._close_pipes()

    def _close_pipes(self) -> None:
        assert self.process is not None
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self._close_pipes()
        self.process = None

    async def write(self, address: str, s7_type: Any, value: float | int) -> None:
        """Write one value over S7, as an HMI or the PLC program would."""
        loc = parse_address(address, s7_type)
        area = {"DB": Area.DB, "M": Area.MK, "I": Area.PE, "Q": Area.PA}[loc.area]
        data: bytes
        if s7_type == "REAL":
            data = struct.pack(">f", value)
        elif s7_type == "BOOL":
            client = await self._client()
            current = await client.read_area(area, loc.db, loc.byte, 1)
            await client.disconnect()
            byte = (current[0] & ~(1 << loc.bit)) | (int(bool(value)) << loc.bit)
            data = bytes([byte])
        else:
            signed = s7_type in ("INT", "DINT")
            data = int(value).to_bytes(loc.size, "big", signed=signed)
        client = await self._client()
        try:
            await client.write_area(area, loc.db, loc.byte, bytearray(data))
        finally:
            await client.disconnect()

    async def _client(self) -> AsyncClient:
        client = AsyncClient()
        await client.connect("127.0.0.1", 0, 1, self.port)
        return client


@pytest.fixture
def plc() -> Iterator[PlcProcess]:
    process = PlcProcess(free_port())
    process.start()
    try:
        yield process
    finally:
        process.stop()


def machine_map(**overrides: Any) -> dict[str, Any]:
    machine: dict[str, Any] = {
        "id": "press-01",
        "default_product": "P-000",
        "state": {"address": "DB1.0", "type": "INT", "map": {"1": 10000, "2": 190000}},
        "product": {"address": "DB1.2", "type": "INT", "map": {"1": "P-100", "2": "P-200"}},
        "counters": {
            "good": {"address": "DB1.DBW4", "type": "WORD"},  # 16-bit, wraps at 65536
            "scrap": {"address": "DB1.6", "type": "DINT"},  # 32-bit two's complement
            "rework": {"address": "MD0", "type": "DWORD"},  # a merker double word
        },
        "meters": [{"carrier": "electricity", "unit": "kWh", "address": "DB1.10",
                    "type": "DWORD", "scale": 0.001}],
        "signals": [
            {"signal": "oil_temp_c", "address": "DB1.14", "type": "REAL", "deadband": 0.5},
            {"signal": "pressure_bar", "address": "DB1.18", "type": "INT", "scale": 0.1},
            {"signal": "door_open", "address": "I0.3", "type": "BOOL"},
            {"signal": "lamp", "address": "QB1", "type": "BYTE"},
        ],
    }
    machine.update(overrides)
    return machine


def s7_config(*plcs: dict[str, Any]) -> S7Config:
    return convert({"type": "s7", "plcs": list(plcs)}, S7Config, source="test")


def plc_entry(port: int, *machines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "timeout_s": 1.0, "poll_interval_s": 0.05,
            "reconnect_min_s": 0.05, "reconnect_max_s": 0.4, "machines": list(machines),
            **extra}


def has(kind: type[Reading], test: Callable[[Any], bool]) -> Callable[[list[Reading]], bool]:
    return lambda seen: any(isinstance(r, kind) and test(r) for r in seen)


async def test_tag_map_to_batches(plc: PlcProcess) -> None:
    """Every type in data blocks, merkers, inputs and outputs; one multi-variable read
    per poll; states, counter rollovers, an energy register rollover and a REAL with a
    deadband as readings and as deltas in batches."""
    await plc.write("DB1.0", "INT", 1)  # producing
    await plc.write("DB1.2", "INT", 1)  # P-100
    await plc.write("DB1.4", "WORD", 65_530)  # 6 counts before the 16-bit rollover
    await plc.write("DB1.6", "DINT", -3)  # 0xFFFFFFFD: 3 before the 32-bit rollover
    await plc.write("MD0", "DWORD", 70_000)
    await plc.write("DB1.10", "DWORD", 0xFFFFFF00)  # 256 Wh before rollover
    await plc.write("DB1.14", "REAL", 20.0)
    await plc.write("DB1.18", "INT", -15)  # -1.5 bar
    await plc.write("I0.3", "BOOL", 1)
    await plc.write("QB1", "BYTE", 200)
    source = build_source(s7_config(plc_entry(plc.port, machine_map())),
                          start_ms=now_ms() - 1000)
    assert isinstance(source, S7Source)
    await source.check()  # reachable, every tag readable
    seen: list[Reading] = []
    async with source:
        await collect_until(source, seen, has(CounterReading, lambda r: True))
        # DB1 bytes 0..19 in one block, the merker, input and output bytes in three more:
        # four items of one read request a poll
        assert len(source.devices[0].blocks) == 4
        assert len(source.devices[0].requests_plan) == 1
        first = {(type(r).__name__, getattr(r, "kind", getattr(r, "signal", ""))): r
                 for r in seen}
        assert first[("StateReading", "")].state == 10000
        good, scrap, rework = (first[("CounterReading", k)] for k in ("good", "scrap", "rework"))
        assert (good.raw, good.modulus, good.product) == (65_530, 2**16, "P-100")
        assert (scrap.raw, scrap.modulus) == (0xFFFFFFFD, 2**32)
        assert (rework.raw, rework.modulus) == (70_000, 2**32)
        meter = first[("MeterReading", "")]
        assert (meter.raw, meter.modulus, meter.scale, meter.unit) == (
            0xFFFFFF00, 2**32, 0.001, "kWh")
        assert first[("AnalogReading", "oil_temp_c")].value == 20.0
        assert first[("AnalogReading", "pressure_bar")].value == pytest.approx(-1.5)
        assert first[("AnalogReading", "door_open")].value == 1.0
        assert first[("AnalogReading", "lamp")].value == 200.0

        await plc.write("DB1.2", "INT", 2)  # P-200 from now on
        await plc.write("DB1.14", "REAL", 20.25)  # inside the deadband
        await plc.write("DB1.0", "INT", 2)  # failure
        await collect_until(source, seen, has(StateReading, lambda r: r.state == 190000))
        await plc.write("DB1.4", "WORD", 4)  # 65530 -> 4: +10 across the rollover
        await plc.write("DB1.6", "DINT", 2)  # -3 -> 2: +5 across 2**32
        await plc.write("MD0", "DWORD", 70_003)  # +3
        await plc.write("DB1.10", "DWORD", 256)  # +512 Wh across 2**32
        wanted = ((CounterReading, 70_003), (CounterReading, 4), (CounterReading, 2),
                  (MeterReading, 256))
        await collect_until(source, seen, lambda s: all(
            any(isinstance(r, kind) and r.raw == raw for r in s) for kind, raw in wanted))
        await plc.write("DB1.14", "REAL", 21.5)  # outside the deadband
        await collect_until(source, seen, has(AnalogReading, lambda r: r.value == 21.5))
        assert source.errors == 0

    temps = [r.value for r in seen if isinstance(r, AnalogReading) and r.signal == "oil_temp_c"]
    assert temps == [20.0, 21.5]
    closed = batch_readings(seen)
    machines = [m for interval in closed for m in interval.machines]
    totals: dict[tuple[str, str], int] = {}
    for m in machines:
        for c in m.counts:
            for kind in ("good", "scrap", "rework"):
                totals[(c.product, kind)] = totals.get((c.product, kind), 0) + getattr(c, kind)
    assert {k: v for k, v in totals.items() if v} == {
        ("P-200", "good"): 10, ("P-200", "scrap"): 5, ("P-200", "rework"): 3}
    meters = [x for m in machines for x in m.meters]
    assert sum(x.delta for x in meters) == pytest.approx(0.512)
    assert sum(x.rollovers for x in meters) == 1
    assert machines[0].state_at_start == 10000
    assert [c.state for m in machines for c in m.changes] == [190000]


async def test_plc_killed_and_restarted_mid_stream(plc: PlcProcess) -> None:
    """SIGKILL the S7 server while the source polls: unknown state and missing samples
    from the outage on, reconnection with backoff once a new server process listens on
    the same port, and the counter delta across the outage kept."""
    await plc.write("DB1.0", "INT", 1)
    await plc.write("DB1.4", "WORD", 100)
    await plc.write("DB1.18", "INT", 50)
    machine = machine_map(product=None, meters=[], counters={
        "good": {"address": "DB1.4", "type": "WORD"}},
        signals=[{"signal": "pressure_bar", "address": "DB1.18", "type": "INT"}])
    source = build_source(s7_config(plc_entry(plc.port, machine)), start_ms=now_ms() - 1000)
    assert isinstance(source, S7Source)
    seen: list[Reading] = []
    async with source:
        await collect_until(source, seen, has(CounterReading, lambda r: r.raw == 100))
        assert source.connects == 1
        plc.kill()
        # the fault happened: the source saw the PLC go away
        await collect_until(source, seen, lambda s: source.errors > 0
                            and has(StateReading, lambda r: r.state == 30000)(s)
                            and has(AnalogReading, lambda r: r.value is None)(s))
        errors_in_outage = source.errors
        await collect_until(source, seen, lambda s: source.errors > errors_in_outage + 1)
        assert source.connects == 1  # still away: retried, not connected
        # a new process; DB1 is retentive: state 1 and the count the program went on to
        plc.start(retained_db1=struct.pack(">hhH", 1, 0, 107))
        await plc.write("DB1.18", "INT", 51)
        await collect_until(source, seen, has(CounterReading, lambda r: r.raw == 107))
        await collect_until(source, seen, has(AnalogReading, lambda r: r.value == 51.0))
        assert source.connects == 2
    states = [r.state for r in seen if isinstance(r, StateReading)]
    outage = states.index(30000)
    assert set(states[:outage]) == {10000}
    assert states[-1] == 10000
    closed = batch_readings(seen)
    machines = [m for interval in closed for m in interval.machines]
    assert 30000 in [c.state for m in machines for c in m.changes]  # the outage is unknown
    assert sum(c.good for m in machines for c in m.counts) == 7  # 100 -> 107 over the outage
    missing = [v for m in machines for s in m.samples if s.signal == "pressure_bar"
               for v in s.values if v is None]
    assert missing


async def test_unreachable_plc_and_refused_tag(plc: PlcProcess) -> None:
    """A PLC nobody answers for and a tag outside its data block: counted errors, unknown
    state, missing samples; the healthy PLC goes on; `poll` never raises."""
    dead_port = free_port()
    healthy = machine_map(product=None, counters={}, meters=[], signals=[
        {"signal": "pressure_bar", "address": "DB1.18", "type": "INT"},
        {"signal": "beyond", "address": "DB2.40", "type": "INT"}])  # DB2 has 16 bytes
    dead = machine_map(id="oven-01", product=None, counters={}, meters=[], signals=[
        {"signal": "pressure_bar", "address": "DB1.18", "type": "INT"}])
    await plc.write("DB1.0", "INT", 1)
    source = build_source(s7_config(plc_entry(plc.port, healthy), plc_entry(dead_port, dead)),
                          start_ms=now_ms() - 1000)
    assert isinstance(source, S7Source)
    with pytest.raises(ServiceError, match=f"127.0.0.1:{dead_port}") as err:
        await source.check()
    assert f"127.0.0.1:{plc.port}" in str(err.value)  # the refused tag
    seen: list[Reading] = []

    def enough(seen: list[Reading]) -> bool:
        missing = {(r.machine, r.signal) for r in seen
                   if isinstance(r, AnalogReading) and r.value is None}
        return {("oven-01", "pressure_bar"), ("press-01", "beyond")} <= missing and any(
            isinstance(r, StateReading) and r.machine == "press-01" for r in seen)

    async with source:
        await collect_until(source, seen, enough)
        await plc.write("DB1.0", "INT", 2)
        await collect_until(source, seen, has(StateReading, lambda r: r.state == 190000))
    assert source.errors >= 2
    oven = [r for r in seen if r.machine == "oven-01"]
    assert {(type(r).__name__, getattr(r, "state", getattr(r, "value", 0))) for r in oven} == {
        ("StateReading", 30000), ("AnalogReading", None)}
    pressures = [r.value for r in seen if isinstance(r, AnalogReading)
                 and r.machine == "press-01" and r.signal == "pressure_bar"]
    assert pressures and all(v == 0.0 for v in pressures)


@pytest.mark.parametrize(("patch", "key", "reason"), [
    ({"bogus": 1}, "plcs[0].machines[0]", "bogus"),
    ({"state": {"address": "DB1.0", "type": "BOOL"}}, "plcs[0].machines[0].state",
     "needs a bit"),
    ({"state": {"address": "DB0.0"}}, "plcs[0].machines[0].state", "1 to 65535"),
    ({"state": {"address": "X7"}}, "plcs[0].machines[0].state", "not an S7 address"),
    ({"counters": {"good": {"address": "DB1.0", "type": "REAL"}}},
     "plcs[0].machines[0].counters.good.type", "REAL"),
    ({"meters": [{"carrier": "electricity", "unit": "kWh", "address": "DB1.0",
                  "type": "WORD", "modulus": 2**20}]}, "plcs[0].machines[0].meters[0]",
     "`modulus`"),
])
def test_config_errors_name_the_key(patch: dict[str, Any], key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as err:
        s7_config(plc_entry(102, machine_map(**patch)))
    assert err.value.key.startswith(key)
    assert reason in str(err.value)


def test_tags_share_blocks_and_requests_fit_the_pdu() -> None:
    locations = [parse_address(text, kind) for text, kind in [
        ("DB1.0", "INT"), ("DB1.2", "DINT"), ("DB1.6.0", "BOOL"), ("DB1.6.1", "BOOL"),
        ("DB1.20", "REAL"),  # a gap of 13 bytes
        ("DB2.0", "WORD"),  # another data block
        ("M0", "BYTE"), ("I4", "DWORD"), ("Q0.0", "BOOL")]]
    assert plan_blocks(locations, max_gap=0, pdu_size=240) == [
        Block(0x81, 0, 4, 4), Block(0x82, 0, 0, 1), Block(0x83, 0, 0, 1),
        Block(0x84, 1, 0, 7), Block(0x84, 1, 20, 4), Block(0x84, 2, 0, 2)]
    merged = plan_blocks(locations, max_gap=13, pdu_size=240)
    assert Block(0x84, 1, 0, 24) in merged
    # a 240-byte PDU carries at most 222 data bytes in one block...
    wide = [parse_address(f"DB1.{i * 4}", "DWORD") for i in range(100)]
    blocks = plan_blocks(wide, max_gap=0, pdu_size=240)
    assert [b.size for b in blocks] == [220, 180]
    # ... and the reply budget (14 + per item 4 + even data) splits the requests
    requests = pack(blocks, pdu_size=240)
    assert [[b.size for b in r] for r in requests] == [[220], [180]]
    assert [len(r) for r in pack(blocks, pdu_size=480)] == [2]
    many = plan_blocks([parse_address(f"DB1.{i * 10}", "INT") for i in range(45)],
                       max_gap=0, pdu_size=960)
    assert [len(r) for r in pack(many, pdu_size=960)] == [20, 20, 5]  # 20 items a request
    small = [len(r) for r in pack(many, pdu_size=240)]  # 12-byte address items: 18 a PDU
    assert small == [18, 18, 9]
