"""Gateways and ingest: per-gateway freshness, backlog size and age, outages, shed
data, dead letters with reasons, ingest rate and write latency."""

from __future__ import annotations

from typing import Any

from plantstream.dashboards._grafana import (
    Grid,
    dashboard,
    panel,
    query_variable,
    target,
    thresholds,
)
from plantstream.dashboards.settings import DashboardSettings

__all__ = ["UID", "build"]

UID = "plantstream-gateways"
GATEWAY_FILTER = '"site" =~ /^$site$/ AND "gateway" =~ /^$gateway$/ AND $timeFilter'
LAG_STEPS = thresholds("green", (60, "yellow"), (300, "red"))  # seconds behind


def _hide_time() -> dict[str, Any]:
    return {"matcher": {"id": "byName", "options": "Time"},
            "properties": [{"id": "custom.hidden", "value": True}]}


def build(settings: DashboardSettings) -> dict[str, Any]:
    g = Grid()
    panels = [
        panel(g, "table", "Gateways: last batch", [target(
            'SELECT last("lag_s") AS "lag", last("seq") AS "last seq", '
            'count("seq") AS "batches", sum("samples") AS "samples" FROM "batch" '
            f'WHERE {GATEWAY_FILTER} GROUP BY "gateway"', table=True)], w=12, h=7,
            description="Lag = receipt time - end of the batch interval (freshness).",
            overrides=[_hide_time(),
                       {"matcher": {"id": "byName", "options": "lag"},
                        "properties": [{"id": "unit", "value": "s"},
                                       {"id": "thresholds", "value": LAG_STEPS},
                                       {"id": "custom.cellOptions",
                                        "value": {"type": "color-background"}}]}]),
        panel(g, "table", "Gateways: link health", [target(
            'SELECT last("backlog_batches") AS "backlog", '
            'last("backlog_age_s") AS "backlog age", last("outages") AS "outages", '
            'last("outage_s") AS "outage time", last("shed_samples") AS "shed samples", '
            'last("source_errors") AS "source errors", '
            'last("published_batches") AS "published" FROM "gateway_health" '
            f'WHERE {GATEWAY_FILTER} GROUP BY "gateway"', table=True)], w=12, h=7,
            description="The latest health report of each gateway: disk-queue backlog, "
                        "outages since start, samples shed when the queue was full.",
            overrides=[_hide_time(),
                       {"matcher": {"id": "byName", "options": "backlog"},
                        "properties": [{"id": "thresholds", "value": thresholds(
                            "green", (1, "yellow"), (60, "red"))},
                            {"id": "custom.cellOptions",
                             "value": {"type": "color-background"}}]},
                       {"matcher": {"id": "byRegexp", "options": "backlog age|outage time"},
                        "properties": [{"id": "unit", "value": "s"}]}]),
    ]
    g.new_row()
    panels += [
        panel(g, "timeseries", "Freshness (lag)", [target(
            f'SELECT max("lag_s") AS "lag" FROM "batch" WHERE {GATEWAY_FILTER} '
            'GROUP BY time($__interval), "gateway" fill(none)', alias="$tag_gateway")],
            w=12, h=8, unit="s", steps=LAG_STEPS,
            custom={"thresholdsStyle": {"mode": "dashed"}}),
        panel(g, "timeseries", "Backlog", [
            target('SELECT max("backlog_batches") AS "batches" FROM "gateway_health" '
                   f'WHERE {GATEWAY_FILTER} GROUP BY time($__interval), "gateway" fill(none)',
                   alias="$tag_gateway batches"),
            target('SELECT max("backlog_age_s") AS "age" FROM "gateway_health" '
                   f'WHERE {GATEWAY_FILTER} GROUP BY time($__interval), "gateway" fill(none)',
                   ref="B", alias="$tag_gateway age")],
            w=12, h=8, unit="none",
            description="Batches waiting in each gateway's disk queue and the age of the "
                        "oldest one.",
            overrides=[{"matcher": {"id": "byRegexp", "options": ".* age"},
                        "properties": [{"id": "unit", "value": "s"},
                                       {"id": "custom.axisPlacement", "value": "right"}]}]),
    ]
    g.new_row()
    panels += [
        panel(g, "timeseries", "Outages and shed data", [target(
            'SELECT max("outage_s") AS "outage time", max("shed_samples") AS "shed samples" '
            f'FROM "gateway_health" WHERE {GATEWAY_FILTER} '
            'GROUP BY time($__interval), "gateway" fill(none)',
            alias="$tag_gateway $col")], w=8, h=8, unit="s",
            overrides=[{"matcher": {"id": "byRegexp", "options": ".* shed samples"},
                        "properties": [{"id": "unit", "value": "none"},
                                       {"id": "custom.axisPlacement", "value": "right"}]}]),
        panel(g, "timeseries", "Dead letters by reason", [target(
            'SELECT sum("count") AS "dead letters" FROM "dead_letter" WHERE $timeFilter '
            'GROUP BY time($__interval), "reason" fill(0)', alias="$tag_reason")],
            w=8, h=8, unit="none",
            custom={"drawStyle": "bars", "fillOpacity": 80, "stacking": {"mode": "normal"}}),
        panel(g, "table", "Latest dead letters", [target(
            'SELECT "reason"::tag AS "reason", "topic" AS "topic", "detail" AS "detail", '
            '"size" AS "size" FROM "dead_letter" WHERE $timeFilter ORDER BY time DESC LIMIT 100',
            table=True)], w=8, h=8,
            description="What ingest could not accept, newest first; the message itself is "
                        "on the dead-letter topic."),
    ]
    g.new_row()
    panels += [
        panel(g, "timeseries", "Ingest rate", [target(
            'SELECT mean("messages_per_s") AS "messages/s", mean("samples_per_s") AS "samples/s", '
            'mean("points_per_s") AS "points/s" FROM "ingest_health" WHERE $timeFilter '
            'GROUP BY time($__interval), "worker" fill(none)', alias="$tag_worker $col")],
            w=12, h=8, unit="none"),
        panel(g, "timeseries", "Write latency, lag and spool", [target(
            'SELECT max("write_latency_s") AS "write latency", max("lag_s") AS "ingest lag", '
            'max("spool_depth") AS "spool depth" FROM "ingest_health" WHERE $timeFilter '
            'GROUP BY time($__interval), "worker" fill(none)', alias="$tag_worker $col")],
            w=12, h=8, unit="s",
            overrides=[{"matcher": {"id": "byRegexp", "options": ".* spool depth"},
                        "properties": [{"id": "unit", "value": "none"},
                                       {"id": "custom.axisPlacement", "value": "right"}]}]),
    ]
    variables = [
        query_variable("site", "Site", 'SHOW TAG VALUES FROM "batch" WITH KEY = "site"'),
        query_variable("gateway", "Gateway", 'SHOW TAG VALUES FROM "batch" WITH KEY = "gateway" '
                       'WHERE "site" =~ /^$site$/'),
    ]
    return dashboard(uid=UID, title="PlantStream · Gateways and ingest",
                     description="Edge gateways' freshness, backlog and outages; dead "
                                 "letters; ingest throughput and latency.",
                     panels=panels, variables=variables, timezone=settings.timezone,
                     time_from="now-6h", refresh="30s")
