"""`plantstream dashboards preview`: one PNG per dashboard, drawn with matplotlib from
the results of the panels' own InfluxQL queries (substituted as Grafana would) against
a real InfluxDB, laid out on the dashboard's grid.

A preview, not a Grafana screenshot: no Grafana server runs here. Stat, table, bar
gauge, pie, bar chart, time series and state timeline panels are drawn in a plain
style; what they show is what the queries return.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from plantstream.dashboards.catalog import build_all
from plantstream.dashboards.execute import (
    TargetResult,
    run_dashboard,
    run_variables,
)
from plantstream.dashboards.macros import ALL, TimeRange
from plantstream.dashboards.settings import DashboardSettings
from plantstream.i18n import Lang, translator
from plantstream.i18n.fonts import font_family
from plantstream.store.influxql import InfluxQL

__all__ = ["preview", "preview_dashboard"]

log = logging.getLogger(__name__)

_COLOURS = {"green": "#56a64b", "yellow": "#e0b400", "red": "#e02f44", "orange": "#ff9830",
            "blue": "#3274d9", "purple": "#a352cc", "dark-red": "#ad0317",
            "transparent": "#ffffff"}
_PALETTE = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9",
            "#705da0", "#508642", "#cca300"]
ROW_INCHES = 0.42
WIDTH_INCHES = 18.0


def _colour(name: str) -> str:
    return _COLOURS.get(name, name)


def _threshold_colour(field_config: Mapping[str, Any], value: float) -> str | None:
    steps = field_config.get("thresholds", {}).get("steps", [])
    colour = None
    for step in steps:
        if step.get("value") is None or value >= step["value"]:
            colour = step["color"]
    return _colour(colour) if colour else None


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if unit == "percentunit":
        return f"{value * 100:.1f} %"
    if unit == "s":
        return f"{value / 3600:.2f} h" if abs(value) >= 3600 else f"{value:.0f} s"
    suffix = unit.removeprefix("suffix:").strip() if unit.startswith("suffix:") else \
        {"kwatth": "kWh", "kwatt": "kW"}.get(unit, "")
    text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return f"{text} {suffix}".strip()


def _unit_of(p: Mapping[str, Any], column: str) -> str:
    unit = str(p["fieldConfig"]["defaults"].get("unit", ""))
    for o in p["fieldConfig"].get("overrides", []):
        if _matches(o["matcher"], column):
            for prop in o["properties"]:
                if prop["id"] == "unit":
                    unit = str(prop["value"])
    return unit


def _matches(matcher: Mapping[str, Any], name: str) -> bool:
    option = str(matcher.get("options", ""))
    if matcher.get("id") == "byRegexp":
        return re.fullmatch(option, name) is not None
    return option == name


def _label(tags: Mapping[str, str], column: str, many_columns: bool) -> str:
    parts = [v for v in tags.values()]
    if many_columns or not parts:
        parts.append(column)
    return " ".join(parts)


def _stat(ax: Axes, p: Mapping[str, Any], results: Sequence[TargetResult],
          no_data: str = "no data") -> None:
    items = [(_label(s.tags, c, True) if len(r.columns) > 1 or s.tags else c,
              s.column(c)[-1], c) for r in results for s in r.series for c in r.columns]
    ax.axis("off")
    if not items:
        ax.text(0.5, 0.5, no_data, ha="center", va="center", color="grey")
        return
    defaults = p["fieldConfig"]["defaults"]
    size = 22 if len(items) == 1 else max(9, 16 - 2 * len(items))
    for i, (label, value, column) in enumerate(items):
        y = 1 - (i + 0.5) / len(items)
        unit = _unit_of(p, column)
        mapped = _mapped(p, column, value)
        colour = mapped[1] if mapped else (
            _threshold_colour(defaults, value) if isinstance(value, (int, float)) else None)
        text = mapped[0] if mapped else _fmt(value, unit)
        if len(items) > 1:
            ax.text(0.02, y, label, ha="left", va="center", fontsize=9, transform=ax.transAxes)
            ax.text(0.98, y, text, ha="right", va="center", fontsize=size, weight="bold",
                    color=colour or "black", transform=ax.transAxes)
        else:
            ax.text(0.5, 0.45, text, ha="center", va="center", fontsize=size, weight="bold",
                    color=colour or "black", transform=ax.transAxes)


def _mapped(p: Mapping[str, Any], column: str, value: Any) -> tuple[str, str] | None:
    mappings = list(p["fieldConfig"]["defaults"].get("mappings", []))
    for o in p["fieldConfig"].get("overrides", []):
        if o["matcher"].get("options") == column:
            mappings += [m for prop in o["properties"] if prop["id"] == "mappings"
                         for m in prop["value"]]
    for m in mappings:
        option = m.get("options", {}).get(str(value))
        if option:
            return str(option.get("text", value)), _colour(str(option.get("color", "white")))
    return None


def _table(ax: Axes, p: Mapping[str, Any], results: Sequence[TargetResult],
           no_data: str = "no data") -> None:
    ax.axis("off")
    rows: list[list[str]] = []
    header: list[str] = []
    colours: list[list[str]] = []
    for r in results:
        for s in r.series:
            header = [_display_name(p, name) for name in (*s.tags.keys(), *r.columns)]
            for values in s.values[:14]:
                row = dict(zip(s.columns, values, strict=True))
                # a mapped value shows its mapping's text, as Grafana shows it
                rows.append([*(mapped[0] if (mapped := _mapped(p, k, v)) else v
                               for k, v in s.tags.items()), *(
                    mapped[0] if (mapped := _mapped(p, c, row.get(c)))
                    else _fmt(row.get(c), _unit_of(p, c)) for c in r.columns)])
                colours.append(["white"] * len(s.tags) + [
                    (_mapped(p, c, row.get(c)) or ("", "white"))[1] for c in r.columns])
    if not rows:
        ax.text(0.5, 0.5, no_data, ha="center", va="center", color="grey")
        return
    rows, colours = rows[:14], colours[:14]
    table = ax.table(cellText=[[c[:28] for c in row] for row in rows], colLabels=header,
                     cellColours=colours, loc="upper center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.scale(1, 1.15)


def _bars(ax: Axes, p: Mapping[str, Any], results: Sequence[TargetResult]) -> None:
    labels: list[str] = []
    values: list[float] = []
    for r in results:
        for s in r.series:
            for c in r.columns:
                numbers = [v for v in s.column(c) if isinstance(v, (int, float))]
                if numbers:
                    labels.append(_label(s.tags, c, len(r.columns) > 1))
                    values.append(float(sum(numbers)))
    if p["type"] == "piechart" and values and min(values) >= 0 and sum(values) > 0:
        colours = [_overridden_colour(p, label) or _PALETTE[i % len(_PALETTE)]
                   for i, label in enumerate(labels)]
        ax.pie(values, labels=[f"{lab} {v / sum(values):.0%}" for lab, v in
                               zip(labels, values, strict=True)],
               colors=colours, wedgeprops={"width": 0.45}, textprops={"fontsize": 7})
        return
    colours = [_overridden_colour(p, label) or _PALETTE[i % len(_PALETTE)]
               for i, label in enumerate(labels)]
    ax.barh(labels[::-1], values[::-1], color=colours[::-1])
    unit = str(p["fieldConfig"]["defaults"].get("unit", ""))
    for i, v in enumerate(values[::-1]):
        ax.text(v, i, " " + _fmt(v, unit), va="center", fontsize=7)
    ax.tick_params(labelsize=7)
    ax.margins(x=0.25)


def _display_name(p: Mapping[str, Any], name: str) -> str:
    """A column's header: an override's `displayName`, else its name."""
    for o in p["fieldConfig"].get("overrides", []):
        if o["matcher"].get("options") == name:
            for prop in o["properties"]:
                if prop["id"] == "displayName":
                    return str(prop["value"])
    return name


def _overridden_colour(p: Mapping[str, Any], name: str) -> str | None:
    for o in p["fieldConfig"].get("overrides", []):
        if o["matcher"].get("options") == name:
            for prop in o["properties"]:
                if prop["id"] == "color" and "fixedColor" in prop["value"]:
                    return _colour(str(prop["value"]["fixedColor"]))
    return None


def _days(values: Sequence[Any]) -> list[float]:
    """Epoch ms -> matplotlib date numbers (days since 1970-01-01 UTC)."""
    return [v / 86_400_000 for v in values]


def _time_axis(ax: Axes, tz: ZoneInfo, fmt: str) -> None:
    formatter = mdates.DateFormatter(fmt, tz=tz)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)
    ax.tick_params(labelsize=7)


def _binary(p: Mapping[str, Any], results: Sequence[TargetResult]
            ) -> list[tuple[str, list[int], list[float | None]]] | None:
    """Grafana's join-by-time + calculateField (binary) transformation, if the panel has it."""
    calc = next((t["options"] for t in p.get("transformations", [])
                 if t["id"] == "calculateField" and t["options"].get("mode") == "binary"), None)
    if calc is None:
        return None
    columns: dict[str, dict[int, Any]] = {}
    for r in results:
        for s in r.series:
            for c in r.columns:
                columns[c] = dict(zip(s.column("time"), s.column(c), strict=True))
    left, right = columns.get(calc["binary"]["left"], {}), columns.get(calc["binary"]["right"], {})
    times = sorted(set(left) & set(right))
    ratio = [left[t] / right[t] if right[t] else None for t in times]
    return [(str(calc.get("alias", "value")), times, ratio)]


