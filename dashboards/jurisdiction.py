"""The jurisdiction's "Each Mu is a Hero" evaluation: enterprises by class, the ranking
with each indicator, and the energy headroom against the jurisdiction's quota.

The evaluation is not telemetry: `plantstream rollups each-mu` writes it into the
`each_mu` and `each_mu_jurisdiction` measurements after each month's financials
(docs/each-mu.md, docs/dashboards.md). Panels read the latest evaluation of this year.
"""

from __future__ import annotations

from typing import Any

from plantstream.dashboards._grafana import (
    Grid,
    dashboard,
    panel,
    query_variable,
    target,
    thresholds,
    value_colours,
)
from plantstream.dashboards.overview import WARNING_LEVELS
from plantstream.dashboards.settings import DashboardSettings

__all__ = ["UID", "build"]

UID = "plantstream-jurisdiction"
_FILTER = '"jurisdiction" =~ /^$jurisdiction$/ AND $timeFilter'
CLASS_COLOURS = {"A": "green", "B": "blue", "C": "yellow", "D": "red"}
INDICATORS = (("tax_per_mu", "tax / mu"), ("value_added_per_mu", "VA / mu"),
              ("value_added_per_tce", "VA / tce"), ("value_added_per_emission", "VA / t"),
              ("rd_share", "R&D share"), ("labour_productivity", "VA / employee"))


def build(settings: DashboardSettings) -> dict[str, Any]:
    tz = settings.timezone
    g = Grid()
    panels = [
        panel(g, "stat", "Enterprises by class", [target(
            'SELECT last("class_a") AS "A", last("class_b") AS "B", last("class_c") AS "C", '
            'last("class_d") AS "D", last("not_evaluable") AS "not evaluable" '
            f'FROM "each_mu_jurisdiction" WHERE {_FILTER} GROUP BY "jurisdiction"')],
            w=12, h=6, time_from="now/y", decimals=0,
            description="The latest evaluation this year: A priority development, B improve, "
                        "C transform, D rectify; not evaluable: an input is missing (never "
                        "scored as 0).",
            overrides=[{"matcher": {"id": "byName", "options": name},
                        "properties": [{"id": "color", "value": {"mode": "fixed",
                                                                 "fixedColor": colour}}]}
                       for name, colour in [*CLASS_COLOURS.items(), ("not evaluable",
                                                                     "#8e8e8e")]],
            options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                       "values": False},
                     "colorMode": "background", "graphMode": "none",
                     "textMode": "value_and_name"}),
        panel(g, "stat", "Energy headroom", [target(
            'SELECT last("annual_quota_tce") AS "quota", last("ytd_tce") AS "measured", '
            'last("headroom_to_date_tce") AS "headroom to date", '
            'last("projected_headroom_tce") AS "projected headroom", '
            'last("warning_code") AS "warning" '
            f'FROM "each_mu_jurisdiction" WHERE {_FILTER} GROUP BY "jurisdiction"')],
            w=12, h=6, time_from="now/y", unit="suffix: tce", decimals=0,
            description="The jurisdiction's annual energy quota minus the measured "
                        "controlled consumption of all its enterprises to date, and minus "
                        "the projected year end (dual-control run rate).",
            overrides=[{"matcher": {"id": "byName", "options": "warning"},
                        "properties": [{"id": "unit", "value": "none"},
                                       {"id": "mappings", "value": [{"type": "value",
                                        "options": {str(code): {"text": text, "color": colour,
                                                                "index": code}
                                                    for code, (text, colour)
                                                    in WARNING_LEVELS.items()}}]},
                                       {"id": "color", "value": {"mode": "thresholds"}},
                                       {"id": "thresholds", "value": thresholds(
                                           "green", (1, "yellow"), (2, "orange"),
                                           (3, "red"))}]}],
            options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                       "values": False},
                     "colorMode": "value", "graphMode": "none",
                     "textMode": "value_and_name"}),
    ]
    g.new_row()
    indicator_fields = ", ".join(f'last("{name}") AS "{label}"' for name, label in INDICATORS)
    panels += [
        panel(g, "table", "Ranking", [target(
            'SELECT last("rank") AS "rank", last("score") AS "score", '
            f'last("class") AS "class", {indicator_fields}, '
            'last("missing") AS "missing" '
            f'FROM "each_mu" WHERE {_FILTER} GROUP BY "enterprise"', table=True)],
            w=24, h=12, time_from="now/y", decimals=2,
            description="Every enterprise of the jurisdiction by rank (latest evaluation "
                        "this year): score, class and each indicator (10,000 yuan per mu, "
                        "per tce, per tonne, per employee; R&D as a share of revenue). Not "
                        "evaluable enterprises have no rank and list what is missing.",
            overrides=[
                {"matcher": {"id": "byName", "options": "Time"},
                 "properties": [{"id": "custom.hidden", "value": True}]},
                {"matcher": {"id": "byName", "options": "rank"},
                 "properties": [{"id": "decimals", "value": 0}]},
                {"matcher": {"id": "byName", "options": "class"},
                 "properties": [{"id": "mappings", "value": value_colours(CLASS_COLOURS)},
                                {"id": "custom.cellOptions",
                                 "value": {"type": "color-background"}}]},
                {"matcher": {"id": "byName", "options": "R&D share"},
                 "properties": [{"id": "unit", "value": "percentunit"}]}],
            options={"sortBy": [{"displayName": "rank", "desc": False}], "showHeader": True}),
    ]
    g.new_row()
    panels += [
        panel(g, "timeseries", "Energy to date against the jurisdiction's quota", [target(
            'SELECT last("ytd_tce") AS "measured to date", '
            'last("annual_quota_tce") AS "annual quota", '
            'last("projected_year_end_tce") AS "projected year end" '
            f'FROM "each_mu_jurisdiction" WHERE {_FILTER} '
            f"GROUP BY time(1d), \"jurisdiction\" fill(none) tz('{tz}')")],
            w=24, h=8, time_from="now/y", unit="suffix: tce", decimals=0,
            description="One point per monthly evaluation (year to date): measured "
                        "controlled consumption, the quota and the projected year end.",
            custom={"drawStyle": "line", "pointSize": 8, "showPoints": "always",
                    "spanNulls": True},
            overrides=[{"matcher": {"id": "byName", "options": "annual quota"},
                        "properties": [{"id": "color", "value": {"mode": "fixed",
                                                                 "fixedColor": "red"}}]},
                       {"matcher": {"id": "byName", "options": "projected year end"},
                        "properties": [{"id": "custom.lineStyle",
                                        "value": {"fill": "dash", "dash": [10, 10]}}]}]),
    ]
    variables = [query_variable(
        "jurisdiction", "Jurisdiction",
        'SHOW TAG VALUES FROM "each_mu_jurisdiction" WITH KEY = "jurisdiction"',
        multi=False, include_all=False)]
    return dashboard(uid=UID, title="PlantStream · Each Mu is a Hero (jurisdiction)",
                     description="Per-mu evaluation of a jurisdiction's enterprises: classes, "
                                 f"ranking, indicators and the energy headroom ({tz}).",
                     panels=panels, variables=variables, timezone=tz, time_from="now/y",
                     refresh="1h")
