"""An aiomqtt client built from the shared MQTT configuration (credentials, TLS).

Imported by the edge agent and the ingest tier only (aiomqtt is their dependency).
Always MQTT v5: shared subscriptions, session expiry and receive maximum need it.
"""

from __future__ import annotations

import ssl

import aiomqtt
from paho.mqtt.client import MQTT_CLEAN_START_FIRST_ONLY, CleanStartOption
from paho.mqtt.properties import Properties

from plantstream.config import MqttConfig

__all__ = ["mqtt_client"]


def mqtt_client(config: MqttConfig, *, identifier: str, will: aiomqtt.Will | None = None,
                clean_start: CleanStartOption = MQTT_CLEAN_START_FIRST_ONLY,
                properties: Properties | None = None,
                max_inflight: int | None = None,
                client_class: type[aiomqtt.Client] = aiomqtt.Client) -> aiomqtt.Client:
    """`client_class`: aiomqtt's client or a subclass (see
    `plantstream.mqttack.acking_client`)."""
    tls_context = None
    if config.tls:
        tls_context = ssl.create_default_context(cafile=config.tls.ca_file)
        if config.tls.cert_file:
            tls_context.load_cert_chain(config.tls.cert_file, config.tls.key_file)
    return client_class(
        hostname=config.host, port=config.port, username=config.username,
        password=config.password.reveal() if config.password else None,
        identifier=identifier, protocol=aiomqtt.ProtocolVersion.V5, will=will,
        keepalive=config.keepalive_s, tls_context=tls_context, clean_start=clean_start,
        properties=properties, max_inflight_messages=max_inflight,
        timeout=max(10.0, float(config.keepalive_s)))
