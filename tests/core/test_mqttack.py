"""`AckingClient` against a real Mosquitto that refuses a publish as too large: the
PUBACK reason code Mosquitto 2.0 sends there (0x95) is one paho cannot parse."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from plantstream.config import MqttConfig
from plantstream.devstack.services import Mosquitto
from plantstream.mqttack import acking_client, is_refusal

pytestmark = pytest.mark.services


def test_a_publish_refused_as_too_large_ends_as_refused_and_is_never_sent_again(
        tmp_path: Path, topic_root: str) -> None:
    broker = Mosquitto(data_dir=tmp_path / "broker", extra_config="message_size_limit 600\n")
    broker.start()
    lost: list[bool] = []

    async def main() -> None:
        async with acking_client(MqttConfig(port=broker.port), identifier=topic_root) as client:
            client.on_lost = lambda: lost.append(True)
            # accepted (0x10: no subscriber, a success code)
            assert not is_refusal(await client.publish_acked(f"{topic_root}/small", b"x"))
            code = await client.publish_acked(f"{topic_root}/big", b"x" * 1000, timeout=10)
            assert code == 0x95  # refused, not a timeout nor a dropped connection
            # answered: out of paho's in-flight set, so no new connection re-sends it
            # (which Mosquitto would refuse again, dropping that connection too)
            assert client._client._out_messages == {}
            assert client._client._inflight_messages == 0
            # Mosquitto 2.0.11 closes the connection after this PUBACK: said at once
            async with asyncio.timeout(10):
                while not client.lost:
                    await asyncio.sleep(0.01)
            assert lost == [True]

    try:
        asyncio.run(main())
    finally:
        broker.stop()
