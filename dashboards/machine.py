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
    element_names,
    plant_variables,
    tag_headers,
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
from plantstream.i18n import Lang, translator

__all__ = ["UID", "build"]

UID = "plantstream-machine"


def _colour(name: str, colour: str) -> dict[str, Any]:
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}]}


def build(settings: DashboardSettings, lang: Lang = "en") -> dict[str, Any]:
    _ = translator(lang)
    elements = element_names(lang)
    g = Grid()
    panels = [panel(g, "state-timeline", _("State"), [target(
        f'SELECT "element" AS "{_("element")}" FROM "state" WHERE {MACHINE_FILTER} '
        'GROUP BY "machine"', alias="$tag_machine")], w=24, h=5,
        mappings=value_colours(ELEMENT_COLOURS, texts=elements),
        description=_("Each state change as its ISO 22400 time element (green producing, "
                      "blue setup, red delay on an order, yellow idle, grey planned down or "
                      "not planned)."),
        options={"mergeValues": True, "showValue": "never", "rowHeight": 0.8})]
    g.new_row()
    for title, expression, alias, steps in (
            (_("OEE"), OEE, _("oee"), OEE_STEPS),
            (_("Availability"), AVAILABILITY, _("availability"), AVAILABILITY_STEPS),
            (_("Performance"), PERFORMANCE, _("performance"), PERFORMANCE_STEPS),
            (_("Quality"), QUALITY, _("quality"), QUALITY_STEPS)):
        panels.append(panel(g, "stat", title, [target(
            f'SELECT {expression} AS "{alias}" FROM "oee_components" WHERE {MACHINE_FILTER}')],
            w=3, h=9, unit="percentunit", decimals=1, steps=steps,
            options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                       "values": False},
                     "colorMode": "background", "graphMode": "none"}))
    panels.append(panel(g, "bargauge", _("OEE cascade (ISO 22400)"), [target(
        f'SELECT sum("pbt_s") AS "{_("planned busy")}", '
        f'sum("pbt_s") - sum("adot_s") AS "{_("busy on an order")}", '
        f'sum("apt_s") + sum("asut_s") AS "{_("running incl. setup")}", '
        f'sum("apt_s") AS "{_("producing")}", '
        f'sum("pru_pq_s") AS "{_("ideal time of output")}", '
        f'sum("pru_gq_s") AS "{_("ideal time of good parts")}" '
        f'FROM "oee_components" WHERE {MACHINE_FILTER}')], w=12, h=9, unit="s",
        steps=thresholds("blue"),
        description=_("A waterfall of planned busy time: each bar removes one loss (idle, "
                      "delays, setup, speed, defects). The last bar over the first is the "
                      "value-adding ratio."),
        options={"orientation": "horizontal", "displayMode": "basic",
                 "reduceOptions": {"calcs": ["sum"], "fields": "", "values": False}}))
    g.new_row()
    panels += [
        panel(g, "timeseries", _("Time elements"), [target(
            f'SELECT sum("apt_s") AS "{elements["APT"]}", '
            f'sum("asut_s") AS "{elements["ASUT"]}", sum("adet_s") AS "{elements["ADET"]}", '
            f'sum("adot_s") AS "{elements["ADOT"]}", '
            f'sum("planned_down_s") AS "{elements["PLANNED_DOWN"]}" '
            f'FROM "oee_components" WHERE {MACHINE_FILTER} GROUP BY time($__interval) fill(0)')],
            w=12, h=8, unit="s", interval="15m",
            custom={"drawStyle": "bars", "fillOpacity": 90, "stacking": {"mode": "percent"}},
            overrides=[_colour(elements[n], c) for n, c in ELEMENT_COLOURS.items()]),
        panel(g, "timeseries", _("Minor stops"), [target(
            f'SELECT sum("minor_stops") AS "{_("minor stops")}", '
            f'sum("minor_stop_s") AS "{_("minor stop time")}" '
            f'FROM "oee_components" WHERE {MACHINE_FILTER} GROUP BY time($__interval) fill(0)')],
            w=12, h=8, unit="none", interval="15m",
            description=_("Stops shorter than the minor-stop threshold (default 120 s): count "
                          "and time (inside ADET in the ISO model)."),
            custom={"drawStyle": "bars", "fillOpacity": 60},
            overrides=[{"matcher": {"id": "byName", "options": _("minor stop time")},
                        "properties": [{"id": "unit", "value": "s"},
                                       {"id": "custom.axisPlacement", "value": "right"},
                                       {"id": "custom.drawStyle", "value": "line"}]}]),
    ]
    g.new_row()
    panels += [
        panel(g, "barchart", _("Counts by product"), [target(
            f'SELECT sum("good") AS "{_("good")}", sum("scrap") AS "{_("scrap")}", '
            f'sum("rework") AS "{_("rework")}" '
            f'FROM "production" WHERE {MACHINE_FILTER} GROUP BY "product"', table=True)],
            w=8, h=8, unit="none",
            options={"xField": "product", "stacking": "normal", "orientation": "horizontal"},
            overrides=[_colour(_("good"), "green"), _colour(_("scrap"), "red"),
                       _colour(_("rework"), "orange"), *tag_headers(lang, "product")]),
        panel(g, "timeseries", _("Power"), [target(
            f'SELECT mean("power_kw") AS "{_("power")}" FROM "sample" WHERE '
            f'{MACHINE_FILTER} GROUP BY time($__interval), "machine" fill(none)',
            alias="$tag_machine")], w=8, h=8, unit="kwatt", minimum=0,
            description=_("Mean electrical power from the raw `power_kw` samples.")),
        panel(g, "timeseries", _("Energy"), [
            target(f'SELECT sum("quantity") AS "{_("electricity")}" FROM "energy" WHERE '
                   f'"carrier" = \'electricity\' AND {MACHINE_FILTER} '
                   'GROUP BY time($__interval) fill(0)'),
            target(f'SELECT sum("kgce") AS "{_("kgce")}" FROM "energy" '
                   f'WHERE {MACHINE_FILTER} GROUP BY time($__interval) fill(0)', ref="B")],
            w=8, h=8, unit="kwatth", interval="15m",
            custom={"drawStyle": "bars", "fillOpacity": 60},
            overrides=[{"matcher": {"id": "byName", "options": _("kgce")},
                        "properties": [{"id": "unit", "value": f"suffix: {_('kgce')}"},
                                       {"id": "custom.axisPlacement", "value": "right"},
                                       {"id": "custom.drawStyle", "value": "line"}]}]),
    ]
    variables = plant_variables(lang)
    machine = variables[-1]
    machine.update(multi=False, includeAll=False, current={})
    machine.pop("allValue", None)
    return dashboard(uid=UID, title=_("PlantStream · Machine"),
                     description=_("One machine: states, OEE cascade, counts, power, energy, "
                                   "minor stops."),
                     panels=panels, variables=variables, timezone=settings.timezone,
                     lang=lang)
