"""`plantstream edge run|check`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

from plantstream.edge.agent import EdgeAgent
from plantstream.edge.config import load_edge_config
from plantstream.edge.sources import build_source
from plantstream.errors import PlantStreamError
from plantstream.mqtt import mqtt_client
from plantstream.sdnotify import notify, watchdog_forever
from plantstream.signals import stop_event

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
            async with mqtt_client(config.mqtt, identifier=f"edge-{config.gateway.id}-check"):
                print(f"broker  ok   {config.mqtt.host}:{config.mqtt.port}")
        except Exception as exc:  # report any failure to connect, whatever its kind
            ok = False
            print(f"broker  FAIL {config.mqtt.host}:{config.mqtt.port}: {exc}")

    asyncio.run(probe())
    return 0 if ok else 1
