"""The edge agent: sources -> batcher -> disk queue -> MQTT uplink, plus link health.

An async context manager: entering opens the queue, restores the batcher checkpoint,
connects the sources and starts named tasks in a TaskGroup (sampling, uplink, health);
`stop()` closes the open interval at its boundary, waits (bounded) until the broker
has acknowledged everything queued. Exiting sets the closing flag every loop checks,
cancels the tasks and waits for them with a bound (`plantstream.tasks.stop_tasks`:
on timeout every pending task's stack is logged and the task cancelled again).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Self

import msgspec

from plantstream.config import config_hash
from plantstream.edge.batcher import Batcher, ClosedInterval
from plantstream.edge.clock import Clock
from plantstream.edge.config import EdgeConfig
from plantstream.edge.queue import DiskQueue
from plantstream.edge.readings import Reading
from plantstream.edge.sources import Source, build_source
from plantstream.edge.sparkplug_out import SparkplugEdgeNode
from plantstream.edge.statedir import StateDir
from plantstream.edge.uplink import Uplink
from plantstream.errors import ServiceError
from plantstream.tasks import raise_if_cancelling, stop_tasks
from plantstream.topics import Topics
from plantstream.wire import Batch, Health, encode

__all__ = ["EdgeAgent"]

log = logging.getLogger(__name__)

TASK_STOP_TIMEOUT_S = 10.0  # per round of cancelling the agent's tasks on exit


class EdgeAgent:
    def __init__(self, *, config: EdgeConfig, clock: Clock | None = None,
                 sources: Sequence[Source] | None = None) -> None:
        self.config = config
        gw = config.gateway
        self.clock = clock or Clock(speedup=config.clock.speedup, start_ms=config.clock.start_ms)
        self.flush_ms = gw.flush_interval_s * 1000
        self.state = StateDir(config.state_path)  # StateDirError: one clear line
        try:
            self.queue = DiskQueue(path=config.state_path / "queue.sqlite",
                                   max_bytes=int(gw.max_queue_mb * 1024**2),
                                   keep_acked_s=gw.keep_acked_s,
                                   reserve_bytes=int(gw.reserve_free_mb * 1024**2),
                                   high_water=self.state.high_water)
        except BaseException:
            self.state.release()
            raise
        self.topics = Topics(root=config.mqtt.topic_root).gateway(site=gw.site, gateway=gw.id)
        self.uplink = Uplink(mqtt=config.mqtt, topics=self.topics, site=gw.site, gateway=gw.id,
                             queue=self.queue, config_hash=config_hash(config),
                             max_inflight=gw.max_inflight, backlog_share=gw.backlog_share,
                             compress=gw.compress, republish_again_s=gw.republish_again_s,
                             backlog_after_s=max(2.0 * gw.flush_interval_s / self.clock.speedup,
                                                 1.0))
        # a simulation starts where its configuration says, however late it is built
        start_ms = (config.clock.start_ms if config.clock.start_ms is not None
                    else self.clock.now_ms())
        start_ms -= start_ms % self.flush_ms
        checkpoint = self.queue.checkpoint()
        self.batcher = Batcher(flush_interval_ms=self.flush_ms, start_ms=start_ms,
                               checkpoint=checkpoint)
        self.sparkplug: SparkplugEdgeNode | None = None
        if config.sparkplug is not None:
            self.sparkplug = SparkplugEdgeNode(config=config.sparkplug, mqtt=config.mqtt,
                                               node_id=gw.id, state_dir=config.state_path)
        self.start_ms = self.batcher.t_start_ms
        # Sources start where the clock starts, not at the checkpoint: a simulation
        # restarted after a crash replays its (deterministic) machines from the start and
        # the batcher drops what it had already closed, as a real machine would have run on.
        self.sources: list[Source] = (list(sources) if sources is not None else
                                      [build_source(s, start_ms=start_ms)
                                       for s in config.sources])
        self.closed_batches = 0
        self.source_errors = 0
        self._stop_at: int | None = None
        self._closing = False  # set on exit; every loop checks it
        self._warned_too_large = False
        self._sampling_done = asyncio.Event()
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self.closed_samples = 0

    async def __aenter__(self) -> Self:
        try:
            for source in self.sources:
                await self._stack.enter_async_context(source)
        except BaseException:  # no __aexit__ follows a failed enter: release here
            await self._stack.aclose()
            self.queue.close()
            self.state.release()
            raise
        group = await self._stack.enter_async_context(asyncio.TaskGroup())
        self._tasks = [group.create_task(self._sample_forever(), name="edge-sampling"),
                       group.create_task(self.uplink.run(), name="edge-uplink"),
                       group.create_task(self._health_forever(), name="edge-health")]
        if self.sparkplug is not None:
            self._tasks.append(group.create_task(self.sparkplug.run(), name="edge-sparkplug"))
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._closing = True
        self.uplink.close()
        try:
            if not await stop_tasks(self._tasks, timeout_s=TASK_STOP_TIMEOUT_S):
                # the TaskGroup would wait for them forever: fail with the stacks logged
                raise ServiceError(service="edge", reason="agent tasks ignored cancellation"
                                   " (stacks logged)")
            await self._stack.__aexit__(exc_type, exc, tb)
        finally:
            self.queue.close()
            self.state.release()

    def finish_at(self, end_ms: int) -> None:
        """Close no interval beyond `end_ms` (rounded up to a boundary): a simulation
        that must end at a given plant time, however slowly it is stopped."""
        self._stop_at = -(-end_ms // self.flush_ms) * self.flush_ms

    async def stop(self, *, drain_timeout_s: float = 30.0) -> bool:
        """Close the open interval at its boundary (or stop at the `finish_at` end)
        and wait until the broker has acknowledged every queued batch. True if
        everything was delivered."""
        if self._stop_at is None:  # the open interval, or the one now is in (held back)
            now = self.clock.now_ms()
            self._stop_at = max(self.batcher.t_end_ms, -(-now // self.flush_ms) * self.flush_ms)
        await self._sampling_done.wait()
        try:
            await asyncio.wait_for(self.uplink.drained(), timeout=drain_timeout_s)
        except TimeoutError:
            if not len(self.queue):  # delivered; only the extra republish pass was pending
                return True
            log.warning("gateway %s: %d batches still queued after %.0f s; they stay on disk",
                        self.config.gateway.id, len(self.queue), drain_timeout_s)
            return False
        return True

    @property
    def shed_samples(self) -> int:
        return self.queue.shed_samples

    @property
    def hold_ms(self) -> int:
        """How far behind the clock intervals close: the longest `lateness_ms` of the
        sources, so that late (replayed) readings still land in their own batches."""
        return max((int(getattr(s, "lateness_ms", 0)) for s in self.sources), default=0)

    @property
    def horizon_ms(self) -> int:
        """Everything before this time is in closed batches."""
        return self.batcher.t_start_ms

    async def _poll(self, until_ms: int) -> list[Reading]:
        readings: list[Reading] = []
        for source in self.sources:
            try:
                readings.extend(await source.poll(until_ms))
            except Exception:  # a failing source must not stop the others
                self.source_errors += 1
                log.exception("source %s failed", source.name)
        if len(self.sources) > 1:
            readings.sort(key=lambda r: r.t_ms)
        return readings

    async def _sample_forever(self) -> None:
        period_s = min(0.2, max(0.005, 1.0 / self.clock.speedup))
        hold_ms = self.hold_ms
        while not self._closing:
            now = self.clock.now_ms()
            until = now - hold_ms if self._stop_at is None else min(now, self._stop_at)
            readings = await self._poll(until)
            if self.sparkplug is not None:
                self.sparkplug.observe(readings)
            closed = self.batcher.add(readings)
            closed += self.batcher.close_until(until)
            for interval in closed:
                self._enqueue(interval)
            if closed:
                self.queue.flush_high_water()
                self.uplink.wake()
            if self._stop_at is not None and until >= self._stop_at:
                self._sampling_done.set()
                return
            await asyncio.sleep(period_s)

    def _enqueue(self, interval: ClosedInterval) -> None:
        last_end = self.queue.last_t_end_ms
        if last_end is not None and interval.t_start_ms < last_end:
            # the clock stepped backwards: never publish an overlapping interval
            log.warning("dropping interval [%d, %d) that overlaps the last batch (ends %d)",
                        interval.t_start_ms, interval.t_end_ms, last_end)
            return
        gw = self.config.gateway
        samples = sum(len(s.values) for m in interval.machines for s in m.samples)
        stripped = 0

        def encode_batch(seq: int) -> bytes:
            nonlocal stripped
            batch = Batch(v=1, site=gw.site, gateway=gw.id, seq=seq,
                          t_start_ms=interval.t_start_ms, t_end_ms=interval.t_end_ms,
                          machines=interval.machines, epoch=self.state.epoch)
            payload = encode(batch)
            limit = self.uplink.payload_limit()
            if limit is not None and len(payload) > limit and (
                    not gw.compress or len(gzip.compress(payload, compresslevel=6)) > limit):
                # larger than the broker takes (its CONNACK Maximum Packet Size): keep
                # states, counts and energy, shed the raw samples (counted)
                if not self._warned_too_large:
                    self._warned_too_large = True
                    log.warning("gateway %s: a batch of %d bytes exceeds the broker's maximum "
                                "packet size (%d bytes of payload); its raw samples are shed "
                                "(lower flush_interval_s or the sampled signals)",
                                gw.id, len(payload), limit)
                stripped = samples
                payload = encode(msgspec.structs.replace(batch, machines=[
                    msgspec.structs.replace(m, samples=[]) for m in batch.machines]))
            return payload

        seq = self.queue.enqueue(t_start_ms=interval.t_start_ms, t_end_ms=interval.t_end_ms,
                                 encode=encode_batch, checkpoint=interval.checkpoint,
                                 samples=samples, shed_samples=lambda: stripped)
        if seq is not None:  # else not stored: counted in the queue's shed_intervals
            self.closed_batches += 1
        self.closed_samples += samples

    def health(self) -> Health:
        stats = self.uplink.stats
        oldest = self.queue.oldest_closed_ms()
        outage_s = stats.outage_s + (time.monotonic() - stats.outage_started
                                     if stats.outage_started is not None else 0.0)
        return Health(v=1, site=self.config.gateway.site, gateway=self.config.gateway.id,
                      t_ms=int(time.time() * 1000), rtt_ms=stats.rtt_ms,
                      outages=stats.outages, outage_s=outage_s,
                      backlog_batches=len(self.queue),
                      backlog_age_s=(time.time() * 1000 - oldest) / 1000 if oldest else 0.0,
                      shed_samples=self.queue.shed_samples,
                      source_errors=self.source_errors + sum(
                          int(getattr(s, "errors", 0)) for s in self.sources),
                      published_batches=stats.published_batches,
                      refused=dict(stats.refused),
                      shed_batches=self.queue.shed_batches + self.queue.shed_intervals,
                      storage=self.queue.storage, storage_error=self.queue.storage_error)

    async def _health_forever(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.config.gateway.health_interval_s)
            await self.uplink.publish_health(encode(self.health()))
            raise_if_cancelling()  # the publish may have swallowed a cancel (see tasks.py)
