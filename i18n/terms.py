"""Names users read for ids that come from data: energy carriers and units.

Carrier ids are the coefficient table's (`analytics/data/coefficients.toml`) and the
site's own (`[carriers.coefficient_of]`); an id without an entry is shown as it is.
"""

from __future__ import annotations

from typing import Final

from plantstream.i18n import N_, Lang, translator

__all__ = ["CARRIERS", "UNITS", "carrier_name", "unit_name"]

CARRIERS: Final[dict[str, str]] = {
    "electricity": N_("electricity"),
    "natural_gas": N_("natural gas"),
    "steam_1_0mpa": N_("steam (1.0 MPa)"),
    "compressed_air": N_("compressed air"),
    "diesel": N_("diesel"),
    "raw_coal": N_("raw coal"),
    "heat": N_("heat"),
}
UNITS: Final[dict[str, str]] = {
    "kWh": N_("kWh"),
    "m3": N_("m3"),
    "kg": N_("kg"),
    "MJ": N_("MJ"),
    "kgce": N_("kgce"),
    "tce": N_("tce"),
    "kgCO2": N_("kgCO2"),
    "tCO2": N_("tCO2"),
    "piece": N_("piece"),
}


def carrier_name(carrier: str, lang: Lang) -> str:
    return translator(lang)(CARRIERS.get(carrier, carrier))


def unit_name(unit: str, lang: Lang) -> str:
    return translator(lang)(UNITS.get(unit, unit))
