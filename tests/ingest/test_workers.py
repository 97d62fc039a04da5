"""`plantstream ingest run --workers 2`: two worker processes share the subscription;
every batch is stored once, both workers take a share, and the split adds up."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from plantstream.config import to_toml
from plantstream.devstack.services import InfluxD, Mosquitto
from plantstream.store.influxql import InfluxQL
from tests.harness import assert_matches_truth, ingest_config, publish, simulate, wait_for_batches

pytestmark = pytest.mark.services


def test_two_worker_processes_split_the_messages_and_store_everything(
        broker: Mosquitto, influxd: InfluxD, database: str, influxql: InfluxQL,
        topic_root: str, tmp_path: Path) -> None:
    sim = simulate(machines=4, sim_seconds=1800, topic_root=topic_root)
    plant_path = tmp_path / "plant.toml"
    plant_path.write_bytes(to_toml(sim.plant))
    config = ingest_config(broker_port=broker.port or 0, influx_url=influxd.url,
                           database=database, topic_root=topic_root, spool_dir=tmp_path)
    config_path = tmp_path / "ingest.toml"
    config_path.write_bytes(to_toml(msgspec.structs.replace(config, plant=str(plant_path))))
    log_path = tmp_path / "ingest.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "plantstream.cli", "-v", "ingest", "run", "--config",
             str(config_path), "--workers", "2"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while log_path.read_text().count(" subscribed on ") < 2:
            assert process.poll() is None and time.monotonic() < deadline, \
                log_path.read_text()
            time.sleep(0.1)
        asyncio.run(publish(broker.port or 0, sim.messages))
        assert wait_for_batches(influxql, sim.batches) == sim.batches
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, log_path.read_text()
    assert_matches_truth(influxql, sim)
    text = log_path.read_text()
    worker = config.worker
    assert f"ingest {worker}-1 subscribed" in text and f"ingest {worker}-2 subscribed" in text
    split = re.search(r"ingest workers: split: \S+-1 ([\d,]+) messages [\d,]+ samples \(\d+%\), "
                      r"\S+-2 ([\d,]+) messages [\d,]+ samples \(\d+%\); total ([\d,]+) "
                      r"messages",
                      text)
    assert split is not None, text
    first, second, total = (int(g.replace(",", "")) for g in split.groups())
    assert first > 0 and second > 0 and first + second == total >= sim.batches
