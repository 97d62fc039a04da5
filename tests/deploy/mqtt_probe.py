"""A small synchronous MQTT v5 client (paho-mqtt 2) that records what happens to it.

The deploy tests ask yes/no questions of a real Mosquitto: may this client connect,
does this subscription get granted, does this message arrive. Every wait is bounded
and ends early on the event it waits for, so no test depends on a timing threshold.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

WAIT_S = 10.0  # upper bound of any wait; the positive paths end long before


@dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path | None = None
    key: Path | None = None


class Probe:
    def __init__(self, *, port: int, username: str | None = None, password: str | None = None,
                 tls: Tls | None = None, name: str = "probe") -> None:
        self.port = port
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"{name}-{uuid.uuid4().hex[:6]}",
                                  protocol=mqtt.MQTTv5, reconnect_on_failure=False)
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls is not None:
            self.client.tls_set(ca_certs=str(tls.ca),
                                certfile=str(tls.cert) if tls.cert else None,
                                keyfile=str(tls.key) if tls.key else None)
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connack: ReasonCode | None = None
        self.granted: dict[int, list[ReasonCode]] = {}
        self.acked: dict[int, ReasonCode] = {}
        self._ended = threading.Event()  # connected, refused, or the connection dropped
        self._subacks = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish

    # callbacks run on paho's network thread
    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self.connack = rc
        self._ended.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self._ended.set()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, codes: list[ReasonCode],
                      _p: Any) -> None:
        with self._subacks:
            self.granted[mid] = codes
            self._subacks.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        self.acked[mid] = rc

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.messages.put((msg.topic, msg.payload))

    def connect(self) -> bool:
        """True when the broker accepted the connection (CONNACK success)."""
        try:
            self.client.connect("127.0.0.1", self.port, keepalive=30)
        except OSError:  # refused during the TLS handshake or the TCP connect
            return False
        self.client.loop_start()
        self._ended.wait(WAIT_S)
        return self.connack is not None and not self.connack.is_failure \
            and self.client.is_connected()

    def subscribe(self, *topics: str) -> list[ReasonCode]:
        """Subscribe (QoS 1) and return the broker's SUBACK reason codes."""
        _, mid = self.client.subscribe([(t, 1) for t in topics])
        assert mid is not None
        deadline = time.monotonic() + WAIT_S
        with self._subacks:
            while mid not in self.granted:
                remaining = deadline - time.monotonic()
                assert remaining > 0, "no SUBACK"
                self._subacks.wait(remaining)
            return self.granted[mid]

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> ReasonCode:
        """Publish at QoS 1; the broker's PUBACK reason code, once it has handled it.

        Mosquitto 2 answers a denied QoS 1 publish with PUBACK "Not authorized" and
        paho 2 then drops the connection: use a fresh probe after a denied publish.
        """
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(WAIT_S)
        return self.acked[info.mid]

    def wait_for(self, payload: bytes) -> list[tuple[str, bytes]]:
        """Every message received up to and including `payload` (fails if it never comes)."""
        seen: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + WAIT_S
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{payload!r} never arrived; got {seen}"
            try:
                item = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            seen.append(item)
            if item[1] == payload:
                return seen

    def close(self) -> None:
        if self.client.is_connected():
            self.client.disconnect()
        self.client.loop_stop()
        # paho keeps its wake-up socket pair (and a refused socket) until garbage
        # collection, which pytest reports as unclosed sockets: close them now.
        self.client._reset_sockets()
