"""`plantstream reports ...`: the regulator's reports and the pull API.

    reports energy    one energy-intensity and dual-control report to a file
    reports each-mu   a jurisdiction's "Each Mu is a Hero" evaluation to a file
    reports serve     the pull API (uvicorn); check, schema, openapi, hash-token

`plantstream report energy` (the old spelling) still works for one release.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import sys
from pathlib import Path

from plantstream.errors import StoreError
from plantstream.i18n import LANGS, lang_argument
from plantstream.reports.compute import build_report
from plantstream.reports.config import hash_token, load_report_config
from plantstream.reports.document import report_csv, report_json
from plantstream.reports.model import report_schema
from plantstream.reports.pdf import report_pdf
from plantstream.reports.periods import parse_period
from plantstream.reports.source import Source

__all__ = ["DEFAULT_CONFIG", "register"]

DEFAULT_CONFIG = os.environ.get("PLANTSTREAM_REPORTS_CONFIG", "reports.toml")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("reports", help="regulator reports and the pull API")
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
    _register_energy(commands)
    _register_each_mu(commands)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from plantstream.reports.server import create_app

    loaded = load_report_config(args.config)
    settings = loaded.config.influx
    with settings.client() as client:
        app = create_app(loaded=loaded, client=client)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _check(args: argparse.Namespace) -> int:
    loaded = load_report_config(args.config)
    settings = loaded.config.influx
    try:
        with settings.client(timeout_s=5.0) as client:
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
    with loaded.config.influx.client() as c:
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


def _register_energy(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    energy = kinds.add_parser("energy", help="energy-intensity and dual-control report")
    target = energy.add_mutually_exclusive_group(required=True)
    target.add_argument("--site", help="site id")
    target.add_argument("--enterprise", help="enterprise id")
    energy.add_argument("--period", required=True,
                        help="YYYY-MM-DD, YYYY-MM, YYYY-Qn, YYYY or YYYY-MM-DD..YYYY-MM-DD")
    energy.add_argument("--format", choices=("json", "csv", "pdf"), default="json")
    energy.add_argument("--lang", type=lang_argument, default="en", metavar="|".join(LANGS),
                        help="language of the CSV labels and the PDF (default en); the JSON "
                             "and its content hash are the same in every language")
    energy.add_argument("-o", "--output", type=Path, help="file to write (default stdout)")
    energy.add_argument("--as-of", type=dt.date.fromisoformat,
                        help="last local day of data to use (default: yesterday)")
    energy.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG),
                        help=f"report configuration TOML (default {DEFAULT_CONFIG}, "
                             "or $PLANTSTREAM_REPORTS_CONFIG)")
    energy.set_defaults(handler=_energy)


def _energy(args: argparse.Namespace) -> int:
    loaded = load_report_config(args.config)
    period = parse_period(args.period)
    settings = loaded.config.influx
    with settings.client() as client:
        report = build_report(loaded, Source(client=client, kind=settings.source),
                              scope_id=args.site or args.enterprise, period=period,
                              as_of=args.as_of)
    if args.format == "csv":
        body, digest = report_csv(report, args.lang)
    else:
        body, digest = report_json(report)
        if args.format == "pdf":
            body = report_pdf(report, digest, args.lang)
    if args.output is None:
        sys.stdout.buffer.write(body)
    else:
        args.output.write_bytes(body)
        print(f"{args.output}: {len(body)} bytes, content sha256 {digest}", file=sys.stderr)
    return 0


def _register_each_mu(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    each_mu = kinds.add_parser("each-mu", help="Each Mu is a Hero: a jurisdiction's evaluation")
    each_mu.add_argument("--jurisdiction", required=True, help="jurisdiction id")
    each_mu.add_argument("--period", required=True,
                         help="YYYY (the year) or YYYY-MM (year to date, January to MM)")
    each_mu.add_argument("--format", choices=("json", "csv", "pdf"), default="json")
    each_mu.add_argument("-o", "--output", type=Path, help="file to write (default stdout)")
    each_mu.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG),
                         help=f"report configuration TOML (default {DEFAULT_CONFIG})")
    each_mu.set_defaults(handler=_each_mu)


def _each_mu(args: argparse.Namespace) -> int:
    from plantstream.reports.mu.document import render_jurisdiction
    from plantstream.reports.mu.report import build_jurisdiction_report, parse_each_mu_period

    loaded = load_report_config(args.config)
    settings = loaded.config.influx
    with settings.client() as client:
        report = build_jurisdiction_report(
            loaded, Source(client=client, kind=settings.source),
            jurisdiction_id=args.jurisdiction, period=parse_each_mu_period(args.period))
    body, digest = render_jurisdiction(report, args.format)
    if args.output is None:
        sys.stdout.buffer.write(body)
    else:
        args.output.write_bytes(body)
        print(f"{args.output}: {len(body)} bytes, content sha256 {digest}", file=sys.stderr)
    return 0
