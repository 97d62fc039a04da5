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
    element_names,
    machine_link,
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
from plantstream.dashboards.settings import DashboardSettings
from plantstream.i18n import N_, Lang, translator

__all__ = ["UID", "WARNING_LEVELS", "build", "warning_levels"]

UID = "plantstream-overview"
# dual_control.warning_code -> (level, colour), as analytics.dual_control_status grades it
WARNING_LEVELS: dict[int, tuple[str, str]] = {
    0: (N_("green"), "green"), 1: (N_("yellow"), "yellow"), 2: (N_("orange"), "orange"),
    3: (N_("red"), "red")}


def warning_levels(lang: Lang) -> dict[int, tuple[str, str]]:
    """WARNING_LEVELS with the level names in `lang` (预警等级 绿/黄/橙/红)."""
    _ = translator(lang)
    return {code: (_(text), colour) for code, (text, colour) in WARNING_LEVELS.items()}

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


def build(settings: DashboardSettings, lang: Lang = "en") -> dict[str, Any]:
    _ = translator(lang)
    elements = element_names(lang)
    g = Grid()
    panels = [
        _ratio_stat(g, _("OEE"), OEE, _("oee"), OEE_STEPS,
                    _("Availability x performance x quality over the selected machines and "
                      "window, from summed ISO 22400 components (ratio of sums).")),
        _ratio_stat(g, _("Availability"), AVAILABILITY, _("availability"),
                    AVAILABILITY_STEPS, _("APT / PBT")),
        _ratio_stat(g, _("Performance"), PERFORMANCE, _("performance"), PERFORMANCE_STEPS,
                    _("Effectiveness: sum(ideal cycle time x produced) / APT. Blue above "
                      "100 %: the configured ideal cycle time is too slow (kept raw).")),
        _ratio_stat(g, _("Quality"), QUALITY, _("quality"), QUALITY_STEPS, _("GQ / PQ")),
        panel(g, "stat", _("Output"), [target(
            f'SELECT sum("gq") AS "{_("good")}", sum("sq") AS "{_("scrap")}", '
            f'sum("rq") AS "{_("rework")}" '
            f'FROM "oee_components" WHERE {MACHINE_FILTER}')], w=8, h=5, unit="none",
            description=_("Parts in the window: good, scrap, rework."),
            options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                       "values": False},
                     "colorMode": "none", "graphMode": "none", "textMode": "value_and_name"}),
    ]
    g.new_row()
    panels += [
        panel(g, "table", _("OEE by line"), [target(
            f'SELECT {AVAILABILITY} AS "{_("availability")}", '
            f'{PERFORMANCE} AS "{_("performance")}", '
            f'{QUALITY} AS "{_("quality")}", {OEE} AS "{_("oee")}", '
            f'sum("pq") AS "{_("produced")}", '
            f'sum("sq") AS "{_("scrap")}" FROM "oee_components" WHERE {MACHINE_FILTER} '
            'GROUP BY "line"', table=True)], w=12, h=8,
            description=_("Per line, ratios of summed components of its machines."),
            overrides=[{"matcher": {"id": "byRegexp", "options": "|".join(
                _(n) for n in ("availability", "performance", "quality", "oee"))},
                        "properties": [{"id": "unit", "value": "percentunit"},
                                       {"id": "decimals", "value": 1},
                                       {"id": "thresholds", "value": OEE_STEPS},
                                       {"id": "custom.cellOptions",
                                        "value": {"type": "color-background"}}]},
                       {"matcher": {"id": "byName", "options": "Time"},
                        "properties": [{"id": "custom.hidden", "value": True}]},
                       *tag_headers(lang, "line")]),
        panel(g, "timeseries", _("OEE trend by line"), [target(
            f'SELECT {OEE} AS "{_("oee")}" FROM "oee_components" WHERE {MACHINE_FILTER} '
            'GROUP BY time($__interval), "line" fill(none)', alias="$tag_line")],
            w=12, h=8, unit="percentunit", minimum=0, steps=OEE_STEPS, interval="5m",
            custom={"thresholdsStyle": {"mode": "dashed"}, "lineWidth": 2},
            description=_("OEE per line in buckets of at least 5 minutes.")),
    ]
    g.new_row()
    panels += [
        panel(g, "table", _("Machine states now"), [target(
            f'SELECT last("element") AS "{_("element")}", last("code") AS "{_("code")}" '
            f'FROM "state" WHERE {MACHINE_FILTER} GROUP BY "line", "machine"', table=True)],
            w=8, h=10, mappings=value_colours(ELEMENT_COLOURS, texts=elements),
            description=_("The latest state of every machine in the window, as its ISO "
                          "22400 time element. Click a machine to open it."),
            overrides=[{"matcher": {"id": "byName", "options": _("element")},
                        "properties": [{"id": "custom.cellOptions",
                                        "value": {"type": "color-background"}}]},
                       {"matcher": {"id": "byName", "options": "machine"},
                        "properties": [{"id": "links",
                                        "value": [machine_link(lang=lang)]}]},
                       {"matcher": {"id": "byName", "options": "Time"},
                        "properties": [{"id": "custom.hidden", "value": True}]},
                       *tag_headers(lang, "line", "machine")]),
        panel(g, "piechart", _("Where planned time went"), [target(
            f'SELECT sum("apt_s") AS "{elements["APT"]}", '
            f'sum("asut_s") AS "{elements["ASUT"]}", sum("adet_s") AS "{elements["ADET"]}", '
            f'sum("adot_s") AS "{elements["ADOT"]}", '
            f'sum("planned_down_s") AS "{elements["PLANNED_DOWN"]}" '
            f'FROM "oee_components" WHERE {MACHINE_FILTER}')], w=8, h=10, unit="s",
            description=_("Planned operation time split into ISO 22400 time elements."),
            options={"reduceOptions": {"calcs": ["sum"], "fields": "", "values": False},
                     "pieType": "donut", "legend": {"displayMode": "table",
                                                    "placement": "right",
                                                    "values": ["percent"]}},
            overrides=[{"matcher": {"id": "byName", "options": elements[name]},
                        "properties": [{"id": "color", "value": {"mode": "fixed",
                                                                 "fixedColor": colour}}]}
                       for name, colour in ELEMENT_COLOURS.items()]),
        panel(g, "bargauge", _("Six big losses"), [target(
            f'SELECT sum("adet_s") - sum("minor_stop_s") AS "{_("breakdowns")}", '
            f'sum("asut_s") AS "{_("setup and adjustment")}", '
            f'sum("minor_stop_s") AS "{_("minor stops")}", '
            f'sum("apt_s") - sum("pru_pq_s") AS "{_("reduced speed")}", '
            f'sum("pru_pq_s") - sum("pru_gq_s") - sum("pru_su_s") AS "{_("defects and rework")}", '
            f'sum("pru_su_s") AS "{_("start-up rejects (reduced yield)")}", '
            f'sum("adot_s") AS "{_("idle")}" FROM "oee_components" WHERE {MACHINE_FILTER}')],
            w=8, h=10, unit="s", steps=thresholds("orange"),
            description=_("TPM six big losses in seconds (ISO model: minor stops inside "
                          "ADET). Start-up rejects (reduced yield) come from sources that "
                          "count them apart; idle (ADOT) is shown beside the six."),
            options={"orientation": "horizontal", "displayMode": "gradient",
                     "reduceOptions": {"calcs": ["sum"], "fields": "", "values": False}}),
    ]
    g.new_row()
    panels += [
        panel(g, "timeseries", _("Output and scrap"), [target(
            f'SELECT sum("good") AS "{_("good")}", sum("scrap") AS "{_("scrap")}", '
            f'sum("rework") AS "{_("rework")}" '
            f'FROM "production" WHERE {MACHINE_FILTER} GROUP BY time($__interval) fill(0)')],
            w=12, h=8, unit="none", interval="15m",
            custom={"drawStyle": "bars", "fillOpacity": 80, "stacking": {"mode": "normal"}},
            overrides=[{"matcher": {"id": "byName", "options": _(name)},
                        "properties": [{"id": "color", "value": {"mode": "fixed",
                                                                 "fixedColor": colour}}]}
                       for name, colour in (("good", "green"), ("scrap", "red"),
                                            ("rework", "orange"))]),
        panel(g, "stat", _("Energy today"), [
            target(f'SELECT sum("quantity") AS "{_("electricity")}" FROM "energy" WHERE '
                   f'"carrier" = \'electricity\' AND {MACHINE_FILTER}'),
            target(f'SELECT sum("kgce") AS "{_("kgce")}" FROM "energy" '
                   f'WHERE {MACHINE_FILTER}', ref="B")],
            w=6, h=8, time_from="now/d", decimals=1,
            description=_("Since 00:00 plant time: electricity in kWh, all carriers in kgce "
                          "(GB/T 2589 coefficients, equivalent-value electricity)."),
            overrides=[{"matcher": {"id": "byName", "options": _("electricity")},
                        "properties": [{"id": "unit", "value": "kwatth"}]},
                       {"matcher": {"id": "byName", "options": _("kgce")},
                        "properties": [{"id": "unit",
                                        "value": f"suffix: {_('kgce')}"}]}],
            options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                       "values": False},
                     "colorMode": "none", "graphMode": "none", "textMode": "value_and_name"}),
        panel(g, "stat", _("Dual control"), [target(
            f'SELECT last("warning_code") AS "{_("warning")}", '
            f'last("ytd_tce") AS "{_("year to date")}", '
            f'last("allowance_to_date_tce") AS "{_("allowance to date")}", '
            f'last("annual_quota_tce") AS "{_("annual quota")}", '
            f'last("projected_year_end_tce") AS "{_("projected year end")}" '
            'FROM "dual_control" WHERE "site" =~ /^$site$/ AND $timeFilter GROUP BY "site"')],
            w=6, h=8, time_from="now/y", decimals=0, unit=f"suffix: {_('tce')}",
            description=_("Year to date against the allowance to date and the annual quota, "
                          "the run-rate projection, and the warning level (written daily by "
                          "the analytics side into `dual_control`)."),
            overrides=[{"matcher": {"id": "byName", "options": _("warning")},
                        "properties": [{"id": "unit", "value": "none"},
                                       {"id": "mappings",
                                        "value": value_colours(
                                            {}, numeric=warning_levels(lang))},
                                       {"id": "color", "value": {"mode": "thresholds"}},
                                       {"id": "thresholds", "value": thresholds(
                                           "green", (1, "yellow"), (2, "orange"),
                                           (3, "red"))}]}],
            options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                       "values": False},
                     "colorMode": "value", "graphMode": "none",
                     "textMode": "value_and_name"}),
    ]
    return dashboard(uid=UID, title=_("PlantStream · Plant overview"),
                     description=_("OEE, machine states, losses, output, energy and dual "
                                   "control for the plant."),
                     panels=panels, variables=plant_variables(lang), timezone=settings.timezone,
                     lang=lang)
