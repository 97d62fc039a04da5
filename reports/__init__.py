"""Regulator reports: energy intensity and dual control, JSON / CSV / PDF, pull API."""

from plantstream.reports.canonical import canonical_bytes, seal, verify
from plantstream.reports.compute import build_report, resolve_scope
from plantstream.reports.config import LoadedConfig, ReportConfig, hash_token, load_report_config
from plantstream.reports.document import report_csv, report_json
from plantstream.reports.errors import ReportInputError
from plantstream.reports.model import Report, report_schema
from plantstream.reports.periods import Period, parse_period
from plantstream.reports.realtime import Feed, realtime_feed
from plantstream.reports.source import Source

__all__ = [
    "Feed",
    "LoadedConfig",
    "Period",
    "Report",
    "ReportConfig",
    "ReportInputError",
    "Source",
    "build_report",
    "canonical_bytes",
    "hash_token",
    "load_report_config",
    "parse_period",
    "realtime_feed",
    "report_csv",
    "report_json",
    "report_schema",
    "resolve_scope",
    "seal",
    "verify",
]
