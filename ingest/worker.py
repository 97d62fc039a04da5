"""The ingest worker: shared subscription -> decode -> analytics -> InfluxDB -> ack.

Acknowledge late. aiomqtt 2.5 has no manual-ack option, but its paho-mqtt 2 client
does: `manual_ack_set(True)` and `ack(mid, qos)`. We reach it through aiomqtt's
`Client._client` (a private attribute; pinned by the tests that kill a worker and
expect redelivery). A message is acknowledged only after its points are in InfluxDB,
or, for a message that cannot be accepted, after it is on the dead-letter topic.

Backpressure: MQTT v5 Receive Maximum (`batching.max_inflight`) caps how many
unacknowledged messages the broker sends us, so memory stays bounded; while InfluxDB
is down, nothing is acknowledged and the broker keeps the rest in our persistent
session (session expiry one hour), which survives a worker restart with the same id.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import aiomqtt
import msgspec
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from plantstream.analytics import (
    ShiftCalendar,
    StateModel,
    batch_components,
    load_coefficients,
)
from plantstream.config import PlantConfig
from plantstream.errors import StoreError, WireError
from plantstream.ingest.config import IngestConfig
from plantstream.ingest.decode import decode_message
from plantstream.ingest.lineprotocol import (
    batch_lines,
    component_lines,
    correction_lines,
    escape_string,
)
from plantstream.ingest.rollup import dirty_lines, dirty_minute_lines
from plantstream.ingest.sinks import build_sink
from plantstream.ingest.spool import Spool
from plantstream.ingest.stops import stop_corrections
from plantstream.mqtt import mqtt_client
from plantstream.topics import Topics
from plantstream.wire import Batch, Health

__all__ = ["IngestStats", "IngestWorker"]

log = logging.getLogger(__name__)

_HEALTH = msgspec.json.Decoder(Health)
DEAD_LETTER_PAYLOAD_CAP = 64 * 1024


@dataclass(slots=True)
class IngestStats:
    messages: int = 0
    batches: int = 0
    samples: int = 0
    points: int = 0
    dead_letters: int = 0
    write_errors: int = 0
    last_write_latency_s: float = 0.0
    newest_t_end_ms: int = 0


class IngestWorker:
    def __init__(self, *, config: IngestConfig, plant: PlantConfig) -> None:
        self.config = config
        self.plant = plant
        self.topics = Topics(root=config.mqtt.topic_root)
        self.model = StateModel(plant.states)
        self.calendar = ShiftCalendar.of(plant.calendar) if plant.calendar else None
        self.coefficients = load_coefficients()
        self.sink = build_sink(config.influx)
        self.spool = Spool(path=config.spool_path, max_bytes=config.spool.max_bytes)
        self._replay_wake = asyncio.Event()
        self.stats = IngestStats()
        self._inbox: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._group: asyncio.TaskGroup | None = None
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()

    async def __aenter__(self) -> Self:
        await self.sink.ensure_database()
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        self._tasks = [self._group.create_task(self._run(), name="ingest-run"),
                       self._group.create_task(self._health_forever(), name="ingest-health"),
                       self._group.create_task(self._replay_forever(), name="ingest-replay")]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        try:
            if self._group is not None:
                await self._group.__aexit__(exc_type, exc, tb)
        finally:
            await self.sink.aclose()
            self.spool.close()

    async def stop(self, *, timeout_s: float = 10.0) -> None:
        """SIGTERM: stop taking messages, finish (and acknowledge) the current batch."""
        self._stopping.set()
        run = self._tasks[0] if self._tasks else None
        if run is not None:
            try:
                await asyncio.wait_for(asyncio.shield(run), timeout=timeout_s)
            except TimeoutError:
                log.warning("ingest: in-flight work not finished after %.0f s", timeout_s)

    def _client_for_session(self) -> aiomqtt.Client:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho is untyped here
        props.SessionExpiryInterval = 3600
        props.ReceiveMaximum = self.config.batching.max_inflight
        client = mqtt_client(self.config.mqtt, identifier=self.config.worker,
                             clean_start=False, properties=props)
        client._client.manual_ack_set(True)  # acknowledge late (see module docstring)
        return client

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                async with self._client_for_session() as client:
                    self._client = client
                    group = self.config.group
                    for topic_filter in (self.topics.all_batches, self.topics.all_health):
                        await client.subscribe(self.topics.shared(group, topic_filter), qos=1)
                    self.connected.set()
                    attempt = 0
                    log.info("ingest %s subscribed on %s:%d", self.config.worker,
                             self.config.mqtt.host, self.config.mqtt.port)
                    async with asyncio.TaskGroup() as tg:
                        reader = tg.create_task(self._read(client), name="ingest-reader")
                        await self._process_forever(client)
                        reader.cancel()
                    return
            except* aiomqtt.MqttError as group_exc:
                self.connected.clear()
                self._client = None
                self._inbox = asyncio.Queue()
                attempt += 1
                delay = random.uniform(0, min(10.0, 0.25 * 2 ** min(attempt, 8)))
                log.warning("ingest: MQTT link down (%s); reconnecting in %.1f s",
                            group_exc.exceptions[0], delay)
                await asyncio.sleep(delay)

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self._inbox.put_nowait(message)  # bounded by Receive Maximum

    async def _next_micro_batch(self) -> list[aiomqtt.Message]:
        cfg = self.config.batching
        first = await self._inbox.get()
        messages = [first]
        deadline = time.monotonic() + cfg.max_delay_ms / 1000.0
        while len(messages) < cfg.max_messages:
            try:
                messages.append(self._inbox.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                messages.append(await asyncio.wait_for(self._inbox.get(), remaining))
            except TimeoutError:
                break
        return messages

    async def _process_forever(self, client: aiomqtt.Client) -> None:
        while True:
            get = asyncio.ensure_future(self._next_micro_batch())
            stop = asyncio.ensure_future(self._stopping.wait())
            done, _ = await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
            if get not in done:
                get.cancel()
                return
            stop.cancel()
            await self.process(client, get.result())

    async def process(self, client: aiomqtt.Client, messages: list[aiomqtt.Message]) -> None:
        """Decode, compute, write and then acknowledge one micro-batch."""
        now_ms = int(time.time() * 1000)
        lines: list[str] = []
        dead: list[tuple[aiomqtt.Message, WireError]] = []
        batches: list[Batch] = []
        cfg = self.config.batching
        for message in messages:
            topic = str(message.topic)
            payload = bytes(message.payload) if isinstance(message.payload, (bytes, bytearray)) \
                else str(message.payload).encode()
            if topic.endswith("/health"):
                lines.extend(self._health_lines(topic, payload))
                continue
            try:
                batch = decode_message(topic=topic, payload=payload, topics=self.topics,
                                       plant=self.plant, max_payload_bytes=cfg.max_payload_bytes,
                                       max_future_ms=int(cfg.max_future_s * 1000), now_ms=now_ms)
            except WireError as exc:
                dead.append((message, exc))
                # one point per rejected message: its own millisecond within the batch
                lines.append(f"dead_letter,reason={exc.reason} topic={escape_string(topic)},"
                             f"size={len(payload)}i,detail={escape_string(exc.detail[:500])},"
                             f"count=1i {now_ms + len(dead) - 1}")
                continue
            batches.append(batch)
            lines.extend(component_lines(batch_components(
                batch, self.plant, self.coefficients, model=self.model,
                calendar=self.calendar)))
            # a stop that began in an earlier batch and ended here: judged whole now
            corrections = stop_corrections(batch, self.plant, self.model,
                                           calendar=self.calendar)
            if corrections:
                lines.extend(correction_lines(corrections))
                lines.extend(dirty_minute_lines(batch, (c.t_ms for c in corrections), now_ms))
            lines.extend(batch_lines(batch, self.plant, self.model, received_ms=now_ms,
                                     raw_samples=self.config.write_raw_samples))
            # a late batch marks its windows for the rollup job to recompute
            lines.extend(dirty_lines(batch, self.plant, now_ms,
                                     late_after_s=self.config.rollup.late_after_s))
        if lines:
            await self._write_until_stored("\n".join(lines).encode())
        for message, error in dead:
            await self._dead_letter(client, message, error)
        for message in messages:
            if message.qos > 0:
                client._client.ack(message.mid, message.qos)
        self.stats.messages += len(messages)
        self.stats.batches += len(batches)
        self.stats.samples += sum(b.sample_count for b in batches)
        self.stats.points += len(lines)
        self.stats.dead_letters += len(dead)
        if batches:
            self.stats.newest_t_end_ms = max(self.stats.newest_t_end_ms,
                                             max(b.t_end_ms for b in batches))

    def _health_lines(self, topic: str, payload: bytes) -> list[str]:
        parsed = self.topics.parse_gateway_topic(topic)
        try:
            h = _HEALTH.decode(payload)
        except msgspec.DecodeError:
            return []
        if parsed is None or (parsed[0], parsed[1]) != (h.site, h.gateway):
            return []
        rtt = "" if h.rtt_ms is None else f"rtt_ms={float(h.rtt_ms)!r},"
        return [f"gateway_health,site={h.site},gateway={h.gateway} {rtt}outages={h.outages}i,"
                f"outage_s={float(h.outage_s)!r},backlog_batches={h.backlog_batches}i,"
                f"backlog_age_s={float(h.backlog_age_s)!r},shed_samples={h.shed_samples}i,"
                f"source_errors={h.source_errors}i,published_batches={h.published_batches}i "
                f"{h.t_ms}"]

    async def _write_until_stored(self, body: bytes) -> None:
        """Return once the points are durable: in InfluxDB, or in the spool after
        `spool.after_failures` failed writes. Until then nothing is acknowledged, so the
        broker keeps the messages (also when the spool is full: backpressure)."""
        if self.spool.depth and self.spool.append(body):
            self._replay_wake.set()  # keep the order: behind what is spooled already
            return
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                await self.sink.write(body)
                self.stats.last_write_latency_s = time.monotonic() - started
                return
            except StoreError as exc:
                self.stats.write_errors += 1
                attempt += 1
                if attempt >= self.config.spool.after_failures and self.spool.append(body):
                    log.warning("ingest: InfluxDB unavailable (%s); %d bodies spooled",
                                exc, self.spool.depth)
                    self._replay_wake.set()
                    return
                delay = random.uniform(0, min(10.0, 0.2 * 2 ** min(attempt, 8)))
                log.warning("ingest: write failed (%s); retry %d in %.1f s", exc, attempt, delay)
                await asyncio.sleep(delay)

    async def _replay_forever(self) -> None:
        """Write the spool back, oldest first, whenever there is something in it."""
        attempt = 0
        while True:
            if not self.spool.depth:
                self._replay_wake.clear()
                await self._replay_wake.wait()
            oldest = self.spool.oldest()
            if oldest is None:
                continue
            spool_id, body = oldest
            try:
                await self.sink.write(body)
            except StoreError as exc:
                attempt += 1
                delay = random.uniform(0.5, min(10.0, 0.5 * 2 ** min(attempt, 5)))
                log.debug("ingest: replay failed (%s); next try in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            attempt = 0
            self.spool.remove(spool_id, len(body))
            if not self.spool.depth:
                log.info("ingest: spool replayed; InfluxDB is current again")

    async def _dead_letter(self, client: aiomqtt.Client, message: aiomqtt.Message,
                           error: WireError) -> None:
        payload = message.payload if isinstance(message.payload, bytes) else b""
        letter = msgspec.json.encode({
            "reason": error.reason, "detail": error.detail[:2000], "topic": str(message.topic),
            "gateway": error.gateway, "seq": error.seq, "size": len(payload),
            "payload_b64": base64.b64encode(payload[:DEAD_LETTER_PAYLOAD_CAP]).decode(),
            "truncated": len(payload) > DEAD_LETTER_PAYLOAD_CAP})
        parsed = self.topics.parse_gateway_topic(str(message.topic))
        site, gateway = (parsed[0], parsed[1]) if parsed else ("_", "_")
        await client.publish(self.topics.deadletter(site=site, gateway=gateway), letter, qos=1)
        log.info("dead letter from %s: %s", message.topic, error.reason)

    async def _health_forever(self) -> None:
        previous = (time.monotonic(), 0, 0, 0)
        while True:
            await asyncio.sleep(5.0)
            now = time.monotonic()
            s = self.stats
            dt = max(now - previous[0], 1e-9)
            lag = (time.time() * 1000 - s.newest_t_end_ms) / 1000 if s.newest_t_end_ms else 0.0
            line = (f"ingest_health,worker={self.config.worker} "
                    f"messages_per_s={(s.messages - previous[1]) / dt!r},"
                    f"samples_per_s={(s.samples - previous[2]) / dt!r},"
                    f"points_per_s={(s.points - previous[3]) / dt!r},"
                    f"dead_letters={s.dead_letters}i,spool_depth={self.spool.depth}i,"
                    f"write_latency_s={s.last_write_latency_s!r},lag_s={lag!r} "
                    f"{int(time.time() * 1000)}")
            previous = (now, s.messages, s.samples, s.points)
            try:
                await self.sink.write(line.encode())
            except StoreError as exc:
                log.debug("ingest health not written: %s", exc)
