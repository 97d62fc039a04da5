"""`plantstream wire-schema`: print the JSON Schema of wire format v1."""

from __future__ import annotations

import argparse
import json

from plantstream.wire import json_schema

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("wire-schema", help="print the JSON Schema of wire format v1")
    parser.set_defaults(handler=_run)


def _run(_: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2, sort_keys=True))
    return 0
