"""What a person reads in a report, per language: names of figures, periods, roles,
warning levels and bases. Presentation only: the canonical JSON keeps its field names,
ids and values in every language, so its content hash does not depend on the language.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from plantstream.i18n import N_, Lang, date_label, format_number, month_label, translator
from plantstream.i18n.terms import CARRIERS, carrier_name

__all__ = ["FIELDS", "basis_label", "data_source_label", "field_label", "level_label",
           "number", "period_label", "role_label", "scope_type_label", "source_label"]

ROLES: Final = {
    "controlled": N_("controlled"),
    "feedstock": N_("feedstock"),
    "renewable_certified": N_("certified renewable"),
    "sent_off_site": N_("sent off site"),
}
LEVELS: Final = {"green": N_("green"), "yellow": N_("yellow"), "orange": N_("orange"),
                 "red": N_("red")}
SCOPE_TYPES: Final = {"site": N_("site"), "enterprise": N_("enterprise")}
ELECTRICITY_BASES: Final = {"equivalent": N_("equivalent value"),
                            "equal_value": N_("equal value (generation based)")}

# the report's field names (reports/model.py) as a person reads them: the CSV's label
# column is the labels of a field's path, joined
FIELDS: Final[dict[str, str]] = {
    "schema_version": N_("schema version"),
    "content_sha256": N_("content SHA-256"),
    "kind": N_("kind"),
    "scope": N_("scope"),
    "type": N_("type"),
    "id": N_("id"),
    "name": N_("name"),
    "enterprise_id": N_("enterprise id"),
    "enterprise_name": N_("enterprise name"),
    "jurisdiction": N_("jurisdiction"),
    "sites": N_("sites"),
    "timezone": N_("time zone"),
    "period": N_("period"),
    "label": N_("label"),
    "start": N_("start"),
    "end": N_("end (exclusive)"),
    "data_end": N_("end of data"),
    "days": N_("days"),
    "energy": N_("energy"),
    "carriers": N_("by carrier"),
    "carrier": N_("carrier"),
    "role": N_("role"),
    "unit": N_("unit"),
    "quantity": N_("physical quantity"),
    "kgce_per_unit": N_("coefficient, kgce per unit"),
    "coefficient_basis": N_("coefficient basis"),
    "kgce": N_("standard coal equivalent, kgce"),
    "kgco2_per_unit": N_("CO2 factor, kgCO2 per unit"),
    "kgco2": N_("CO2, kgCO2"),
    "gross_consumption_tce": N_("gross consumption, tce"),
    "sent_off_site_tce": N_("energy sent off site (deducted), tce"),
    "total_comprehensive_tce": N_("total comprehensive energy consumption, tce"),
    "feedstock_tce": N_("feedstock energy (excluded), tce"),
    "renewable_certified_tce": N_("certified renewable energy (excluded), tce"),
    "controlled_total_tce": N_("controlled total (dual control), tce"),
    "co2_kgco2": N_("CO2, kgCO2"),
    "electricity_co2_factor_kgco2_per_kwh": N_("grid CO2 factor, kgCO2 per kWh"),
    "electricity_co2_data_year": N_("grid CO2 factor data year"),
    "co2_accounting": N_("CO2 accounting"),
    "products": N_("products"),
    "product": N_("product"),
    "standard": N_("limit standard"),
    "boundary": N_("energy boundary"),
    "good": N_("good"),
    "scrap": N_("scrap"),
    "rework": N_("rework"),
    "qualified_output": N_("qualified output"),
    "boundary_kgce": N_("energy in the boundary, kgce"),
    "unit_consumption_kgce": N_("unit-product energy consumption, kgce per unit"),
    "grades": N_("limit grades, kgce per unit"),
    "best_grade": N_("best grade reached"),
    "financials": N_("financials"),
    "output_value_yuan": N_("output value, yuan"),
    "value_added_yuan_comparable": N_("value added (comparable prices), yuan"),
    "months": N_("months"),
    "months_missing": N_("months missing"),
    "prorated": N_("prorated"),
    "tce_per_10k_yuan_output_value": N_("energy per 10,000 yuan of output value, tce"),
    "tce_per_10k_yuan_value_added": N_("energy per 10,000 yuan of value added, tce"),
    "months_detail": N_("by month"),
    "month": N_("month"),
    "controlled_tce": N_("controlled total, tce"),
    "intensity_tce_per_10k_yuan": N_("energy per 10,000 yuan of value added, tce"),
    "comparison": N_("comparison"),
    "same_period_last_year": N_("same period last year"),
    "base_year": N_("base year"),
    "change_controlled_total": N_("change of the controlled total"),
    "change_intensity": N_("change of the intensity"),
    "dual_control": N_("energy dual control"),
    "year": N_("year"),
    "as_of": N_("as of"),
    "monthly_tce": N_("monthly controlled total, tce"),
    "ytd_tce": N_("year to date, tce"),
    "annual_quota_tce": N_("annual quota, tce"),
    "share_elapsed": N_("share of the year elapsed"),
    "allowance_to_date_tce": N_("allowance to date, tce"),
    "ytd_minus_allowance_tce": N_("year to date minus allowance, tce"),
    "projected_year_end_tce": N_("projected year-end total, tce"),
    "projection_method": N_("projection method"),
    "projection_ratio": N_("projected total / quota"),
    "projected_crossing_date": N_("projected date the quota is crossed"),
    "intensity_target_tce_per_10k_yuan": N_("intensity target, tce per 10,000 yuan"),
    "intensity_ratio": N_("intensity / target"),
    "warning_level": N_("warning level"),
    "reasons": N_("reasons"),
    "data_quality": N_("data quality"),
    "completeness_threshold": N_("completeness threshold"),
    "meters": N_("meters"),
    "site": N_("site"),
    "machine": N_("machine"),
    "covered_s": N_("covered, s"),
    "expected_s": N_("expected, s"),
    "completeness": N_("completeness"),
    "passes": N_("passes"),
    "meters_below_threshold": N_("meters below the threshold"),
    "passes_completeness": N_("completeness passes"),
    "daily_vs_monthly_tolerance": N_("daily vs monthly tolerance"),
    "daily_vs_monthly_method": N_("daily vs monthly method"),
    "daily_vs_monthly": N_("daily vs monthly checks"),
    "sum_of_daily": N_("sum of daily values"),
    "monthly_total": N_("monthly total"),
    "deviation": N_("deviation"),
    "passes_daily_vs_monthly": N_("daily vs monthly passes"),
    "gaps_granularity": N_("gap granularity"),
    "gaps": N_("data gaps"),
    "first_day": N_("first day"),
    "last_day": N_("last day"),
    "missing_s": N_("missing, s"),
    "gaps_truncated": N_("gaps not listed"),
    "day_start": N_("day start"),
    "meter_events": N_("meter events (register rule)"),
    "jitter": N_("jitter steps"),
    "resets": N_("resets"),
    "rejected": N_("rejected impossible jumps"),
    "jitter_steps": N_("jitter steps, all meters"),
    "meter_resets": N_("meter resets, all meters"),
    "rejected_jumps": N_("rejected impossible jumps, all meters"),
    "meter_balance": N_("main meter against sub-meters"),
    "main_meters": N_("main meters"),
    "main_quantity": N_("main meter quantity"),
    "sub_quantity": N_("sum of sub-meters"),
    "tolerance": N_("tolerance"),
    "passes_meter_balance": N_("meter balance passes"),
    "methodology": N_("methodology"),
    "coefficient_table_version": N_("coefficient table version"),
    "coefficient_source": N_("coefficient source"),
    "electricity_basis": N_("electricity basis"),
    "natural_gas_basis": N_("natural gas basis"),
    "grid_co2_data_year": N_("grid CO2 data year"),
    "config_hash": N_("configuration hash"),
    "data_source": N_("data source"),
    "data_first": N_("first day of data"),
    "data_last": N_("last day of data"),
    "rules": N_("rules"),
}
_SEGMENT = re.compile(r"([^.\[\]]+)|\[([^\]]*)\]")
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")
# analytics.energy's coefficient bases, as it words them
_TABLE = re.compile(r"^table (\S+)(?: \((equivalent|equal_value)\))?$")
_MEASURED = re.compile(r"^measured heating value (\S+) kJ/m3 / (\S+) kJ/kgce$")


def number(value: float | None, lang: Lang, digits: int = 3) -> str:
    """A figure with grouped thousands and fixed decimals; `n/a` when undefined."""
    if value is None:
        _ = translator(lang)
        return _("n/a")
    return format_number(value, lang, decimals=digits)


def level_label(level: str, lang: Lang) -> str:
    """`RED` in English (as the reports always wrote it), `红` in Chinese."""
    if lang == "en":
        return level.upper()
    return translator(lang)(LEVELS.get(level, level))


def role_label(role: str, lang: Lang) -> str:
    return translator(lang)(ROLES.get(role, role))


def scope_type_label(kind: str, lang: Lang) -> str:
    return translator(lang)(SCOPE_TYPES.get(kind, kind))


def basis_label(basis: str, lang: Lang) -> str:
    """A coefficient or electricity basis as analytics words it, in `lang`."""
    _ = translator(lang)
    if basis in ELECTRICITY_BASES:
        return _(ELECTRICITY_BASES[basis])
    if lang == "en":
        return basis
    if m := _TABLE.match(basis):
        if not m[2]:
            return _("table {version}").format(version=m[1])
        return _("table {version} ({basis})").format(version=m[1],
                                                     basis=_(ELECTRICITY_BASES[m[2]]))
    if m := _MEASURED.match(basis):
        return _("measured heating value {lhv} kJ/m3 / {kgce} kJ/kgce").format(
            lhv=m[1], kgce=m[2])
    if basis == "site override":
        return _("site override")
    if basis == "equal value (generation based), site parameter":
        return _("equal value (generation based), site parameter")
    return basis


def data_source_label(text: str, lang: Lang) -> str:
    """What compute says the figures were read from (measurement names stay)."""
    if lang == "en":
        return text
    _ = translator(lang)
    if text.startswith("rollups (") and text.endswith(")"):
        return _("rollups ({measurements})").format(measurements=text[len("rollups ("):-1])
    if text.endswith(" (raw batch points)"):
        return _("{measurements} (raw batch points)").format(
            measurements=text.removesuffix(" (raw batch points)"))
    return text


def source_label(text: str, lang: Lang) -> str:
    """A coefficient source: a standard's number stays, its wording is translated."""
    if lang == "en":
        return text
    _ = translator(lang)
    return text.replace(" Annex ", " " + _("Annex") + " ")


