"""Refused means not delivered: a publish the broker refuses (MQTT v5 PUBACK reason
code) stays in the disk queue, is counted by reason in the health, logged once, retried
with backoff and delivered once the broker takes it again. Real Mosquitto: an ACL that
refuses the batch topic, then fixed (SIGHUP reloads it); a `message_size_limit` below
one batch, then raised; a Maximum Packet Size in the CONNACK."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiomqtt
import msgspec
import pytest

from plantstream.config import MqttConfig, to_toml
from plantstream.devstack.plant import demo_plant
from plantstream.devstack.services import Mosquitto
from plantstream.edge.agent import EdgeAgent
from plantstream.edge.config import ClockConfig, EdgeConfig, GatewaySettings
from plantstream.topics import Topics
from plantstream.wire import Batch

pytestmark = [pytest.mark.services, pytest.mark.slow]

PATIENCE_S = 60.0  # a hang guard: each condition holds within seconds when it works


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {PATIENCE_S:.0f} s: {what}")
        await asyncio.sleep(0.05)


def _config(port: int, topic_root: str, state_dir: Path, **gateway: object) -> EdgeConfig:
    plant, sims = demo_plant(1, seed=5)
    gw = plant.gateways[0]
    start_ms = int(time.time() * 1000) - 3_600_000
    return EdgeConfig(
        gateway=GatewaySettings(id=gw.id, site=gw.site, flush_interval_s=10,
                                state_dir=str(state_dir), health_interval_s=0.2,
                                **gateway),  # type: ignore[arg-type]
        mqtt=MqttConfig(port=port, topic_root=topic_root),
        sources=[sims[gw.id]], clock=ClockConfig(speedup=20.0, start_ms=start_ms))


class Received:
    """Every batch seq the broker delivers on the gateway's batch topic."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.samples = 0


async def _subscribe(port: int, topic_root: str, received: Received,
                     ready: asyncio.Event) -> None:
    decoder = msgspec.json.Decoder(Batch)
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5,
                              identifier=f"{topic_root}-reader") as client:
        await client.subscribe(Topics(root=topic_root).all_batches, qos=1)
        ready.set()
        async for message in client.messages:
            batch = decoder.decode(message.payload)  # type: ignore[arg-type]
            received.seqs.append(batch.seq)
            received.samples += batch.sample_count


@contextlib.asynccontextmanager
async def _reading(port: int, topic_root: str) -> AsyncIterator[Received]:
    received, ready = Received(), asyncio.Event()
    task = asyncio.ensure_future(_subscribe(port, topic_root, received, ready))
    await asyncio.wait_for(ready.wait(), timeout=PATIENCE_S)
    try:
        yield received
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _reload(broker: Mosquitto) -> None:
    broker.command()  # rewrites mosquitto.conf from `extra_config`
    assert broker.pid is not None
    os.kill(broker.pid, signal.SIGHUP)


def _acl(topic_root: str, config: EdgeConfig, *, batches: bool) -> str:
    prefix = f"{topic_root}/v1/{config.gateway.site}/{config.gateway.id}"
    lines = [f"topic read {topic_root}/#", f"topic write {prefix}/status",
             f"topic write {prefix}/health"]
    if batches:
        lines.append(f"topic write {prefix}/batch")
    return "\n".join(lines) + "\n"


