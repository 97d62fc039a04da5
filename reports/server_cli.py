"""`plantstream reports serve | check | schema | openapi | hash-token | rollup |
dual-control | each-mu-points`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import secrets
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from plantstream.errors import StoreError
from plantstream.influxql import InfluxQL
from plantstream.reports.cli import DEFAULT_CONFIG
from plantstream.reports.config import hash_token, load_report_config
from plantstream.reports.model import report_schema

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("reports", help="the regulator pull API and its tools")
    commands = parser.add_subparsers(dest="reports_command", metavar="COMMAND", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG),
                       help=f"report configuration TOML (default {DEFAULT_CONFIG})")
        return p

    serve = with_config(commands.add_parser("serve", help="run the pull API (uvicorn)"))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8600)
    serve.set_defaults(handler=_serve)
    check = with_config(commands.add_parser(
        "check", help="validate the configuration and reach InfluxDB; exit 0 or 1"))
    check.set_defaults(handler=_check)
    schema = commands.add_parser("schema", help="print the report's JSON Schema")
    schema.add_argument("--each-mu", action="store_true",
                        help="the Each Mu is a Hero jurisdiction report's schema instead")
    schema.set_defaults(handler=_schema)
    openapi = with_config(commands.add_parser("openapi", help="print the OpenAPI spec"))
    openapi.set_defaults(handler=_openapi)
    token = commands.add_parser("hash-token", help="make a new token (or hash one from stdin)")
    token.add_argument("--stdin", action="store_true", help="hash the token read from stdin")
    token.set_defaults(handler=_hash_token)
    rollup = with_config(commands.add_parser("rollup", help="(re)compute daily rollups"))
    rollup.add_argument("--site", required=True)
    rollup.add_argument("--from", dest="start", type=dt.date.fromisoformat, required=True)
    rollup.add_argument("--to", dest="end", type=dt.date.fromisoformat, required=True,
                        help="last day, included")
    rollup.set_defaults(handler=_rollup)
    dual = with_config(commands.add_parser(
        "dual-control", help="write the daily dual_control point the dashboards read"))
    dual.add_argument("--site", required=True)
    dual.add_argument("--day", type=dt.date.fromisoformat,
                      help="local day (default: yesterday in the site's zone)")
    dual.set_defaults(handler=_dual_control)
    each_mu = with_config(commands.add_parser(
        "each-mu-points", help="write a jurisdiction's each_mu points the dashboard reads"))
    each_mu.add_argument("--jurisdiction", required=True)
    each_mu.add_argument("--period", required=True, help="YYYY or YYYY-MM (year to date)")
    each_mu.set_defaults(handler=_each_mu_points)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from plantstream.reports.server import create_app

    loaded = load_report_config(args.config)
    settings = loaded.config.influx
    with InfluxQL(url=settings.url, database=settings.database,
                  timeout_s=settings.timeout_s) as client:
        app = create_app(loaded=loaded, client=client)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _check(args: argparse.Namespace) -> int:
    loaded = load_report_config(args.config)
    settings = loaded.config.influx
    try:
        with InfluxQL(url=settings.url, database=settings.database, timeout_s=5.0) as client:
            series = client.query("SHOW MEASUREMENTS")
    except StoreError as exc:
        print(f"InfluxDB {settings.url}/{settings.database}: unreachable ({exc.reason})")
        return 1
    names = {v[0] for s in series for v in s.values}
    wanted = {"energy", "production"} | (
        {"energy_1d", "energy_1mo", "energy_site_1d", "production_1d"}
        if settings.source == "rollup" else set())
    print(f"config {args.config}: ok (hash {loaded.config_hash}); "
          f"{sum(len(p.sites) for p in loaded.plants)} sites, "
          f"{len(loaded.config.regulators)} regulators")
    missing = sorted(wanted - names)
    if missing:
        print(f"InfluxDB {settings.url}/{settings.database}: missing {', '.join(missing)}")
        return 1
    print(f"InfluxDB {settings.url}/{settings.database}: ok")
    return 0


def _schema(args: argparse.Namespace) -> int:
    from plantstream.reports.mu.model import jurisdiction_schema

    schema = jurisdiction_schema() if args.each_mu else report_schema()
    print(json.dumps(schema, indent=2, sort_keys=True))
    return 0


def _openapi(args: argparse.Namespace) -> int:
    from plantstream.reports.server import create_app

    loaded = load_report_config(args.config)
    with InfluxQL(url=loaded.config.influx.url, database=loaded.config.influx.database) as c:
        print(json.dumps(create_app(loaded=loaded, client=c).openapi(), indent=2,
                         sort_keys=True))
    return 0


def _hash_token(args: argparse.Namespace) -> int:
    if args.stdin:
        print(hash_token(sys.stdin.readline().strip()))
        return 0
    token = secrets.token_urlsafe(32)
    print(f"token (give to the regulator, store nowhere): {token}")
    print(f'token_sha256 = "{hash_token(token)}"')
    return 0


def _rollup(args: argparse.Namespace) -> int:
    from plantstream.reports.compute import resolve_scope
    from plantstream.reports.rollup import rollup_daily

    loaded = load_report_config(args.config)
    scope = resolve_scope(loaded, args.site)
    settings = loaded.config.influx
    with InfluxQL(url=settings.url, database=settings.database,
                  timeout_s=settings.timeout_s) as client:
        rollup_daily(client, sites=scope.sites, start=args.start,
                     end=args.end + dt.timedelta(days=1), zone=ZoneInfo(scope.zone.key))
    return 0


def _dual_control(args: argparse.Namespace) -> int:
    from plantstream.reports.compute import resolve_scope
    from plantstream.reports.dual_control_points import write_dual_control
    from plantstream.reports.source import Source

    loaded = load_report_config(args.config)
    settings = loaded.config.influx
    day = args.day or (dt.datetime.now(tz=resolve_scope(loaded, args.site).zone).date()
                       - dt.timedelta(days=1))
    with InfluxQL(url=settings.url, database=settings.database,
                  timeout_s=settings.timeout_s) as client:
        print(write_dual_control(loaded, Source(client=client, kind=settings.source),
                                 site=args.site, day=day))
    return 0


def _each_mu_points(args: argparse.Namespace) -> int:
    from plantstream.reports.mu.points import write_each_mu
    from plantstream.reports.mu.report import parse_each_mu_period
    from plantstream.reports.source import Source

    loaded = load_report_config(args.config)
    settings = loaded.config.influx
    with InfluxQL(url=settings.url, database=settings.database,
                  timeout_s=settings.timeout_s) as client:
        lines = write_each_mu(loaded, Source(client=client, kind=settings.source),
                              jurisdiction_id=args.jurisdiction,
                              period=parse_each_mu_period(args.period))
    print(f"{len(lines)} points written")
    return 0
