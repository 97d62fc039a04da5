"""Grafana's substitution for InfluxQL queries, done the way Grafana does it, so a
panel's query can be run here exactly as Grafana would send it.

* `$timeFilter` -> `time >= {from}ms and time <= {to}ms` (epoch milliseconds);
* `$__interval` -> the bucket Grafana picks: (to - from) / max data points, rounded
  to a "nice" interval (Grafana's `roundInterval`), never below the panel's or the
  data source's minimum; `$__interval_ms` likewise in milliseconds;
* template variables (`$name`, `${name}`, `[[name]]`): for a multi-value or
  All-capable variable one value is regex-escaped (Grafana's `regexEscape`), several
  become `(a|b)`, All is the variable's `allValue` verbatim (`.*` here); a
  single-value variable without All is inserted as it is;
* a panel's relative time (`timeFrom`: `now/d`, `now/y`, `6h`) replaces the
  dashboard's range, in the dashboard's time zone.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

__all__ = [
    "ALL",
    "BUILTINS",
    "TimeRange",
    "format_interval",
    "grafana_interval",
    "panel_range",
    "regex_escape",
    "render",
    "variables_used",
]

ALL: Final = "$__all"
# Grafana's own variables and macros: never defined in a dashboard's templating
BUILTINS: Final = frozenset({"timeFilter", "__interval", "__interval_ms", "__range",
                             "__from", "__to", "__url_time_range", "__data", "__field",
                             "__value", "__series", "__all", "col", "tag", "__timeFilter"})

# Grafana's variable syntax: $name, [[name:format]], ${name.field:format}
_VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")
# Grafana's roundInterval: (upper bound of the raw interval, rounded interval) in ms
_ROUNDING: Final = (
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1_500, 1_000),
    (3_500, 2_000), (7_500, 5_000), (12_500, 10_000), (17_500, 15_000), (25_000, 20_000),
    (45_000, 30_000), (90_000, 60_000), (210_000, 120_000), (450_000, 300_000),
    (750_000, 600_000), (1_050_000, 900_000), (1_500_000, 1_200_000),
    (2_700_000, 1_800_000), (5_400_000, 3_600_000), (9_000_000, 7_200_000),
    (16_200_000, 10_800_000), (32_400_000, 21_600_000), (86_400_000, 43_200_000),
    (604_800_000, 86_400_000), (1_814_400_000, 604_800_000),
    (3_628_800_000, 2_592_000_000))
_UNITS: Final = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000))
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w|y)$")
_DURATION_MS: Final = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000,
                       "w": 604_800_000, "y": 31_536_000_000}


@dataclass(frozen=True, slots=True)
class TimeRange:
    from_ms: int
    to_ms: int

    def __post_init__(self) -> None:
        if self.to_ms < self.from_ms:
            raise ValueError(f"time range ends before it starts: {self}")

    @property
    def time_filter(self) -> str:
        return f"time >= {self.from_ms}ms and time <= {self.to_ms}ms"


def regex_escape(value: str) -> str:
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


def duration_ms(text: str) -> int:
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not a Grafana duration: {text!r}")
    return int(match.group(1)) * _DURATION_MS[match.group(2)]


def format_interval(ms: int) -> str:
    for suffix, size in _UNITS:
        if ms >= size and ms % size == 0:
            return f"{ms // size}{suffix}"
    return f"{ms}ms"


def grafana_interval(time_range: TimeRange, *, max_data_points: int = 1000,
                     min_interval: str = "") -> int:
    """$__interval in ms: Grafana's rounded interval, at least `min_interval`."""
    raw = (time_range.to_ms - time_range.from_ms) / max(max_data_points, 1)
    rounded = next((nice for bound, nice in _ROUNDING if raw < bound), 31_536_000_000)
    return max(rounded, duration_ms(min_interval)) if min_interval else rounded


def panel_range(dashboard_range: TimeRange, time_from: str, timezone: str) -> TimeRange:
    """The range a panel with relative time `time_from` queries ('' keeps the
    dashboard's). `now/d`, `now/w`, `now/M`, `now/y`: since the start of the current
    day, week, month, year in `timezone`; `6h`: the last six hours."""
    if not time_from:
        return dashboard_range
    now_ms = dashboard_range.to_ms
    if time_from.startswith("now/"):
        # the local calendar period containing the last millisecond of the range
        now = dt.datetime.fromtimestamp(max(now_ms - 1, 0) / 1000, ZoneInfo(timezone))
        unit = time_from[4:]
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        if unit == "w":
            start -= dt.timedelta(days=start.weekday())
        elif unit == "M":
            start = start.replace(day=1)
        elif unit == "y":
            start = start.replace(month=1, day=1)
        elif unit != "d":
            raise ValueError(f"unsupported relative time {time_from!r}")
        return TimeRange(int(start.timestamp() * 1000), now_ms)
    return TimeRange(now_ms - duration_ms(time_from), now_ms)


def _format(variable: Mapping[str, Any], selected: Sequence[str] | str) -> str:
    if selected == ALL or (not isinstance(selected, str) and list(selected) == [ALL]):
        if not variable.get("includeAll"):
            raise ValueError(f"variable {variable['name']!r} has no All option")
        return str(variable.get("allValue") or ".*")
    values = [selected] if isinstance(selected, str) else list(selected)
    if not values:
        raise ValueError(f"variable {variable['name']!r}: no value selected")
    if not variable.get("multi") and not variable.get("includeAll"):
        if len(values) != 1:
            raise ValueError(f"variable {variable['name']!r} takes one value")
        return values[0]
    escaped = [regex_escape(v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def render(query: str, *, time_range: TimeRange, interval_ms: int,
           variables: Sequence[Mapping[str, Any]],
           selection: Mapping[str, Sequence[str] | str]) -> str:
    """`query` with macros and variables substituted as Grafana would send it.

    `variables` are the dashboard's `templating.list`; `selection` maps a variable name
    to its selected values or `ALL`. A variable in the query but not defined, or
    defined but not selected, is an error (Grafana would send the text unreplaced).
    """
    defined = {str(v["name"]): v for v in variables}
    text = query.replace("$timeFilter", time_range.time_filter)
    text = text.replace("$__interval_ms", str(interval_ms))
    text = text.replace("$__interval", format_interval(interval_ms))

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        if name not in defined:
            raise ValueError(f"query uses undefined variable ${name}: {query}")
        if name not in selection:
            raise ValueError(f"no value selected for ${name}")
        return _format(defined[name], selection[name])

    return _VARIABLE.sub(substitute, text)


def variables_used(text: str) -> set[str]:
    """Names of the template variables `text` refers to (Grafana built-ins left out)."""
    names = set()
    for match in _VARIABLE.finditer(text):
        name = match.group(1) or match.group(2) or match.group(4)
        if name and name not in BUILTINS and not name.startswith("__") \
                and not name.startswith("tag_"):
            names.add(name)
    return names
