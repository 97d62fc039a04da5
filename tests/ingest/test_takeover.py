"""No parked share: a worker that dies and never comes back strands nothing (issue 14).

Mosquitto keeps assigning a shared subscription's messages to a member whose persistent
session outlives its connection; a surviving worker takes that session over after a
grace period, drains it and ends it (plantstream.ingest.takeover)."""

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
from harness import assert_matches_truth, ingest_config, publish, simulate

from plantstream.config import to_toml
from plantstream.influxql import InfluxQL
from plantstream.ingest.config import TakeoverConfig
from plantstream.ingest.worker import IngestWorker
from plantstream.localstack import InfluxD, Mosquitto

pytestmark = pytest.mark.services


def test_a_worker_killed_for_good_strands_nothing(broker: Mosquitto, influxd: InfluxD,
                                                  database: str, influxql: InfluxQL,
                                                  topic_root: str, tmp_path: Path) -> None:
    sim = simulate(machines=6, sim_seconds=1200, topic_root=topic_root)
    kwargs = dict(broker_port=broker.port, influx_url=influxd.url, database=database,
                  topic_root=topic_root, spool_dir=tmp_path)
    takeover = TakeoverConfig(after_s=1.0, idle_s=1.0)
    victim_config = msgspec.structs.replace(ingest_config(**kwargs, worker="victim"),  # type: ignore[arg-type]
                                            takeover=takeover)
    plant_path = tmp_path / "plant.toml"
    plant_path.write_bytes(to_toml(sim.plant))
    config_path = tmp_path / "victim.toml"
    config_path.write_bytes(to_toml(msgspec.structs.replace(victim_config,
                                                            plant=str(plant_path))))
    log_path = tmp_path / "victim.log"
    with open(log_path, "wb") as log:
        victim = subprocess.Popen([sys.executable, "-m", "plantstream.cli", "-v", "ingest", "run",
                                   "--config", str(config_path)], stdout=log,
                                  stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "subscribed" not in log_path.read_text():
            assert victim.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        survivor_config = msgspec.structs.replace(
            ingest_config(**kwargs, worker="survivor"), takeover=takeover)  # type: ignore[arg-type]

        async def main() -> IngestWorker:
            worker = IngestWorker(config=survivor_config, plant=sim.plant)
            async with worker:
                await asyncio.wait_for(worker.connected.wait(), 30)
                os.kill(victim.pid, signal.SIGKILL)  # and it never comes back
                await asyncio.to_thread(victim.wait)
                await publish(broker.port, sim.messages)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    stored = int(influxql.scalar('SELECT count("seq") FROM "batch"') or 0)
                    if stored >= sim.batches:
                        break
                    await asyncio.sleep(0.2)
                await worker.stop(timeout_s=10)
            return worker

        survivor = asyncio.run(main())
        assert victim.returncode == -signal.SIGKILL
        assert survivor.takeover.taken_over_messages > 0  # the dead worker's share was parked
        assert survivor.takeover.taken_over_sessions == 1
        assert survivor.stats.batches + survivor.takeover.taken_over_messages >= sim.batches
        assert int(influxql.scalar('SELECT count("seq") FROM "batch"') or 0) == sim.batches
        assert_matches_truth(influxql, sim)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
