"""The pipelined worker: a micro-batch is prepared while earlier ones are still being
written, so the conflict check must count those as stored (issue 15)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt
import msgspec
import pytest

from plantstream.devstack.services import InfluxD
from plantstream.ingest.worker import IngestWorker
from plantstream.wire import Batch, CounterDelta, encode
from tests.harness import ingest_config, simulate

pytestmark = pytest.mark.services


def test_a_second_version_of_an_interval_still_in_flight_is_a_conflict(
        influxd: InfluxD, database: str, topic_root: str, tmp_path: Path) -> None:
    sim = simulate(machines=2, sim_seconds=600, topic_root=topic_root)
    topic, payload = sim.messages[2]
    first = msgspec.json.decode(payload, type=Batch)
    m0 = first.machines[0]
    changed = msgspec.structs.replace(first, seq=0, machines=[
        msgspec.structs.replace(m0, counts=[*m0.counts, CounterDelta(product="V2", good=1)]),
        *first.machines[1:]])
    redelivery = msgspec.structs.replace(first, backlog=True)
    config = ingest_config(broker_port=1, influx_url=influxd.url, database=database,
                           topic_root=topic_root, spool_dir=tmp_path)

    def message(batch: Batch, mid: int) -> aiomqtt.Message:
        return aiomqtt.Message(topic, encode(batch), qos=1, retain=False, mid=mid,
                               properties=None)

    async def main() -> tuple[str | None, str | None, str | None, int]:
        worker = IngestWorker(config=config, plant=sim.plant)
        try:
            # nothing of these is written: all three are prepared while the first's
            # write would be in flight
            a = await worker._prepare([message(first, 1)])
            b = await worker._prepare([message(changed, 2)])
            c = await worker._prepare([message(redelivery, 3)])
            reasons = tuple(mb.items[0].error.reason if mb.items[0].error else None
                            for mb in (a, b, c))
            unstored = len(worker._unstored)
        finally:
            await worker.sink.aclose()
            worker.spool.close()
        return (*reasons, unstored)  # type: ignore[return-value]

    a, b, c, unstored = asyncio.run(main())
    assert a is None  # the first version goes on to be written
    assert b == "conflict"  # another content for an interval in flight
    assert c is None  # the same content again (a redelivery) is no conflict
    assert unstored == 1  # one interval is waiting for its write
