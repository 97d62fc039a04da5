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
A worker that dies and does not come back within `takeover.after_s` has its session
drained by a surviving worker (plantstream.ingest.takeover): no share stays parked.

Nothing a gateway sends can stop the worker: each message is stored whole or
dead-lettered whole with a reason (see `process`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import logging
import random
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import aiomqtt
import msgspec
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from plantstream.analytics import ShiftCalendar, StateModel, load_coefficients
from plantstream.config import PlantConfig
from plantstream.errors import StoreError, WireError
from plantstream.ingest.components import batch_components, warm_up
from plantstream.ingest.config import IngestConfig
from plantstream.ingest.conflicts import BatchKey, ConflictCheck, batch_key, content_hash
from plantstream.ingest.decode import decode_message
from plantstream.ingest.plausibility import Plausibility, check_components
from plantstream.ingest.points import (
    batch_lines,
    component_lines,
    correction_lines,
    dirty_lines,
    dirty_minute_lines,
)
from plantstream.ingest.spool import Spool
from plantstream.ingest.stops import stop_corrections
from plantstream.ingest.takeover import OFFLINE, ONLINE, Takeover
from plantstream.mqtt import mqtt_client
from plantstream.store.lineprotocol import escape_string
from plantstream.store.sinks import build_sink
from plantstream.topics import Topics
from plantstream.wire import ID, Batch, Health

__all__ = ["IngestStats", "IngestWorker", "tune_gc"]

log = logging.getLogger(__name__)

_HEALTH = msgspec.json.Decoder(Health)
DEAD_LETTER_PAYLOAD_CAP = 64 * 1024
# what a batch writes, by machine tag (the `batch` point is keyed by gateway)
_BATCH_MEASUREMENTS = ("oee_components", "production", "energy", "energy_main", "state",
                       "sample")
# HTTP statuses by which InfluxDB refuses a body's content (parse errors, field type
# conflicts, beyond retention, too large); anything else is transient (retry, spool)
_REFUSED = frozenset({400, 413, 422})


def tune_gc() -> None:
    """Process-wide, for a worker process: a decoded batch is thousands of container
    objects, so CPython's default thresholds (700, 10, 10) run a collection every few
    hundred samples and a full one every ~70,000 allocations over everything alive (the
    micro-batches in flight): measured as 35% of the worker's CPU at full load, billed to
    msgspec's decode. Objects of start-up are frozen out of collections and collections
    run less often; reference cycles are still collected."""
    gc.freeze()
    gc.set_threshold(20_000, 50, 1000)


@dataclass(slots=True)
class _Item:
    """One message of a micro-batch on its way: decoded, computed, stored or dead."""

    message: aiomqtt.Message
    topic: str
    payload: bytes
    batch: Batch | None = None
    content: str | None = None
    samples: int = 0  # the batch's sample_count, counted once
    lines: list[str] = field(default_factory=list)
    error: WireError | None = None

    @property
    def gateway(self) -> str:
        return self.batch.gateway if self.batch is not None else ""

    @property
    def seq(self) -> int | None:
        return self.batch.seq if self.batch is not None else None


@dataclass(slots=True)
class _MicroBatch:
    """A decoded and computed micro-batch waiting for its write and acknowledgements."""

    messages: list[aiomqtt.Message]
    items: list[_Item]
    now_ms: int
    keys: list[BatchKey]


class _Refused(Exception):
    def __init__(self, error: StoreError) -> None:
        super().__init__(str(error))
        self.error = error


def _refused(exc: StoreError) -> bool:
    return exc.status in _REFUSED


def _internal(item: _Item, exc: Exception) -> WireError:
    log.exception("ingest: unexpected failure on a message from %.200s", item.topic)
    return WireError(reason="internal_error", detail=f"{type(exc).__name__}: {exc}",
                     topic=item.topic, gateway=item.gateway, seq=item.seq)


def _text(value: str, cap: int) -> str:
    """A bounded, single-line string field value."""
    return value[:cap].replace("\n", "\\n").replace("\r", "\\r")


def _tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=") \
        .replace(" ", "\\ ")


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
        self.plausibility = Plausibility(config=config.plausibility, plant=plant)
        self.conflicts = ConflictCheck(sink=self.sink)
        # batch keys -> content of batches prepared but not yet stored (the pipeline)
        self._unstored: dict[BatchKey, str] = {}
        self._letter_ms = 0  # the last dead-letter point's timestamp (strictly increasing)
        self._worker_tag = _tag(config.worker)
        self.spool = Spool(path=config.spool_path, max_bytes=config.spool.max_bytes)
        self._replay_wake = asyncio.Event()
        self.stats = IngestStats()
        self._inbox: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._group: asyncio.TaskGroup | None = None
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.takeover = Takeover(
            config=config.takeover, mqtt=config.mqtt, topics=self.topics, group=config.group,
            worker=config.worker, subscriptions=self._subscriptions,
            receive_maximum=config.batching.max_inflight,
            max_messages=config.batching.max_messages, process=self.process)

    @property
    def _subscriptions(self) -> list[str]:
        return [self.topics.shared(self.config.group, f)
                for f in (self.topics.all_batches, self.topics.all_health)]

    async def __aenter__(self) -> Self:
        warm_up(self.plant, self.coefficients, model=self.model, calendar=self.calendar)
        await self.sink.ensure_database()
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        self._tasks = [self._group.create_task(self._run(), name="ingest-run"),
                       self._group.create_task(self._health_forever(), name="ingest-health"),
                       self._group.create_task(self._replay_forever(), name="ingest-replay"),
                       self._group.create_task(self.takeover.run(self._stopping),
                                               name="ingest-takeover")]
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
                             clean_start=False, properties=props, will=self.takeover.will())
        client._client.manual_ack_set(True)  # acknowledge late (see module docstring)
        return client

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                async with self._client_for_session() as client:
                    self._client = client
                    for topic_filter in self._subscriptions:
                        await client.subscribe(topic_filter, qos=1)
                    presence = self.takeover.presence_topic(self.config.worker)
                    await client.publish(presence, ONLINE, qos=1, retain=True)
                    await client.subscribe(self.takeover.presence_filter, qos=1)
                    self.connected.set()
                    attempt = 0
                    log.info("ingest %s subscribed on %s:%d", self.config.worker,
                             self.config.mqtt.host, self.config.mqtt.port)
                    async with asyncio.TaskGroup() as tg:
                        reader = tg.create_task(self._read(client), name="ingest-reader")
                        await self._process_forever(client)
                        reader.cancel()
                    # a clean stop: the others take the session over unless we return
                    await client.publish(presence, OFFLINE, qos=1, retain=True)
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
            topic = str(message.topic)
            if self.takeover.is_presence(topic):
                payload = message.payload if isinstance(message.payload, bytes) else b""
                self.takeover.on_presence(topic, payload)
                if message.qos > 0:
                    client._client.ack(message.mid, message.qos)
                continue
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
        """The pipeline: while the writes of earlier micro-batches are in flight (at most
        `batching.max_writes_in_flight`), the next one is decoded and computed.
        Acknowledgements go out in arrival order, each after its own points are stored."""
        slots = asyncio.Semaphore(self.config.batching.max_writes_in_flight)
        previous: asyncio.Task[None] | None = None
        async with asyncio.TaskGroup() as writes:
            while True:
                get = asyncio.ensure_future(self._next_micro_batch())
                stop = asyncio.ensure_future(self._stopping.wait())
                done, _ = await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    break  # the task group waits for the writes in flight
                stop.cancel()
                prepared = await self._prepare(get.result())
                await slots.acquire()
                try:
                    previous = writes.create_task(
                        self._finish(client, prepared, after=previous, slot=slots))
                except BaseException:
                    slots.release()
                    raise

    async def process(self, client: aiomqtt.Client, messages: list[aiomqtt.Message]) -> None:
        """Decode, check, compute, write and then acknowledge one micro-batch.

        Every message ends stored whole or dead-lettered whole: a message that fails
        decoding, plausibility, the conflict check or its own arithmetic, and a message
        whose lines InfluxDB refuses (found by bisecting the body), goes to the dead
        letters with the reason; any other exception while handling one message does
        too (`internal_error`), so no input stops the worker."""
        await self._finish(client, await self._prepare(messages))

    async def _prepare(self, messages: list[aiomqtt.Message]) -> _MicroBatch:
        """Decode, check and compute a micro-batch: everything before its write."""
        now_ms = int(time.time() * 1000)
        items = [self._decode(message, now_ms) for message in messages]
        candidates = [i for i in items if i.batch is not None and i.error is None]
        # the look-up's round trip overlaps the computing of the lines
        lookup = asyncio.ensure_future(
            self.conflicts.stored([i.batch for i in candidates if i.batch is not None]))
        try:
            for item in candidates:
                self._compute(item, now_ms)
        finally:
            try:
                stored_contents = await lookup
            except Exception:  # a bug in the look-up must not stop the micro-batch
                log.exception("ingest: conflict look-up failed; written unchecked")
                stored_contents = {}
        # batches of micro-batches still being written count as stored
        keys = self._mark_conflicts(candidates, {**self._unstored, **stored_contents})
        for key, content in keys.items():
            self._unstored.setdefault(key, content)
        return _MicroBatch(messages=messages, items=items, now_ms=now_ms, keys=list(keys))

    async def _finish(self, client: aiomqtt.Client, mb: _MicroBatch, *,
                      after: asyncio.Task[None] | None = None,
                      slot: asyncio.Semaphore | None = None) -> None:
        """Write a prepared micro-batch, dead-letter what failed, then (once the
        micro-batch `after` is acknowledged) acknowledge its messages."""
        try:
            items = mb.items
            for item, exc in await self._store([i for i in items if i.error is None and i.lines]):
                item.error = WireError(reason="store_rejected",
                                       detail=f"InfluxDB: {exc.reason}",
                                       topic=item.topic, gateway=item.gateway, seq=item.seq)
                await self._undo(item)
            dead = [i for i in items if i.error is not None]
            if dead:
                await self._write_dead_letter_points(dead, mb.now_ms)
            if after is not None:
                await after  # acknowledgements in arrival order
            for item in dead:
                await self._dead_letter(client, item)
            for message in mb.messages:
                if message.qos > 0:
                    client._client.ack(message.mid, message.qos)
        finally:
            for key in mb.keys:  # stored (or dead): the look-up answers for it now
                self._unstored.pop(key, None)
            if slot is not None:
                slot.release()
        stored = [i.batch for i in items if i.error is None and i.batch is not None]
        self.stats.messages += len(mb.messages)
        self.stats.batches += len(stored)
        self.stats.samples += sum(i.samples for i in items if i.error is None)
        self.stats.points += sum(len(i.lines) for i in items if i.error is None)
        self.stats.dead_letters += len(dead)
        if stored:
            self.stats.newest_t_end_ms = max(self.stats.newest_t_end_ms,
                                             max(b.t_end_ms for b in stored))

    def _decode(self, message: aiomqtt.Message, now_ms: int) -> _Item:
        topic = str(message.topic)
        payload = message.payload if isinstance(message.payload, bytes) else \
            bytes(message.payload) if isinstance(message.payload, bytearray) else b""
        item = _Item(message=message, topic=topic, payload=payload)
        try:
            if topic.endswith("/health"):
                item.lines = self._health_lines(topic, payload, now_ms)
                return item
            cfg = self.config.batching
            item.batch = decode_message(
                topic=topic, payload=payload, topics=self.topics, plant=self.plant,
                max_payload_bytes=cfg.max_payload_bytes,
                max_future_ms=int(self.config.plausibility.max_future_s * 1000), now_ms=now_ms)
            self.plausibility.check(item.batch, topic=topic, now_ms=now_ms)
            item.content = content_hash(item.batch)
        except WireError as exc:
            item.error = exc
        except Exception as exc:  # any input-driven failure is a dead letter
            item.error = _internal(item, exc)
        return item

    def _mark_conflicts(self, candidates: list[_Item],
                        stored: dict[BatchKey, str]) -> dict[BatchKey, str]:
        """A batch whose interval is stored (or earlier in this micro-batch) with other
        content is a `conflict`: dead-lettered, the stored version kept. Returns the
        keys and contents of the batches that will be written."""
        seen: dict[BatchKey, str] = {}
        for item in candidates:
            if item.batch is None or item.content is None or item.error is not None:
                continue
            key = batch_key(item.batch)
            previous = stored.get(key) or seen.get(key)
            if previous is not None and previous != item.content:
                item.lines = []
                item.error = WireError(
                    reason="conflict", topic=item.topic, gateway=item.gateway, seq=item.seq,
                    detail=f"interval {key[2]} of {key[0]}/{key[1]} is stored with content "
                           f"{previous}; this batch (seq {item.batch.seq}) has "
                           f"{item.content}; the stored version is kept")
                continue
            seen[key] = item.content
        return seen

    def _compute(self, item: _Item, now_ms: int) -> None:
        batch = item.batch
        assert batch is not None
        try:
            components = batch_components(batch, self.plant, self.coefficients,
                                          model=self.model, calendar=self.calendar)
            check_components(components, batch, topic=item.topic)
            item.lines = component_lines(components, self.plant.main_meters)
            # a stop that began in an earlier batch and ended here: judged whole now
            corrections = stop_corrections(batch, self.plant, self.model,
                                           calendar=self.calendar)
            if corrections:
                item.lines += correction_lines(corrections)
                item.lines += dirty_minute_lines(batch, (c.t_ms for c in corrections), now_ms)
            item.samples = batch.sample_count
            item.lines += batch_lines(batch, self.plant, self.model, received_ms=now_ms,
                                      raw_samples=self.config.write_raw_samples,
                                      content=item.content, samples=item.samples)
            # a late batch marks its windows for the rollup job to recompute
            item.lines += dirty_lines(batch, self.plant, now_ms,
                                      late_after_s=self.config.rollup.late_after_s)
        except WireError as exc:
            item.error, item.lines = exc, []
        except Exception as exc:  # any input-driven failure is a dead letter
            item.error, item.lines = _internal(item, exc), []

    def _health_lines(self, topic: str, payload: bytes, now_ms: int) -> list[str]:
        parsed = self.topics.parse_gateway_topic(topic)
        try:
            h = _HEALTH.decode(payload)
        except msgspec.ValidationError as exc:
            raise WireError(reason="invalid_field", detail=str(exc), topic=topic) from None
        except msgspec.DecodeError as exc:
            raise WireError(reason="bad_json", detail=str(exc), topic=topic) from None
        if parsed is None or (parsed[0], parsed[1]) != (h.site, h.gateway):
            raise WireError(reason="topic_mismatch", detail="health of another gateway",
                            topic=topic, gateway=h.gateway)
        self.plausibility.check_health(h, topic=topic, now_ms=now_ms)
        rtt = "" if h.rtt_ms is None else f"rtt_ms={float(h.rtt_ms)!r},"
        return [f"gateway_health,site={h.site},gateway={h.gateway} {rtt}outages={h.outages}i,"
                f"outage_s={float(h.outage_s)!r},backlog_batches={h.backlog_batches}i,"
                f"backlog_age_s={float(h.backlog_age_s)!r},shed_samples={h.shed_samples}i,"
                f"source_errors={h.source_errors}i,published_batches={h.published_batches}i "
                f"{h.t_ms}"]

    async def _store(self, items: list[_Item]) -> list[tuple[_Item, StoreError]]:
        """Write the items' lines; return the items whose lines InfluxDB refuses.

        A refused body (HTTP 400/413/422) is split in halves and each half written
        again, down to single messages: the others are stored, the refused ones
        returned with the database's error. Transient failures retry and spool."""
        if not items:
            return []
        try:
            await self._write_until_stored("\n".join(
                line for item in items for line in item.lines).encode())
            return []
        except _Refused as refused:
            if len(items) == 1:
                return [(items[0], refused.error)]
            log.info("ingest: InfluxDB refused a body of %d messages (%s); bisecting",
                     len(items), refused.error.reason)
            mid = len(items) // 2
            return await self._store(items[:mid]) + await self._store(items[mid:])

    async def _undo(self, item: _Item) -> None:
        """InfluxDB writes the lines it can parse of a body it refuses: delete those of a
        refused batch, so it is dead-lettered whole, never half stored."""
        batch = item.batch
        if batch is None:
            return
        t0, t1 = batch.t_start_ms, batch.t_end_ms
        try:
            for m in batch.machines:
                for measurement in _BATCH_MEASUREMENTS:
                    await self.sink.delete(measurement=measurement, tags={"machine": m.machine},
                                           start_ms=t0, stop_ms=t1)
            await self.sink.delete(measurement="batch", start_ms=t0, stop_ms=t0 + 1,
                                   tags={"site": batch.site, "gateway": batch.gateway})
        except StoreError as exc:
            log.error("ingest: refused batch %s/%s seq %d may be partly stored (delete "
                      "failed: %s)", batch.site, batch.gateway, batch.seq, exc)

    async def _write_dead_letter_points(self, dead: list[_Item], now_ms: int) -> None:
        """One `dead_letter` point per message, at a millisecond of this worker's own
        (strictly increasing), tagged with the worker: bursts never share a point key."""
        lines = []
        for item in dead:
            assert item.error is not None
            self._letter_ms = max(now_ms, self._letter_ms + 1)
            lines.append(f"dead_letter,reason={item.error.reason},worker={self._worker_tag} "
                         f"topic={escape_string(_text(item.topic, 1024))},"
                         f"size={len(item.payload)}i,"
                         f"detail={escape_string(_text(item.error.detail, 500))},"
                         f"count=1i {self._letter_ms}")
        try:
            await self._write_until_stored("\n".join(lines).encode())
        except _Refused as refused:  # our own lines: a bug, never a reason to stop
            log.error("ingest: InfluxDB refused dead-letter points: %s", refused.error)

    async def _write_until_stored(self, body: bytes) -> None:
        """Return once the points are durable: in InfluxDB, or in the spool after
        `spool.after_failures` failed writes. Until then nothing is acknowledged, so the
        broker keeps the messages (also when the spool is full: backpressure). Raise
        `_Refused` when InfluxDB refuses the body itself (never spooled)."""
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
                if _refused(exc):
                    raise _Refused(exc) from None
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
                if _refused(exc):  # spooled while InfluxDB was away, refused now
                    await self._replay_refused(body.split(b"\n"), exc)
                    self.spool.remove(spool_id, len(body))
                    continue
                attempt += 1
                delay = random.uniform(0.5, min(10.0, 0.5 * 2 ** min(attempt, 5)))
                log.debug("ingest: replay failed (%s); next try in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            attempt = 0
            self.spool.remove(spool_id, len(body))
            if not self.spool.depth:
                log.info("ingest: spool replayed; InfluxDB is current again")

    async def _replay_refused(self, lines: list[bytes], error: StoreError) -> None:
        """A spooled body InfluxDB refuses: its messages are acknowledged already, so
        bisect it by line, write the rest, and count each refused line as a dead letter
        (`store_rejected`, logged with the line). Transient failures wait and retry."""
        while True:
            try:
                await self.sink.write(b"\n".join(lines))
                return
            except StoreError as exc:
                if not _refused(exc):
                    await asyncio.sleep(1.0)
                    continue
                error = exc
                break
        if len(lines) == 1:
            log.error("ingest: InfluxDB refused a spooled line (%s): %r", error.reason,
                      lines[0][:300])
            self.stats.dead_letters += 1
            self._letter_ms = max(int(time.time() * 1000), self._letter_ms + 1)
            point = (f"dead_letter,reason=store_rejected,worker={self._worker_tag} "
                     f"topic=\"(spool)\",size={len(lines[0])}i,"
                     f"detail={escape_string(_text(error.reason, 500))},count=1i "
                     f"{self._letter_ms}")
            with contextlib.suppress(StoreError):
                await self.sink.write(point.encode())
            return
        mid = len(lines) // 2
        await self._replay_refused(lines[:mid], error)
        await self._replay_refused(lines[mid:], error)

    async def _dead_letter(self, client: aiomqtt.Client, item: _Item) -> None:
        error = item.error
        assert error is not None
        payload = item.payload
        letter = msgspec.json.encode({
            "reason": error.reason, "detail": error.detail[:2000], "topic": item.topic,
            "gateway": error.gateway[:64], "seq": error.seq, "size": len(payload),
            "payload_b64": base64.b64encode(payload[:DEAD_LETTER_PAYLOAD_CAP]).decode(),
            "truncated": len(payload) > DEAD_LETTER_PAYLOAD_CAP})
        parsed = self.topics.parse_gateway_topic(item.topic)
        site, gateway = (parsed[0], parsed[1]) if parsed else ("_", "_")
        if not (ID.fullmatch(site) and ID.fullmatch(gateway)):  # a valid topic, always
            site, gateway = "_", "_"
        try:
            await client.publish(self.topics.deadletter(site=site, gateway=gateway), letter,
                                 qos=1)
        except aiomqtt.MqttError:
            raise  # the link is down: reconnect; the message is redelivered
        except Exception as exc:  # counted in InfluxDB; never stop on it
            log.error("ingest: dead letter for %.200s not published: %r", item.topic, exc)
            return
        log.info("dead letter from %.200s: %s", item.topic, error.reason)

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
