"""The MQTT uplink of a gateway: birth and will, publishing from the disk queue,
reconnecting with exponential backoff and jitter, and link statistics.

A batch is deleted from the disk queue only after the broker's PUBACK (QoS 1; aiomqtt's
`publish` returns when paho reports the PUBACK). A batch published again after a lost
connection is a duplicate the ingest tier absorbs (idempotent writes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass

import aiomqtt
import msgspec

from plantstream import __version__
from plantstream.config import MqttConfig
from plantstream.edge.queue import DiskQueue, QueuedBatch
from plantstream.mqtt import mqtt_client
from plantstream.topics import GatewayTopics
from plantstream.wire import Batch, Status, encode

__all__ = ["LinkStats", "Uplink"]

log = logging.getLogger(__name__)

_BATCH_DECODER = msgspec.json.Decoder(Batch)


@dataclass(slots=True)
class LinkStats:
    connected: bool = False
    outages: int = 0
    outage_s: float = 0.0
    outage_started: float | None = None
    published_batches: int = 0
    rtt_ms: float | None = None


class Uplink:
    def __init__(self, *, mqtt: MqttConfig, topics: GatewayTopics, site: str, gateway: str,
                 queue: DiskQueue, config_hash: str, max_inflight: int,
                 backlog_after_s: float) -> None:
        self.mqtt = mqtt
        self.topics = topics
        self.site = site
        self.gateway = gateway
        self.queue = queue
        self.config_hash = config_hash
        self.max_inflight = max_inflight
        self.backlog_after_s = backlog_after_s
        self.stats = LinkStats()
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._client: aiomqtt.Client | None = None

    def wake(self) -> None:
        self._empty.clear()
        self._wake.set()

    async def drained(self) -> None:
        """Wait until every queued batch has been acknowledged by the broker."""
        while len(self.queue):
            self._empty.clear()
            self.wake()
            await self._empty.wait()

    def _status(self, state: str) -> bytes:
        return encode(Status(v=1, site=self.site, gateway=self.gateway, state=state,  # type: ignore[arg-type]
                             version=__version__, config_hash=self.config_hash,
                             t_ms=int(time.time() * 1000)))

    async def run(self) -> None:
        """Connect, publish, and reconnect forever (until cancelled)."""
        attempt = 0
        will = aiomqtt.Will(self.topics.status, self._status("offline"), qos=1, retain=True)
        while True:
            try:
                async with mqtt_client(self.mqtt, identifier=f"edge-{self.gateway}",
                                       will=will, max_inflight=self.max_inflight) as client:
                    client.pending_calls_threshold = self.max_inflight + 16  # our window
                    self._client = client
                    self._connected()
                    attempt = 0
                    await client.publish(self.topics.status, self._status("online"),
                                         qos=1, retain=True)
                    await self._publish_forever(client)
            except aiomqtt.MqttError as exc:
                self._client = None
                self._disconnected(exc)
                attempt += 1
                # full jitter: uniform in [0, min(cap, base * 2**attempt)]
                delay = random.uniform(0, min(30.0, 0.25 * 2 ** min(attempt, 10)))
                log.debug("reconnecting in %.2f s", delay)
                await asyncio.sleep(delay)

    def _connected(self) -> None:
        if self.stats.outage_started is not None:
            self.stats.outage_s += time.monotonic() - self.stats.outage_started
            self.stats.outage_started = None
        self.stats.connected = True
        log.info("gateway %s connected to %s:%d", self.gateway, self.mqtt.host, self.mqtt.port)

    def _disconnected(self, exc: Exception) -> None:
        if self.stats.connected or self.stats.outage_started is None:
            self.stats.outages += 1
            self.stats.outage_started = time.monotonic()
        self.stats.connected = False
        log.warning("gateway %s: MQTT link down: %s", self.gateway, exc)

    async def _publish_forever(self, client: aiomqtt.Client) -> None:
        while True:
            pending = self.queue.oldest(self.max_inflight)
            if not pending:
                self._empty.set()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                continue
            results = await asyncio.gather(*(self._publish(client, b) for b in pending),
                                           return_exceptions=True)
            acked = [b.seq for b, r in zip(pending, results, strict=True) if r is None]
            if acked:
                self.queue.delete(acked)
                self.stats.published_batches += len(acked)
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                raise errors[0]

    async def _publish(self, client: aiomqtt.Client, queued: QueuedBatch) -> None:
        payload = queued.payload
        waited_s = time.time() - queued.closed_ms / 1000.0
        if waited_s > self.backlog_after_s:  # from the backlog: say so in the batch
            batch = _BATCH_DECODER.decode(payload)
            payload = encode(msgspec.structs.replace(batch, backlog=True))
        await client.publish(self.topics.batch, payload, qos=1)

    async def publish_health(self, payload: bytes) -> None:
        """Publish a health message (QoS 1) and measure the broker round trip."""
        client = self._client
        if client is None:
            return
        started = time.monotonic()
        try:
            await client.publish(self.topics.health, payload, qos=1, timeout=5.0)
        except aiomqtt.MqttError:
            return
        self.stats.rtt_ms = (time.monotonic() - started) * 1000.0
