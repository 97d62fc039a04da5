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

__all__ = ["ALIASES", "COMMANDS", "main", "resolve_alias"]

# command -> the `cli` module of the package that owns it; each such module has one
# `register(subparsers)` that adds every command of its package.
COMMANDS: dict[str, str] = {
    "edge": "plantstream.edge.cli",
    "ingest": "plantstream.ingest.cli",
    "rollups": "plantstream.rollups.cli",
    "reports": "plantstream.reports.cli",
    "dashboards": "plantstream.dashboards.cli",
    "demo": "plantstream.devstack.cli",
    "stack": "plantstream.devstack.cli",
    "broker": "plantstream.ops.cli",
    "wire-schema": "plantstream.ops.cli",
    "bench": "plantstream.bench.cli",
}

# Old spellings, kept for one release: the leading words are rewritten, with a notice.
ALIASES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("report",): ("reports",),
    ("ingest", "rollup"): ("rollups", "kpi"),
    ("reports", "rollup"): ("rollups", "energy"),
    ("reports", "dual-control"): ("rollups", "dual-control"),
}


def resolve_alias(argv: Sequence[str]) -> list[str]:
    """`argv` with an old command spelling replaced by the new one (notice on stderr)."""
    words = list(argv)
    positions = [i for i, a in enumerate(words) if not a.startswith("-")]
    for old, new in sorted(ALIASES.items(), key=lambda item: -len(item[0])):
        if len(positions) >= len(old) and tuple(words[i] for i in positions[:len(old)]) == old:
            if positions[:len(old)] != list(range(positions[0], positions[0] + len(old))):
                continue
            first = positions[0]
            words[first:first + len(old)] = list(new)
            print(f"plantstream: `{' '.join(old)}` is deprecated; use `{' '.join(new)}`",
                  file=sys.stderr)
            break
    return words


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
    for module_name in dict.fromkeys(commands.values()):
        names = [name for name, owner in commands.items() if owner == module_name]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:  # an optional extra is not installed here
            for name in names:
                unavailable = sub.add_parser(name, help=f"(unavailable: {exc.name} missing)")
                unavailable.add_argument("rest", nargs=argparse.REMAINDER,
                                         help=argparse.SUPPRESS)
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
    arguments = resolve_alias(sys.argv[1:] if argv is None else argv)
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
