"""Plant overview: OEE with its three factors by line, every machine's current state,
the top losses, output and scrap, energy today, dual-control status."""

from __future__ import annotations

from typing import Any

from plantstream.dashboards._common import (
    AVAILABILITY,
    MACHINE_FILTER,
    OEE,
    PERFORMANCE,
    QUALITY,
    machine_link,
    plant_variables,
)
from plantstream.dashboards._grafana import (
    ELEMENT_COLOURS,
    Grid,
    dashboard,
    panel,
    target,
    thresholds,
    value_colours,
)
from plantstream.dashboards.settings import DashboardSettings

__all__ = ["UID", "WARNING_LEVELS", "build"]

UID = "plantstream-overview"
# dual_control.warning_code -> (level, colour), as analytics.dual_control_status grades it
WARNING_LEVELS: dict[int, tuple[str, str]] = {
    0: ("green", "green"), 1: ("yellow", "yellow"), 2: ("orange", "orange"), 3: ("red", "red")}

OEE_STEPS = thresholds("red", (0.60, "yellow"), (0.85, "green"))  # 85 %: world class
AVAILABILITY_STEPS = thresholds("red", (0.80, "yellow"), (0.90, "green"))
# effectiveness above 1 is legal but means the ideal cycle time is too slow: blue flag
PERFORMANCE_STEPS = thresholds("red", (0.85, "yellow"), (0.95, "green"), (1.0001, "blue"))
QUALITY_STEPS = thresholds("red", (0.97, "yellow"), (0.99, "green"))


def _ratio_stat(grid: Grid, title: str, expression: str, alias: str, steps: dict[str, Any],
                description: str) -> dict[str, Any]:
    return panel(grid, "stat", title, [target(
        f'SELECT {expression} AS "{alias}" FROM "oee_components" WHERE {MACHINE_FILTER}')],
        w=4, h=5, unit="percentunit", decimals=1, steps=steps, description=description,
        options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                 "colorMode": "background", "graphMode": "none", "textMode": "value"})


