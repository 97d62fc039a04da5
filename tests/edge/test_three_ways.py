"""One simulated machine timeline delivered three ways gives identical KPI components.

1. natively: the simulator source's readings straight into the batcher;
2. over S7: a PLC program writes each value into a python-snap7 S7 server process as the
   timeline goes, and the S7 source reads it with multi-variable requests (each poll
   stamped with the timeline's time: a polled protocol carries no timestamps of its own);
3. over Sparkplug B: the third-party library pysparkplug publishes the same values as an
   edge node (DBIRTH, then DDATA on change with metric timestamps) through a real
   Mosquitto, and the Sparkplug source decodes them.

Each path's readings go through the real batcher (10 s batches) and the ingest
component path (`analytics.batches_components`, what an ingest worker computes per
batch); the components are compared in memory and again in a real InfluxDB: each path's
component points (`ingest.lineprotocol.component_lines`, what the worker writes) go into
a database of their own, and what the three databases hold must be identical. The MQTT
hop between the edge and ingest is not repeated here (the pipeline tests cover it).
"""

from __future__ import annotations

import asyncio
import struct
import uuid
from collections.abc import Iterator
from itertools import groupby
from typing import Any

import pytest
from snap7 import Area, AsyncClient

from plantstream.analytics import load_coefficients
from plantstream.config import (
    Enterprise,
    Gateway,
    Line,
    Machine,
    OeeSettings,
    PlantConfig,
    Site,
    convert,
)
from plantstream.devstack.services import InfluxD, Mosquitto, free_port
from plantstream.edge.batcher import Batcher
from plantstream.edge.readings import (
    AnalogReading,
    CounterReading,
    MeterReading,
    Reading,
    StateReading,
)
from plantstream.edge.sources.modbus._buffer import ReadingBuffer
from plantstream.edge.sources.s7 import S7Config
from plantstream.edge.sources.s7._plc import Plc
from plantstream.edge.sources.simulator import Simulator, SimulatorConfig
from plantstream.edge.sources.sparkplug import SparkplugConfig, SparkplugSource
from plantstream.ingest.components import batches_components
from plantstream.ingest.config import InfluxConfig
from plantstream.ingest.points import component_lines
from plantstream.store.influx_v1 import InfluxV1Sink
from plantstream.store.influxql import InfluxQL
from plantstream.wire import Batch
from tests.edge.test_s7 import PlcProcess
from tests.edge.test_sparkplug import EdgeNodeProcess, until

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.timeout(180)]

FLUSH_MS = 10_000
START_MS = 1_772_449_200_000  # 2026-03-02 19:00 Asia/Shanghai: the 20:00 break is inside
HOURS = 4
TICK_S = 10  # the simulator samples every 10 s: 1,456 distinct moments in 4 hours
MACHINE = "press-01"
PRODUCTS = {"P-100": 1, "P-200": 2}  # product id <-> the number in the PLC
SIM = convert({"type": "simulator", "seed": 11, "sample_interval_s": TICK_S, "machines": [{
    "id": MACHINE, "products": {"P-100": 9.0, "P-200": 14.0}, "rated_kw": 22.0,
    "gas_m3_per_h": 6.0, "energy_register_modulus": 1_000_000}]}, SimulatorConfig,
    source="test")
# DB1 layout of the PLC program: state code, product number, four 16-bit counters, two
# 32-bit energy registers
LAYOUT = ">iHHHHHII"  # state DINT @0, product INT @4, good @6, scrap @8, rework @10,
#                       start-up rejects @12, electricity DWORD @14, gas DWORD @18
METERS = {"electricity": ("kWh", 0.001, 1_000_000, 14), "natural_gas": ("m3", 0.01, 2**32, 18)}
KINDS = {"good": 6, "scrap": 8, "rework": 10, "startup_rejects": 12}


def plant() -> PlantConfig:
    return PlantConfig(
        enterprise=Enterprise(id="e", name="E"), sites=[Site(id="s")],
        lines=[Line(id="l", site="s")], gateways=[Gateway(id="g", site="s")],
        machines=[Machine(id=MACHINE, line="l", gateway="g",
                          ideal_cycle_s={"P-100": 8.0, "P-200": 12.0})],
        oee=OeeSettings(minor_stop_threshold_s=30.0))


@pytest.fixture
def plc() -> Iterator[PlcProcess]:
    process = PlcProcess(free_port())
    process.start()
    try:
        yield process
    finally:
        process.stop()


