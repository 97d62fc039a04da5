"""`plantstream ingest run|check`."""

from __future__ import annotations

import argparse
import asyncio
import logging

import httpx

from plantstream.errors import ConfigError, PlantStreamError
from plantstream.ingest.config import load_ingest_config
from plantstream.ingest.worker import IngestWorker, tune_gc
from plantstream.ingest.workers import run_workers
from plantstream.mqtt import mqtt_client
from plantstream.signals import stop_event
from plantstream.store.influxql import InfluxQL
from plantstream.store.migrate_samples import migrate_samples
from plantstream.store.writer import LineWriter

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("ingest", help="the ingest tier (MQTT -> analytics -> InfluxDB)")
    commands = parser.add_subparsers(dest="ingest_command", metavar="COMMAND", required=True)
    run = commands.add_parser("run", help="run one ingest worker until SIGTERM")
    run.add_argument("--config", required=True, help="ingest configuration (TOML)")
    run.add_argument("--worker", default=None,
                     help="worker id (MQTT client id and spool file); overrides the config,"
                          " e.g. the pod or host name of a replica")
    run.add_argument("--drain-timeout", type=float, default=10.0,
                     help="seconds to finish in-flight work on SIGTERM (default 10)")
    run.add_argument("--workers", type=int, default=1,
                     help="worker processes on the shared subscription, ids <worker>-1 .. "
                          "<worker>-N (default 1: this process, id <worker>)")
    run.set_defaults(handler=_run)
    check = commands.add_parser(
        "check", help="validate config, reach broker and InfluxDB; exit 0/1")
    check.add_argument("--config", required=True, help="ingest configuration (TOML)")
    check.set_defaults(handler=_check)
    migrate = commands.add_parser(
        "migrate-samples", help="one-off: rewrite raw samples of schema v1 as schema v2 "
                                "(docs/schema.md) and drop the v1 series")
    migrate.add_argument("--config", required=True, help="ingest configuration (TOML)")
    migrate.add_argument("--keep-v1", action="store_true",
                         help="write the v2 points but keep the v1 series")
    migrate.set_defaults(handler=_migrate)


def _run(args: argparse.Namespace) -> int:
    if args.workers < 1 or args.workers > 64:
        raise ConfigError(source="--workers", key="workers", reason="1 to 64 processes")
    if args.workers > 1:
        return run_workers(args.config, args.workers, worker=args.worker,
                           drain_timeout=args.drain_timeout)
    config, plant = load_ingest_config(args.config, worker=args.worker)

    async def main() -> None:
        stop = stop_event()
        async with IngestWorker(config=config, plant=plant) as worker:
            tune_gc()
            await stop.wait()
            log.info("ingest: stopping, draining in-flight work")
            await worker.stop(timeout_s=args.drain_timeout)

    asyncio.run(main())
    return 0


def _migrate(args: argparse.Namespace) -> int:
    config, _ = load_ingest_config(args.config)
    influx = config.influx
    password = influx.password.reveal() if influx.password else None
    with InfluxQL(url=influx.url, database=influx.database, username=influx.username,
                  password=password, timeout_s=max(influx.timeout_s, 300.0)) as q, \
            LineWriter.from_config(influx) as writer:
        read, written = migrate_samples(q, writer, drop=not args.keep_v1)
    print(f"sample: {read:,} schema v1 samples rewritten as {written:,} schema v2 points"
          + ("" if args.keep_v1 else "; v1 series dropped"))
    return 0


def _check(args: argparse.Namespace) -> int:
    ok = True
    try:
        config, plant = load_ingest_config(args.config)
    except PlantStreamError as exc:
        print(f"config   FAIL {exc}")
        return 1
    print(f"config   ok   {len(plant.machines)} machines, {len(plant.gateways)} gateways")

    async def broker() -> None:
        async with mqtt_client(config.mqtt, identifier=f"{config.worker}-check"):
            pass

    try:
        asyncio.run(broker())
        print(f"broker   ok   {config.mqtt.host}:{config.mqtt.port}")
    except Exception as exc:  # report any failure to connect, whatever its kind
        ok = False
        print(f"broker   FAIL {config.mqtt.host}:{config.mqtt.port}: {exc}")
    influx = config.influx
    try:
        auth = ((influx.username, influx.password.reveal())
                if influx.username and influx.password else None)
        r = httpx.post(f"{influx.url.rstrip('/')}/query", data={"q": "SHOW DATABASES"},
                       auth=auth, timeout=5.0)
        r.raise_for_status()
        names = [v[0] for s in r.json()["results"][0].get("series", []) for v in s["values"]]
        state = "exists" if influx.database in names else "will be created"
        print(f"influxdb ok   {influx.url} database {influx.database!r} {state}")
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        ok = False
        print(f"influxdb FAIL {influx.url}: {exc}")
    return 0 if ok else 1
