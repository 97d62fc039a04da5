"""The `plantstream demo` and `plantstream stack` commands (local development only)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

from plantstream.devstack.services import Stopped, stack, stop_on_signals

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _register_demo(sub)
    stack = sub.add_parser(
        "stack", help="run local Mosquitto and InfluxDB until Ctrl-C",
        description="Run Mosquitto and InfluxDB until Ctrl-C, SIGTERM or SIGHUP, then stop "
                    "both.")
    stack.add_argument("--state-dir", type=Path, default=Path(".plantstream"),
                       help="data directory (default .plantstream, the demo's)")
    stack.set_defaults(handler=_stack)


def _register_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo", help="run a simulated plant on a local stack and show it live",
        description="Start Mosquitto and InfluxDB (unless given), simulated gateways and an "
                    "ingest worker; show progress, per-line OEE and energy; print a summary.")
    parser.add_argument("--duration", type=_positive, default=60.0,
                        help="wall-clock seconds to run (default 60)")
    parser.add_argument("--machines", type=_positive_int, default=24,
                        help="simulated machines, spread over three lines (default 24)")
    parser.add_argument("--speedup", type=_positive, default=480.0,
                        help="simulated seconds per wall second (default 480: a shift a minute)")
    parser.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")
    parser.add_argument("--state-dir", type=Path, default=Path(".plantstream"),
                        help="where services keep their data and configs (default .plantstream)")
    parser.add_argument("--database", default="plantstream", help="InfluxDB database")
    parser.add_argument("--mqtt-port", type=int, default=None,
                        help="use a broker already running on 127.0.0.1:PORT")
    parser.add_argument("--influx-url", default=None,
                        help="use an InfluxDB already running at URL (v1 API)")
    parser.add_argument("--lang", type=_lang, default="en",
                        help="language of the tables, previews and report: en or zh-CN")
    parser.set_defaults(handler=_demo)


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def _lang(text: str) -> str:
    from plantstream.i18n import parse_lang

    try:
        return parse_lang(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _demo(args: argparse.Namespace) -> int:
    """SIGTERM, SIGINT or SIGHUP stop the demo and every process it started."""
    with stop_on_signals() as request:
        try:
            from plantstream.devstack.demo import run_demo  # edge, ingest and analytics

            return run_demo(args)
        except* (Stopped, asyncio.CancelledError):  # (from asyncio.run: in a group)
            if request.signum is None:
                raise
        with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
            print(f"demo stopped by {signal.Signals(request.signum).name}; every process "
                  "it started is stopped", flush=True)
        return 128 + request.signum


def _stack(args: argparse.Namespace) -> int:
    """Until SIGTERM, SIGINT or SIGHUP; then both services are stopped (exit 0)."""
    with stop_on_signals():
        try:
            with stack(args.state_dir.resolve()) as (broker, influx):
                print(f"mosquitto 127.0.0.1:{broker.port} (pid {broker.pid})")
                print(f"influxdb  {influx.url} (pid {influx.pid}); Ctrl-C to stop", flush=True)
                while True:
                    signal.pause()
        except Stopped as stop:
            with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
                print(f"stopped by {signal.Signals(stop.signum).name}: mosquitto and "
                      "influxdb are stopped", flush=True)
    return 0
