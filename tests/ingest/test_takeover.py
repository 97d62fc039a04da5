"""No parked share: a worker that dies and never comes back strands nothing (issue 14).

Mosquitto keeps assigning a shared subscription's messages to a member whose persistent
session outlives its connection; a surviving worker takes that session over after a
grace period, drains it and ends its membership (plantstream.ingest.takeover). A worker
that returns within the grace period gets its own session back, untouched."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from plantstream.config import to_toml
from plantstream.devstack.services import InfluxD, Mosquitto
from plantstream.ingest.config import IngestConfig, TakeoverConfig
from plantstream.ingest.worker import IngestWorker
from plantstream.store.influxql import InfluxQL
from tests.harness import Simulated, assert_matches_truth, ingest_config, publish, simulate

pytestmark = pytest.mark.services


class _Victim:
    """`plantstream ingest run` as a process of its own, to be SIGKILLed."""

    def __init__(self, config: IngestConfig, sim: Simulated, tmp_path: Path) -> None:
        plant_path = tmp_path / "plant.toml"
        plant_path.write_bytes(to_toml(sim.plant))
        self.config_path = tmp_path / "victim.toml"
        self.config_path.write_bytes(to_toml(msgspec.structs.replace(config,
                                                                     plant=str(plant_path))))
        self.log_path = tmp_path / "victim.log"
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "plantstream.cli", "-v", "ingest", "run", "--config",
                 str(self.config_path)], stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        deadline = time.monotonic() + 30
        while self.log_path.read_text().count("subscribed") < self.starts:
            assert self.process.poll() is None and time.monotonic() < deadline, \
                self.log_path.read_text()
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        assert self.process.wait() == -signal.SIGKILL

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _stored(influxql: InfluxQL) -> int:
    return int(influxql.scalar('SELECT count("seq") FROM "batch"') or 0)


async def _wait_stored(influxql: InfluxQL, expected: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _stored(influxql) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)


def _configs(broker: Mosquitto, influxd: InfluxD, database: str, topic_root: str,
             tmp_path: Path, takeover: TakeoverConfig) -> tuple[IngestConfig, IngestConfig]:
    kwargs = dict(broker_port=broker.port, influx_url=influxd.url, database=database,
                  topic_root=topic_root, spool_dir=tmp_path)
    return tuple(msgspec.structs.replace(ingest_config(**kwargs, worker=w),  # type: ignore[arg-type]
                                         takeover=takeover)
                 for w in ("victim", "survivor"))  # type: ignore[return-value]


def test_a_worker_killed_for_good_strands_nothing(broker: Mosquitto, influxd: InfluxD,
                                                  database: str, influxql: InfluxQL,
                                                  topic_root: str, tmp_path: Path) -> None:
    sim = simulate(machines=6, sim_seconds=1200, topic_root=topic_root)
    victim_config, survivor_config = _configs(broker, influxd, database, topic_root, tmp_path,
                                              TakeoverConfig(after_s=1.0, idle_s=1.0))
    victim = _Victim(victim_config, sim, tmp_path)
    victim.start()
    try:
        async def main() -> IngestWorker:
            worker = IngestWorker(config=survivor_config, plant=sim.plant)
            async with worker:
                await asyncio.wait_for(worker.connected.wait(), 30)
                await asyncio.to_thread(victim.kill)  # and it never comes back
                await publish(broker.port, sim.messages)
                await _wait_stored(influxql, sim.batches, timeout_s=60)
                await worker.stop(timeout_s=10)
            return worker

        survivor = asyncio.run(main())
        assert survivor.takeover.taken_over_messages > 0  # the dead worker's share was parked
        assert survivor.takeover.taken_over_sessions == 1
        assert _stored(influxql) == sim.batches
        assert_matches_truth(influxql, sim)
    finally:
        victim.stop()


def test_a_worker_back_within_the_grace_period_keeps_its_session(
        broker: Mosquitto, influxd: InfluxD, database: str, influxql: InfluxQL,
        topic_root: str, tmp_path: Path) -> None:
    sim = simulate(machines=6, sim_seconds=1200, topic_root=topic_root)
    victim_config, survivor_config = _configs(broker, influxd, database, topic_root, tmp_path,
                                              TakeoverConfig(after_s=120.0, idle_s=1.0))
    victim = _Victim(victim_config, sim, tmp_path)
    victim.start()
    try:
        async def main() -> IngestWorker:
            worker = IngestWorker(config=survivor_config, plant=sim.plant)
            async with worker:
                await asyncio.wait_for(worker.connected.wait(), 30)
                await asyncio.to_thread(victim.kill)
                await publish(broker.port, sim.messages)
                deadline = time.monotonic() + 30  # the survivor stores its share
                while worker.stats.batches < sim.batches // 3 and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                parked = sim.batches - _stored(influxql)
                assert "victim" in str(worker.takeover.offline_since)  # it saw the death
                await asyncio.to_thread(victim.start)  # back under the same id
                await _wait_stored(influxql, sim.batches, timeout_s=60)
                assert parked > 0  # the share was parked meanwhile, then resumed
                await worker.stop(timeout_s=10)
            return worker

        survivor = asyncio.run(main())
        assert survivor.takeover.taken_over_sessions == 0
        assert _stored(influxql) == sim.batches
        assert_matches_truth(influxql, sim)
    finally:
        victim.stop()
