"""Meters on their own (no machine state) reach InfluxDB through the real path: edge
batcher -> Mosquitto -> ingest worker -> InfluxDB; old payloads stay valid."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from plantstream.config import Enterprise, Gateway, Line, Machine, PlantConfig, Site
from plantstream.devstack.services import InfluxD, Mosquitto
from plantstream.edge.batcher import Batcher
from plantstream.edge.readings import MeterReading, StateReading
from plantstream.errors import WireError
from plantstream.ingest.worker import IngestWorker
from plantstream.store.influxql import InfluxQL
from plantstream.topics import Topics
from plantstream.wire import Batch, decode_batch, encode
from tests.harness import START_MS, ingest_config, publish, wait_for_batches

PLANT = PlantConfig(
    enterprise=Enterprise(id="e", name="E"), sites=[Site(id="s")],
    lines=[Line(id="l", site="s")], gateways=[Gateway(id="g", site="s")],
    machines=[Machine(id="press", line="l", gateway="g"),
              Machine(id="main-meter", line="l", gateway="g")])


def test_a_payload_without_state_is_valid_and_cannot_carry_changes() -> None:
    ok = (b'{"v":1,"site":"s","gateway":"g","seq":0,"t_start_ms":1000,"t_end_ms":2000,'
          b'"machines":[{"machine":"m","meters":[{"carrier":"electricity","unit":"kWh",'
          b'"delta":1.5,"raw_start":1.0,"raw_end":2.5,"covered_ms":1000}]}]}')
    assert decode_batch(ok).machines[0].state_at_start is None
    bad = ok.replace(b'"meters"', b'"changes":[[1500,10000]],"meters"')
    with pytest.raises(WireError) as caught:
        decode_batch(bad)
    assert caught.value.reason == "changes_without_state"


@pytest.mark.services
def test_meter_without_machine_state_reaches_influxdb(broker: Mosquitto, influxd: InfluxD,
                                                      database: str, influxql: InfluxQL,
                                                      topic_root: str, tmp_path: Path) -> None:
    readings = [StateReading("press", START_MS, 10000)]
    for i in range(31):  # a 16-bit main meter read every 2 s, 3 Wh counts a reading
        readings.append(MeterReading("main-meter", START_MS + i * 2_000, "electricity", "kWh",
                                     (65_500 + 3 * i) % 2**16, 0.001, 2**16, 2_000))
    readings.sort(key=lambda r: r.t_ms)
    batcher = Batcher(flush_interval_ms=10_000, start_ms=START_MS)
    closed = batcher.add(readings) + batcher.close_until(START_MS + 70_000)
    assert all(len(c.machines) == 2 for c in closed)  # the meter is on the wire
    topic = Topics(root=topic_root).gateway(site="s", gateway="g").batch
    messages = [(topic, encode(Batch(v=1, site="s", gateway="g", seq=i,
                                     t_start_ms=c.t_start_ms, t_end_ms=c.t_end_ms,
                                     machines=c.machines))) for i, c in enumerate(closed)]

    async def main() -> None:
        worker = IngestWorker(config=ingest_config(
            broker_port=broker.port, influx_url=influxd.url, database=database,
            topic_root=topic_root, spool_dir=tmp_path), plant=PLANT)
        async with worker:
            await worker.connected.wait()
            await publish(broker.port, messages)
            stored = await asyncio.to_thread(wait_for_batches, influxql, len(messages))
            assert stored == len(messages)

    asyncio.run(main())
    energy = influxql.query('SELECT sum("quantity"), sum("kgce"), sum("rollovers") '
                            'FROM "energy" GROUP BY "machine"')
    by_machine = {s.tags["machine"]: s.values[0][1:] for s in energy}
    quantity, kgce, rollovers = by_machine["main-meter"]
    assert quantity == pytest.approx(30 * 3 * 0.001)  # 90 Wh across a rollover
    assert kgce == pytest.approx(quantity * 0.1229)
    assert rollovers == 1
    timed = {s.tags["machine"] for s in influxql.query(
        'SELECT count("pbt_s") FROM "oee_components" GROUP BY "machine"')}
    assert timed == {"press"}  # no time components for a meter
