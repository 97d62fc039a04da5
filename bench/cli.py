"""`plantstream bench PART`: benchmarks that print figures beside same-run baselines.

Each part registers its benchmark here (explicit dict, module:function). A benchmark
ends with one line of space-separated key=value pairs.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

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
    parser.add_argument("--workers", type=_positive, default=1,
                        help="ingest: worker processes in the open-loop run (default 1)")
    parser.add_argument("--max-messages", type=_positive_up_to(10_000), default=40,
                        help="ingest: messages per micro-batch at most, the worker's "
                             "[batching] max_messages (default 40: 200,000 samples)")
    parser.add_argument("--writes-in-flight", type=_positive_up_to(64), default=None,
                        help="ingest: the worker's [batching] max_writes_in_flight "
                             "(default: the worker's own default)")
    parser.set_defaults(handler=_run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _positive_up_to(limit: int) -> Callable[[str], int]:
    """The worker's own bound for the setting (plantstream.ingest.config)."""
    def parse(text: str) -> int:
        value = _positive(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"must be at most {limit}, not {value}")
        return value
    return parse


def _run(args: argparse.Namespace) -> int:
    module_name, function = BENCHMARKS[args.part].split(":")
    return int(getattr(importlib.import_module(module_name), function)(args))