def _timeseries(ax: Axes, p: Mapping[str, Any], results: Sequence[TargetResult],
                tz: ZoneInfo) -> None:
    lines = _binary(p, results) or [
        (_label(s.tags, c, len(r.columns) > 1 or len(results) > 1), s.column("time"),
         s.column(c))
        for r in results for s in r.series for c in r.columns]
    for i, (label, times, values) in enumerate(lines):
        colour = _overridden_colour(p, label) or _PALETTE[i % len(_PALETTE)]
        ax.plot(_days(times), [math.nan if v is None else v for v in values],
                label=_display_name(p, label), color=colour, linewidth=1.2,
                marker="o" if len(times) < 3 else None, markersize=3,
                drawstyle="steps-post" if p["fieldConfig"]["defaults"].get(
                    "custom", {}).get("drawStyle") == "bars" else "default")
    defaults = p["fieldConfig"]["defaults"]
    for step in defaults.get("thresholds", {}).get("steps", [])[1:]:
        if defaults.get("custom", {}).get("thresholdsStyle"):
            ax.axhline(step["value"], color=_colour(step["color"]), linestyle="--",
                       linewidth=0.8)
    if results:
        ax.set_xlim(results[0].time_range.from_ms / 86_400_000,
                    results[0].time_range.to_ms / 86_400_000)
    _time_axis(ax, tz, "%H:%M\n%m-%d")
    if 0 < len(lines) <= 8:  # no legend for a panel without data (matplotlib warns)
        ax.legend(fontsize=6, loc="upper left", frameon=False)


