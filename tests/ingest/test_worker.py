"""The ingest tier against real Mosquitto, InfluxDB and VictoriaMetrics: idempotent
writes, dead letters for hostile input, shared subscriptions, the spool, the v2 sink."""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiomqtt
import httpx
import msgspec
import pytest

from plantstream.config import to_toml
from plantstream.devstack.services import InfluxD, Mosquitto, VictoriaMetrics
from plantstream.ingest.worker import IngestWorker
from plantstream.store.influxql import InfluxQL
from plantstream.wire import Batch, encode
from tests.harness import (
    START_MS,
    assert_matches_truth,
    ingest_config,
    publish,
    simulate,
    wait_for_batches,
    wait_until,
)

pytestmark = pytest.mark.services


async def _run_worker_until(config_kwargs: dict[str, object], simulated_plant: object,
                            work: object, *, workers: int = 1,
                            started: list[IngestWorker] | None = None) -> list[IngestWorker]:
    """Start workers (appended to `started`, which `work` may watch), run the coroutine
    `work()`, then stop the workers."""
    started = [] if started is None else started
    contexts = [IngestWorker(config=ingest_config(**config_kwargs, worker=f"w{i}"),  # type: ignore[arg-type]
                             plant=simulated_plant)  # type: ignore[arg-type]
                for i in range(workers)]
    for worker in contexts:
        await worker.__aenter__()
        started.append(worker)
    try:
        for worker in started:
            await worker.connected.wait()
        await work()  # type: ignore[operator]
    finally:
        for worker in started:
            await worker.stop(timeout_s=5)
            await worker.__aexit__(None, None, None)
    return started


def test_every_batch_published_twice_counts_once(broker: Mosquitto, influxd: InfluxD,
                                                  database: str, influxql: InfluxQL,
                                                  topic_root: str, tmp_path: Path) -> None:
    sim = simulate(machines=4, sim_seconds=1800, topic_root=topic_root)
    doubled = [m for message in sim.messages for m in (message, message)]
    kwargs = dict(broker_port=broker.port, influx_url=influxd.url, database=database,
                  topic_root=topic_root, spool_dir=tmp_path)

    running: list[IngestWorker] = []

    async def work() -> None:
        await publish(broker.port, doubled)
        await asyncio.to_thread(wait_for_batches, influxql, sim.batches)
        # the duplicates land too: every copy processed, within a deadline
        await wait_until(lambda: sum(w.stats.batches for w in running) >= 2 * sim.batches,
                         timeout_s=60, what=lambda: f"{sum(w.stats.batches for w in running)}"
                         f" of {2 * sim.batches} copies processed")

    workers = asyncio.run(_run_worker_until(kwargs, sim.plant, work, started=running))
    assert sum(w.stats.batches for w in workers) == 2 * sim.batches  # all were processed
    assert_matches_truth(influxql, sim)


def test_two_workers_split_one_shared_subscription(broker: Mosquitto, influxd: InfluxD,
                                                    database: str, influxql: InfluxQL,
                                                    topic_root: str, tmp_path: Path) -> None:
    sim = simulate(machines=6, sim_seconds=1800, topic_root=topic_root)
    kwargs = dict(broker_port=broker.port, influx_url=influxd.url, database=database,
                  topic_root=topic_root, spool_dir=tmp_path)

    async def work() -> None:
        await publish(broker.port, sim.messages)
        await asyncio.to_thread(wait_for_batches, influxql, sim.batches)

    workers = asyncio.run(_run_worker_until(kwargs, sim.plant, work, workers=2))
    shares = [w.stats.batches for w in workers]
    assert sum(shares) == sim.batches and min(shares) > 0, shares
    assert_matches_truth(influxql, sim)


