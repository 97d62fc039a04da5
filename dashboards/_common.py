"""What several dashboards share: plant template variables, filters, KPI expressions.

KPIs are ratios of sums of the stored components (docs/schema.md), never averages of
ratios, so any window and any selection of machines merges exactly.
"""

from __future__ import annotations

from typing import Any

from plantstream.dashboards._grafana import query_variable

__all__ = [
    "AVAILABILITY",
    "MACHINE_FILTER",
    "OEE",
    "PERFORMANCE",
    "QUALITY",
    "SITE_FILTER",
    "machine_link",
    "plant_variables",
]

SITE_FILTER = '"site" =~ /^$site$/ AND $timeFilter'
MACHINE_FILTER = ('"site" =~ /^$site$/ AND "line" =~ /^$line$/ AND "machine" =~ /^$machine$/ '
                  'AND $timeFilter')

AVAILABILITY = 'sum("apt_s") / sum("pbt_s")'
PERFORMANCE = 'sum("pru_pq_s") / sum("apt_s")'  # ISO 22400 effectiveness (may exceed 1)
QUALITY = 'sum("gq") / sum("pq")'
# availability x effectiveness x quality, with APT cancelled out
OEE = 'sum("pru_pq_s") / sum("pbt_s") * sum("gq") / sum("pq")'


def plant_variables() -> list[dict[str, Any]]:
    """site -> line -> machine, each narrowing the next (multi-select, All = `.*`)."""
    return [
        query_variable("site", "Site",
                       'SHOW TAG VALUES FROM "oee_components" WITH KEY = "site"'),
        query_variable("line", "Line",
                       'SHOW TAG VALUES FROM "oee_components" WITH KEY = "line" '
                       'WHERE "site" =~ /^$site$/'),
        query_variable("machine", "Machine",
                       'SHOW TAG VALUES FROM "oee_components" WITH KEY = "machine" '
                       'WHERE "site" =~ /^$site$/ AND "line" =~ /^$line$/'),
    ]


def machine_link(field: str = "machine") -> dict[str, Any]:
    """A data link from a row or series to the Machine dashboard, same time range."""
    return {"title": "Open machine ${__data.fields." + field + "}",
            "url": "/d/plantstream-machine/machine?${__url_time_range}&${site:queryparam}"
                   "&var-machine=${__data.fields." + field + "}"}
