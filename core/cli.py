"""The `plantstream` command line.

Subcommands are an explicit registry: name -> module exposing
`register(subparsers: argparse._SubParsersAction) -> None`. Modules are imported only
when the command line is built, so a gateway (`plantstream[edge]`) never imports the
server-side parts it does not have: a missing optional dependency hides that command.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from plantstream import __version__
from plantstream.errors import PlantStreamError

__all__ = ["main"]

# command name -> module with register(subparsers)
COMMANDS: dict[str, str] = {
    "demo": "plantstream.demo",
    "edge": "plantstream.edge.cli",
    "ingest": "plantstream.ingest.cli",
    "bench": "plantstream.bench",
    "stack": "plantstream.stackcli",
    "wire-schema": "plantstream.wirecli",
    "broker": "plantstream.broker",
    "dashboards": "plantstream.dashboards.cli",
    "report": "plantstream.reports.cli",
    "reports": "plantstream.reports.server_cli",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given the arguments, only the chosen command's module is imported
    (a gateway running `edge run` never loads the server-side parts, and start-up stays
    fast). Without a known command (top-level --help), every command is listed."""
    parser = argparse.ArgumentParser(
        prog="plantstream",
        description="5G industrial-internet telemetry for smart factories.")
    parser.add_argument("--version", action="version", version=f"plantstream {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((a for a in (argv or []) if not a.startswith("-")), None)
    commands = {chosen: COMMANDS[chosen]} if chosen in COMMANDS else COMMANDS
    for name, module_name in commands.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:  # an optional extra is not installed here
            unavailable = sub.add_parser(name, help=f"(unavailable: {exc.name} missing)")
            unavailable.set_defaults(handler=_unavailable(name, str(exc.name)))
            continue
        module.register(sub)
    return parser


def _unavailable(name: str, missing: str) -> object:
    def handler(_: argparse.Namespace) -> int:
        print(f"plantstream {name}: needs {missing}; install plantstream[server]",
              file=sys.stderr)
        return 2
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments)
    args = parser.parse_args(arguments)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except PlantStreamError as exc:
        print(f"plantstream {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