def _hostile(sim_messages: list[tuple[str, bytes]],
             topic_root: str) -> list[tuple[str, bytes, str]]:
    """(topic, payload, expected reason) for each kind of bad input."""
    topic, payload = sim_messages[0]
    batch = msgspec.json.decode(payload, type=Batch)
    other_topic = sim_messages[-1][0]
    rng = random.Random(5)
    meter = batch.machines[0].meters[0]
    negative = msgspec.structs.replace(batch, machines=[msgspec.structs.replace(
        batch.machines[0], meters=[msgspec.structs.replace(meter, delta=-1.0)])])
    backwards = msgspec.structs.replace(batch, t_end_ms=batch.t_start_ms - 10_000)
    future = msgspec.structs.replace(batch, t_start_ms=int(time.time() * 1000) + 86_400_000,
                                     t_end_ms=int(time.time() * 1000) + 86_410_000)
    nan_json = payload.replace(b'"delta":', b'"delta":NaN,"x":', 1)
    return [
        (topic, b"{this is not json", "bad_json"),
        (topic, bytes(rng.getrandbits(8) for _ in range(300)), "bad_json"),
        (topic, payload.replace(b'"seq":', b'"seq":"x","y":', 1), "invalid_field"),
        (topic, nan_json, "bad_json"),
        (topic, encode(negative), "invalid_field"),
        (topic, encode(backwards), "t_end_before_t_start"),
        (topic, encode(future), "future_timestamp"),
        (topic, b"{" + b" " * (9 * 1024 * 1024) + b"}", "oversize"),
        (other_topic, payload, "topic_mismatch"),  # a gateway publishing as another
        (f"{topic_root}/v1/{batch.site}/gw-intruder/batch",
         encode(msgspec.structs.replace(batch, gateway="gw-intruder")), "unknown_gateway"),
    ]


def test_hostile_payloads_go_to_dead_letters_good_ones_are_stored(
        broker: Mosquitto, influxd: InfluxD, database: str, influxql: InfluxQL,
        topic_root: str, tmp_path: Path) -> None:
    sim = simulate(machines=3, sim_seconds=900, topic_root=topic_root)
    hostile = _hostile(sim.messages, topic_root)
    mixed: list[tuple[str, bytes]] = []
    for i, message in enumerate(sim.messages):
        mixed.append(message)
        if i < len(hostile):
            mixed.append(hostile[i][:2])
    letters: list[dict[str, object]] = []
    kwargs = dict(broker_port=broker.port, influx_url=influxd.url, database=database,
                  topic_root=topic_root, spool_dir=tmp_path)

    async def work() -> None:
        async with aiomqtt.Client("127.0.0.1", broker.port) as watcher:
            await watcher.subscribe(f"{topic_root}/v1/deadletter/#", qos=1)
            await publish(broker.port, mixed)
            async with asyncio.timeout(30):
                async for message in watcher.messages:
                    assert isinstance(message.payload, bytes)
                    letters.append(json.loads(message.payload))
                    if len(letters) == len(hostile):
                        break
        await asyncio.to_thread(wait_for_batches, influxql, sim.batches)

    workers = asyncio.run(_run_worker_until(kwargs, sim.plant, work))
    assert sorted(str(x["reason"]) for x in letters) == sorted(r for _, _, r in hostile)
    assert all(x["topic"] and x["detail"] for x in letters)
    assert workers[0].stats.dead_letters == len(hostile)
    assert_matches_truth(influxql, sim)  # every good batch stored, none affected
    reasons = {s.tags["reason"]: s.values[0][1] for s in influxql.query(
        'SELECT sum("count") FROM "dead_letter" GROUP BY "reason"')}
    assert sum(reasons.values()) == len(hostile)


@pytest.mark.slow
def test_influxdb_down_30s_under_load_loses_nothing(broker: Mosquitto, topic_root: str,
                                                     tmp_path: Path) -> None:
    """InfluxDB is killed while batches flow, stays down 30 s, comes back: the spool
    holds what could not be written and replays it; everything is stored once."""
    influx = InfluxD(data_dir=tmp_path / "influx")
    influx.start()
    sim = simulate(machines=6, sim_seconds=3 * 3600, topic_root=topic_root)
    half = len(sim.messages) // 3
    kwargs = dict(broker_port=broker.port, influx_url=influx.url, database="outage",
                  topic_root=topic_root, spool_dir=tmp_path)
    spooled: list[int] = []

    async def work() -> None:
        await publish(broker.port, sim.messages[:half])
        influx.kill()
        publishing = asyncio.create_task(publish(broker.port, sim.messages[half:]))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            spooled.append(worker_ref[0].spool.depth)
            await asyncio.sleep(1.0)
        await publishing
        influx.start()
        with InfluxQL(url=influx.url, database="outage") as client:
            await asyncio.to_thread(wait_for_batches, client, sim.batches, timeout_s=90)

    worker_ref: list[IngestWorker] = []

    async def main() -> None:
        worker = IngestWorker(config=ingest_config(**kwargs), plant=sim.plant)  # type: ignore[arg-type]
        worker_ref.append(worker)
        async with worker:
            await worker.connected.wait()
            await work()
            assert worker.stats.write_errors > 0

    try:
        asyncio.run(main())
        assert max(spooled) > 0  # the spool really held data during the outage
        with InfluxQL(url=influx.url, database="outage") as client:
            assert_matches_truth(client, sim)
    finally:
        influx.stop()


