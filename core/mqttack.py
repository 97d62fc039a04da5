"""An aiomqtt client that reads the MQTT v5 PUBACK reason code.

aiomqtt 2.5's `publish` returns when paho reports the PUBACK, whatever its reason code,
so a publish the broker refuses (0x87 not authorized, 0x97 quota exceeded...) looks
delivered. `AckingClient.publish_acked` returns the reason code instead, so the caller
keeps a refused message. It also:

* survives reason codes paho cannot parse: Mosquitto 2.0 answers a PUBLISH over its
  `message_size_limit` with PUBACK 0x95 ("packet too large", not a valid PUBACK code in
  MQTT 5). paho calls that a malformed packet and drops the connection, and, the
  message still being in flight, sends it again on the next connection, which drops
  that one too, and so on. The PUBACK is completed here instead: the message leaves
  paho's in-flight set and the publish ends as refused (0x95). (Mosquitto 2.0.11 then
  closes the connection itself; the caller reconnects, without the refused message.)
* fails every waiting `publish_acked` at once when the connection drops (aiomqtt's
  publish would wait for its whole timeout), and says so at once (`lost`, `on_lost`),
  so an idle publisher notices a dead link without having to publish into it;
* keeps the broker's Maximum Packet Size from the CONNACK (`max_packet_size`).

It awaits its PUBACK future directly (no `asyncio.wait_for`), so it never swallows a
cancellation. Relies on paho-mqtt 2.x internals (`_handle_pubackcomp`, `_in_packet`),
hence the `<3` bound on paho-mqtt.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import Any, Final, cast

import aiomqtt
import paho.mqtt.client as paho

from plantstream.config import MqttConfig
from plantstream.mqtt import mqtt_client

__all__ = ["PUBACK_REASONS", "AckingClient", "acking_client", "is_refusal", "reason_name"]

log = logging.getLogger(__name__)

# MQTT 5 PUBACK reason codes (plus 0x95, which Mosquitto 2.0 sends), as short names
PUBACK_REASONS: Final[dict[int, str]] = {
    0x00: "success",
    0x10: "no_matching_subscribers",
    0x80: "unspecified_error",
    0x83: "implementation_specific_error",
    0x87: "not_authorized",
    0x90: "topic_name_invalid",
    0x91: "packet_identifier_in_use",
    0x95: "packet_too_large",
    0x97: "quota_exceeded",
    0x99: "payload_format_invalid",
}


def reason_name(code: int) -> str:
    return PUBACK_REASONS.get(code, f"reason_0x{code:02x}")


def is_refusal(code: int) -> bool:
    """MQTT 5: reason codes of 0x80 and above are failures."""
    return code >= 0x80


class AckingClient(aiomqtt.Client):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acks: dict[int, asyncio.Future[int]] = {}
        self.max_packet_size: int | None = None
        self.lost = False  # the connection dropped (set once, never cleared)
        self.on_lost: Callable[[], None] | None = None
        handle = self._client._handle_pubackcomp

        def handle_pubackcomp(cmd: Any) -> Any:
            try:
                return handle(cmd)
            except Exception:  # paho rejects the packet (and would drop the connection)
                if self._unparsed_puback(cmd):
                    return paho.MQTT_ERR_SUCCESS
                raise

        self._client._handle_pubackcomp = handle_pubackcomp  # type: ignore[method-assign]

    def _unparsed_puback(self, cmd: str) -> bool:
        """Complete a PUBACK whose reason code paho cannot parse, as paho's
        `_do_on_publish` would; True if it was one."""
        packet = bytes(self._client._in_packet.get("packet", b""))
        if cmd != "PUBACK" or len(packet) < 3:
            return False
        (mid,) = struct.unpack("!H", packet[:2])
        code = packet[2]
        log.debug("PUBACK for mid %d with reason code 0x%02x that paho cannot parse",
                  mid, code)
        paho_client = self._client
        with paho_client._out_message_mutex:
            message = paho_client._out_messages.pop(mid, None)
            if message is not None:
                message.info._set_as_published()  # answered: never sent again
                if message.qos > 0:
                    paho_client._inflight_messages -= 1
                    if paho_client._max_inflight_messages > 0:
                        paho_client._update_inflight()
        future = self._acks.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(code)
        return True

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any,
                    reason_code: Any, properties: Any = None) -> None:
        size = getattr(properties, "MaximumPacketSize", None)
        self.max_packet_size = int(size) if size else None
        super()._on_connect(client, userdata, flags, reason_code, properties)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any,
                       reason_code: Any, properties: Any = None) -> None:
        self.lost = True
        if self.on_lost is not None:
            self.on_lost()
        acks, self._acks = self._acks, {}
        for future in acks.values():
            if not future.done():
                future.set_exception(aiomqtt.MqttError(f"disconnected before PUBACK: "
                                                       f"{reason_code}"))
        super()._on_disconnect(client, userdata, flags, reason_code, properties)
        if self._disconnected.done() and not self._disconnected.cancelled():
            # retrieved here: the publisher sees the failure through its own future,
            # and aiomqtt's exit ignores a connection that is already gone
            self._disconnected.exception()

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int,
                    reason_code: Any, properties: Any) -> None:
        future = self._acks.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(int(getattr(reason_code, "value", 0)))
        super()._on_publish(client, userdata, mid, reason_code, properties)

    async def publish_acked(self, topic: str, payload: bytes, *, retain: bool = False,
                            timeout: float | None = None) -> int:
        """Publish with QoS 1 and return the PUBACK reason code (>= 0x80: refused).
        Raises `aiomqtt.MqttError` if the message could not be sent, the connection
        dropped before the PUBACK, or none came within `timeout` (default: the
        client's timeout)."""
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._acks[info.mid] = future
        try:
            async with asyncio.timeout(self.timeout if timeout is None else timeout):
                return await future
        except TimeoutError:
            raise aiomqtt.MqttError(f"no PUBACK from the broker on {topic}") from None
        finally:
            self._acks.pop(info.mid, None)


def acking_client(config: MqttConfig, **kwargs: Any) -> AckingClient:
    """`plantstream.mqtt.mqtt_client` (same arguments), as an `AckingClient`."""
    return cast(AckingClient, mqtt_client(config, client_class=AckingClient, **kwargs))
