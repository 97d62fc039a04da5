"""The MQTT side of the Sparkplug source: connect, STATE birth and will, subscribe,
hand each message to the host logic, publish rebirth requests, reconnect with backoff.

Imported when a Sparkplug source starts (aiomqtt, protobuf), never by loading a
configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING

import aiomqtt

from plantstream.edge.sources.modbus._buffer import now_ms, raise_if_cancelled
from plantstream.edge.sources.sparkplug._payload import (
    NAMESPACE,
    rebirth_request,
    state_message,
)
from plantstream.mqtt import mqtt_client

if TYPE_CHECKING:
    from plantstream.edge.sources.sparkplug import SparkplugSource

__all__ = ["supervise"]

log = logging.getLogger(__name__)


async def supervise(source: SparkplugSource) -> None:
    """Keep a session with the plant broker, forever: exponential backoff between tries."""
    cfg = source.config
    delay = cfg.reconnect_min_s
    while True:
        try:
            await _session(source)
            delay = cfg.reconnect_min_s
        except aiomqtt.MqttError as exc:
            source.broker_errors += 1
            log.warning("sparkplug %s: broker %s:%d: %s; retrying in %.1f s", source.name,
                        cfg.mqtt.host, cfg.mqtt.port, exc, delay)
        if source.connected.is_set():
            source.connected.clear()
            source.host.connection_lost()
        else:
            delay = min(delay * 2, cfg.reconnect_max_s)
        raise_if_cancelled()
        await asyncio.sleep(delay)


def state_topic(host_id: str) -> str:
    return f"{NAMESPACE}/STATE/{host_id}"


async def _session(source: SparkplugSource) -> None:
    cfg = source.config
    born_ms = now_ms()  # the STATE birth and its will carry the same timestamp
    will = None
    if cfg.host_id is not None:
        will = aiomqtt.Will(state_topic(cfg.host_id),
                            state_message(online=False, timestamp_ms=born_ms), qos=1,
                            retain=True)
    identifier = f"{cfg.host_id or 'plantstream'}-{source.name}-{uuid.uuid4().hex[:8]}"
    async with mqtt_client(cfg.mqtt, identifier=identifier, will=will,
                           clean_start=True) as client:
        await client.subscribe(f"{NAMESPACE}/{cfg.group}/#", qos=1)
        if cfg.host_id is not None:  # Sparkplug 3.0: subscribe first, then STATE online
            await client.publish(state_topic(cfg.host_id),
                                 state_message(online=True, timestamp_ms=born_ms), qos=1,
                                 retain=True)
        source.connects += 1
        source.connected.set()
        log.info("sparkplug %s: host %s online, subscribed to %s/%s/#", source.name,
                 cfg.host_id, NAMESPACE, cfg.group)
        try:
            async for message in client.messages:
                payload = message.payload
                if not isinstance(payload, bytes | bytearray):
                    source.host.malformed(str(message.topic), "empty payload")
                    continue
                try:
                    rebirths = source.host.handle(str(message.topic), bytes(payload))
                except Exception:  # a message must never stop the source
                    source.host.malformed(str(message.topic), "could not be applied")
                    log.exception("sparkplug %s: message on %s", source.name, message.topic)
                    continue
                for node_id in rebirths:
                    await client.publish(f"{NAMESPACE}/{cfg.group}/NCMD/{node_id}",
                                         rebirth_request(now_ms()), qos=0)
        except asyncio.CancelledError:
            if cfg.host_id is not None:  # a clean goodbye: STATE offline, retained
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.publish(
                        state_topic(cfg.host_id),
                        state_message(online=False, timestamp_ms=born_ms), qos=1,
                        retain=True), timeout=2.0)
            raise