@pytest.mark.slow
def test_worker_sigkilled_under_load_redelivers(broker: Mosquitto, influxd: InfluxD,
                                                database: str, influxql: InfluxQL,
                                                topic_root: str, tmp_path: Path) -> None:
    """A worker process is SIGKILLed mid-stream; restarted with the same client id it
    gets its unacknowledged messages again: nothing lost, nothing counted twice."""
    sim = simulate(machines=6, sim_seconds=4 * 3600, topic_root=topic_root)
    config = ingest_config(broker_port=broker.port, influx_url=influxd.url, database=database,
                           topic_root=topic_root, spool_dir=tmp_path)
    plant_path = tmp_path / "plant.toml"
    plant_path.write_bytes(to_toml(sim.plant))
    config_path = tmp_path / "ingest.toml"
    config_path.write_bytes(to_toml(msgspec.structs.replace(config, plant=str(plant_path))))
    log_path = tmp_path / "worker.log"

    def start() -> subprocess.Popen[bytes]:
        with open(log_path, "ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "plantstream.cli", "-v", "ingest",
                                        "run", "--config", str(config_path)],
                                       stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while log_path.read_text().count("subscribed") < starts + 1:
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        return process

    starts = 0
    worker = start()
    starts += 1
    try:
        messages_path = _pickle(tmp_path, sim.messages)
        publisher = subprocess.Popen([sys.executable, "-c", (
            f"import asyncio, pickle, sys; sys.path.insert(0, {str(Path(__file__).parents[2])!r}); "
            "from tests.harness import publish; "
            f"asyncio.run(publish({broker.port}, pickle.load(open({str(messages_path)!r}, 'rb'))))"
        )])
        deadline = time.monotonic() + 60
        while (stored := int(influxql.scalar('SELECT count("seq") FROM "batch"') or 0)) \
                < sim.batches // 4:
            assert time.monotonic() < deadline, f"only {stored} batches stored before the kill"
            time.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        stored_at_kill = int(influxql.scalar('SELECT count("seq") FROM "batch"') or 0)
        assert publisher.wait(timeout=120) == 0
        worker = start()
        assert wait_for_batches(influxql, sim.batches, timeout_s=90) == sim.batches
        assert stored_at_kill < sim.batches
        assert_matches_truth(influxql, sim)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=20)


def _pickle(tmp_path: Path, messages: list[tuple[str, bytes]]) -> Path:
    import pickle

    path = tmp_path / "messages.pickle"
    path.write_bytes(pickle.dumps(messages))
    return path


def test_v2_sink_writes_to_a_real_api_v2_write_server(broker: Mosquitto,
                                                       victoria: VictoriaMetrics,
                                                       topic_root: str, tmp_path: Path) -> None:
    """The v2 path (influxdb-client, /api/v2/write) against VictoriaMetrics."""
    sim = simulate(machines=3, sim_seconds=600, topic_root=topic_root)
    kwargs = dict(broker_port=broker.port, influx_url=victoria.url, database="unused",
                  topic_root=topic_root, spool_dir=tmp_path, api="v2", org="plant",
                  bucket=topic_root)

    async def work() -> None:
        await publish(broker.port, sim.messages)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sum(w.stats.batches for w in workers_ref) >= sim.batches:
                break
            await asyncio.sleep(0.2)

    workers_ref: list[IngestWorker] = []

    async def main() -> None:
        worker = IngestWorker(config=ingest_config(**kwargs), plant=sim.plant)  # type: ignore[arg-type]
        workers_ref.append(worker)
        async with worker:
            await worker.connected.wait()
            await work()

    asyncio.run(main())
    httpx.get(f"{victoria.url}/internal/force_flush", timeout=10)
    response = httpx.get(f"{victoria.url}/api/v1/export",
                         params={"match[]": '{__name__="oee_components_apt_s"}',
                                 "start": str(START_MS // 1000 - 60)}, timeout=10)
    apt_by_machine: dict[str, float] = {}
    for line in response.text.splitlines():
        series = json.loads(line)
        apt_by_machine[series["metric"]["machine"]] = sum(series["values"])
    element_of = {s.code: s.element for s in sim.plant.states}
    for machine, truth in sim.truth.items():
        expected = sum(ms for code, ms in truth.state_ms.items()
                       if element_of[code] == "APT") / 1000.0
        assert math.isclose(apt_by_machine[machine], expected, abs_tol=1e-6), machine
