"""`plantstream report energy | each-mu`: one report to a file (json, csv or pdf)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from plantstream.influxql import InfluxQL
from plantstream.reports.compute import build_report
from plantstream.reports.config import load_report_config
from plantstream.reports.document import report_csv, report_json
from plantstream.reports.pdf import report_pdf
from plantstream.reports.periods import parse_period
from plantstream.reports.source import Source

__all__ = ["DEFAULT_CONFIG", "register"]

DEFAULT_CONFIG = os.environ.get("PLANTSTREAM_REPORTS_CONFIG", "reports.toml")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("report", help="produce a regulator report to a file")
    kinds = parser.add_subparsers(dest="report_kind", metavar="KIND", required=True)
    energy = kinds.add_parser("energy", help="energy-intensity and dual-control report")
    target = energy.add_mutually_exclusive_group(required=True)
    target.add_argument("--site", help="site id")
    target.add_argument("--enterprise", help="enterprise id")
    energy.add_argument("--period", required=True,
                        help="YYYY-MM-DD, YYYY-MM, YYYY-Qn, YYYY or YYYY-MM-DD..YYYY-MM-DD")
    energy.add_argument("--format", choices=("json", "csv", "pdf"), default="json")
    energy.add_argument("-o", "--output", type=Path, help="file to write (default stdout)")
    energy.add_argument("--as-of", type=dt.date.fromisoformat,
                        help="last local day of data to use (default: yesterday)")
    energy.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG),
                        help=f"report configuration TOML (default {DEFAULT_CONFIG}, "
                             "or $PLANTSTREAM_REPORTS_CONFIG)")
    energy.set_defaults(handler=_energy)
    each_mu = kinds.add_parser("each-mu", help="Each Mu is a Hero: a jurisdiction's evaluation")
    each_mu.add_argument("--jurisdiction", required=True, help="jurisdiction id")
    each_mu.add_argument("--period", required=True,
                         help="YYYY (the year) or YYYY-MM (year to date, January to MM)")
    each_mu.add_argument("--format", choices=("json", "csv", "pdf"), default="json")
    each_mu.add_argument("-o", "--output", type=Path, help="file to write (default stdout)")
    each_mu.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG),
                         help=f"report configuration TOML (default {DEFAULT_CONFIG})")
    each_mu.set_defaults(handler=_each_mu)


def _energy(args: argparse.Namespace) -> int:
    loaded = load_report_config(args.config)
    period = parse_period(args.period)
    settings = loaded.config.influx
    with InfluxQL(url=settings.url, database=settings.database,
                  timeout_s=settings.timeout_s) as client:
        report = build_report(loaded, Source(client=client, kind=settings.source),
                              scope_id=args.site or args.enterprise, period=period,
                              as_of=args.as_of)
    if args.format == "csv":
        body, digest = report_csv(report)
    else:
        body, digest = report_json(report)
        if args.format == "pdf":
            body = report_pdf(report, digest)
    if args.output is None:
        sys.stdout.buffer.write(body)
    else:
        args.output.write_bytes(body)
        print(f"{args.output}: {len(body)} bytes, content sha256 {digest}", file=sys.stderr)
    return 0


def _each_mu(args: argparse.Namespace) -> int:
    from plantstream.reports.mu.document import render_jurisdiction
    from plantstream.reports.mu.report import build_jurisdiction_report, parse_each_mu_period

    loaded = load_report_config(args.config)
    settings = loaded.config.influx
    with InfluxQL(url=settings.url, database=settings.database,
                  timeout_s=settings.timeout_s) as client:
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