class Registers:
    """The machine's current values as its PLC program keeps them."""

    def __init__(self) -> None:
        self.state = 0
        self.product = "P-100"
        self.counters = dict.fromkeys(KINDS, 0)
        self.meters = dict.fromkeys(METERS, 0)

    def apply(self, reading: Reading) -> None:
        if isinstance(reading, StateReading):
            self.state = reading.state
        elif isinstance(reading, CounterReading):
            self.product = reading.product
            self.counters[reading.kind] = reading.raw
        elif isinstance(reading, MeterReading):
            self.meters[reading.carrier] = reading.raw

    def db1(self) -> bytes:
        return struct.pack(LAYOUT, self.state, PRODUCTS[self.product],
                           *(self.counters[k] for k in KINDS),
                           *(self.meters[c] for c in METERS))


def groups(timeline: list[Reading]) -> list[tuple[int, list[Reading]]]:
    return [(t, list(rs)) for t, rs in groupby(timeline, key=lambda r: r.t_ms)]


def batches(readings: list[Reading], start_ms: int, end_ms: int) -> list[Batch]:
    batcher = Batcher(flush_interval_ms=FLUSH_MS, start_ms=start_ms)
    closed = batcher.add(sorted(readings, key=lambda r: r.t_ms))
    closed += batcher.close_until(end_ms)
    return [Batch(v=1, site="s", gateway="g", seq=i + 1, t_start_ms=c.t_start_ms,
                  t_end_ms=c.t_end_ms, machines=c.machines) for i, c in enumerate(closed)]


def components(readings: list[Reading], start_ms: int, end_ms: int) -> list[Any]:
    """Per batch: time elements, nonzero product quantities, energy per carrier."""
    out = []
    for rows in batches_components(batches(readings, start_ms, end_ms), plant(),
                                   load_coefficients()):
        for row in rows:
            products = sorted((p.product, p.good, p.scrap, p.rework, p.startup_rejects,
                               p.pru_s) for p in row.products
                              if p.good or p.scrap or p.rework or p.startup_rejects)
            energy = sorted((e.carrier, e.unit, round(e.quantity, 9), e.kgce, e.covered_s,
                             e.raw_start, e.raw_end, e.rollovers, e.resets)
                            for e in row.energy)
            out.append((row.machine, row.t_start_ms, row.time, products, energy))
    return out


async def stored(influxd: InfluxD, database: str, readings: list[Reading], start_ms: int,
                 end_ms: int) -> list[tuple[str, list[tuple[str, str]], list[Any]]]:
    """Write the component points of the batches into `database`; what it then holds."""
    rows = batches_components(batches(readings, start_ms, end_ms), plant(),
                              load_coefficients())
    sink = InfluxV1Sink(config=InfluxConfig(url=influxd.url, database=database))
    try:
        await sink.ensure_database()
        await sink.write("\n".join(component_lines(c for r in rows for c in r)).encode())
    finally:
        await sink.aclose()
    with InfluxQL(url=influxd.url, database=database) as influx:
        series = influx.query("SELECT * FROM oee_components, production, energy GROUP BY *")
        influx.query(f'DROP DATABASE "{database}"')
    return sorted((s.name, sorted(s.tags.items()), s.values) for s in series)


async def via_s7(plc: PlcProcess, timeline: list[Reading], start_ms: int,
                 end_ms: int) -> tuple[list[Reading], int]:
    config = convert({"type": "s7", "plcs": [{
        "host": "127.0.0.1", "port": plc.port, "poll_interval_s": TICK_S, "machines": [{
            "id": MACHINE, "default_product": "P-100",
            "state": {"address": "DB1.0", "type": "DINT"},  # the PLC speaks state codes
            "product": {"address": "DB1.4", "type": "INT",
                        "map": {str(n): p for p, n in PRODUCTS.items()}},
            "counters": {k: {"address": f"DB1.{a}", "type": "WORD"} for k, a in KINDS.items()},
            "meters": [{"carrier": c, "unit": u, "address": f"DB1.{a}", "type": "DWORD",
                        "scale": s, "modulus": m} for c, (u, s, m, a) in METERS.items()]}]}]},
        S7Config, source="test")
    now = [start_ms]
    buffer = ReadingBuffer(horizon_ms=start_ms)
    s7 = Plc(config.plcs[0], buffer=buffer, clock=lambda: now[0])
    writer = AsyncClient()
    await writer.connect("127.0.0.1", 0, 1, plc.port)
    registers = Registers()
    await s7.connect()
    try:
        for t, readings in groups(timeline):
            for reading in readings:
                registers.apply(reading)
            await writer.write_area(Area.DB, 1, 0, bytearray(registers.db1()))
            now[0] = t
            await s7.cycle()  # one poll of every tag, stamped at the timeline's time
    finally:
        await s7.close()
        await writer.disconnect()
    assert s7.errors == 0
    return buffer.take(end_ms), s7.requests