def _state_timeline(ax: Axes, p: Mapping[str, Any], results: Sequence[TargetResult],
                    tz: ZoneInfo) -> None:
    series = [(s.tags.get("machine", ""), s) for r in results for s in r.series]
    end = results[0].time_range.to_ms if results else 0
    for row, (_name, s) in enumerate(series):
        times = s.column("time")
        states = s.column(results[0].columns[0])
        spans: dict[str, list[tuple[float, float]]] = {}
        start = 0
        for i in range(1, len(times) + 1):  # merge repeated states, as Grafana does
            if i == len(times) or states[i] != states[start]:
                t1 = times[i] if i < len(times) else end
                mapped = _mapped(p, "", states[start])
                colour = mapped[1] if mapped else "grey"
                spans.setdefault(colour, []).append(
                    (times[start] / 86_400_000, (t1 - times[start]) / 86_400_000))
                start = i
        for colour, xranges in spans.items():
            ax.broken_barh(xranges, (row - 0.4, 0.8), color=colour)
    ax.set_yticks(range(len(series)), [n for n, _ in series], fontsize=7)
    ax.set_xlim(results[0].time_range.from_ms / 86_400_000 if results else 0,
                results[0].time_range.to_ms / 86_400_000 if results else 1)
    _time_axis(ax, tz, "%H:%M")


