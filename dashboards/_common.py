"""What several dashboards share: plant template variables, filters, KPI expressions.

KPIs are ratios of sums of the stored components (docs/schema.md), never averages of
ratios, so any window and any selection of machines merges exactly.
"""

from __future__ import annotations

from typing import Any

from plantstream.dashboards._grafana import dashboard_uid, query_variable
from plantstream.i18n import N_, Lang, translator

__all__ = [
    "AVAILABILITY",
    "ELEMENT_NAMES",
    "MACHINE_FILTER",
    "OEE",
    "PERFORMANCE",
    "QUALITY",
    "SITE_FILTER",
    "element_names",
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


# ISO 22400 time elements as `state.element` stores them; English shows the codes
ELEMENT_NAMES: dict[str, str] = {
    "APT": N_("APT"), "ASUT": N_("ASUT"), "ADET": N_("ADET"), "ADOT": N_("ADOT"),
    "PLANNED_DOWN": N_("PLANNED_DOWN"), "NOT_PLANNED": N_("NOT_PLANNED")}


def element_names(lang: Lang) -> dict[str, str]:
    """element code -> what a value mapping shows in `lang`."""
    _ = translator(lang)
    return {code: _(name) for code, name in ELEMENT_NAMES.items()}


def plant_variables(lang: Lang = "en") -> list[dict[str, Any]]:
    """site -> line -> machine, each narrowing the next (multi-select, All = `.*`)."""
    _ = translator(lang)
    return [
        query_variable("site", _("Site"),
                       'SHOW TAG VALUES FROM "oee_components" WITH KEY = "site"'),
        query_variable("line", _("Line"),
                       'SHOW TAG VALUES FROM "oee_components" WITH KEY = "line" '
                       'WHERE "site" =~ /^$site$/'),
        query_variable("machine", _("Machine"),
                       'SHOW TAG VALUES FROM "oee_components" WITH KEY = "machine" '
                       'WHERE "site" =~ /^$site$/ AND "line" =~ /^$line$/'),
    ]


def machine_link(field: str = "machine", lang: Lang = "en") -> dict[str, Any]:
    """A data link from a row or series to the Machine dashboard in the same language,
    same time range."""
    _ = translator(lang)
    value = "${__data.fields." + field + "}"
    return {"title": _("Open machine {machine}").format(machine=value),
            "url": f"/d/{dashboard_uid('plantstream-machine', lang)}/machine?"
                   "${__url_time_range}&${site:queryparam}&var-machine=" + value}
