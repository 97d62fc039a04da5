"""`plantstream bench edge`: what one edge agent sustains, and what it costs.

Figures, each beside a baseline from the same run:
  samples_per_s        simulated machines as fast as one agent process can close,
                       queue (SQLite, fsync) and publish them (QoS 1, PUBACK) into a
                       local Mosquitto; baseline: raw aiomqtt QoS 1 publishing of the
                       same payloads with no queue (`raw_publish_samples_per_s`)
  cpu_pct_1000_tags    CPU of a real `plantstream edge run` process reading 1,000 tags
  rss_mb_1000_tags     at 1 Hz (500 simulated machines: power and an energy meter each)
                       in real time, and its resident memory
  drain_x_live         a backlog of 30 minutes at 1,000 tags/s (1,800 batches, closed
                       while the broker is down), drained by the real-time agent beside
                       live data: backlog batches acknowledged per second over live
                       batches produced per second (one a second). The rate is taken
                       between the 10th and the 90th percentile of the acknowledgement
                       times (the queue's `acked_ms`): the agent's start and the tail do
                       not decide it, so one hiccup of a shared machine moves it little
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
from plantstream.errors import ServiceError

__all__ = ["run"]


def _config(*, machines: int, port: int, state_dir: Path, speedup: float,
            start_ms: int | None, flush_interval_s: int = 10,
            keep_acked_s: float = 60.0) -> EdgeConfig:
    sim = SimulatorConfig(machines=[SimulatedMachine(id=f"m{i:03d}", products={"P": 30.0})
                                    for i in range(machines)])
    return EdgeConfig(gateway=GatewaySettings(id="gw-bench", site="bench",
                                              flush_interval_s=flush_interval_s,
                                              state_dir=str(state_dir), health_interval_s=60,
                                              keep_acked_s=keep_acked_s),
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


BACKLOG_S = 1800  # the backlog: 30 minutes of data


async def _backlog(port: int, state_dir: Path, end_ms: int) -> int:
    """Close BACKLOG_S seconds of 1,000 tags/s up to `end_ms` as fast as one agent can,
    with the broker down: every batch stays queued. Returns how many were closed."""
    start_ms = end_ms - BACKLOG_S * 1000
    speedup = 600.0
    config = _config(machines=500, port=port, state_dir=state_dir, speedup=speedup,
                     start_ms=start_ms, flush_interval_s=1, keep_acked_s=3600.0)
    agent = EdgeAgent(config=config, clock=Clock(speedup=speedup, start_ms=start_ms))
    async with agent:
        agent.finish_at(end_ms)
        await agent.stop(drain_timeout_s=0.1)  # nothing can be delivered: stays on disk
    return agent.closed_batches


def _acked(state_dir: Path, below_seq: int) -> int:
    """How many of the batches with seq < `below_seq` are acknowledged."""
    with sqlite3.connect(state_dir / "queue.sqlite", timeout=10) as db:
        return int(db.execute("SELECT count(acked_ms) FROM batches WHERE seq < ?",
                              (below_seq,)).fetchone()[0])


def _drain_rate(state_dir: Path, below_seq: int) -> float:
    """Batches acknowledged per second between the 10th and the 90th percentile of the
    acknowledgement times of the batches with seq < `below_seq`."""
    with sqlite3.connect(state_dir / "queue.sqlite", timeout=10) as db:
        times: list[int] = [int(t) for (t,) in db.execute(
            "SELECT acked_ms FROM batches WHERE seq < ? AND acked_ms IS NOT NULL "
            "ORDER BY acked_ms", (below_seq,))]
    lo, hi = len(times) // 10, len(times) * 9 // 10
    if hi - lo < 2 or times[hi] <= times[lo]:
        raise ServiceError(service="edge", reason=f"{len(times)} acknowledgements: too few "
                           "to time the drain")
    return (hi - lo) / ((times[hi] - times[lo]) / 1000.0)


def _real_time_agent(broker: Mosquitto, work: Path,
                     seconds: float) -> tuple[float, float, float, int]:
    """Drain / live rate ratio with a 10-minute backlog, then CPU % and RSS MB of the
    same agent process at 1,000 tags/s. Also returns the backlog size in batches."""
    state_dir = work / "rt"
    broker.kill()  # the outage in which the backlog builds up
    end_ms = int(time.time() * 1000) // 1000 * 1000
    backlog = asyncio.run(_backlog(broker.port, state_dir, end_ms))
    broker.start()
    config = _config(machines=500, port=broker.port, state_dir=state_dir, speedup=1.0,
                     start_ms=None, flush_interval_s=1, keep_acked_s=3600.0)
    path = work / "edge.toml"
    path.write_bytes(to_toml(config))  # clock: real time (speedup 1, start now)
    process = subprocess.Popen([sys.executable, "-m", "plantstream.cli", "edge", "run",
                                "--config", str(path)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while _acked(state_dir, backlog) < backlog and time.monotonic() < deadline:
            time.sleep(0.1)
        acked = _acked(state_dir, backlog)
        if acked < backlog:
            raise ServiceError(service="edge", reason=f"backlog not drained: {acked} of "
                               f"{backlog} batches acknowledged")
        drain_rate = _drain_rate(state_dir, backlog)  # batches/s
        live_rate = 1.0  # one batch per second of 1,000 tags (1 s flush, real time)
        time.sleep(5.0)  # the drain is over; steady state
        cpu0, wall0 = _proc_cpu_s(process.pid), time.monotonic()
        time.sleep(seconds)
        cpu_pct = 100 * (_proc_cpu_s(process.pid) - cpu0) / (time.monotonic() - wall0)
        rss = _proc_rss_mb(process.pid)
        return cpu_pct, rss, drain_rate / live_rate, backlog
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
            print("real-time agent process: 500 machines x 2 tags at 1 Hz, after a 30 min "
                  "outage ...", flush=True)
            cpu_pct, rss, drain_x, backlog = _real_time_agent(broker, work, seconds)
            print(f"  a backlog of {backlog} batches (30 min) drains {drain_x:,.1f}x faster "
                  f"than live data is produced; then {cpu_pct:.1f}% of one core, "
                  f"{rss:.0f} MB RSS", flush=True)
        finally:
            broker.stop()
    print(f"samples_per_s={samples_per_s:.0f} raw_publish_samples_per_s={raw:.0f} "
          f"cpu_pct_1000_tags={cpu_pct:.2f} rss_mb_1000_tags={rss:.1f} "
          f"drain_x_live={drain_x:.1f}")
    return 0
