"""Small builders for Grafana dashboard JSON (schema version 39): panels, targets,
template variables, thresholds, value mappings, and a grid that never overlaps.

Plain dicts out: the dashboard model is Grafana's JSON; nothing here talks to Grafana.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from plantstream.i18n import Lang

__all__ = [
    "DATASOURCE",
    "DATASOURCE_NAME",
    "DATASOURCE_TYPE",
    "DATASOURCE_UID",
    "ELEMENT_COLOURS",
    "FOLDERS",
    "FOLDER_TITLE",
    "FOLDER_UID",
    "SCHEMA_VERSION",
    "TAG",
    "Grid",
    "dashboard",
    "dashboard_uid",
    "panel",
    "query_variable",
    "tag",
    "target",
    "thresholds",
    "value_colours",
]

Json = dict[str, Any]

DATASOURCE_UID = "plantstream-influxql"
DATASOURCE_NAME = "PlantStream InfluxDB"
DATASOURCE_TYPE = "influxdb"
DATASOURCE: Json = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
FOLDER_UID = "plantstream"
FOLDER_TITLE = "PlantStream"
# one folder per language, both provisioned: the same dashboards built from one
# definition through the message catalogue (plantstream.i18n), distinct uids
FOLDERS: Final[dict[Lang, tuple[str, str]]] = {
    "en": (FOLDER_UID, FOLDER_TITLE),
    "zh-CN": ("plantstream-zh-cn", "PlantStream（中文）"),
}
SCHEMA_VERSION = 39
TAG = "plantstream"  # every PlantStream dashboard carries it; the link bar lists them
_UID_SUFFIX: Final[dict[Lang, str]] = {"en": "", "zh-CN": "-zh-cn"}


def dashboard_uid(uid: str, lang: Lang) -> str:
    """The English dashboard's uid, or its counterpart's in `lang` (`...-zh-cn`)."""
    return uid + _UID_SUFFIX[lang]


def tag(lang: Lang) -> str:
    """The tag of the dashboards in `lang`: the link bar lists those of one language."""
    return TAG + _UID_SUFFIX[lang]

# ISO 22400 time elements: green produces, blue sets up, red is a loss on an order,
# yellow is idle, greys are outside planned busy time.
ELEMENT_COLOURS: dict[str, str] = {
    "APT": "green", "ASUT": "blue", "ADET": "red", "ADOT": "yellow",
    "PLANNED_DOWN": "#8e8e8e", "NOT_PLANNED": "#4a4a4a",
}


class Grid:
    """Places panels left to right on Grafana's 24-column grid, row by row."""

    WIDTH = 24

    def __init__(self) -> None:
        self._x = 0
        self._y = 0
        self._row_h = 0

    def place(self, w: int, h: int) -> Json:
        if not 1 <= w <= self.WIDTH or h < 1:
            raise ValueError(f"panel size {w}x{h} does not fit the grid")
        if self._x + w > self.WIDTH:
            self.new_row()
        pos = {"x": self._x, "y": self._y, "w": w, "h": h}
        self._x += w
        self._row_h = max(self._row_h, h)
        return pos

    def new_row(self) -> None:
        self._y += self._row_h
        self._x = 0
        self._row_h = 0


def target(query: str, *, ref: str = "A", table: bool = False, alias: str = "") -> Json:
    """A raw InfluxQL target on the provisioned data source."""
    out: Json = {"refId": ref, "datasource": dict(DATASOURCE), "query": " ".join(query.split()),
                 "rawQuery": True, "resultFormat": "table" if table else "time_series"}
    if alias:
        out["alias"] = alias
    return out


def thresholds(base: str, *steps: tuple[float, str], percent: bool = False) -> Json:
    return {"mode": "percentage" if percent else "absolute",
            "steps": [{"color": base, "value": None},
                      *({"color": c, "value": v} for v, c in steps)]}


