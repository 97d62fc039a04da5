"""`plantstream stack`: run the local Mosquitto + InfluxDB (e.g. the demo's data)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from pathlib import Path

from plantstream.localstack import stack

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("stack", help="run local Mosquitto and InfluxDB until Ctrl-C")
    parser.add_argument("--state-dir", type=Path, default=Path(".plantstream"),
                        help="data directory (default .plantstream, the demo's)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with stack(args.state_dir.resolve()) as (broker, influx):
        print(f"mosquitto 127.0.0.1:{broker.port} (pid {broker.pid})")
        print(f"influxdb  {influx.url} (pid {influx.pid}); Ctrl-C to stop")
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()
    return 0