def preview_dashboard(model: Mapping[str, Any], client: InfluxQL, path: Path, *,
                      time_range: TimeRange, selection: Mapping[str, Sequence[str] | str],
                      min_interval: str = "10s", lang: Lang = "en") -> Path:
    """`model` (already in `lang`) drawn to `path`; Chinese text with the CJK font."""
    with matplotlib.rc_context({"font.family": font_family(lang)}):
        return _draw(model, client, path, time_range=time_range, selection=selection,
                     min_interval=min_interval, lang=lang)


def _draw(model: Mapping[str, Any], client: InfluxQL, path: Path, *,
          time_range: TimeRange, selection: Mapping[str, Sequence[str] | str],
          min_interval: str, lang: Lang) -> Path:
    _ = translator(lang)
    tz = ZoneInfo(str(model.get("timezone") or "UTC"))
    results = run_dashboard(model, client, time_range=time_range, selection=selection,
                            min_interval=min_interval)
    panels = model["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    height = rows * ROW_INCHES + 0.9
    fig = plt.figure(figsize=(WIDTH_INCHES, height), dpi=80)
    top = 1 - 0.7 / height
    start = dt.datetime.fromtimestamp(time_range.from_ms / 1000, tz)
    end = dt.datetime.fromtimestamp(time_range.to_ms / 1000, tz)
    chosen = ", ".join(f"{k}={_('All') if v == ALL else v}" for k, v in selection.items())
    fig.suptitle(_("{title}  -  PREVIEW drawn by matplotlib from the panels' InfluxQL "
                   "results (not a Grafana screenshot)").format(title=model["title"]) + "\n"
                 + _("{start} to {end} {zone}; {selection}").format(
                     start=f"{start:%Y-%m-%d %H:%M}", end=f"{end:%Y-%m-%d %H:%M}",
                     zone=tz.key, selection=chosen), fontsize=10, y=0.998)
    for p in panels:
        g = p["gridPos"]
        # room on the left for tick labels, more for horizontal bars' category labels
        label_room = {"bargauge": 0.4, "barchart": 0.3, "state-timeline": 0.06}.get(
            p["type"], 0.0 if p["type"] in ("stat", "table", "piechart") else 0.05)
        width = g["w"] / 24
        left = g["x"] / 24 + 0.012 + width * label_room
        ax = fig.add_axes((left, top * (1 - (g["y"] + g["h"]) / rows) + 0.03,
                           width * (1 - label_room) - 0.02, top * g["h"] / rows - 0.07))
        mine = [r for r in results if r.panel is p]
        title = p["title"] + (f"  ({p['timeFrom']})" if p.get("timeFrom") else "")
        ax.set_title(title, fontsize=9, loc="left")
        kind = p["type"]
        if kind == "stat":
            _stat(ax, p, mine, _("no data"))
        elif kind == "table":
            _table(ax, p, mine, _("no data"))
        elif kind in ("bargauge", "piechart", "barchart"):
            _bars(ax, p, mine)
        elif kind == "state-timeline":
            _state_timeline(ax, p, mine, tz)
        else:
            _timeseries(ax, p, mine, tz)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def preview(directory: Path, client: InfluxQL, *, settings: DashboardSettings,
            time_range: TimeRange, machine: str | None = None,
            lang: Lang = "en") -> list[Path]:
    """One PNG per dashboard under `directory`, in `lang`, every variable at All (the
    Machine dashboard: `machine`, or the first machine the database offers)."""
    written = []
    for name, model in build_all(settings, lang).items():
        selection: dict[str, Sequence[str] | str] = {
            str(v["name"]): ALL for v in model["templating"]["list"] if v.get("includeAll")}
        for v in model["templating"]["list"]:
            if not v.get("includeAll"):
                offered = run_variables(model, client, selection).get(str(v["name"]), [])
                chosen = machine if machine is not None else (offered[0] if offered else "")
                selection[str(v["name"])] = chosen
        path = directory / name.replace(".json", ".png")
        written.append(preview_dashboard(model, client, path, time_range=time_range,
                                         selection=selection,
                                         min_interval=f"{settings.min_interval_s}s",
                                         lang=lang))
        log.info("preview %s written", path)
    return written