def build(settings: DashboardSettings) -> dict[str, Any]:
    g = Grid()
    panels = [
        _ratio_stat(g, "OEE", OEE, "oee", OEE_STEPS,
                    "Availability x performance x quality over the selected machines and "
                    "window, from summed ISO 22400 components (ratio of sums)."),
        _ratio_stat(g, "Availability", AVAILABILITY, "availability", AVAILABILITY_STEPS,
                    "APT / PBT"),
        _ratio_stat(g, "Performance", PERFORMANCE, "performance", PERFORMANCE_STEPS,
                    "Effectiveness: sum(ideal cycle time x produced) / APT. Blue above "
                    "100 %: the configured ideal cycle time is too slow (kept raw)."),
        _ratio_stat(g, "Quality", QUALITY, "quality", QUALITY_STEPS, "GQ / PQ"),
        panel(g, "stat", "Output", [target(
            'SELECT sum("gq") AS "good", sum("sq") AS "scrap", sum("rq") AS "rework" '
            f'FROM "oee_components" WHERE {MACHINE_FILTER}')], w=8, h=5, unit="none",
            description="Parts in the window: good, scrap, rework.",
            options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                       "values": False},
                     "colorMode": "none", "graphMode": "none", "textMode": "value_and_name"}),
    ]
    g.new_row()
    panels += [
        panel(g, "table", "OEE by line", [target(
            f'SELECT {AVAILABILITY} AS "availability", {PERFORMANCE} AS "performance", '
            f'{QUALITY} AS "quality", {OEE} AS "oee", sum("pq") AS "produced", '
            f'sum("sq") AS "scrap" FROM "oee_components" WHERE {MACHINE_FILTER} '
            'GROUP BY "line"', table=True)], w=12, h=8,
            description="Per line, ratios of summed components of its machines.",
            overrides=[{"matcher": {"id": "byRegexp", "options": "availability|performance|"
                                    "quality|oee"},
                        "properties": [{"id": "unit", "value": "percentunit"},
                                       {"id": "decimals", "value": 1},
                                       {"id": "thresholds", "value": OEE_STEPS},
                                       {"id": "custom.cellOptions",
                                        "value": {"type": "color-background"}}]},
                       {"matcher": {"id": "byName", "options": "Time"},
                        "properties": [{"id": "custom.hidden", "value": True}]}]),
        panel(g, "timeseries", "OEE trend by line", [target(
            f'SELECT {OEE} AS "oee" FROM "oee_components" WHERE {MACHINE_FILTER} '
            'GROUP BY time($__interval), "line" fill(none)', alias="$tag_line")],
            w=12, h=8, unit="percentunit", minimum=0, steps=OEE_STEPS, interval="5m",
            custom={"thresholdsStyle": {"mode": "dashed"}, "lineWidth": 2},
            description="OEE per line in buckets of at least 5 minutes."),
    ]
    g.new_row()
    panels += [
        panel(g, "table", "Machine states now", [target(
            'SELECT last("element") AS "element", last("code") AS "code" FROM "state" '
            f'WHERE {MACHINE_FILTER} GROUP BY "line", "machine"', table=True)],
            w=8, h=10, mappings=value_colours(ELEMENT_COLOURS),
            description="The latest state of every machine in the window, as its ISO "
                        "22400 time element. Click a machine to open it.",
            overrides=[{"matcher": {"id": "byName", "options": "element"},
                        "properties": [{"id": "custom.cellOptions",
                                        "value": {"type": "color-background"}}]},
                       {"matcher": {"id": "byName", "options": "machine"},
                        "properties": [{"id": "links", "value": [machine_link()]}]},
                       {"matcher": {"id": "byName", "options": "Time"},
                        "properties": [{"id": "custom.hidden", "value": True}]}]),
        panel(g, "piechart", "Where planned time went", [target(
            'SELECT sum("apt_s") AS "APT", sum("asut_s") AS "ASUT", sum("adet_s") AS "ADET", '
            'sum("adot_s") AS "ADOT", sum("planned_down_s") AS "PLANNED_DOWN" '
            f'FROM "oee_components" WHERE {MACHINE_FILTER}')], w=8, h=10, unit="s",
            description="Planned operation time split into ISO 22400 time elements.",
            options={"reduceOptions": {"calcs": ["sum"], "fields": "", "values": False},
                     "pieType": "donut", "legend": {"displayMode": "table",
                                                    "placement": "right",
                                                    "values": ["percent"]}},
            overrides=[{"matcher": {"id": "byName", "options": name},
                        "properties": [{"id": "color", "value": {"mode": "fixed",
                                                                 "fixedColor": colour}}]}
                       for name, colour in ELEMENT_COLOURS.items()]),
        panel(g, "bargauge", "Six big losses", [target(
            'SELECT sum("adet_s") - sum("minor_stop_s") AS "breakdowns", '
            'sum("asut_s") AS "setup and adjustment", sum("minor_stop_s") AS "minor stops", '
            'sum("apt_s") - sum("pru_pq_s") AS "reduced speed", '
            'sum("pru_pq_s") - sum("pru_gq_s") - sum("pru_su_s") AS "defects and rework", '
            'sum("pru_su_s") AS "start-up rejects (reduced yield)", '
            f'sum("adot_s") AS "idle" FROM "oee_components" WHERE {MACHINE_FILTER}')],
            w=8, h=10, unit="s", steps=thresholds("orange"),
            description="TPM six big losses in seconds (ISO model: minor stops inside ADET). "
                        "Start-up rejects (reduced yield) come from sources that count "
                        "them apart; idle (ADOT) is shown beside the six.",
            options={"orientation": "horizontal", "displayMode": "gradient",
                     "reduceOptions": {"calcs": ["sum"], "fields": "", "values": False}}),
    ]
    g.new_row()
    panels += [
        panel(g, "timeseries", "Output and scrap", [target(
            'SELECT sum("good") AS "good", sum("scrap") AS "scrap", sum("rework") AS "rework" '
            f'FROM "production" WHERE {MACHINE_FILTER} GROUP BY time($__interval) fill(0)')],
            w=12, h=8, unit="none", interval="15m",
            custom={"drawStyle": "bars", "fillOpacity": 80, "stacking": {"mode": "normal"}},
            overrides=[{"matcher": {"id": "byName", "options": name},
                        "properties": [{"id": "color", "value": {"mode": "fixed",
                                                                 "fixedColor": colour}}]}
                       for name, colour in (("good", "green"), ("scrap", "red"),
                                            ("rework", "orange"))]),
        panel(g, "stat", "Energy today", [
            target('SELECT sum("quantity") AS "electricity" FROM "energy" WHERE '
                   f'"carrier" = \'electricity\' AND {MACHINE_FILTER}'),
            target(f'SELECT sum("kgce") AS "kgce" FROM "energy" WHERE {MACHINE_FILTER}',
                   ref="B")],
            w=6, h=8, time_from="now/d", decimals=1,
            description="Since 00:00 plant time: electricity in kWh, all carriers in kgce "
                        "(GB/T 2589 coefficients, equivalent-value electricity).",
            overrides=[{"matcher": {"id": "byName", "options": "electricity"},
                        "properties": [{"id": "unit", "value": "kwatth"}]},
                       {"matcher": {"id": "byName", "options": "kgce"},
                        "properties": [{"id": "unit", "value": "suffix: kgce"}]}],
            options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                       "values": False},
                     "colorMode": "none", "graphMode": "none", "textMode": "value_and_name"}),
        panel(g, "stat", "Dual control", [target(
            'SELECT last("warning_code") AS "warning", last("ytd_tce") AS "year to date", '
            'last("allowance_to_date_tce") AS "allowance to date", '
            'last("annual_quota_tce") AS "annual quota", '
            'last("projected_year_end_tce") AS "projected year end" FROM "dual_control" '
            'WHERE "site" =~ /^$site$/ AND $timeFilter GROUP BY "site"')],
            w=6, h=8, time_from="now/y", decimals=0, unit="suffix: tce",
            description="Year to date against the allowance to date and the annual quota, "
                        "the run-rate projection, and the warning level (written daily by "
                        "the analytics side into `dual_control`).",
            overrides=[{"matcher": {"id": "byName", "options": "warning"},
                        "properties": [{"id": "unit", "value": "none"},
                                       {"id": "mappings",
                                        "value": value_colours({}, numeric=WARNING_LEVELS)},
                                       {"id": "color", "value": {"mode": "thresholds"}},
                                       {"id": "thresholds", "value": thresholds(
                                           "green", (1, "yellow"), (2, "orange"),
                                           (3, "red"))}]}],
            options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                       "values": False},
                     "colorMode": "value", "graphMode": "none",
                     "textMode": "value_and_name"}),
    ]
    return dashboard(uid=UID, title="PlantStream · Plant overview",
                     description="OEE, machine states, losses, output, energy and dual "
                                 "control for the plant.",
                     panels=panels, variables=plant_variables(), timezone=settings.timezone)