async def test_batches_refused_by_the_acl_stay_queued_and_arrive_after_the_fix(
        topic_root: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="plantstream.edge.uplink")
    config = _config(0, topic_root, tmp_path / "edge")
    acl = tmp_path / "acl"
    acl.write_text(_acl(topic_root, config, batches=False))
    broker = Mosquitto(data_dir=tmp_path / "broker", extra_config=f"acl_file {acl}\n")
    broker.start()
    config = msgspec.structs.replace(config, mqtt=MqttConfig(port=broker.port,
                                                             topic_root=topic_root))
    config_path = tmp_path / "edge.toml"
    config_path.write_bytes(to_toml(config))
    try:
        async with _reading(broker.port, topic_root) as received, \
                EdgeAgent(config=config) as agent:
            await until(lambda: agent.uplink.stats.refused.get("not_authorized", 0) >= 3
                        and agent.closed_batches >= 5, "three refusals")
            # the fault happened, and nothing refused counts as delivered
            assert agent.uplink.stats.published_batches == 0
            assert len(agent.queue) == agent.closed_batches
            assert agent.health().refused["not_authorized"] >= 3
            assert received.seqs == []
            # `edge check` names the refused topic
            check = await asyncio.to_thread(subprocess.run, [
                sys.executable, "-m", "plantstream.cli", "edge", "check", "--config",
                str(config_path)], capture_output=True, text=True, timeout=PATIENCE_S)
            assert check.returncode == 1, check.stdout + check.stderr
            assert "not_authorized" in check.stdout and "/batch" in check.stdout
            acl.write_text(_acl(topic_root, config, batches=True))
            _reload(broker)
            refused = agent.uplink.stats.refused["not_authorized"]
            await until(lambda: agent.uplink.stats.published_batches > 0, "a delivery")
            assert await agent.stop(drain_timeout_s=PATIENCE_S)
            closed = agent.closed_batches
            await until(lambda: set(received.seqs) >= set(range(closed)),
                        "every seq delivered")
    finally:
        broker.stop()
    assert sorted(set(received.seqs)) == list(range(closed))
    warnings = [r for r in caplog.records if "refuses publishes" in r.getMessage()]
    assert len(warnings) == 1 and "not_authorized" in warnings[0].getMessage()
    assert refused >= 3


async def test_batches_over_the_message_size_limit_are_delivered_once_it_is_raised(
        topic_root: str, tmp_path: Path) -> None:
    broker = Mosquitto(data_dir=tmp_path / "broker", extra_config="message_size_limit 600\n")
    broker.start()
    config = _config(broker.port, topic_root, tmp_path / "edge")
    try:
        async with _reading(broker.port, topic_root) as received, \
                EdgeAgent(config=config) as agent:
            await until(lambda: agent.uplink.stats.refused.get("packet_too_large", 0) >= 3,
                        "three refusals")
            assert agent.uplink.stats.published_batches == 0
            assert len(agent.queue) == agent.closed_batches
            assert agent.health().refused["packet_too_large"] >= 3
            await until(lambda: agent.uplink.stats.rtt_ms is not None,
                        "health flows beside the refused batches")
            broker.extra_config = "message_size_limit 0\n"
            _reload(broker)
            await until(lambda: agent.uplink.stats.published_batches > 0, "a delivery")
            assert await agent.stop(drain_timeout_s=PATIENCE_S)
            closed = agent.closed_batches
            closed_samples = agent.closed_samples
            await until(lambda: set(received.seqs) >= set(range(closed)),
                        "every seq delivered")
    finally:
        broker.stop()
    assert sorted(set(received.seqs)) == list(range(closed))
    assert received.samples >= closed_samples  # nothing was shed to get them through


# 700 bytes: above every batch without its raw samples (at most ~605 bytes of payload plus
# the topic and MQTT headers), below every batch with them (~700 bytes of payload and more)
async def test_batches_over_the_connack_maximum_packet_size_shed_samples_first(
        topic_root: str, tmp_path: Path) -> None:
    broker = Mosquitto(data_dir=tmp_path / "broker", extra_config="max_packet_size 700\n")
    broker.start()
    config = _config(broker.port, topic_root, tmp_path / "edge")
    try:
        async with _reading(broker.port, topic_root) as received, \
                EdgeAgent(config=config) as agent:
            await until(lambda: agent.closed_batches >= 10, "ten batches")
            assert await agent.stop(drain_timeout_s=PATIENCE_S)
            closed = agent.closed_batches
            await until(lambda: set(received.seqs) >= set(range(closed)),
                        "every seq delivered")
            assert agent.uplink.max_packet_size == 700
            shed = agent.shed_samples
            assert shed > 0  # the fault happened: batches were too large
    finally:
        broker.stop()
    assert sorted(set(received.seqs)) == list(range(closed))
    assert received.samples == agent.closed_samples - shed
