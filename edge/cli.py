"""`plantstream edge run|check`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sqlite3
import time

from plantstream.edge.agent import EdgeAgent
from plantstream.edge.config import EdgeConfig, load_edge_config
from plantstream.edge.sources import build_source
from plantstream.errors import PlantStreamError
from plantstream.mqttack import AckingClient, acking_client, is_refusal, reason_name
from plantstream.sdnotify import notify, watchdog_forever
from plantstream.signals import stop_event
from plantstream.topics import Topics

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("edge", help="the gateway agent (machines -> MQTT)")
    commands = parser.add_subparsers(dest="edge_command", metavar="COMMAND", required=True)
    run = commands.add_parser("run", help="run the agent until SIGTERM")
    run.add_argument("--config", required=True, help="edge configuration (TOML)")
    run.add_argument("--drain-timeout", type=float, default=30.0,
                     help="seconds to deliver queued batches on SIGTERM (default 30);"
                          " what is left stays on disk for the next start")
    run.set_defaults(handler=_run)
    check = commands.add_parser("check", help="validate config, reach sources and broker; exit 0/1")
    check.add_argument("--config", required=True, help="edge configuration (TOML)")
    check.set_defaults(handler=_check)


def _run(args: argparse.Namespace) -> int:
    config = load_edge_config(args.config)

    async def main() -> None:
        stop = stop_event()
        async with EdgeAgent(config=config) as agent, asyncio.TaskGroup() as tasks:
            watchdog = tasks.create_task(watchdog_forever(), name="edge-watchdog")
            notify("READY=1")
            await stop.wait()
            notify("STOPPING=1")
            log.info("edge: stopping, delivering queued batches")
            await agent.stop(drain_timeout_s=args.drain_timeout)
            watchdog.cancel()

    asyncio.run(main())
    return 0


def _check(args: argparse.Namespace) -> int:
    try:
        config = load_edge_config(args.config)
    except PlantStreamError as exc:
        print(f"config  FAIL {exc}")
        return 1
    print(f"config  ok   gateway {config.gateway.id} on site {config.gateway.site}, "
          f"{len(config.sources)} source(s)")
    ok = True

    async def probe() -> None:
        nonlocal ok
        now_ms = int(time.time() * 1000)
        for source in (build_source(s, start_ms=now_ms) for s in config.sources):
            try:
                async with source:
                    check = getattr(source, "check", None)
                    if check is not None:  # sources that can probe their devices do
                        await check()
                    print(f"source  ok   {source.name}")
            except Exception as exc:  # report any failure to connect, whatever its kind
                ok = False
                print(f"source  FAIL {source.name}: {exc}")
        try:
            async with acking_client(config.mqtt,
                                     identifier=f"edge-{config.gateway.id}-check") as client:
                print(f"broker  ok   {config.mqtt.host}:{config.mqtt.port}")
                ok = await _probe_batch_topic(client, config) and ok
        except Exception as exc:  # report any failure to connect, whatever its kind
            ok = False
            print(f"broker  FAIL {config.mqtt.host}:{config.mqtt.port}: {exc}")

    asyncio.run(probe())
    return 0 if ok else 1


async def _probe_batch_topic(client: AckingClient, config: EdgeConfig) -> bool:
    """Does the broker take the gateway's batches? Published again: the newest batch on
    disk (ingest writes are idempotent, so a batch delivered twice changes nothing)."""
    gw = config.gateway
    topic = Topics(root=config.mqtt.topic_root).gateway(site=gw.site, gateway=gw.id).batch
    path = config.state_path / "queue.sqlite"
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT payload FROM batches ORDER BY seq DESC LIMIT 1").fetchone()
    except sqlite3.Error:
        row = None
    if row is None:
        print(f"topic   skip {topic}: no batch on disk to probe it with")
        return True
    code = await client.publish_acked(topic, bytes(row[0]), timeout=10.0)
    if is_refusal(code):
        print(f"topic   FAIL {topic}: the broker refuses it: {reason_name(code)} (0x{code:02x})")
        return False
    print(f"topic   ok   {topic}")
    return True
