"""Line protocol primitives shared by every writer: number formatting and escaping.

Points are formatted as plain strings: influxdb-client's `Point` serialises about
150,000 points/s where a formatted string reaches about 1.5 million (DESIGN.md). Tag
values are wire-format ids (`[A-Za-z0-9_.-]`), which need no escaping; string fields are
escaped here.
"""

from __future__ import annotations

__all__ = ["escape_string", "format_float"]


def escape_string(value: str) -> str:
    """A string field value, quoted and escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_float(value: float) -> str:
    """A float field value (always written as a float, so a field never changes type)."""
    return repr(float(value))
