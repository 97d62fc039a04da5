"""No parked share: a surviving worker drains the session of a worker that died.

Each worker keeps a persistent MQTT session (so a restart under the same id gets its
unacknowledged messages back). Mosquitto keeps assigning the shared subscription's
messages to a member whose connection is gone while its session lives; a worker that
never returns under the same id (scale-in, a renamed pod, a lost host) would leave its
share parked until the session expires, and then lost.

The mechanism, in the broker alone:

* presence: each worker publishes a retained `online` on
  `{root}/v1/ingest/{group}/{worker}/state`, registers a retained `offline` as its
  will (an unclean death), and publishes `offline` itself when it stops;
* takeover: when a worker has been `offline` for `takeover.after_s` (a restart within
  that time resumes its own session), the surviving worker with the smallest id
  connects with the dead worker's client id (resuming its session), processes what
  the session holds exactly as its own messages (stored, then acknowledged), removes
  the session's subscriptions, drains what is left, and clears the retained state.
  The session remains, empty and subscribed to nothing, until it expires or its
  worker returns (and subscribes again).

If the dead worker returns during a takeover, the broker hands it the session back
(the takeover's unacknowledged messages are redelivered to it): at least once, as
everywhere else. Only the dead worker's own spool file stays where it was: keep the
spool on a volume that follows the worker id, or drain it by starting a worker with
that id once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from plantstream.config import MqttConfig
from plantstream.ingest.config import TakeoverConfig
from plantstream.mqtt import mqtt_client
from plantstream.topics import Topics

__all__ = ["OFFLINE", "ONLINE", "Takeover"]

log = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"

Process = Callable[[aiomqtt.Client, list[aiomqtt.Message]], Awaitable[None]]


class Takeover:
    """Presence of the group's workers and the takeover of dead ones' sessions."""

    def __init__(self, *, config: TakeoverConfig, mqtt: MqttConfig, topics: Topics,
                 group: str, worker: str, subscriptions: list[str], receive_maximum: int,
                 max_messages: int, process: Process) -> None:
        self.config = config
        self.mqtt = mqtt
        self.topics = topics
        self.group = group
        self.worker = worker
        self.subscriptions = subscriptions  # the shared filters every worker subscribes
        self.receive_maximum = receive_maximum
        self.max_messages = max_messages
        self.process = process
        self.online: set[str] = set()
        self.offline_since: dict[str, float] = {}  # worker -> monotonic time seen offline
        self.taken_over_sessions = 0
        self.taken_over_messages = 0

    @property
    def presence_filter(self) -> str:
        return f"{self.topics.base}/ingest/{self.group}/+/state"

    def presence_topic(self, worker: str) -> str:
        return f"{self.topics.base}/ingest/{self.group}/{worker}/state"

    def will(self) -> aiomqtt.Will:
        return aiomqtt.Will(topic=self.presence_topic(self.worker), payload=OFFLINE, qos=1,
                            retain=True)

    def is_presence(self, topic: str) -> bool:
        prefix = f"{self.topics.base}/ingest/{self.group}/"
        return topic.startswith(prefix) and topic.endswith("/state")

    def on_presence(self, topic: str, payload: bytes) -> None:
        worker = topic.split("/")[-2]
        if worker == self.worker:
            return
        if payload == ONLINE:
            self.online.add(worker)
            self.offline_since.pop(worker, None)
        else:
            self.online.discard(worker)
            if payload == OFFLINE:
                self.offline_since.setdefault(worker, time.monotonic())
            else:  # cleared: taken over already
                self.offline_since.pop(worker, None)

    async def run(self, stopping: asyncio.Event) -> None:
        """Take over every worker offline for `after_s` while this one leads the group."""
        if not self.config.enabled:
            return
        while not stopping.is_set():
            await asyncio.sleep(min(1.0, self.config.after_s))
            now = time.monotonic()
            leader = min(self.online | {self.worker})
            due = [w for w, since in self.offline_since.items()
                   if now - since >= self.config.after_s]
            if leader != self.worker or not due or stopping.is_set():
                continue
            dead = min(due)
            gone_s = now - self.offline_since[dead]
            try:
                drained = await self._take_over(dead, stopping)
            except aiomqtt.MqttError as exc:  # it came back, or the broker went away
                log.warning("ingest: takeover of %s's session stopped (%s); next try in "
                            "%.0f s unless it returns", dead, exc, self.config.after_s)
                if dead in self.offline_since:
                    self.offline_since[dead] = time.monotonic()  # try again after the grace
                continue
            self.offline_since.pop(dead, None)
            self.taken_over_sessions += 1
            log.warning("ingest: took over the session of worker %s (gone for %.0f s): "
                        "%d messages processed", dead, gone_s, drained)

    async def _take_over(self, dead: str, stopping: asyncio.Event) -> int:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho is untyped here
        props.SessionExpiryInterval = 3600
        props.ReceiveMaximum = self.receive_maximum
        client = mqtt_client(self.mqtt, identifier=dead, clean_start=False, properties=props)
        client._client.manual_ack_set(True)  # acknowledge after storing, as the worker does
        drained = 0
        async with client:
            inbox: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()
            reader = asyncio.create_task(_read_into(client, inbox), name="ingest-takeover-read")
            try:
                unsubscribed = False
                while not stopping.is_set():
                    messages = await self._next(inbox)
                    if messages:
                        ours = [m for m in messages if not self.is_presence(str(m.topic))]
                        for m in messages:
                            if m not in ours and m.qos > 0:
                                client._client.ack(m.mid, m.qos)
                        if ours:
                            await self.process(client, ours)
                            drained += len(ours)
                            self.taken_over_messages += len(ours)
                        continue
                    if unsubscribed:
                        break
                    # nothing more queued: leave the group, then drain what is in flight
                    for topic_filter in (*self.subscriptions, self.presence_filter):
                        await client.unsubscribe(topic_filter)
                    unsubscribed = True
                if unsubscribed:
                    await client.publish(self.presence_topic(dead), b"", qos=1, retain=True)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await reader
        return drained

    async def _next(self, inbox: asyncio.Queue[aiomqtt.Message]) -> list[aiomqtt.Message]:
        try:
            first = await asyncio.wait_for(inbox.get(), self.config.idle_s)
        except TimeoutError:
            return []
        messages = [first]
        while len(messages) < self.max_messages and not inbox.empty():
            messages.append(inbox.get_nowait())
        return messages


async def _read_into(client: aiomqtt.Client, inbox: asyncio.Queue[aiomqtt.Message]) -> None:
    async for message in client.messages:
        inbox.put_nowait(message)  # bounded by Receive Maximum
