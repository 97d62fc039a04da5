"""`plantstream bench PART`: benchmarks that print figures beside same-run baselines.

Each part registers its benchmark here (explicit dict, module:function). A benchmark
ends with one line of space-separated key=value pairs.
"""

from __future__ import annotations

import argparse
import importlib

__all__ = ["BENCHMARKS", "register"]

# part -> "module:function(args) -> int"
BENCHMARKS: dict[str, str] = {
    "analytics": "plantstream.bench.analytics:run",
    "edge": "plantstream.bench.edge:run",
    "ingest": "plantstream.bench.ingest:run",
    "reports": "plantstream.bench.reports:run",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("bench", help="run a benchmark and print its figures")
    parser.add_argument("part", choices=sorted(BENCHMARKS) or ["(none yet)"],
                        help="what to measure")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="how long a sustained-load benchmark runs (default 20)")
    parser.add_argument("--backlog-samples", type=int, default=5_000_000,
                        help="ingest: samples published before the open-loop run "
                             "(0: no open loop; default 5,000,000)")
    parser.add_argument("--workers", type=int, default=1,
                        help="ingest: worker processes in the open-loop run (default 1)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    module_name, function = BENCHMARKS[args.part].split(":")
    return int(getattr(importlib.import_module(module_name), function)(args))
