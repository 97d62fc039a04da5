"""The jurisdiction's "Each Mu is a Hero" evaluation: enterprises by class, the ranking
with each indicator, and the energy headroom against the jurisdiction's quota.

The evaluation is not telemetry: `plantstream rollups each-mu` writes it into the
`each_mu` and `each_mu_jurisdiction` measurements after each month's financials
(docs/each-mu.md, docs/dashboards.md). Panels read the latest evaluation of this year.
"""

from __future__ import annotations

from typing import Any

from plantstream.dashboards._common import tag_headers
from plantstream.dashboards._grafana import (
    Grid,
    dashboard,
    panel,
    query_variable,
    target,
    thresholds,
    value_colours,
)
from plantstream.dashboards.overview import warning_levels
from plantstream.dashboards.settings import DashboardSettings
from plantstream.i18n import N_, Lang, translator

__all__ = ["UID", "build"]

UID = "plantstream-jurisdiction"
_FILTER = '"jurisdiction" =~ /^$jurisdiction$/ AND $timeFilter'
CLASS_COLOURS = {"A": "green", "B": "blue", "C": "yellow", "D": "red"}
INDICATORS = (("tax_per_mu", N_("tax / mu")), ("value_added_per_mu", N_("VA / mu")),
              ("value_added_per_tce", N_("VA / tce")), ("value_added_per_emission", N_("VA / t")),
              ("rd_share", N_("R&D share")), ("labour_productivity", N_("VA / employee")))
CLASS_NAMES = {"A": N_("A"), "B": N_("B"), "C": N_("C"), "D": N_("D")}