def value_colours(colours: Mapping[str, str], *, numeric: Mapping[int, tuple[str, str]]
                  | None = None, texts: Mapping[str, str] | None = None) -> list[Json]:
    """Value mappings: text value -> colour, shown as `texts[value]` (default: the value
    itself), and numeric code -> (text, colour)."""
    out: list[Json] = []
    if colours:
        out.append({"type": "value", "options": {
            value: {"color": colour, "index": i, "text": (texts or {}).get(value, value)}
            for i, (value, colour) in enumerate(colours.items())}})
    if numeric:
        out.append({"type": "value", "options": {
            str(code): {"color": colour, "index": i, "text": text}
            for i, (code, (text, colour)) in enumerate(numeric.items())}})
    return out


def panel(grid: Grid, kind: str, title: str, targets: Sequence[Json], *, w: int, h: int,
          description: str = "", unit: str = "", decimals: int | None = None,
          minimum: float | None = None, maximum: float | None = None,
          steps: Json | None = None, mappings: Sequence[Json] = (),
          custom: Json | None = None, options: Json | None = None,
          overrides: Sequence[Json] = (), links: Sequence[Json] = (),
          transformations: Sequence[Json] = (), time_from: str = "",
          interval: str = "") -> Json:
    defaults: Json = {"color": {"mode": "thresholds" if steps else "palette-classic"}}
    if unit:
        defaults["unit"] = unit
    if decimals is not None:
        defaults["decimals"] = decimals
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    if steps:
        defaults["thresholds"] = steps
    if mappings:
        defaults["mappings"] = list(mappings)
    if custom:
        defaults["custom"] = custom
    if links:
        defaults["links"] = list(links)
    out: Json = {"type": kind, "title": title, "description": description,
                 "datasource": dict(DATASOURCE), "gridPos": grid.place(w, h),
                 "targets": list(targets),
                 "fieldConfig": {"defaults": defaults, "overrides": list(overrides)},
                 "options": options or {}}
    if transformations:
        out["transformations"] = list(transformations)
    if time_from:
        out["timeFrom"] = time_from
    if interval:
        out["interval"] = interval
    return out


def query_variable(name: str, label: str, query: str, *, multi: bool = True,
                   include_all: bool = True) -> Json:
    """A template variable filled from SHOW TAG VALUES; All is `.*` in regex filters."""
    out: Json = {"name": name, "label": label, "type": "query", "datasource": dict(DATASOURCE),
                 "query": query, "definition": query, "refresh": 2, "sort": 1,
                 "multi": multi, "includeAll": include_all, "hide": 0,
                 "current": {"selected": True, "text": ["All"], "value": ["$__all"]}
                 if include_all else {}, "options": []}
    if include_all:
        out["allValue"] = ".*"
    return out


def dashboard(*, uid: str, title: str, description: str, panels: list[Json],
              variables: Sequence[Json], timezone: str, time_from: str = "now-8h",
              refresh: str = "1m", lang: Lang = "en") -> Json:
    """The dashboard model; `uid` is the English one's (`dashboard_uid` makes the
    language's), the texts are already in `lang`."""
    for i, p in enumerate(panels, start=1):
        p["id"] = i
    return {
        "uid": dashboard_uid(uid, lang), "title": title, "description": description,
        "tags": [tag(lang)],
        "timezone": timezone, "schemaVersion": SCHEMA_VERSION, "version": 1,
        "editable": True, "graphTooltip": 1, "refresh": refresh, "liveNow": False,
        "time": {"from": time_from, "to": "now"},
        "fiscalYearStartMonth": 0, "weekStart": "monday",
        "links": [{"title": "PlantStream", "type": "dashboards", "tags": [tag(lang)],
                   "asDropdown": False, "includeVars": True, "keepTime": True,
                   "icon": "external link", "targetBlank": False, "tooltip": "",
                   "url": ""}],
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}]},
        "templating": {"list": list(variables)},
        "panels": panels,
    }
