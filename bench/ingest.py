"""`plantstream bench ingest --seconds N`: one ingest process at full load.

Starts its own Mosquitto and InfluxDB (temporary directories, stopped by PID), then
measures in the same run:

1. InfluxDB's own ceiling: pre-built line protocol, 10,000 `sample`-shaped lines per
   request, two writers, for a few seconds -> `influx_points_per_s`;
2. the naive bridge (`plantstream.bench.naive_bridge`: one message per sample, one
   influxdb-client `Point` and one HTTP request per sample) -> `naive_samples_per_s`;
3. one ingest worker process (`python -m plantstream.cli ingest run`) fed by a load
   generator in another process (wire-format v1 batches, QoS 1; a closed loop that
   keeps at most `WINDOW` batches unstored) for N seconds -> `samples_per_s` (samples
   stored and queryable: `count(value)` of `sample` over the time from the first
   publish to the last batch seen stored), `p99_latency_s` (batch t_end to the poll
   that first saw its `batch` point; polls every 0.2 s), `lost` (published - stored
   batches).

The ingest's micro-batch size is `PLANTSTREAM_BENCH_MAX_MESSAGES` messages (default 10,
50,000 samples per write). Raising `WINDOW` trades latency for throughput (Little's
law: latency ~ WINDOW / batches per second).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Final

import httpx

from plantstream.bench._load import (
    LoadShape,
    bench_plant,
    generate_batches,
    generate_naive,
)
from plantstream.config import MqttConfig, to_toml
from plantstream.devstack.services import InfluxD, Mosquitto
from plantstream.errors import StoreError
from plantstream.ingest.config import BatchingConfig, InfluxConfig, IngestConfig
from plantstream.store.influxql import InfluxQL
from plantstream.store.writer import LineWriter

__all__ = ["run"]

WINDOW: Final = 40  # published-but-not-stored batches the generator allows (about 1 s)
CEILING_S: Final = 4.0
NAIVE_S: Final = 4.0
DRAIN_S: Final = 30.0
TARGET: Final = 500_000
MAX_MESSAGES: Final = int(os.environ.get("PLANTSTREAM_BENCH_MAX_MESSAGES", "10"))


def _write_toml(path: Path, value: object) -> Path:
    path.write_bytes(to_toml(value))
    return path


def _create(url: str, database: str) -> None:
    httpx.post(f"{url}/query", data={"q": f'CREATE DATABASE "{database}"'}).raise_for_status()


# --------------------------------------------------------------------------- ceiling


def influx_ceiling(url: str, seconds: float = CEILING_S, *, writers: int = 2,
                   lines_per_request: int = 10_000) -> tuple[float, int]:
    """Points/s InfluxDB accepts from pre-built line protocol (and points written)."""
    database = "bench_ceiling"
    _create(url, database)
    t0 = int(time.time() * 1000) - 3_600_000
    bodies: list[bytes] = []
    for r in range(160):  # distinct points (new timestamps), built before timing
        base = t0 + r * 1000
        bodies.append("\n".join(
            f"sample,site=s,line=l{i % 10},machine=m{i % 500},signal=s{i % 10} "
            f"value={50.0 + (i % 97) * 0.1!r} {base + i // 5000}"
            for i in range(lines_per_request)).encode())
    written = [0] * writers
    deadline = time.monotonic() + seconds
    started = time.monotonic()

    def writer(k: int) -> None:
        with LineWriter(url=url, database=database, timeout_s=60.0) as line_writer:
            i = k
            while time.monotonic() < deadline:
                with contextlib.suppress(StoreError):  # a refused body is not counted
                    line_writer.write_body(bodies[i % len(bodies)])
                    written[k] += lines_per_request
                i += writers

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return sum(written) / elapsed, sum(written)


# --------------------------------------------------------------------------- naive


def naive_bridge(broker: Mosquitto, url: str, seconds: float = NAIVE_S) -> tuple[float, int]:
    """Samples/s stored by the naive bridge (and samples it stored)."""
    database = "bench_naive"
    _create(url, database)
    topic = "naive/samples"
    bridge = subprocess.Popen(
        [sys.executable, "-m", "plantstream.bench.naive_bridge", "--port", str(broker.port),
         "--topic", topic, "--url", url, "--database", database, "--seconds", str(seconds)],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    ctx = mp.get_context("spawn")
    published = ctx.Value("q", 0)
    load = None
    try:
        assert bridge.stdout is not None
        bridge.stdout.readline()  # ready
        load = ctx.Process(target=generate_naive,
                           args=(broker.port, topic, seconds + 2.0, published))
        load.start()
        result = json.loads(bridge.stdout.readline() or "{}")
        bridge.wait(timeout=30)
    finally:
        if bridge.poll() is None:
            bridge.kill()
            bridge.wait()
        if load is not None:
            load.terminate()
            load.join()
    with InfluxQL(url=url, database=database) as q:
        stored = int(q.scalar('SELECT count("value") FROM "naive_sample"') or 0)
    elapsed = float(result.get("seconds", seconds))
    return stored / elapsed, stored


# --------------------------------------------------------------------------- ingest


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_ingest(config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "plantstream.cli", "-v", "ingest", "run", "--config",
             str(config)], stdout=log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 60
    while "subscribed" not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"ingest did not start; see {log_path}")
        time.sleep(0.1)
    return process


class _Poller:
    """Polls the `batch` points: stored count and per-batch visibility latency."""

    def __init__(self, influx: InfluxQL, since_ms: int) -> None:
        self.influx = influx
        self.since_ms = since_ms
        self.seen: set[tuple[str, int]] = set()
        self.latencies: list[float] = []
        self.last_new = time.monotonic()

    def poll(self) -> int:
        now_ms = time.time() * 1000
        for s in self.influx.query(f'SELECT "t_end" FROM "batch" WHERE time >= '
                                   f'{self.since_ms}ms GROUP BY "gateway"'):
            gateway = s.tags.get("gateway", "")
            for t, t_end in s.values:
                key = (gateway, int(t))
                if key not in self.seen:
                    self.seen.add(key)
                    self.latencies.append((now_ms - int(t_end)) / 1000)
                    self.last_new = time.monotonic()
        return len(self.seen)


def ingest_run(broker: Mosquitto, influxd: InfluxD, workdir: Path, seconds: float,
               shape: LoadShape) -> dict[str, float]:
    url = influxd.url
    database = "bench"
    root = "bench"
    plant_path = _write_toml(workdir / "plant.toml", bench_plant(shape))
    config = IngestConfig(plant=plant_path.name,
                          mqtt=MqttConfig(port=broker.port, topic_root=root),
                          influx=InfluxConfig(url=url, database=database),
                          batching=BatchingConfig(max_messages=MAX_MESSAGES, max_delay_ms=100,
                                                  max_inflight=1000))
    config_path = _write_toml(workdir / "ingest.toml", config)
    ingest = _start_ingest(config_path, workdir / "ingest.log")
    ctx = mp.get_context("spawn")
    published = ctx.Value("q", 0)
    stored = ctx.Value("q", 0)
    since_ms = int(time.time() * 1000) - 1000
    load = ctx.Process(target=generate_batches,
                       args=(broker.port, root, shape, seconds, WINDOW, published, stored))
    try:
        with InfluxQL(url=url, database=database) as influx:
            poller = _Poller(influx, since_ms)
            others = {"influxd": influxd.pid or 0, "mosquitto": broker.pid or 0}
            cpu0 = _cpu_s(ingest.pid)
            others0 = {name: _cpu_s(pid) for name, pid in others.items()}
            load.start()
            while published.value == 0 and load.is_alive():
                time.sleep(0.005)
            first_publish = time.monotonic()
            while load.is_alive():
                stored.value = poller.poll()
                time.sleep(0.2)
            load.join()
            while poller.poll() < published.value and \
                    time.monotonic() - poller.last_new < 10.0 and \
                    time.monotonic() - first_publish < seconds + DRAIN_S:
                time.sleep(0.2)
            cpu = _cpu_s(ingest.pid) - cpu0
            others_cpu = {name: _cpu_s(pid) - others0[name] for name, pid in others.items()}
            elapsed = poller.last_new - first_publish
            samples = int(influx.scalar(
                f'SELECT count("value") FROM "sample" WHERE time >= {since_ms}ms') or 0)
    finally:
        if load.is_alive():
            load.terminate()
        load.join()
        ingest.terminate()
        try:
            ingest.wait(timeout=20)
        except subprocess.TimeoutExpired:
            ingest.kill()
            ingest.wait()
    latencies = sorted(poller.latencies)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies \
        else float("nan")
    return {"samples_per_s": samples / elapsed if elapsed > 0 else 0.0,
            "p99_latency_s": p99,
            "p50_latency_s": latencies[len(latencies) // 2] if latencies else float("nan"),
            "published": float(published.value), "stored_batches": float(len(poller.seen)),
            "lost": float(published.value - len(poller.seen)), "samples": float(samples),
            "seconds": elapsed, "ingest_cpu_s": cpu,
            "influxd_cpu_s": others_cpu["influxd"], "mosquitto_cpu_s": others_cpu["mosquitto"]}


# --------------------------------------------------------------------------- entry


def run(args: argparse.Namespace) -> int:
    seconds = float(getattr(args, "seconds", 20.0))
    shape = LoadShape()
    with tempfile.TemporaryDirectory(prefix="plantstream-bench-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(data_dir=workdir / "mosquitto")
        influxd = InfluxD(data_dir=workdir / "influxd")
        broker.start()
        try:
            influxd.start()
            print(f"mosquitto pid {broker.pid} port {broker.port}; "
                  f"influxd pid {influxd.pid} {influxd.url}")
            ceiling, ceiling_points = influx_ceiling(influxd.url)
            print(f"influxdb ceiling: {ceiling:,.0f} points/s "
                  f"({ceiling_points:,} points, 10,000 per request, 2 writers)")
            naive, naive_points = naive_bridge(broker, influxd.url)
            print(f"naive bridge:     {naive:,.0f} samples/s ({naive_points:,} stored; one "
                  f"message, one Point, one HTTP request per sample)")
            offered = shape.gateways * shape.samples_per_batch * 1000 // shape.interval_ms
            print(f"ingest: {shape.gateways} gateways x {shape.machines} machines x "
                  f"{shape.signals} signals x {shape.samples} samples every "
                  f"{shape.interval_ms} ms ({shape.samples_per_batch:,} samples per message; "
                  f"offered up to {offered:,} "
                  f"samples/s), {seconds:.0f} s")
            r = ingest_run(broker, influxd, workdir, seconds, shape)
        finally:
            influxd.stop()
            broker.stop()
    sps = r["samples_per_s"]
    print(f"ingest:           {sps:,.0f} samples/s ({r['samples']:,.0f} samples stored in "
          f"{r['seconds']:.1f} s; target {TARGET:,})")
    print(f"                  {r['stored_batches']:.0f} of {r['published']:.0f} batches stored;"
          f" latency p50 {r['p50_latency_s']:.2f} s p99 {r['p99_latency_s']:.2f} s; "
          f"cores used: ingest {r['ingest_cpu_s'] / max(r['seconds'], 1e-9):.2f}, influxd "
          f"{r['influxd_cpu_s'] / max(r['seconds'], 1e-9):.2f}, mosquitto "
          f"{r['mosquitto_cpu_s'] / max(r['seconds'], 1e-9):.2f} (load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: the machine is shared)")
    print(f"                  points written ~= samples + {shape.machines * 4} per batch: "
          f"{sps / ceiling:.0%} of the InfluxDB ceiling measured above")
    x_naive = sps / naive if naive > 0 else float("inf")
    print(f"samples_per_s={sps:.0f} p99_latency_s={r['p99_latency_s']:.3f} "
          f"lost={r['lost']:.0f} naive_samples_per_s={naive:.0f} "
          f"influx_points_per_s={ceiling:.0f} x_naive={x_naive:.1f}")
    return 0
