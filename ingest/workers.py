"""`plantstream ingest run --workers N`: N worker processes on the shared subscription.

Each process is an ordinary ingest worker (its own MQTT session, spool file and event
loop) with the id `<worker>-<k>`; the broker's shared subscription splits the messages
between them, so a host uses N cores for decoding and formatting. The parent forwards
SIGTERM/SIGINT (each child drains its in-flight work), restarts nothing, and reports
every 10 s and at the end the split (messages and samples stored per worker) and the
total. A child that dies ends the others too (exit status 1): the supervisor
(systemd, Kubernetes) restarts the whole set with the same ids, so the sessions resume.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import signal
import time
from multiprocessing.sharedctypes import SynchronizedArray
from types import FrameType

from plantstream.ingest.config import load_ingest_config
from plantstream.ingest.worker import IngestWorker, tune_gc
from plantstream.signals import stop_event

__all__ = ["run_workers", "split_report"]

log = logging.getLogger(__name__)


def _child(config_path: str, worker: str, k: int, counts: SynchronizedArray[int],
           level: int, drain_timeout: float) -> None:
    logging.basicConfig(level=level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config, plant = load_ingest_config(config_path, worker=worker)

    async def main() -> None:
        stop = stop_event()
        async with IngestWorker(config=config, plant=plant) as w:
            tune_gc()
            async def publish() -> None:
                while True:
                    counts[2 * k], counts[2 * k + 1] = w.stats.messages, w.stats.samples
                    await asyncio.sleep(0.5)

            task = asyncio.ensure_future(publish())
            await stop.wait()
            await w.stop(timeout_s=drain_timeout)
            task.cancel()
            counts[2 * k], counts[2 * k + 1] = w.stats.messages, w.stats.samples

    asyncio.run(main())


def split_report(ids: list[str], counts: list[int]) -> str:
    """`ingest-1-1 120 messages 600,000 samples (50%), ...; total ...`."""
    total_samples = sum(counts[1::2])
    parts = [f"{w} {counts[2 * k]:,} messages {counts[2 * k + 1]:,} samples "
             f"({counts[2 * k + 1] / max(total_samples, 1):.0%})" for k, w in enumerate(ids)]
    return (f"split: {', '.join(parts)}; total {sum(counts[0::2]):,} messages "
            f"{total_samples:,} samples")


def run_workers(config_path: str, workers: int, *, worker: str | None = None,
                drain_timeout: float = 10.0) -> int:
    config, _ = load_ingest_config(config_path, worker=worker)  # validated once, here
    ids = [f"{config.worker}-{k + 1}" for k in range(workers)]
    ctx = mp.get_context("spawn")
    counts = ctx.Array("q", 2 * workers)
    level = logging.getLogger().getEffectiveLevel()
    children = [ctx.Process(target=_child, name=w, daemon=False,
                            args=(config_path, w, k, counts, level, drain_timeout))
                for k, w in enumerate(ids)]
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    for child in children:
        child.start()
    status = 0
    try:
        last_report = time.monotonic()
        while not stopping and all(c.is_alive() for c in children):
            time.sleep(0.2)
            if time.monotonic() - last_report >= 10.0:
                last_report = time.monotonic()
                log.info("ingest workers: %s", split_report(ids, counts[:]))
        if not stopping:
            status = 1
            log.error("ingest: a worker process exited; stopping the others")
        for child in children:
            if child.is_alive() and child.pid is not None:
                child.terminate()  # SIGTERM: the child drains its in-flight work
        for child in children:
            child.join(drain_timeout + 20.0)
            if child.is_alive():
                child.kill()
                child.join()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    print(f"ingest workers: {split_report(ids, counts[:])}", flush=True)
    return status
