"""Where one ingest worker's time goes, stage by stage, on the benchmark's messages.

`python -m plantstream.bench.ingest_profile [--batches N]` encodes N benchmark batches
(`plantstream.bench._load`, 5,000 samples each) and runs the worker's per-message
stages on them in this process, timing each in CPU-bound isolation: decode (msgspec +
registry checks), validation (plausibility + content hash for the conflict check),
components (numba kernel + records), formatting (line protocol strings, join, encode),
compression (gzip level 1, what the sink does with `gzip = true`), then the HTTP
writes of those bodies to a fresh InfluxDB of its own (started and stopped by PID).
It prints microseconds per sample and the share of each stage.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from plantstream.analytics import StateModel, load_coefficients
from plantstream.bench._load import SITE, LoadShape, _batch, bench_plant
from plantstream.devstack.services import InfluxD
from plantstream.ingest.components import batch_components
from plantstream.ingest.config import PlausibilityConfig
from plantstream.ingest.conflicts import content_hash
from plantstream.ingest.decode import decode_message
from plantstream.ingest.plausibility import Plausibility, check_components
from plantstream.ingest.points import batch_lines, component_lines
from plantstream.ingest.worker import tune_gc
from plantstream.store.writer import LineWriter
from plantstream.topics import Topics
from plantstream.wire import Batch, encode

__all__ = ["main", "profile"]

T = TypeVar("T")


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    t0 = time.process_time()
    out = fn()
    return out, time.process_time() - t0


def profile(batches: int = 200, *, write: bool = True, per_write: int = 40,
            writer: Callable[[list[bytes]], None] | None = None) -> dict[str, float]:
    """Seconds per stage for `batches` benchmark messages, and the samples they hold."""
    shape = LoadShape()
    plant = bench_plant(shape)
    topics = Topics(root="bench")
    model = StateModel(plant.states)
    coefficients = load_coefficients()
    plausibility = Plausibility(config=PlausibilityConfig(), plant=plant)
    now = int(time.time() * 1000)
    t_first = now - now % 60_000 - 600_000
    messages = [(topics.gateway(site=SITE, gateway=shape.gateway(i % shape.gateways)).batch,
                 encode(_batch(shape, i % shape.gateways, i // shape.gateways + 1,
                               t_first + (i // shape.gateways) * shape.interval_ms)))
                for i in range(batches)]

    def decode() -> list[Batch]:
        return [decode_message(topic=t, payload=p, topics=topics, plant=plant,
                               max_payload_bytes=8 << 20, max_future_ms=300_000, now_ms=now)
                for t, p in messages]

    decoded, t_decode = _timed(decode)

    def validate() -> list[str]:
        out = []
        for (topic, _), b in zip(messages, decoded, strict=True):
            plausibility.check(b, topic=topic, now_ms=now)
            out.append(content_hash(b))
        return out

    contents, t_validate = _timed(validate)

    def components() -> list[list[str]]:
        out = []
        for (topic, _), b in zip(messages, decoded, strict=True):
            c = batch_components(b, plant, coefficients)
            check_components(c, b, topic=topic)
            out.append(component_lines(c))
        return out

    batch_components(decoded[0], plant, coefficients)  # numba compiled before timing
    comp_lines, t_components = _timed(components)

    def fmt() -> list[bytes]:
        bodies = []
        for i in range(0, len(decoded), per_write):  # the benchmark's micro-batch
            lines: list[str] = []
            for j in range(i, min(i + per_write, len(decoded))):
                lines += comp_lines[j]
                lines += batch_lines(decoded[j], plant, model, received_ms=now,
                                     content=contents[j])
            bodies.append("\n".join(lines).encode())
        return bodies

    bodies, t_format = _timed(fmt)
    _, t_gzip = _timed(lambda: [gzip.compress(b, compresslevel=1) for b in bodies])
    t_http = float("nan")
    if write and writer is not None:
        t0 = time.monotonic()
        writer(bodies)
        t_http = time.monotonic() - t0
    return {"decode": t_decode, "validation": t_validate, "components": t_components,
            "formatting": t_format, "compression": t_gzip, "http_wall": t_http,
            "samples": float(sum(b.sample_count for b in decoded)),
            "points": float(sum(body.count(b"\n") + 1 for body in bodies))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ingest_profile")
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args(argv)
    tune_gc()  # as a worker process does: else collections are billed to decoding
    with tempfile.TemporaryDirectory(prefix="plantstream-profile-") as tmp:
        influxd = InfluxD(data_dir=Path(tmp) / "influxd")
        influxd.start()
        try:
            httpx.post(f"{influxd.url}/query",
                       data={"q": 'CREATE DATABASE "profile"'}).raise_for_status()
            with LineWriter(url=influxd.url, database="profile", timeout_s=120) as w:
                def write(bodies: list[bytes]) -> None:
                    for body in bodies:
                        w.write_body(body)
                r = profile(args.batches, writer=write)
        finally:
            influxd.stop()
    n = r["samples"]
    cpu = sum(r[k] for k in ("decode", "validation", "components", "formatting"))
    total = cpu + r["compression"] + r["http_wall"]
    for key in ("decode", "validation", "components", "formatting", "compression",
                "http_wall"):
        print(f"{key:12s} {r[key] * 1e6 / n:7.2f} us/sample  {r[key] / total:6.1%}")
    print(f"samples={n:.0f} points={r['points']:.0f} worker_cpu_us_per_sample="
          f"{cpu * 1e6 / n:.2f} gzip_us_per_sample={r['compression'] * 1e6 / n:.2f} "
          f"http_us_per_sample={r['http_wall'] * 1e6 / n:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
