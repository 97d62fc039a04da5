"""`plantstream bench ingest --seconds N [--backlog-samples M]`: ingest at full load.

Starts its own Mosquitto and InfluxDB (temporary directories, stopped by PID), then
measures in the same run, one after the other (never two at once):

1. InfluxDB's own ceiling for the point shape ingest writes: the worker's own lines
   (`plantstream.ingest.points`) of benchmark batches, formatted before timing,
   `--max-messages` messages per request, two writers -> `influx_samples_per_s`;
2. the naive bridge (`plantstream.bench.naive_bridge`: one message per sample, one
   influxdb-client `Point` and one HTTP request per sample) -> `naive_samples_per_s`;
3. open loop (`--backlog-samples`, default 5,000,000): a backlog of M samples in
   benchmark batches is published (pre-encoded, not timed) while the consumers are
   offline with persistent sessions; then, one after the other, the naive ARRAY bridge
   (`plantstream.bench.naive_array_bridge`: paho, orjson, f-string wide points, two
   HTTP writers) and the ingest worker(s) start and are timed until every sample is
   stored -> `naive_array_samples_per_s`, `backlog_samples_per_s`, CPU microseconds per
   sample of ingest and of influxd (influxd's until it is idle again after each: the
   compactions of what a consumer wrote are its cost, not the next one's);
4. closed loop (latency): the ingest worker(s) (`--workers`) fed by a load generator in
   another process at the offered rate (10 gateways x 5,000 samples every 100 ms =
   500,000 samples/s; a slot the generator falls behind on, or holds back while more
   than `WINDOW` batches are unstored, is published late, its lateness counted) for N
   seconds -> `samples_per_s` (stored over the time from the first publish to the last
   batch seen stored), `p99_latency_s` (batch t_end to the poll that first saw its
   `batch` point; polls every 0.2 s), `lost` (published - stored batches, both loops).

Each phase starts once influxd is idle (at most 30 s). The worker runs with its own
defaults but for `--max-messages` (default 40: 200,000 samples per write while a backlog
drains; live, the default `max_delay_ms` of 200 ms closes micro-batches first) and
`--writes-in-flight`. InfluxDB's cost per sample falls with larger writes (more values
per series and request): with 10 messages per micro-batch ingest stored 0.80-0.87x the
naive array bridge, with 40 1.0-1.4x (2026-12-01).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from plantstream.analytics import StateModel, load_coefficients
from plantstream.bench._load import (
    LoadShape,
    _batch,
    backlog,
    bench_plant,
    generate_batches,
    generate_naive,
)
from plantstream.config import MqttConfig, to_toml
from plantstream.devstack.services import InfluxD, Mosquitto
from plantstream.errors import StoreError
from plantstream.ingest.components import batch_components
from plantstream.ingest.config import BatchingConfig, InfluxConfig, IngestConfig
from plantstream.ingest.conflicts import content_hash
from plantstream.ingest.points import batch_lines, component_lines
from plantstream.store.influxql import InfluxQL
from plantstream.store.samples import count_samples
from plantstream.store.writer import LineWriter
from plantstream.topics import Topics

__all__ = ["run"]

WINDOW: Final = 200  # published-but-not-stored batches the generator allows (about 2 s)
CEILING_S: Final = 4.0
NAIVE_S: Final = 4.0
DRAIN_S: Final = 30.0
QUIESCE_S: Final = 30.0
TARGET: Final = 500_000
BACKLOG_TARGET: Final = 700_000
ROOT: Final = "bench"
DATABASE: Final = "bench"


def _write_toml(path: Path, value: object) -> Path:
    path.write_bytes(to_toml(value))
    return path


def _create(url: str, database: str) -> None:
    httpx.post(f"{url}/query", data={"q": f'CREATE DATABASE "{database}"'}).raise_for_status()


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _quiesce(pid: int, *, idle_share: float = 0.05, limit_s: float = QUIESCE_S) -> None:
    """Wait until a process uses less than `idle_share` of a core over half a second
    (InfluxDB compacts what it was sent after the writes return), at most `limit_s`."""
    deadline = time.monotonic() + limit_s
    previous = _cpu_s(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _cpu_s(pid)
        if now - previous < idle_share * 0.5:
            return
        previous = now


def _stored_samples(influx: InfluxQL, start_ms: int, stop_ms: int | None = None) -> int:
    """Samples stored in `sample` in [start_ms, stop_ms) (every signal's values)."""
    stop = f" AND time < {stop_ms}ms" if stop_ms is not None else ""
    return count_samples(influx, f"time >= {start_ms}ms{stop}")


# --------------------------------------------------------------------------- ceiling


def influx_ceiling(url: str, shape: LoadShape, seconds: float = CEILING_S, *,
                   writers: int = 2, per_request: int = 10) -> tuple[float, float]:
    """(samples/s, points/s) InfluxDB stores from the worker's own lines of benchmark
    batches, formatted before timing (`per_request` messages per body)."""
    database = "bench_ceiling"
    _create(url, database)
    plant = bench_plant(shape)
    model = StateModel(plant.states)
    coefficients = load_coefficients()
    now = int(time.time() * 1000)
    t0 = now - now % 60_000 - 3_600_000
    bodies: list[tuple[bytes, int, int]] = []
    for r in range(max(1, 600 // per_request)):  # 600 messages' points, built before timing
        lines: list[str] = []
        samples = 0
        for k in range(per_request):
            i = r * per_request + k
            b = _batch(shape, i % shape.gateways, i // shape.gateways + 1,
                       t0 + (i // shape.gateways) * shape.interval_ms)
            lines += component_lines(batch_components(b, plant, coefficients))
            lines += batch_lines(b, plant, model, received_ms=now, content=content_hash(b))
            samples += b.sample_count
        bodies.append(("\n".join(lines).encode(), samples, len(lines)))
    written = [[0, 0] for _ in range(writers)]
    deadline = time.monotonic() + seconds
    started = time.monotonic()

    def writer(k: int) -> None:
        with LineWriter(url=url, database=database, timeout_s=60.0) as line_writer:
            i = k
            while time.monotonic() < deadline:
                body, samples, points = bodies[i % len(bodies)]
                with contextlib.suppress(StoreError):  # a refused body is not counted
                    line_writer.write_body(body)
                    written[k][0] += samples
                    written[k][1] += points
                i += writers

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return sum(w[0] for w in written) / elapsed, sum(w[1] for w in written) / elapsed


# --------------------------------------------------------------------------- naive


def naive_bridge(broker: Mosquitto, url: str, seconds: float = NAIVE_S) -> tuple[float, int]:
    """Samples/s stored by the naive per-sample bridge (and samples it stored)."""
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


def _naive_array(broker: Mosquitto, url: str, *, prepare: bool,
                 expect: int = 0) -> dict[str, float]:
    database = "bench_naive_array"
    if prepare:
        _create(url, database)
    command = [sys.executable, "-m", "plantstream.bench.naive_array_bridge", "--port",
               str(broker.port), "--topic", Topics(root=ROOT).all_batches, "--url", url,
               "--database", database, "--expect-samples", str(expect)]
    out = subprocess.run(command + (["--prepare"] if prepare else []), check=True,
                         stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                         timeout=600).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


# --------------------------------------------------------------------------- ingest


def _start_ingest(config: Path, log_path: Path, *,
                  workers: int = 1) -> tuple[subprocess.Popen[bytes], float]:
    """The ingest process, and when its first worker subscribed (monotonic)."""
    log_path.write_bytes(b"")
    first = 0.0
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "plantstream.cli", "-v", "ingest", "run", "--config",
             str(config), *(["--workers", str(workers)] if workers > 1 else [])],
            stdout=log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 60
    while (n := log_path.read_text(errors="replace").count(" subscribed on ")) < workers:
        if n and not first:
            first = time.monotonic()
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"ingest did not start; see {log_path}")
        time.sleep(0.01)
    return process, first or time.monotonic()


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its children (the `--workers` processes)."""
    total = _cpu_s(pid)
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(OSError):
                total += _cpu_s(int(child))
    return total


@dataclass(frozen=True, slots=True)
class Tuning:
    """The worker settings a run uses (`--max-messages`, `--writes-in-flight`)."""

    max_messages: int = 40
    writes_in_flight: int = BatchingConfig().max_writes_in_flight

    def batching(self) -> BatchingConfig:
        return BatchingConfig(max_messages=self.max_messages,
                              max_inflight=1000, max_writes_in_flight=self.writes_in_flight)


def _ingest_config(workdir: Path, broker: Mosquitto, url: str, shape: LoadShape,
                   tuning: Tuning) -> Path:
    plant_path = _write_toml(workdir / "plant.toml", bench_plant(shape))
    config = IngestConfig(plant=plant_path.name,
                          mqtt=MqttConfig(port=broker.port, topic_root=ROOT),
                          influx=InfluxConfig(url=url, database=DATABASE),
                          batching=tuning.batching())
    return _write_toml(workdir / "ingest.toml", config)


def _publish_all(port: int, payloads: list[tuple[str, bytes]]) -> None:
    """Publish pre-encoded messages at QoS 1 and return once the broker has them all."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-backlog",
                         protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in payloads]
        for info in infos:
            info.wait_for_publish(timeout=120)
            if not info.is_published():
                raise RuntimeError("backlog not accepted by the broker")
    finally:
        client.disconnect()
        client.loop_stop()


@dataclass(slots=True)
class OpenLoop:
    samples: int
    messages: int
    naive_array_samples_per_s: float
    naive_array_cpu_us: float
    naive_array_influxd_us: float
    backlog_samples_per_s: float
    stored_samples: int
    stored_batches: int
    seconds: float
    ingest_us_per_sample: float
    influxd_us_per_sample: float
    mosquitto_us_per_sample: float


def open_loop(broker: Mosquitto, influxd: InfluxD, workdir: Path, shape: LoadShape,
              samples: int, *, workers: int = 1, tuning: Tuning = Tuning()) -> OpenLoop:
    url = influxd.url
    config = _ingest_config(workdir, broker, url, shape, tuning)
    log_path = workdir / "ingest-open.log"
    # the consumers' persistent sessions exist before the backlog is published
    _stop(_start_ingest(config, log_path, workers=workers)[0])
    _naive_array(broker, url, prepare=True)
    messages = max(1, samples // shape.samples_per_batch)
    now = int(time.time() * 1000)
    t_end = now - now % 60_000 - 120_000  # in the past: no key of the closed loop's
    payloads = backlog(shape, ROOT, messages, t_end_ms=t_end)
    t_start = t_end - (-(-messages // shape.gateways)) * shape.interval_ms
    total = messages * shape.samples_per_batch
    _publish_all(broker.port, payloads)
    del payloads
    pids = {"influxd": influxd.pid or 0, "mosquitto": broker.pid or 0}
    _quiesce(pids["influxd"])
    influxd0 = _cpu_s(pids["influxd"])
    naive = _naive_array(broker, url, prepare=False, expect=total)
    # influxd's compactions of the bridge's points are the bridge's cost, not ingest's
    _quiesce(pids["influxd"])
    naive_influxd_us = (_cpu_s(pids["influxd"]) - influxd0) * 1e6 / max(naive["stored"], 1)
    others0 = {name: _cpu_s(pid) for name, pid in pids.items()}
    ingest, started = _start_ingest(config, log_path, workers=workers)
    cpu0 = _tree_cpu_s(ingest.pid)
    try:
        with InfluxQL(url=url, database=DATABASE) as influx:
            seen, last_new = 0, time.monotonic()
            while seen < messages and time.monotonic() - last_new < 20.0:
                time.sleep(0.05)
                n = int(influx.scalar(f'SELECT count("seq") FROM "batch" WHERE time >= '
                                      f'{t_start}ms AND time < {t_end}ms') or 0)
                if n > seen:
                    seen, last_new = n, time.monotonic()
            elapsed = last_new - started
            cpu = _tree_cpu_s(ingest.pid) - cpu0
            _quiesce(pids["influxd"])  # as for the bridge: its compactions included
            others = {name: _cpu_s(pid) - others0[name] for name, pid in pids.items()}
            stored = _stored_samples(influx, t_start, t_end)
    finally:
        _stop(ingest)
    us = 1e6 / max(stored, 1)
    return OpenLoop(
        samples=total, messages=messages,
        naive_array_samples_per_s=naive["stored"] / max(naive["seconds"], 1e-9),
        naive_array_cpu_us=naive["cpu_s"] * 1e6 / max(naive["stored"], 1),
        naive_array_influxd_us=naive_influxd_us,
        backlog_samples_per_s=stored / max(elapsed, 1e-9), stored_samples=stored,
        stored_batches=seen, seconds=elapsed, ingest_us_per_sample=cpu * us,
        influxd_us_per_sample=others["influxd"] * us,
        mosquitto_us_per_sample=others["mosquitto"] * us)


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
               shape: LoadShape, *, workers: int = 1,
               tuning: Tuning = Tuning()) -> dict[str, float]:
    url = influxd.url
    config_path = _ingest_config(workdir, broker, url, shape, tuning)
    _quiesce(influxd.pid or 0)  # the phases before are compacted before this one starts
    ingest, _ = _start_ingest(config_path, workdir / "ingest.log", workers=workers)
    ctx = mp.get_context("spawn")
    published = ctx.Value("q", 0)
    stored = ctx.Value("q", 0)
    load_cpu = ctx.Value("d", 0.0)
    since_ms = int(time.time() * 1000) - 1000
    load = ctx.Process(target=generate_batches,
                       args=(broker.port, ROOT, shape, seconds, WINDOW, published, stored,
                             load_cpu))
    try:
        with InfluxQL(url=url, database=DATABASE) as influx:
            poller = _Poller(influx, since_ms)
            others = {"influxd": influxd.pid or 0, "mosquitto": broker.pid or 0}
            cpu0 = _tree_cpu_s(ingest.pid)
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
            cpu = _tree_cpu_s(ingest.pid) - cpu0
            others_cpu = {name: _cpu_s(pid) - others0[name] for name, pid in others.items()}
            elapsed = poller.last_new - first_publish
            samples = _stored_samples(influx, since_ms)
    finally:
        if load.is_alive():
            load.terminate()
        load.join()
        _stop(ingest)
    latencies = sorted(poller.latencies)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies \
        else float("nan")
    return {"samples_per_s": samples / elapsed if elapsed > 0 else 0.0,
            "offered_per_s": published.value * shape.samples_per_batch / seconds,
            "p99_latency_s": p99,
            "p50_latency_s": latencies[len(latencies) // 2] if latencies else float("nan"),
            "published": float(published.value), "stored_batches": float(len(poller.seen)),
            "lost": float(published.value - len(poller.seen)), "samples": float(samples),
            "seconds": elapsed, "ingest_cpu_s": cpu,
            "influxd_cpu_s": others_cpu["influxd"], "mosquitto_cpu_s": others_cpu["mosquitto"],
            "load_cpu_s": load_cpu.value}


# --------------------------------------------------------------------------- entry


def run(args: argparse.Namespace) -> int:
    seconds = float(getattr(args, "seconds", 20.0))
    backlog_samples = int(getattr(args, "backlog_samples", 5_000_000))
    workers = int(getattr(args, "workers", 1))
    tuning = Tuning(**{name: int(value) for name in ("max_messages", "writes_in_flight")
                       if (value := getattr(args, name, None)) is not None})
    shape = LoadShape()
    shared = (f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
              "(the machine is shared)")
    with tempfile.TemporaryDirectory(prefix="plantstream-bench-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(data_dir=workdir / "mosquitto")
        influxd = InfluxD(data_dir=workdir / "influxd")
        broker.start()
        try:
            influxd.start()
            print(f"mosquitto pid {broker.pid} port {broker.port}; "
                  f"influxd pid {influxd.pid} {influxd.url}; {shared}")
            ceiling, ceiling_points = influx_ceiling(influxd.url, shape,
                                                     per_request=tuning.max_messages)
            print(f"influxdb ceiling: {ceiling:,.0f} samples/s in ingest's point shape "
                  f"({ceiling_points:,.0f} points/s; lines formatted before timing, "
                  f"{tuning.max_messages} messages per request, 2 writers)", flush=True)
            naive, naive_points = naive_bridge(broker, influxd.url)
            print(f"naive bridge:     {naive:,.0f} samples/s ({naive_points:,} stored; one "
                  f"message, one Point, one HTTP request per sample)", flush=True)
            ol = None
            if backlog_samples > 0:
                ol = open_loop(broker, influxd, workdir, shape, backlog_samples,
                               workers=workers, tuning=tuning)
                print(f"open loop:        backlog of {ol.samples:,} samples in "
                      f"{ol.messages:,} messages, published before timing", flush=True)
                print(f"  naive array:    {ol.naive_array_samples_per_s:,.0f} samples/s "
                      f"(CPU us per sample: bridge {ol.naive_array_cpu_us:.2f}, influxd "
                      f"{ol.naive_array_influxd_us:.2f} (incl. its compactions); paho, orjson, "
                      "f-string wide points, 2 writers)")
                print(f"  ingest:         {ol.backlog_samples_per_s:,.0f} samples/s "
                      f"({ol.stored_samples:,} samples, {ol.stored_batches:,} batches in "
                      f"{ol.seconds:.1f} s; {workers} worker(s), micro-batches of up to "
                      f"{tuning.max_messages} messages, {tuning.writes_in_flight} write(s) "
                      f"in flight; CPU us per sample: ingest "
                      f"{ol.ingest_us_per_sample:.2f}, influxd {ol.influxd_us_per_sample:.2f}"
                      f" (incl. its compactions), mosquitto "
                      f"{ol.mosquitto_us_per_sample:.2f}; target "
                      f"{BACKLOG_TARGET:,}; {shared})", flush=True)
            offered = shape.gateways * shape.samples_per_batch * 1000 // shape.interval_ms
            print(f"closed loop: {shape.gateways} gateways x {shape.machines} machines x "
                  f"{shape.signals} signals x {shape.samples} samples every "
                  f"{shape.interval_ms} ms ({shape.samples_per_batch:,} samples per message; "
                  f"offered {offered:,} samples/s), {seconds:.0f} s", flush=True)
            r = ingest_run(broker, influxd, workdir, seconds, shape, workers=workers,
                           tuning=tuning)
        finally:
            influxd.stop()
            broker.stop()
    sps = r["samples_per_s"]
    print(f"  ingest:         {sps:,.0f} samples/s ({r['samples']:,.0f} samples stored in "
          f"{r['seconds']:.1f} s; offered {r['offered_per_s']:,.0f}/s; target {TARGET:,})")
    print(f"                  {r['stored_batches']:.0f} of {r['published']:.0f} batches stored;"
          f" latency p50 {r['p50_latency_s']:.2f} s p99 {r['p99_latency_s']:.2f} s; "
          f"cores used: ingest {r['ingest_cpu_s'] / max(r['seconds'], 1e-9):.2f}, influxd "
          f"{r['influxd_cpu_s'] / max(r['seconds'], 1e-9):.2f}, mosquitto "
          f"{r['mosquitto_cpu_s'] / max(r['seconds'], 1e-9):.2f}, load generator "
          f"{r['load_cpu_s'] / max(r['seconds'], 1e-9):.2f}; {shared}")
    backlog_sps = ol.backlog_samples_per_s if ol else float("nan")
    naive_array = ol.naive_array_samples_per_s if ol else float("nan")
    lost = r["lost"] + ((ol.messages - ol.stored_batches) if ol else 0)
    print(f"samples_per_s={sps:.0f} backlog_samples_per_s={backlog_sps:.0f} "
          f"p99_latency_s={r['p99_latency_s']:.3f} lost={lost:.0f} "
          f"influx_samples_per_s={ceiling:.0f} ceiling_share={backlog_sps / ceiling:.2f} "
          f"naive_array_samples_per_s={naive_array:.0f} "
          f"x_naive_array={backlog_sps / naive_array:.2f} "
          f"ingest_us_per_sample={ol.ingest_us_per_sample if ol else float('nan'):.2f} "
          f"influxd_us_per_sample={ol.influxd_us_per_sample if ol else float('nan'):.2f} "
          f"naive_samples_per_s={naive:.0f}")
    return 0