def period_label(kind: str, start: dt.date, end: dt.date, lang: Lang) -> str:
    """A period as a person reads it: `2026-10` / `2026年10月`, `2026-Q4` /
    `2026年第4季度`; `end` is exclusive."""
    _ = translator(lang)
    last = end - dt.timedelta(days=1)
    if kind == "day":
        return date_label(start, lang)
    if kind == "month":
        return month_label(start.year, start.month, lang)
    if kind == "quarter":
        return _("{year}-Q{quarter}").format(year=start.year, quarter=(start.month + 2) // 3)
    if kind == "year":
        return _("year {year}").format(year=start.year)
    return _("{first} to {last}").format(first=date_label(start, lang),
                                          last=date_label(last, lang))


def _key_label(key: str, lang: Lang) -> str:
    """A list member's key (a carrier, a month, a meter) in `lang`."""
    if key in CARRIERS:
        return carrier_name(key, lang)
    if m := _MONTH.match(key):
        return month_label(int(m[1]), int(m[2]), lang)
    return "/".join(carrier_name(part, lang) for part in key.split("/"))


def field_label(path: str, lang: Lang) -> str:
    """`energy.carriers[electricity].kgce` -> `energy / by carrier / electricity /
    standard coal equivalent, kgce` (or its Chinese)."""
    _ = translator(lang)
    parts: list[str] = []
    for name, key in _SEGMENT.findall(path):
        if key:
            parts.append(_key_label(key, lang))
        elif name in FIELDS:
            parts.append(_(FIELDS[name]))
        else:  # a dict key such as a grade number
            parts.append(name)
    return " / ".join(parts)
