"""`plantstream rollups kpi|energy|dual-control`: every rollup job, one command group.

- `kpi` (reads ingest.toml): kpi_1m / kpi_1h / kpi_shift / kpi_1d per machine, line and
  site, and the windows late batches marked dirty;
- `energy` (reads reports.toml): energy_1d / production_1d / energy_1mo per site;
- `dual-control` (reads reports.toml): the daily `dual_control` point the dashboards read;
- `each-mu` (reads reports.toml): a jurisdiction's "Each Mu is a Hero" evaluation points.

The old spellings `plantstream ingest rollup`, `plantstream reports rollup` and
`plantstream reports dual-control` still work for one release (core/cli.py ALIASES).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import os
from pathlib import Path
from zoneinfo import ZoneInfo

from plantstream.errors import StoreError
from plantstream.ingest.config import load_ingest_config
from plantstream.reports.config import load_report_config
from plantstream.rollups.kpi import RollupJob
from plantstream.signals import stop_event

__all__ = ["register"]

log = logging.getLogger(__name__)

DEFAULT_REPORTS_CONFIG = os.environ.get("PLANTSTREAM_REPORTS_CONFIG", "reports.toml")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("rollups", help="roll up KPIs, daily energy and dual control")
    commands = parser.add_subparsers(dest="rollups_command", metavar="JOB", required=True)
    _register_kpi(commands)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", type=Path, default=Path(DEFAULT_REPORTS_CONFIG),
                       help=f"report configuration TOML (default {DEFAULT_REPORTS_CONFIG})")
        return p

    energy = with_config(commands.add_parser("energy", help="(re)compute daily energy rollups"))
    energy.add_argument("--site", required=True)
    energy.add_argument("--from", dest="start", type=dt.date.fromisoformat, required=True)
    energy.add_argument("--to", dest="end", type=dt.date.fromisoformat, required=True,
                        help="last day, included")
    energy.set_defaults(handler=_rollup)
    dual = with_config(commands.add_parser(
        "dual-control", help="write the daily dual_control point the dashboards read"))
    dual.add_argument("--site", required=True)
    dual.add_argument("--day", type=dt.date.fromisoformat,
                      help="local day (default: yesterday in the site's zone)")
    dual.set_defaults(handler=_dual_control)
    each_mu = with_config(commands.add_parser(
        "each-mu", help="write a jurisdiction's each_mu points the dashboard reads"))
    each_mu.add_argument("--jurisdiction", required=True)
    each_mu.add_argument("--period", required=True, help="YYYY or YYYY-MM (year to date)")
    each_mu.set_defaults(handler=_each_mu)


def _register_kpi(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "kpi", help="roll up KPIs per minute, hour, shift and day (and dirty windows)")
    parser.add_argument("--config", required=True, help="ingest configuration (TOML)")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument("--interval", type=float, default=None,
                        help="seconds between passes (default: [rollup] interval_s)")
    parser.set_defaults(handler=_kpi)


def _kpi(args: argparse.Namespace) -> int:
    config, plant = load_ingest_config(args.config)
    interval = float(args.interval) if args.interval else config.rollup.interval_s
    with RollupJob(influx=config.influx, plant=plant, settings=config.rollup) as job:
        if args.once:
            report = job.run_once()
            print(f"rolled {report.rolled} recomputed {report.recomputed} "
                  f"markers_done={report.markers_done} points={report.points}")
            return 0
        async def forever() -> None:
            stop = stop_event()
            while not stop.is_set():
                try:
                    report = await asyncio.to_thread(job.run_once)
                    log.info("rollup: %d points, %d dirty markers done", report.points,
                             report.markers_done)
                except StoreError as exc:
                    log.warning("rollup: InfluxDB not reachable (%s); retrying", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)

        asyncio.run(forever())
    return 0


def _rollup(args: argparse.Namespace) -> int:
    from plantstream.reports.compute import resolve_scope
    from plantstream.rollups.energy import rollup_daily

    loaded = load_report_config(args.config)
    scope = resolve_scope(loaded, args.site)
    settings = loaded.config.influx
    with settings.client() as client:
        rollup_daily(client, sites=scope.sites, start=args.start,
                     end=args.end + dt.timedelta(days=1), zone=ZoneInfo(scope.zone.key))
    return 0


def _dual_control(args: argparse.Namespace) -> int:
    from plantstream.reports.compute import resolve_scope
    from plantstream.reports.source import Source
    from plantstream.rollups.dual_control import write_dual_control

    loaded = load_report_config(args.config)
    settings = loaded.config.influx
    day = args.day or (dt.datetime.now(tz=resolve_scope(loaded, args.site).zone).date()
                       - dt.timedelta(days=1))
    with settings.client() as client:
        print(write_dual_control(loaded, Source(client=client, kind=settings.source),
                                 site=args.site, day=day))
    return 0


def _each_mu(args: argparse.Namespace) -> int:
    from plantstream.reports.mu.report import parse_each_mu_period
    from plantstream.reports.source import Source
    from plantstream.rollups.each_mu import write_each_mu

    loaded = load_report_config(args.config)
    settings = loaded.config.influx
    with settings.client() as client:
        lines = write_each_mu(loaded, Source(client=client, kind=settings.source),
                              jurisdiction_id=args.jurisdiction,
                              period=parse_each_mu_period(args.period))
    print(f"{len(lines)} points written")
    return 0