def build(settings: DashboardSettings, lang: Lang = "en") -> dict[str, Any]:
    _ = translator(lang)
    tz = settings.timezone
    tce = _("tce")
    not_evaluable = _("not evaluable")
    g = Grid()
    panels = [
        panel(g, "stat", _("Enterprises by class"), [target(
            f'SELECT last("class_a") AS "{_("A")}", last("class_b") AS "{_("B")}", '
            f'last("class_c") AS "{_("C")}", last("class_d") AS "{_("D")}", '
            f'last("not_evaluable") AS "{not_evaluable}" '
            f'FROM "each_mu_jurisdiction" WHERE {_FILTER} GROUP BY "jurisdiction"')],
            w=12, h=6, time_from="now/y", decimals=0,
            description=_("The latest evaluation this year: A priority development, B "
                          "improve, C transform, D rectify; not evaluable: an input is "
                          "missing (never scored as 0)."),
            overrides=[{"matcher": {"id": "byName", "options": name},
                        "properties": [{"id": "color", "value": {"mode": "fixed",
                                                                 "fixedColor": colour}}]}
                       for name, colour in [*((_(CLASS_NAMES[c]), colour)
                                              for c, colour in CLASS_COLOURS.items()),
                                            (not_evaluable, "#8e8e8e")]],
            options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                       "values": False},
                     "colorMode": "background", "graphMode": "none",
                     "textMode": "value_and_name"}),
        panel(g, "stat", _("Energy headroom"), [target(
            f'SELECT last("annual_quota_tce") AS "{_("quota")}", '
            f'last("ytd_tce") AS "{_("measured")}", '
            f'last("headroom_to_date_tce") AS "{_("headroom to date")}", '
            f'last("projected_headroom_tce") AS "{_("projected headroom")}", '
            f'last("warning_code") AS "{_("warning")}" '
            f'FROM "each_mu_jurisdiction" WHERE {_FILTER} GROUP BY "jurisdiction"')],
            w=12, h=6, time_from="now/y", unit=f"suffix: {tce}", decimals=0,
            description=_("The jurisdiction's annual energy quota minus the measured "
                          "controlled consumption of all its enterprises to date, and minus "
                          "the projected year end (dual-control run rate)."),
            overrides=[{"matcher": {"id": "byName", "options": _("warning")},
                        "properties": [{"id": "unit", "value": "none"},
                                       {"id": "mappings", "value": [{"type": "value",
                                        "options": {str(code): {"text": text, "color": colour,
                                                                "index": code}
                                                    for code, (text, colour)
                                                    in warning_levels(lang).items()}}]},
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
    indicator_fields = ", ".join(f'last("{name}") AS "{_(label)}"'
                                 for name, label in INDICATORS)
    rank = _("rank")
    panels += [
        panel(g, "table", _("Ranking"), [target(
            f'SELECT last("rank") AS "{rank}", last("score") AS "{_("score")}", '
            f'last("class") AS "{_("class")}", {indicator_fields}, '
            f'last("missing") AS "{_("missing")}" '
            f'FROM "each_mu" WHERE {_FILTER} GROUP BY "enterprise"', table=True)],
            w=24, h=12, time_from="now/y", decimals=2,
            description=_("Every enterprise of the jurisdiction by rank (latest evaluation "
                          "this year): score, class and each indicator (10,000 yuan per "
                          "mu, per tce, per tonne, per employee; R&D as a share of "
                          "revenue). Not evaluable enterprises have no rank and list what "
                          "is missing."),
            overrides=[
                {"matcher": {"id": "byName", "options": "Time"},
                 "properties": [{"id": "custom.hidden", "value": True}]},
                {"matcher": {"id": "byName", "options": rank},
                 "properties": [{"id": "decimals", "value": 0}]},
                {"matcher": {"id": "byName", "options": _("class")},
                 "properties": [{"id": "mappings", "value": value_colours(CLASS_COLOURS)},
                                {"id": "custom.cellOptions",
                                 "value": {"type": "color-background"}}]},
                {"matcher": {"id": "byName", "options": _("R&D share")},
                 "properties": [{"id": "unit", "value": "percentunit"}]},
                *tag_headers(lang, "enterprise")],
            options={"sortBy": [{"displayName": rank, "desc": False}], "showHeader": True}),
    ]
    g.new_row()
    panels += [
        panel(g, "timeseries", _("Energy to date against the jurisdiction's quota"), [target(
            f'SELECT last("ytd_tce") AS "{_("measured to date")}", '
            f'last("annual_quota_tce") AS "{_("annual quota")}", '
            f'last("projected_year_end_tce") AS "{_("projected year end")}" '
            f'FROM "each_mu_jurisdiction" WHERE {_FILTER} '
            f"GROUP BY time(1d), \"jurisdiction\" fill(none) tz('{tz}')")],
            w=24, h=8, time_from="now/y", unit=f"suffix: {tce}", decimals=0,
            description=_("One point per monthly evaluation (year to date): measured "
                          "controlled consumption, the quota and the projected year end."),
            custom={"drawStyle": "line", "pointSize": 8, "showPoints": "always",
                    "spanNulls": True},
            overrides=[{"matcher": {"id": "byName", "options": _("annual quota")},
                        "properties": [{"id": "color", "value": {"mode": "fixed",
                                                                 "fixedColor": "red"}}]},
                       {"matcher": {"id": "byName", "options": _("projected year end")},
                        "properties": [{"id": "custom.lineStyle",
                                        "value": {"fill": "dash", "dash": [10, 10]}}]}]),
    ]
    variables = [query_variable(
        "jurisdiction", _("Jurisdiction"),
        'SHOW TAG VALUES FROM "each_mu_jurisdiction" WITH KEY = "jurisdiction"',
        multi=False, include_all=False)]
    return dashboard(uid=UID, title=_("PlantStream · Each Mu is a Hero (jurisdiction)"),
                     description=_("Per-mu evaluation of a jurisdiction's enterprises: "
                                   "classes, ranking, indicators and the energy headroom "
                                   "({zone}).").format(zone=tz),
                     panels=panels, variables=variables, timezone=tz, time_from="now/y",
                     refresh="1h", lang=lang)
