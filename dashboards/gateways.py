"""Gateways and ingest: per-gateway freshness, backlog size and age, outages, shed
data, dead letters with reasons, ingest rate and write latency."""

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
)
from plantstream.dashboards.settings import DashboardSettings
from plantstream.i18n import Lang, translator

__all__ = ["UID", "build"]

UID = "plantstream-gateways"
GATEWAY_FILTER = '"site" =~ /^$site$/ AND "gateway" =~ /^$gateway$/ AND $timeFilter'
LAG_STEPS = thresholds("green", (60, "yellow"), (300, "red"))  # seconds behind


def _hide_time() -> dict[str, Any]:
    return {"matcher": {"id": "byName", "options": "Time"},
            "properties": [{"id": "custom.hidden", "value": True}]}


def build(settings: DashboardSettings, lang: Lang = "en") -> dict[str, Any]:
    _ = translator(lang)
    g = Grid()
    panels = [
        panel(g, "table", _("Gateways: last batch"), [target(
            f'SELECT last("lag_s") AS "{_("lag")}", last("seq") AS "{_("last seq")}", '
            f'count("seq") AS "{_("batches")}", sum("samples") AS "{_("samples")}" '
            'FROM "batch" '
            f'WHERE {GATEWAY_FILTER} GROUP BY "gateway"', table=True)], w=12, h=7,
            description=_("Lag = receipt time - end of the batch interval (freshness)."),
            overrides=[_hide_time(), *tag_headers(lang, "gateway"),
                       {"matcher": {"id": "byName", "options": _("lag")},
                        "properties": [{"id": "unit", "value": "s"},
                                       {"id": "thresholds", "value": LAG_STEPS},
                                       {"id": "custom.cellOptions",
                                        "value": {"type": "color-background"}}]}]),
        panel(g, "table", _("Gateways: link health"), [target(
            f'SELECT last("backlog_batches") AS "{_("backlog")}", '
            f'last("backlog_age_s") AS "{_("backlog age")}", '
            f'last("outages") AS "{_("outages")}", '
            f'last("outage_s") AS "{_("outage time")}", '
            f'last("shed_samples") AS "{_("shed samples")}", '
            f'last("source_errors") AS "{_("source errors")}", '
            f'last("published_batches") AS "{_("published")}" FROM "gateway_health" '
            f'WHERE {GATEWAY_FILTER} GROUP BY "gateway"', table=True)], w=12, h=7,
            description=_("The latest health report of each gateway: disk-queue backlog, "
                          "outages since start, samples shed when the queue was full."),
            overrides=[_hide_time(), *tag_headers(lang, "gateway"),
                       {"matcher": {"id": "byName", "options": _("backlog")},
                        "properties": [{"id": "thresholds", "value": thresholds(
                            "green", (1, "yellow"), (60, "red"))},
                            {"id": "custom.cellOptions",
                             "value": {"type": "color-background"}}]},
                       {"matcher": {"id": "byRegexp",
                                    "options": f"{_('backlog age')}|{_('outage time')}"},
                        "properties": [{"id": "unit", "value": "s"}]}]),
    ]
    g.new_row()
    panels += [
        panel(g, "timeseries", _("Freshness (lag)"), [target(
            f'SELECT max("lag_s") AS "{_("lag")}" FROM "batch" WHERE {GATEWAY_FILTER} '
            'GROUP BY time($__interval), "gateway" fill(none)', alias="$tag_gateway")],
            w=12, h=8, unit="s", steps=LAG_STEPS,
            custom={"thresholdsStyle": {"mode": "dashed"}}),
        panel(g, "timeseries", _("Backlog"), [
            target(f'SELECT max("backlog_batches") AS "{_("batches")}" FROM "gateway_health" '
                   f'WHERE {GATEWAY_FILTER} GROUP BY time($__interval), "gateway" fill(none)',
                   alias=f"$tag_gateway {_('batches')}"),
            target(f'SELECT max("backlog_age_s") AS "{_("age")}" FROM "gateway_health" '
                   f'WHERE {GATEWAY_FILTER} GROUP BY time($__interval), "gateway" fill(none)',
                   ref="B", alias=f"$tag_gateway {_('age')}")],
            w=12, h=8, unit="none",
            description=_("Batches waiting in each gateway's disk queue and the age of the "
                          "oldest one."),
            overrides=[{"matcher": {"id": "byRegexp", "options": f".* {_('age')}"},
                        "properties": [{"id": "unit", "value": "s"},
                                       {"id": "custom.axisPlacement", "value": "right"}]}]),
    ]
    g.new_row()
    panels += [
        panel(g, "timeseries", _("Outages and shed data"), [target(
            f'SELECT max("outage_s") AS "{_("outage time")}", '
            f'max("shed_samples") AS "{_("shed samples")}" '
            f'FROM "gateway_health" WHERE {GATEWAY_FILTER} '
            'GROUP BY time($__interval), "gateway" fill(none)',
            alias="$tag_gateway $col")], w=8, h=8, unit="s",
            overrides=[{"matcher": {"id": "byRegexp", "options": f".* {_('shed samples')}"},
                        "properties": [{"id": "unit", "value": "none"},
                                       {"id": "custom.axisPlacement", "value": "right"}]}]),
        panel(g, "timeseries", _("Dead letters by reason"), [target(
            f'SELECT sum("count") AS "{_("dead letters")}" FROM "dead_letter" WHERE $timeFilter '
            'GROUP BY time($__interval), "reason" fill(0)', alias="$tag_reason")],
            w=8, h=8, unit="none",
            custom={"drawStyle": "bars", "fillOpacity": 80, "stacking": {"mode": "normal"}}),
        panel(g, "table", _("Latest dead letters"), [target(
            f'SELECT "reason"::tag AS "{_("reason")}", "topic" AS "{_("topic")}", '
            f'"detail" AS "{_("detail")}", "size" AS "{_("size")}" FROM "dead_letter" '
            'WHERE $timeFilter ORDER BY time DESC LIMIT 100',
            table=True)], w=8, h=8,
            description=_("What ingest could not accept, newest first; the message itself is "
                          "on the dead-letter topic.")),
    ]
    g.new_row()
    panels += [
        panel(g, "timeseries", _("Ingest rate"), [target(
            f'SELECT mean("messages_per_s") AS "{_("messages/s")}", '
            f'mean("samples_per_s") AS "{_("samples/s")}", '
            f'mean("points_per_s") AS "{_("points/s")}" FROM "ingest_health" WHERE $timeFilter '
            'GROUP BY time($__interval), "worker" fill(none)', alias="$tag_worker $col")],
            w=12, h=8, unit="none"),
        panel(g, "timeseries", _("Write latency, lag and spool"), [target(
            f'SELECT max("write_latency_s") AS "{_("write latency")}", '
            f'max("lag_s") AS "{_("ingest lag")}", '
            f'max("spool_depth") AS "{_("spool depth")}" FROM "ingest_health" WHERE $timeFilter '
            'GROUP BY time($__interval), "worker" fill(none)', alias="$tag_worker $col")],
            w=12, h=8, unit="s",
            overrides=[{"matcher": {"id": "byRegexp", "options": f".* {_('spool depth')}"},
                        "properties": [{"id": "unit", "value": "none"},
                                       {"id": "custom.axisPlacement", "value": "right"}]}]),
    ]
    variables = [
        query_variable("site", _("Site"), 'SHOW TAG VALUES FROM "batch" WITH KEY = "site"'),
        query_variable("gateway", _("Gateway"), 'SHOW TAG VALUES FROM "batch" WITH KEY = "gateway" '
                       'WHERE "site" =~ /^$site$/'),
    ]
    return dashboard(uid=UID, title=_("PlantStream · Gateways and ingest"),
                     description=_("Edge gateways' freshness, backlog and outages; dead "
                                   "letters; ingest throughput and latency."),
                     panels=panels, variables=variables, timezone=settings.timezone,
                     time_from="now-6h", refresh="30s", lang=lang)
