"""`plantstream dashboards push | export | preview`."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from plantstream.config import PlantConfig, load_plant
from plantstream.dashboards.settings import load_settings
from plantstream.i18n import LANGS, lang_argument

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("dashboards", help="Grafana dashboards: push, export, preview",
                            description="The PlantStream Grafana dashboards (InfluxQL).")
    commands = parser.add_subparsers(dest="dashboards_command", metavar="ACTION", required=True)

    push = commands.add_parser(
        "push", help="create or update folder, data source, dashboards and alert rules in a "
                     "Grafana",
        description="Idempotent: objects are addressed by fixed uids and updated in place.")
    push.add_argument("--url", default=os.environ.get("GRAFANA_URL", "http://localhost:3000"),
                      help="Grafana URL (default $GRAFANA_URL or http://localhost:3000); "
                           "http://user:password@host:3000 for basic auth")
    push.add_argument("--token-env", default="GRAFANA_TOKEN",
                      help="environment variable holding a Grafana service-account token "
                           "(default GRAFANA_TOKEN; unset: use the URL's credentials)")
    push.add_argument("--influx-user", default=None,
                      help="InfluxQL (v1) user the data source queries as")
    push.add_argument("--influx-password-env", default=None,
                      help="environment variable holding that user's password")
    push.add_argument("--influx-token-env", default=None,
                      help="environment variable holding an InfluxDB 2.x/3.x token for the "
                           "data source (InfluxDB 1.x without auth: leave out)")
    push.add_argument("--dry-run", action="store_true",
                      help="print what would be created or updated; contact nothing")
    push.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    push.set_defaults(handler=_push)

    export = commands.add_parser(
        "export", help="write the Grafana provisioning files to DIR (both languages)")
    export.add_argument("directory", type=Path, metavar="DIR")
    export.set_defaults(handler=_export)

    preview = commands.add_parser(
        "preview", help="write PNG previews of the dashboards (matplotlib, real queries)",
        description="Runs every panel query against InfluxDB and draws the results on the "
                    "dashboard's grid with matplotlib. A preview, not a Grafana screenshot.")
    preview.add_argument("directory", type=Path, metavar="DIR")
    preview.add_argument("--influx-url", default="http://127.0.0.1:8086")
    preview.add_argument("--database", default="plantstream")
    preview.add_argument("--hours", type=float, default=8.0,
                         help="window length ending at --end (default 8 h: a shift)")
    preview.add_argument("--end", default=None,
                         help="window end, ISO 8601 (default now; naive = plant time)")
    preview.add_argument("--machine", default=None, help="machine for the Machine dashboard")
    preview.add_argument("--lang", type=lang_argument, default="en", metavar="|".join(LANGS),
                         help="language of the dashboards drawn (default en)")
    preview.set_defaults(handler=_preview)

    for p in (push, export, preview):
        p.add_argument("--config", default=None,
                       help="dashboard settings (TOML); default: the compose stack's")
    for p in (push, export):
        p.add_argument("--plant", default=None,
                       help="plant registry (TOML) the alert rules and thresholds come "
                            "from; default deploy/config/plant.toml")


def _push(args: argparse.Namespace) -> int:
    from plantstream.dashboards.push import push

    settings = load_settings(args.config)
    token = os.environ.get(args.token_env) if args.token_env else None
    influx_token = os.environ.get(args.influx_token_env) if args.influx_token_env else None
    password = os.environ.get(args.influx_password_env) if args.influx_password_env else None
    steps = push(url=args.url, settings=settings, token=token or None,
                 influx_user=args.influx_user, influx_password=password,
                 influx_token=influx_token or None, dry_run=args.dry_run,
                 timeout_s=args.timeout, plant=_plant(args.plant))
    verb = "would create or update" if args.dry_run else "done:"
    for step in steps:
        action = "" if args.dry_run else f" {step.action}"
        print(f"{verb} {step.kind:<10} {step.uid:<24} {step.title}{action}")
    if args.dry_run:
        print(f"dry run: nothing sent to {args.url}")
    return 0


def _plant(path: str | None) -> PlantConfig:
    from plantstream.dashboards.provisioning import DEFAULT_PLANT

    return load_plant(path or DEFAULT_PLANT)


def _export(args: argparse.Namespace) -> int:
    from plantstream.dashboards.provisioning import export

    for path in export(args.directory, load_settings(args.config), _plant(args.plant)):
        print(path)
    return 0


def _preview(args: argparse.Namespace) -> int:
    from plantstream.dashboards.macros import TimeRange
    from plantstream.dashboards.preview import preview
    from plantstream.store.influxql import InfluxQL

    settings = load_settings(args.config)
    if args.end:
        end = dt.datetime.fromisoformat(args.end)
        if end.tzinfo is None:
            end = end.replace(tzinfo=ZoneInfo(settings.timezone))
        end_ms = int(end.timestamp() * 1000)
    else:
        end_ms = int(time.time() * 1000)
    window = TimeRange(end_ms - int(args.hours * 3_600_000), end_ms)
    with InfluxQL(url=args.influx_url, database=args.database) as client:
        for path in preview(args.directory, client, settings=settings, time_range=window,
                            machine=args.machine, lang=args.lang):
            print(f"{path} (preview drawn with matplotlib from the panel queries)")
    return 0
