"""The MQTT uplink of a gateway: birth and will, publishing from the disk queue,
reconnecting with exponential backoff and jitter, and link statistics.

A batch counts as delivered only after the broker's PUBACK (QoS 1; aiomqtt's `publish`
returns when paho reports the PUBACK); after every reconnect, batches acknowledged
within the queue's `keep_acked_s` window are published again, in case the broker lost
them. A batch published twice is a duplicate the ingest tier absorbs (idempotent
writes). Known limit: aiomqtt 2.5 does not surface an MQTT v5 PUBACK reason code, so a
publish the broker refuses with a reason code (e.g. not authorized) counts as
delivered; the broker ACL must allow a gateway's own topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
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
from plantstream.tasks import raise_if_cancelling
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
                 backlog_after_s: float, backlog_share: float = 0.5,
                 compress: bool = False, republish_again_s: float = 15.0) -> None:
        self.mqtt = mqtt
        self.topics = topics
        self.site = site
        self.gateway = gateway
        self.queue = queue
        self.config_hash = config_hash
        self.max_inflight = max_inflight
        self.backlog_after_s = backlog_after_s
        self.backlog_share = backlog_share
        self.compress = compress
        self.republish_again_s = republish_again_s
        self._second_pass_at: float | None = None  # monotonic time of the second republish
        self.stats = LinkStats()
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._closing = False

    def close(self) -> None:
        """Stop the loops (the owner cancels `run` too; this flag ends them even if a
        cancellation is swallowed)."""
        self._closing = True
        self._wake.set()

    def wake(self) -> None:
        self._empty.clear()
        self._wake.set()

    async def drained(self) -> None:
        """Wait until every queued batch has been acknowledged by the broker (and the
        second republish after a reconnect is done)."""
        while len(self.queue) or self._second_pass_at is not None:
            self._empty.clear()
            self.wake()
            await self._empty.wait()

    def _status(self, state: str) -> bytes:
        return encode(Status(v=1, site=self.site, gateway=self.gateway, state=state,  # type: ignore[arg-type]
                             version=__version__, config_hash=self.config_hash,
                             t_ms=int(time.time() * 1000)))

    async def run(self) -> None:
        """Connect, publish, and reconnect until closed or cancelled."""
        attempt = 0
        will = aiomqtt.Will(self.topics.status, self._status("offline"), qos=1, retain=True)
        while not self._closing:
            try:
                async with mqtt_client(self.mqtt, identifier=f"edge-{self.gateway}",
                                       will=will, max_inflight=self.max_inflight) as client:
                    raise_if_cancelling()  # connecting waits through asyncio.wait_for
                    client.pending_calls_threshold = self.max_inflight + 16  # our window
                    self._client = client
                    self._connected()
                    attempt = 0
                    self._republish("on connect")
                    if self.stats.outages and self.republish_again_s > 0:  # a reconnect
                        self._second_pass_at = time.monotonic() + self.republish_again_s
                    await client.publish(self.topics.status, self._status("online"),
                                         qos=1, retain=True)
                    raise_if_cancelling()
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

    def _republish(self, why: str) -> None:
        republished = self.queue.requeue_recent()
        if republished:
            log.info("gateway %s: republishing %d recently acknowledged batches (%s)",
                     self.gateway, republished, why)

    async def _publish_forever(self, client: aiomqtt.Client) -> None:
        while not self._closing:
            if self._second_pass_at is not None and time.monotonic() >= self._second_pass_at:
                # A broker that crashed may come back without the ingest tier's shared
                # subscription (Mosquitto 2.0 does not restore the shared subscription of
                # a client connected at the crash); what we delivered before ingest
                # re-subscribed went nowhere. Publish it once more, after ingest's
                # reconnect backoff (at most 10 s) has surely run out.
                self._second_pass_at = None
                self._republish("second pass after reconnect")
            live_after_ms = int((time.time() - self.backlog_after_s) * 1000)
            pending = self.queue.next_window(self.max_inflight, live_after_ms=live_after_ms,
                                             backlog_share=self.backlog_share)
            if not pending:
                self._empty.set()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._wake.wait()
                continue
            results = await asyncio.gather(*(self._publish(client, b) for b in pending),
                                           return_exceptions=True)
            raise_if_cancelling()
            acked = [b.seq for b, r in zip(pending, results, strict=True) if r is None]
            if acked:
                self.queue.acknowledge(acked)
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
        if self.compress:
            payload = gzip.compress(payload, compresslevel=6)
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
