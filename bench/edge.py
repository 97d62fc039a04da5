"""`plantstream bench edge`: what one edge agent sustains, and what it costs.

Figures, each beside a baseline from the same run:
  samples_per_s        simulated machines as fast as one agent process can close,
                       queue (SQLite, fsync) and publish them (QoS 1, PUBACK) into a
                       local Mosquitto; baseline: raw aiomqtt QoS 1 publishing of the
                       same payloads with no queue (`raw_publish_samples_per_s`)
  cpu_pct_1000_tags    CPU of a real `plantstream edge run` process reading 1,000 tags
  rss_mb_1000_tags     at 1 Hz (500 simulated machines: power and an energy meter each)
                       in real time, and its resident memory
  drain_x_live         after a 20 s broker outage, how much faster the backlog drains
                       than live data is produced
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt

from plantstream.config import MqttConfig, to_toml
from plantstream.devstack.services import Mosquitto
from plantstream.edge.agent import EdgeAgent
from plantstream.edge.clock import Clock
from plantstream.edge.config import ClockConfig, EdgeConfig, GatewaySettings
from plantstream.edge.sources.simulator import SimulatedMachine, SimulatorConfig

__all__ = ["run"]


def _config(*, machines: int, port: int, state_dir: Path, speedup: float,
            start_ms: int | None, flush_interval_s: int = 10) -> EdgeConfig:
    sim = SimulatorConfig(machines=[SimulatedMachine(id=f"m{i:03d}", products={"P": 30.0})
                                    for i in range(machines)])
    return EdgeConfig(gateway=GatewaySettings(id="gw-bench", site="bench",
                                              flush_interval_s=flush_interval_s,
                                              state_dir=str(state_dir), health_interval_s=60),
                      mqtt=MqttConfig(port=port), sources=[sim],
                      clock=ClockConfig(speedup=speedup, start_ms=start_ms))


async def _agent_throughput(port: int, state_dir: Path, seconds: float) -> float:
    start = int(time.time() * 1000) - 30 * 86_400_000
    start -= start % 60_000
    config = _config(machines=50, port=port, state_dir=state_dir, speedup=3000.0,
                     start_ms=start)
    agent = EdgeAgent(config=config, clock=Clock(speedup=3000.0, start_ms=start))
    async with agent:
        wall0 = time.monotonic()
        await asyncio.sleep(seconds)
        await agent.stop(drain_timeout_s=120)  # everything acknowledged by the broker
        wall = time.monotonic() - wall0
    return agent.closed_samples / wall


async def _raw_publish(port: int, payloads: list[bytes], samples_each: float) -> float:
    async with aiomqtt.Client("127.0.0.1", port, max_inflight_messages=64) as client:
        client.pending_calls_threshold = 10_000
        wall0 = time.monotonic()
        for i in range(0, len(payloads), 64):
            await asyncio.gather(*(client.publish("bench/raw", p, qos=1)
                                   for p in payloads[i:i + 64]))
        return len(payloads) * samples_each / (time.monotonic() - wall0)


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _queued(state_dir: Path) -> int:
    path = state_dir / "queue.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM batches WHERE acked_ms IS NULL"
                              ).fetchone()[0])


def _real_time_agent(broker: Mosquitto, work: Path, seconds: float) -> tuple[float, float, float]:
    """CPU %, RSS MB at 1,000 tags/s, and the drain / live rate ratio."""
    state_dir = work / "rt"
    config = _config(machines=500, port=broker.port, state_dir=state_dir, speedup=1.0,
                     start_ms=None, flush_interval_s=1)
    path = work / "edge.toml"
    path.write_bytes(to_toml(config))  # clock: real time (speedup 1, start now)
    process = subprocess.Popen([sys.executable, "-m", "plantstream.cli", "edge", "run",
                                "--config", str(path)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        time.sleep(5.0)  # start-up and imports are not the steady state
        cpu0, wall0 = _proc_cpu_s(process.pid), time.monotonic()
        time.sleep(seconds)
        cpu_pct = 100 * (_proc_cpu_s(process.pid) - cpu0) / (time.monotonic() - wall0)
        rss = _proc_rss_mb(process.pid)
        broker.kill()  # an outage: live data keeps coming, the backlog grows
        outage_s = 20.0
        time.sleep(outage_s)
        backlog = _queued(state_dir)
        live_rate = backlog / outage_s  # batches per second produced while down (1 s flush)
        broker.start()
        # the drain starts with the first acknowledgement (the reconnect backoff is not
        # drain time) and ends when what was queued before is gone
        waited0 = time.monotonic()
        while _queued(state_dir) >= backlog and time.monotonic() - waited0 < 60:
            time.sleep(0.005)
        drain0, left0 = time.monotonic(), _queued(state_dir)
        while _queued(state_dir) > 1 and time.monotonic() - drain0 < 60:
            time.sleep(0.005)
        drain_s = max(time.monotonic() - drain0, 1e-3)
        drain_rate = left0 / drain_s
        return cpu_pct, rss, drain_rate / max(live_rate, 1e-9)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(args: argparse.Namespace) -> int:
    seconds = min(float(args.seconds), 30.0)
    with tempfile.TemporaryDirectory(prefix="plantstream-bench-edge-") as tmp:
        work = Path(tmp)
        broker = Mosquitto(data_dir=work / "mosquitto")
        broker.start()
        try:
            print(f"agent throughput: 50 simulated machines at 3000x for {seconds:.0f} s ...",
                  flush=True)
            samples_per_s = asyncio.run(_agent_throughput(broker.port, work / "fast", seconds))
            # the acknowledged batches are still on disk (kept for republishing)
            with sqlite3.connect(work / "fast" / "queue.sqlite") as db:
                rows = db.execute("SELECT payload, samples FROM batches LIMIT 2000").fetchall()
            payloads = [bytes(r[0]) for r in rows]
            samples_each = sum(r[1] for r in rows) / max(len(rows), 1)
            raw = asyncio.run(_raw_publish(broker.port, payloads, samples_each))
            print(f"  agent {samples_per_s:,.0f} samples/s; raw QoS 1 publishing of the same "
                  f"payloads {raw:,.0f} samples/s", flush=True)
            print("real-time agent process: 500 machines x 2 tags at 1 Hz ...", flush=True)
            cpu_pct, rss, drain_x = _real_time_agent(broker, work, seconds)
            print(f"  {cpu_pct:.1f}% of one core, {rss:.0f} MB RSS; backlog drains "
                  f"{drain_x:,.0f}x faster than live data is produced", flush=True)
        finally:
            broker.stop()
    print(f"samples_per_s={samples_per_s:.0f} raw_publish_samples_per_s={raw:.0f} "
          f"cpu_pct_1000_tags={cpu_pct:.2f} rss_mb_1000_tags={rss:.1f} "
          f"drain_x_live={drain_x:.1f}")
    return 0
