"""The MQTT uplink of a gateway: birth and will, publishing from the disk queue,
reconnecting with exponential backoff and jitter, and link statistics.

A batch counts as delivered only after the broker's PUBACK (QoS 1) with a success
reason code. A refused publish (MQTT v5 reason code >= 0x80: not authorized, quota
exceeded, packet too large...) leaves the batch in the queue; it is counted by reason
(`LinkStats.refused`, the gateway's health), logged once per reason at warning level,
and retried with exponential backoff: the whole topic for reasons about the topic or
the client (not authorized, quota...), only that batch for reasons about its payload
(payload format). A batch the broker refuses as too large sets a size floor: every batch
at least that large is held back, and only the smallest of them probes the broker, on
its own backoff, until one is accepted (the limit was raised); smaller batches and the
health flow meanwhile.
A batch larger than the broker's Maximum Packet Size (from the CONNACK) is never
sent: its raw samples are shed (counted) first.

After every reconnect, batches acknowledged within the queue's `keep_acked_s` window
are published again, in case the broker lost them. A batch published twice is a
duplicate the ingest tier absorbs (idempotent writes).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import random
import time
from dataclasses import dataclass, field

import aiomqtt
import msgspec

from plantstream import __version__
from plantstream.config import MqttConfig
from plantstream.edge.queue import DiskQueue, QueuedBatch
from plantstream.mqttack import AckingClient, acking_client, is_refusal, reason_name
from plantstream.tasks import raise_if_cancelling
from plantstream.topics import GatewayTopics
from plantstream.wire import Batch, Status, encode

__all__ = ["LinkStats", "Uplink"]

log = logging.getLogger(__name__)

REFUSED_BACKOFF_MAX_S = 30.0  # longest wait before a refused publish is tried again
_TOO_LARGE = 0x95  # packet too large: sets the size floor
# reasons that concern this one payload; any other refusal holds back the whole topic
_PAYLOAD_REASONS = frozenset({0x99})
# MQTT fixed header, topic length, packet id and properties length, at most
_PUBLISH_OVERHEAD = 16

_BATCH_DECODER = msgspec.json.Decoder(Batch)


@dataclass(slots=True)
class LinkStats:
    connected: bool = False
    outages: int = 0
    outage_s: float = 0.0
    outage_started: float | None = None
    published_batches: int = 0
    rtt_ms: float | None = None
    refused: dict[str, int] = field(default_factory=dict)  # refused publishes by reason


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
        self._client: AckingClient | None = None
        self._closing = False
        self.max_packet_size: int | None = None  # the broker's, from the last CONNACK
        # refused publishes wait: the whole topic until `_topic_retry_at`, single
        # batches (packet-level reasons) until `_batch_retry_at[seq]`
        self._topic_refusals = 0
        self._topic_retry_at = 0.0
        self._batch_retry: dict[int, tuple[int, float]] = {}  # seq -> (refusals, retry at)
        # batches of `_too_large_from` bytes (queued payload) and more are held back;
        # the smallest probes at `_size_probe_at`
        self._too_large_from: int | None = None
        self._size_refusals = 0
        self._size_probe_at = 0.0
        self._held_in_window = 0  # held-back batches in the last window: read past them
        self._warned: set[str] = set()  # reasons logged since the last accepted batch

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
                async with acking_client(self.mqtt, identifier=f"edge-{self.gateway}",
                                         will=will, max_inflight=self.max_inflight) as client:
                    raise_if_cancelling()  # connecting waits through asyncio.wait_for
                    client.pending_calls_threshold = self.max_inflight + 16  # our window
                    self._client = client
                    client.on_lost = self._wake.set  # an idle loop notices at once
                    self.max_packet_size = client.max_packet_size
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

    def payload_limit(self) -> int | None:
        """The largest batch payload the broker takes (its CONNACK Maximum Packet Size
        less the PUBLISH overhead), or None while unknown."""
        if self.max_packet_size is None:
            return None
        return self.max_packet_size - _PUBLISH_OVERHEAD - len(self.topics.batch.encode())

    def _too_large(self, batch: QueuedBatch) -> bool:
        return self._too_large_from is not None and len(batch.payload) >= self._too_large_from

    def _due(self, batch: QueuedBatch, now: float) -> bool:
        if self._too_large(batch):
            return False
        retry = self._batch_retry.get(batch.seq)
        return retry is None or retry[1] <= now

    def _next_round(self, window: list[QueuedBatch], now: float) -> list[QueuedBatch]:
        """The batches to publish now: the due ones, and the size probe when it is due."""
        if now < self._topic_retry_at:
            return []
        pending = [b for b in window if self._due(b, now)][:self.max_inflight]
        held = [b for b in window if self._too_large(b)]
        self._held_in_window = len(held)
        if held and now >= self._size_probe_at and len(pending) < self.max_inflight:
            pending.append(min(held, key=lambda b: (len(b.payload), b.seq)))
        return pending

    def _retry_at(self, now: float) -> float:
        """When a held-back batch may be tried next."""
        if now < self._topic_retry_at:
            return self._topic_retry_at
        times = [r[1] for r in self._batch_retry.values()]
        if self._too_large_from is not None:
            times.append(self._size_probe_at)
        return min(times, default=now + 1.0)

    async def _publish_forever(self, client: AckingClient) -> None:
        while not self._closing:
            if client.lost:
                raise aiomqtt.MqttError("connection lost")
            if self._second_pass_at is not None and time.monotonic() >= self._second_pass_at:
                # A broker that crashed may come back without the ingest tier's shared
                # subscription (Mosquitto 2.0 does not restore the shared subscription of
                # a client connected at the crash); what we delivered before ingest
                # re-subscribed went nowhere. Publish it once more, after ingest's
                # reconnect backoff (at most 10 s) has surely run out.
                self._second_pass_at = None
                self._republish("second pass after reconnect")
            now = time.monotonic()
            live_after_ms = int((time.time() - self.backlog_after_s) * 1000)
            window = self.queue.next_window(
                self.max_inflight + len(self._batch_retry) + self._held_in_window,
                live_after_ms=live_after_ms, backlog_share=self.backlog_share)
            pending = self._next_round(window, now)
            if not pending:
                if not window:
                    self._empty.set()
                self._wake.clear()
                wait_s = 1.0
                if window:  # refused batches wait for their retry time
                    wait_s = min(1.0, max(0.01, self._retry_at(now) - now))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait_s):
                        await self._wake.wait()
                continue
            results = await asyncio.gather(*(self._publish(client, b) for b in pending),
                                           return_exceptions=True)
            raise_if_cancelling()
            acked: list[int] = []
            for queued, result in zip(pending, results, strict=True):
                if isinstance(result, int) and not is_refusal(result):
                    acked.append(queued.seq)
                elif isinstance(result, int):
                    self._refused(queued, result)
            if acked:
                self.queue.acknowledge(acked)
                self.stats.published_batches += len(acked)
                accepted = set(acked)
                self._accepted([b for b in pending if b.seq in accepted])
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                raise errors[0]

    def _backoff_s(self, refusals: int) -> float:
        return random.uniform(0.5, 1.0) * min(REFUSED_BACKOFF_MAX_S,
                                              0.5 * float(1 << min(refusals, 10)))

    def _count_refusal(self, topic: str, code: int) -> str:
        reason = reason_name(code)
        self.stats.refused[reason] = self.stats.refused.get(reason, 0) + 1
        if reason not in self._warned:
            self._warned.add(reason)
            log.warning("gateway %s: the broker refuses publishes on %s: %s (0x%02x); "
                        "kept queued, retried with backoff", self.gateway, topic, reason, code)
        return reason

    def _refused(self, batch: QueuedBatch, code: int) -> None:
        self._count_refusal(self.topics.batch, code)
        now = time.monotonic()
        if code == _TOO_LARGE:
            size = len(batch.payload)
            self._too_large_from = min(size, self._too_large_from or size)
            self._size_refusals += 1
            self._size_probe_at = now + self._backoff_s(self._size_refusals)
        elif code in _PAYLOAD_REASONS:
            refusals = self._batch_retry.get(batch.seq, (0, 0.0))[0] + 1
            self._batch_retry[batch.seq] = (refusals, now + self._backoff_s(refusals))
        else:
            self._topic_refusals += 1
            self._topic_retry_at = max(self._topic_retry_at,
                                       now + self._backoff_s(self._topic_refusals))

    def _accepted(self, batches: list[QueuedBatch]) -> None:
        self._topic_refusals = 0
        if any(self._too_large(b) for b in batches):  # the broker's limit was raised
            self._too_large_from = None
            self._size_refusals = 0
        for batch in batches:
            self._batch_retry.pop(batch.seq, None)
        if self._warned and not self._batch_retry and self._too_large_from is None:
            log.warning("gateway %s: the broker accepts batches again (refused so far: %s)",
                        self.gateway, self.stats.refused)
            self._warned.clear()

    def _wire_payload(self, payload: bytes, *, backlog: bool) -> bytes:
        if backlog:  # from the backlog: say so in the batch
            payload = encode(msgspec.structs.replace(_BATCH_DECODER.decode(payload),
                                                     backlog=True))
        return gzip.compress(payload, compresslevel=6) if self.compress else payload

    async def _publish(self, client: AckingClient, queued: QueuedBatch) -> int:
        """Publish one batch; return the PUBACK reason code."""
        backlog = time.time() - queued.closed_ms / 1000.0 > self.backlog_after_s
        payload = self._wire_payload(queued.payload, backlog=backlog)
        limit = self.payload_limit()
        if limit is not None and len(payload) > limit:
            # queued before the broker's limit was known: shed its raw samples
            slim = self.queue.strip_samples(queued.seq)
            if slim is not None:
                payload = self._wire_payload(slim, backlog=backlog)
            if len(payload) > limit:
                return 0x95  # still too large: held back like a refusal of the packet
        return await client.publish_acked(self.topics.batch, payload)

    async def publish_health(self, payload: bytes) -> None:
        """Publish a health message (QoS 1) and measure the broker round trip."""
        client = self._client
        if client is None:
            return
        started = time.monotonic()
        try:
            code = await client.publish_acked(self.topics.health, payload, timeout=5.0)
        except aiomqtt.MqttError as exc:
            log.debug("gateway %s: health not delivered: %s", self.gateway, exc)
            return
        if is_refusal(code):
            self._count_refusal(self.topics.health, code)
            return
        self.stats.rtt_ms = (time.monotonic() - started) * 1000.0
