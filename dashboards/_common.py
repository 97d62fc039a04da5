"""What several dashboards share: plant template variables, filters, KPI expressions.

KPIs are ratios of sums of the stored components (docs/schema.md), never averages of
ratios, so any window and any selection of machines merges exactly.
"""

from __future__ import annotations

from typing import Any

from plantstream.dashboards._grafana import dashboard_uid, query_variable
from plantstream.i18n import N_, Lang, translator
from plantstream.i18n.terms import CARRIERS, UNITS

__all__ = [
    "AVAILABILITY",
    "ELEMENT_NAMES",
    "MACHINE_FILTER",
    "OEE",
    "PERFORMANCE",
    "QUALITY",
    "SITE_FILTER",
    "carrier_names",
    "element_names",
    "machine_link",
    "plant_variables",
    "tag_headers",
    "unit_names",
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


# tag keys (GROUP BY columns) as a column header shows them
TAG_NAMES: dict[str, str] = {"site": N_("site"), "line": N_("line"), "machine": N_("machine"),
                             "carrier": N_("carrier"), "product": N_("product"),
                             "gateway": N_("gateway"), "enterprise": N_("enterprise"),
                             "jurisdiction": N_("jurisdiction")}


def tag_headers(lang: Lang, *tags: str) -> list[dict[str, Any]]:
    """Overrides showing GROUP BY tag columns under their names in `lang` (Grafana's
    `displayName`: the field keeps its name, so data links on it still work). None in
    English, where the tag keys are shown as they are."""
    if lang == "en":
        return []
    _ = translator(lang)
    return [{"matcher": {"id": "byName", "options": tag},
             "properties": [{"id": "displayName", "value": _(TAG_NAMES[tag])}]}
            for tag in tags]


def _value_texts(names: dict[str, str], lang: Lang) -> dict[str, Any]:
    _ = translator(lang)
    return {"type": "value", "options": {key: {"text": _(name), "index": i}
                                         for i, (key, name) in enumerate(names.items())}}


def carrier_names(lang: Lang, column: str = "carrier") -> list[dict[str, Any]]:
    """Overrides naming the energy carriers in `lang`: a value mapping on the `column`
    of a table, and a display name per carrier for series named after one (a legend
    `$tag_carrier`). None in English."""
    if lang == "en":
        return []
    _ = translator(lang)
    return [{"matcher": {"id": "byName", "options": column},
             "properties": [{"id": "mappings", "value": [_value_texts(CARRIERS, lang)]}]},
            *({"matcher": {"id": "byName", "options": carrier},
               "properties": [{"id": "displayName", "value": _(name)}]}
              for carrier, name in CARRIERS.items())]


def unit_names(lang: Lang, column: str) -> list[dict[str, Any]]:
    """An override showing the unit values of `column` (kWh, m3, ...) in `lang`."""
    if lang == "en":
        return []
    return [{"matcher": {"id": "byName", "options": column},
             "properties": [{"id": "mappings", "value": [_value_texts(UNITS, lang)]}]}]
