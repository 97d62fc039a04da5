"""An enterprise's evaluation inputs: land from the plant registry, money, head count
and emissions from the financials CSV, controlled energy from the measured data.

Every input that is absent is named precisely (site, month, column), so a "not
evaluable" enterprise knows what to supply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from plantstream.analytics import FinancialRecord
from plantstream.config import PlantConfig
from plantstream.reports.mu.config import Jurisdiction
from plantstream.reports.mu.scoring import EnterpriseInputs

__all__ = ["enterprise_inputs"]

_MONEY = (("tax_paid_yuan", "tax_paid_yuan"), ("main_revenue_yuan", "main_revenue_yuan"),
          ("rd_expenditure_yuan", "rd_expenditure_yuan"), ("employees", "employees"))


def _sum(parts: list[float | None]) -> float | None:
    if any(p is None for p in parts) or not parts:
        return None
    return math.fsum(p for p in parts if p is not None)


def enterprise_inputs(plant: PlantConfig, jurisdiction: Jurisdiction,
                      financials: Mapping[tuple[str, str], FinancialRecord],
                      months: Sequence[str],
                      site_month_tce: Mapping[tuple[str, str], float]) -> EnterpriseInputs:
    """The inputs of `plant`'s enterprise over `months` ("YYYY-MM"). `site_month_tce`
    holds the controlled tce of every (site, month) that has energy points."""
    missing: dict[str, list[str]] = {}
    sites = [s.id for s in plant.sites]
    land: list[float | None] = []
    for registered in plant.sites:
        land.append(registered.land_area_mu)
        if registered.land_area_mu is None:
            missing.setdefault("land_area_mu", []).append(
                f"{registered.id} land_area_mu (plant registry)")
    # per input, one value per site and month (None: missing)
    columns: dict[str, list[float | None]] = {
        name: [] for name in (*(n for n, _ in _MONEY), "value_added_yuan", "emissions_t")}
    tce: list[float | None] = []
    for month in months:
        for site in sites:
            record = financials.get((site, month))
            if record is None:
                for name, parts in columns.items():
                    missing.setdefault(name, []).append(
                        f"{site} {month} (no row in the financials CSV)")
                    parts.append(None)
            else:
                columns["value_added_yuan"].append(record.value_added_yuan_comparable)
                for name, column in _MONEY:
                    value = getattr(record, column)
                    columns[name].append(value)
                    if value is None:
                        missing.setdefault(name, []).append(f"{site} {month} {column}")
                given = dict(record.emissions_t)
                weighted = 0.0
                for pollutant, weight in sorted(jurisdiction.pollutants.items()):
                    tonnes = given.get(pollutant)
                    if tonnes is None:
                        missing.setdefault("emissions_t", []).append(
                            f"{site} {month} emission_{pollutant}_t")
                        weighted = math.nan
                    else:
                        weighted += tonnes * weight
                columns["emissions_t"].append(None if math.isnan(weighted) else weighted)
            measured = site_month_tce.get((site, month))
            tce.append(measured)
            if measured is None:
                missing.setdefault("controlled_tce", []).append(
                    f"{site} {month} measured energy (no energy points)")
    employees_sum = _sum(columns["employees"])
    return EnterpriseInputs(
        enterprise=plant.enterprise.id, name=plant.enterprise.name,
        industry=plant.enterprise.industry, land_area_mu=_sum(land),
        tax_paid_yuan=_sum(columns["tax_paid_yuan"]),
        value_added_yuan=_sum(columns["value_added_yuan"]),
        main_revenue_yuan=_sum(columns["main_revenue_yuan"]),
        rd_expenditure_yuan=_sum(columns["rd_expenditure_yuan"]),
        # head count is a stock: the average over the months of the sites' sum
        employees=employees_sum / len(months) if employees_sum is not None and months
        else None,
        emissions_t=_sum(columns["emissions_t"]), controlled_tce=_sum(tce),
        missing={k: tuple(v) for k, v in missing.items()})
