"""Machine: state timeline, OEE cascade from time elements, counts by product, power
and energy, minor stops. One machine at a time (single-select variable)."""

from __future__ import annotations

from typing import Any

from plantstream.dashboards._common import (
    AVAILABILITY,
    MACHINE_FILTER,
    OEE,
    PERFORMANCE,
    QUALITY,
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
from plantstream.dashboards.overview import (
    AVAILABILITY_STEPS,
    OEE_STEPS,
    PERFORMANCE_STEPS,
    QUALITY_STEPS,
)
from plantstream.dashboards.settings import DashboardSettings

__all__ = ["UID", "build"]

UID = "plantstream-machine"


def _colour(name: str, colour: str) -> dict[str, Any]:
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}]}


def build(settings: DashboardSettings) -> dict[str, Any]:
    g = Grid()
    panels = [panel(g, "state-timeline", "State", [target(
        f'SELECT "element" AS "element" FROM "state" WHERE {MACHINE_FILTER} GROUP BY "machine"',
        alias="$tag_machine")], w=24, h=5, mappings=value_colours(ELEMENT_COLOURS),
        description="Each state change as its ISO 22400 time element (green producing, "
                    "blue setup, red delay on an order, yellow idle, grey planned down or "
                    "not planned).",
        options={"mergeValues": True, "showValue": "never", "rowHeight": 0.8})]
    g.new_row()
    for title, expression, alias, steps in (
            ("OEE", OEE, "oee", OEE_STEPS),
            ("Availability", AVAILABILITY, "availability", AVAILABILITY_STEPS),
            ("Performance", PERFORMANCE, "performance", PERFORMANCE_STEPS),
            ("Quality", QUALITY, "quality", QUALITY_STEPS)):
        panels.append(panel(g, "stat", title, [target(
            f'SELECT {expression} AS "{alias}" FROM "oee_components" WHERE {MACHINE_FILTER}')],
            w=3, h=9, unit="percentunit", decimals=1, steps=steps,
            options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                       "values": False},
                     "colorMode": "background", "graphMode": "none"}))
    panels.append(panel(g, "bargauge", "OEE cascade (ISO 22400)", [target(
        'SELECT sum("pbt_s") AS "planned busy", '
        'sum("pbt_s") - sum("adot_s") AS "busy on an order", '
        'sum("apt_s") + sum("asut_s") AS "running incl. setup", sum("apt_s") AS "producing", '
        'sum("pru_pq_s") AS "ideal time of output", '
        'sum("pru_gq_s") AS "ideal time of good parts" '
        f'FROM "oee_components" WHERE {MACHINE_FILTER}')], w=12, h=9, unit="s",
        steps=thresholds("blue"),
        description="A waterfall of planned busy time: each bar removes one loss (idle, "
                    "delays, setup, speed, defects). The last bar over the first is the "
                    "value-adding ratio.",
        options={"orientation": "horizontal", "displayMode": "basic",
                 "reduceOptions": {"calcs": ["sum"], "fields": "", "values": False}}))
    g.new_row()
    panels += [
        panel(g, "timeseries", "Time elements", [target(
            'SELECT sum("apt_s") AS "APT", sum("asut_s") AS "ASUT", sum("adet_s") AS "ADET", '
            'sum("adot_s") AS "ADOT", sum("planned_down_s") AS "PLANNED_DOWN" '
            f'FROM "oee_components" WHERE {MACHINE_FILTER} GROUP BY time($__interval) fill(0)')],
            w=12, h=8, unit="s", interval="15m",
            custom={"drawStyle": "bars", "fillOpacity": 90, "stacking": {"mode": "percent"}},
            overrides=[_colour(n, c) for n, c in ELEMENT_COLOURS.items()]),
        panel(g, "timeseries", "Minor stops", [target(
            'SELECT sum("minor_stops") AS "minor stops", sum("minor_stop_s") AS "minor stop time" '
            f'FROM "oee_components" WHERE {MACHINE_FILTER} GROUP BY time($__interval) fill(0)')],
            w=12, h=8, unit="none", interval="15m",
            description="Stops shorter than the minor-stop threshold (default 120 s): count "
                        "and time (inside ADET in the ISO model).",
            custom={"drawStyle": "bars", "fillOpacity": 60},
            overrides=[{"matcher": {"id": "byName", "options": "minor stop time"},
                        "properties": [{"id": "unit", "value": "s"},
                                       {"id": "custom.axisPlacement", "value": "right"},
                                       {"id": "custom.drawStyle", "value": "line"}]}]),
    ]
    g.new_row()
    panels += [
        panel(g, "barchart", "Counts by product", [target(
            'SELECT sum("good") AS "good", sum("scrap") AS "scrap", sum("rework") AS "rework" '
            f'FROM "production" WHERE {MACHINE_FILTER} GROUP BY "product"', table=True)],
            w=8, h=8, unit="none",
            options={"xField": "product", "stacking": "normal", "orientation": "horizontal"},
            overrides=[_colour("good", "green"), _colour("scrap", "red"),
                       _colour("rework", "orange")]),
        panel(g, "timeseries", "Power", [target(
            'SELECT mean("power_kw") AS "power" FROM "sample" WHERE '
            f'{MACHINE_FILTER} GROUP BY time($__interval), "machine" fill(none)',
            alias="$tag_machine")], w=8, h=8, unit="kwatt", minimum=0,
            description="Mean electrical power from the raw `power_kw` samples."),
        panel(g, "timeseries", "Energy", [
            target('SELECT sum("quantity") AS "electricity" FROM "energy" WHERE '
                   f'"carrier" = \'electricity\' AND {MACHINE_FILTER} '
                   'GROUP BY time($__interval) fill(0)'),
            target(f'SELECT sum("kgce") AS "kgce" FROM "energy" WHERE {MACHINE_FILTER} '
                   'GROUP BY time($__interval) fill(0)', ref="B")],
            w=8, h=8, unit="kwatth", interval="15m",
            custom={"drawStyle": "bars", "fillOpacity": 60},
            overrides=[{"matcher": {"id": "byName", "options": "kgce"},
                        "properties": [{"id": "unit", "value": "suffix: kgce"},
                                       {"id": "custom.axisPlacement", "value": "right"},
                                       {"id": "custom.drawStyle", "value": "line"}]}]),
    ]
    variables = plant_variables()
    machine = variables[-1]
    machine.update(multi=False, includeAll=False, current={})
    machine.pop("allValue", None)
    return dashboard(uid=UID, title="PlantStream · Machine",
                     description="One machine: states, OEE cascade, counts, power, energy, "
                                 "minor stops.",
                     panels=panels, variables=variables, timezone=settings.timezone)
