"""Energy and dual control: consumption by carrier in physical units and tce,
unit-product consumption against limit grades, intensity per 10,000 yuan against its
target, the year-to-date trajectory against the quota with the projection.

Quota, allowance, intensity and its target are not telemetry: the analytics side
writes them once a day into the `dual_control` measurement (docs/dashboards.md).
"""

from __future__ import annotations

from typing import Any

from plantstream.dashboards._common import (
    MACHINE_FILTER,
    carrier_names,
    plant_variables,
    tag_headers,
    unit_names,
)
from plantstream.dashboards._grafana import Grid, dashboard, panel, target, thresholds
from plantstream.dashboards.overview import warning_levels
from plantstream.dashboards.settings import DashboardSettings
from plantstream.i18n import Lang, translator

__all__ = ["UID", "build"]

UID = "plantstream-energy"
_GRADE_COLOURS = ("green", "yellow", "orange", "red", "dark-red", "purple")


def _daily(settings: DashboardSettings) -> str:
    return f"GROUP BY time(1d), \"site\" fill(none) tz('{settings.timezone}')"


def build(settings: DashboardSettings, lang: Lang = "en") -> dict[str, Any]:
    _ = translator(lang)
    tce = _("tce")
    tz = settings.timezone
    grades = settings.limit_grades[0] if settings.limit_grades else None
    grade_steps = thresholds("green", *(
        (limit, _GRADE_COLOURS[i + 1]) for i, limit in enumerate(grades.kgce_per_unit))
    ) if grades else thresholds("green")
    g = Grid()
    panels = [
        panel(g, "table", _("Consumption by carrier"), [target(
            f'SELECT sum("quantity") AS "{_("quantity")}", last("unit") AS "{_("unit")}", '
            f'sum("kgce") / 1000 AS "{tce}", sum("kgco2") / 1000 AS "{_("tCO2")}" '
            f'FROM "energy" WHERE {MACHINE_FILTER} GROUP BY "carrier"', table=True)],
            w=12, h=8, decimals=3,
            description=_("Physical units per carrier (kWh, m3, kg), converted to tce with "
                          "the GB/T 2589 coefficients and to tCO2."),
            overrides=[{"matcher": {"id": "byName", "options": "Time"},
                        "properties": [{"id": "custom.hidden", "value": True}]},
                       *tag_headers(lang, "carrier"), *carrier_names(lang),
                       *unit_names(lang, _("unit"))]),
        panel(g, "timeseries", _("Energy by carrier"), [target(
            f'SELECT sum("kgce") / 1000 AS "{tce}" FROM "energy" '
            f'WHERE {MACHINE_FILTER} GROUP BY time($__interval), "carrier" fill(0)',
            alias="$tag_carrier")], w=12, h=8, unit=f"suffix: {tce}", interval="1h",
            custom={"drawStyle": "bars", "fillOpacity": 80, "stacking": {"mode": "normal"}},
            overrides=carrier_names(lang)),  # the legend: one series per carrier
    ]
    g.new_row()
    product = grades.product if grades else _("the product")
    kgce, good = _("kgce"), _("good")
    panels += [
        panel(g, "timeseries", _("Unit-product consumption ({product}) against limit "
                                 "grades").format(product=product), [
            target(f'SELECT sum("kgce") AS "{kgce}" FROM "energy" '
                   f'WHERE {MACHINE_FILTER} GROUP BY time($__interval) fill(none)'),
            target(f'SELECT sum("good") AS "{good}" FROM "production" '
                   f'WHERE {MACHINE_FILTER} GROUP BY time($__interval) fill(none)', ref="B")],
            w=12, h=9, unit=f"suffix: {_('kgce/unit')}", interval="1h", steps=grade_steps,
            custom={"thresholdsStyle": {"mode": "line+area"}, "lineWidth": 2},
            description=_("kgce per good part of the selection (select the line that makes "
                          "{product}); coloured bands are the limit standard's grades "
                          "(grade 1 strictest; configuration, not telemetry).").format(
                              product=product),
            transformations=[
                {"id": "joinByField", "options": {"byField": "Time", "mode": "inner"}},
                {"id": "calculateField", "options": {
                    "mode": "binary", "alias": _("kgce per unit"), "replaceFields": True,
                    "binary": {"left": kgce, "operator": "/", "right": good}}}]),
        panel(g, "timeseries", _("Energy intensity against target"), [target(
            f'SELECT last("intensity") AS "{_("intensity")}", '
            f'last("intensity_target") AS "{_("target")}" '
            f'FROM "dual_control" WHERE "site" =~ /^$site$/ AND $timeFilter {_daily(settings)}')],
            w=12, h=9, unit=f"suffix: {_('tce/10k CNY')}", time_from="now/y", decimals=3,
            description=_("tce per 10,000 yuan of value added (comparable prices), year to "
                          "date, against the intensity target."),
            overrides=[{"matcher": {"id": "byName", "options": _("target")},
                        "properties": [{"id": "custom.lineStyle",
                                        "value": {"fill": "dash", "dash": [10, 10]}},
                                       {"id": "color", "value": {"mode": "fixed",
                                                                 "fixedColor": "red"}}]}]),
    ]
    g.new_row()
    panels += [
        panel(g, "timeseries", _("Year to date against quota"), [target(
            f'SELECT last("ytd_tce") AS "{_("year to date")}", '
            f'last("allowance_to_date_tce") AS "{_("allowance to date")}", '
            f'last("annual_quota_tce") AS "{_("annual quota")}", '
            f'last("projected_year_end_tce") AS "{_("projected year end")}" '
            'FROM "dual_control" '
            f'WHERE "site" =~ /^$site$/ AND $timeFilter {_daily(settings)}')],
            w=16, h=9, unit=f"suffix: {tce}", time_from="now/y", decimals=0,
            description=_("Cumulative consumption against the straight-line (or seasonal) "
                          "allowance and the annual quota; the projected year-end total is "
                          "the run-rate projection of each day."),
            overrides=[{"matcher": {"id": "byName", "options": _("annual quota")},
                        "properties": [{"id": "color", "value": {"mode": "fixed",
                                                                 "fixedColor": "red"}}]},
                       {"matcher": {"id": "byName", "options": _("projected year end")},
                        "properties": [{"id": "custom.lineStyle",
                                        "value": {"fill": "dash", "dash": [10, 10]}}]}]),
        panel(g, "stat", _("Dual-control warning"), [target(
            f'SELECT last("warning_code") AS "{_("warning")}", '
            f'last("projection_ratio") AS "{_("projected / quota")}", '
            f'last("intensity_ratio") AS "{_("intensity / target")}" FROM "dual_control" '
            'WHERE "site" =~ /^$site$/ AND $timeFilter GROUP BY "site"')],
            w=8, h=9, time_from="now/y", unit="percentunit", decimals=1,
            steps=thresholds("green", (0.9, "yellow"), (1.0, "orange"), (1.1, "red")),
            description=_("Green at or below 90 % of the quota / target, yellow above, "
                          "orange above 100 %, red above 110 % or when the year to date "
                          "already exceeds the quota."),
            overrides=[{"matcher": {"id": "byName", "options": _("warning")},
                        "properties": [{"id": "unit", "value": "none"},
                                       {"id": "mappings", "value": [{"type": "value",
                                        "options": {str(code): {"text": text, "color": colour,
                                                                "index": code}
                                                    for code, (text, colour)
                                                    in warning_levels(lang).items()}}]},
                                       {"id": "thresholds", "value": thresholds(
                                           "green", (1, "yellow"), (2, "orange"),
                                           (3, "red"))}]}],
            options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                       "values": False},
                     "colorMode": "background", "graphMode": "none",
                     "textMode": "value_and_name"}),
    ]
    return dashboard(uid=UID, title=_("PlantStream · Energy and dual control"),
                     description=_("Energy by carrier, unit-product consumption, intensity "
                                   "and dual control ({zone}).").format(zone=tz),
                     panels=panels, variables=plant_variables(lang), timezone=tz,
                     time_from="now/d", lang=lang)