def metric_specs(registers: Registers, t: int) -> list[dict[str, Any]]:
    return ([{"name": "State", "datatype": "INT32", "value": registers.state, "timestamp": t},
             {"name": "Product", "datatype": "STRING", "value": registers.product,
              "timestamp": t}]
            + [{"name": f"Count/{k}", "datatype": "UINT16", "value": v, "timestamp": t}
               for k, v in registers.counters.items()]
            + [{"name": f"Energy/{c}", "datatype": "UINT32", "value": v, "timestamp": t}
               for c, v in registers.meters.items()])


async def via_sparkplug(broker: Mosquitto, timeline: list[Reading], start_ms: int,
                        end_ms: int) -> list[Reading]:
    group = f"plant-{uuid.uuid4().hex[:8]}"
    config = convert({
        "type": "sparkplug", "group": group, "host_id": f"host-{group}",
        "mqtt": {"port": broker.port}, "keep_unmapped": False, "machines": [{
            "id": MACHINE, "default_product": "P-100", "edge_node": "gw", "device": "press",
            "state": {"metric": "State"}, "product": {"metric": "Product"},
            "counters": {k: {"metric": f"Count/{k}", "bits": 16} for k in KINDS},
            "meters": [{"carrier": c, "unit": u, "metric": f"Energy/{c}", "scale": s,
                        "bits": 32, "modulus": m, "period_s": TICK_S}
                       for c, (u, s, m, _) in METERS.items()]}]},
        SparkplugConfig, source="test")
    source = SparkplugSource(config=config, start_ms=start_ms)
    node = EdgeNodeProcess()
    await node.start()
    await source.__aenter__()
    try:
        async with asyncio.timeout(20):
            await source.connected.wait()
        steps = groups(timeline)
        registers = Registers()
        t0, first = steps[0]
        for reading in first:
            registers.apply(reading)
        await node.send({"op": "connect", "port": broker.port, "group": group, "node": "gw",
                         "devices": {"press": metric_specs(registers, t0)}})
        updates = []
        for t, readings in steps[1:]:
            before = {m["name"]: m["value"] for m in metric_specs(registers, t)}
            for reading in readings:
                registers.apply(reading)
            # report by exception: what changed, the product first (the counters that
            # follow were made of it); meters are sampled every tick, sent when read
            changed = [m for m in metric_specs(registers, t) if m["name"] != "State" and (
                m["value"] != before[m["name"]] or m["name"].startswith("Energy/"))]
            if registers.state != before["State"] or any(
                    isinstance(r, StateReading) for r in readings):
                changed.insert(0, metric_specs(registers, t)[0])
            if changed:
                updates.append({"op": "update_device", "device": "press", "metrics": changed})
        await node.send(*updates)
        await until(lambda: source.host.counters.messages >= 2 + len(updates))  # + births
        counters = source.host.counters
        assert (counters.malformed, counters.seq_gaps, counters.data_before_birth,
                counters.historical_dropped) == (0, 0, 0, 0)
        return list(await source.poll(end_ms))
    finally:
        await source.__aexit__(None, None, None)
        await node.stop()


async def test_simulator_s7_and_sparkplug_give_identical_components(
        plc: PlcProcess, broker: Mosquitto, influxd: InfluxD) -> None:
    start, end = START_MS, START_MS + HOURS * 3_600_000
    timeline = [r for r in await Simulator(config=SIM, start_ms=start).poll(end)
                if not isinstance(r, AnalogReading)]  # samples are no KPI component
    native = components(timeline, start, end)
    # the timeline is worth comparing: states change, parts are made, energy flows
    assert sum(len(m.changes) for b in batches(timeline, start, end)
               for m in b.machines) >= 10
    assert sum(p[1] for row in native for p in row[3]) >= 20
    assert len({p[0] for row in native for p in row[3]}) == 2  # both products

    s7_readings, requests = await via_s7(plc, timeline, start, end)
    assert requests == len(groups(timeline))  # every tag in one multi-variable read a poll
    assert components(s7_readings, start, end) == native

    spb_readings = await via_sparkplug(broker, timeline, start, end)
    assert components(spb_readings, start, end) == native

    # the same in InfluxDB: three databases, identical points
    name = f"three_ways_{uuid.uuid4().hex[:8]}"
    in_influx = [await stored(influxd, f"{name}_{path}", readings, start, end)
                 for path, readings in (("native", timeline), ("s7", s7_readings),
                                        ("sparkplug", spb_readings))]
    assert sum(len(values) for _, _, values in in_influx[0]) >= 3 * HOURS * 360
    assert in_influx[1] == in_influx[0]
    assert in_influx[2] == in_influx[0]
