"""A hand-computed "Each Mu is a Hero" jurisdiction (expected values in test_each_mu.py).

Jurisdiction `county-x` (Asia/Shanghai), industry C34, evaluation period January 2026
(`2026-01`, year to date), compared with January 2025. One site and one machine per
enterprise; electricity only (0.1229 kgce/kWh, controlled). Money in 10,000 yuan:

    ent  land  tax  value added  revenue  R&D  employees  COD  NOx   kWh
    1    20    600  3000         10000    300  200        4    6     2,000,000
    2    10    150   800          4000     40  100        1    4     1,000,000
    3    10    200  1000          2000     40  100        2    3     1,000,000
    4    10    250  1200          6000     60  100        0    0     1,500,000
    5    20    200  1000          4000     80  200        5    10    1,500,000
    6    --    ""    500          1000     10   50        1    1       500,000

Enterprise 3 sits on every benchmark (ratio 1, score 100 = the B threshold);
enterprise 6 has no land in the registry and an empty tax cell: not evaluable.
January 2025: money (tax, value added, revenue, R&D) halved, everything else equal.
Enterprise `ent-y` is in another jurisdiction (no evaluation configured).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from plantstream.reports.config import hash_token

ZONE = ZoneInfo("Asia/Shanghai")
TOKENS = {"county": "token-county-x", "one": "token-only-ent-1", "site": "token-site-1",
          "other": "token-county-y"}

# (land mu, tax, value added, revenue, R&D, employees, COD t, NOx t, kWh); money in 10k yuan
ENTERPRISES: dict[str, tuple[float | None, float | None, float, float, float, float, float,
                             float, float]] = {
    "ent-1": (20, 600, 3000, 10000, 300, 200, 4, 6, 2_000_000),
    "ent-2": (10, 150, 800, 4000, 40, 100, 1, 4, 1_000_000),
    "ent-3": (10, 200, 1000, 2000, 40, 100, 2, 3, 1_000_000),
    "ent-4": (10, 250, 1200, 6000, 60, 100, 0, 0, 1_500_000),
    "ent-5": (20, 200, 1000, 4000, 80, 200, 5, 10, 1_500_000),
    "ent-6": (None, None, 500, 1000, 10, 50, 1, 1, 500_000),
}


def _number(site: str) -> str:
    return site.split("-")[1]


def plant(enterprise: str, jurisdiction: str = "county-x", industry: str = "C34",
          land: float | None = None) -> str:
    n = enterprise.split("-")[1]
    land_line = f"land_area_mu = {land}\nland_certificate_area_mu = {land}\n" \
        if land is not None else ""
    return f"""
[enterprise]
id = "{enterprise}"
name = "Enterprise {n.upper()}"
jurisdiction = "{jurisdiction}"
industry = "{industry}"

[[sites]]
id = "site-{n}"
{land_line}
[[lines]]
id = "line-{n}"
site = "site-{n}"

[[gateways]]
id = "gw-{n}"
site = "site-{n}"

[[machines]]
id = "m-{n}"
line = "line-{n}"
gateway = "gw-{n}"
"""


EACH_MU = """
note = "TEST configuration (weights and thresholds for the hand-computed case)"

[[jurisdictions]]
id = "county-x"
name = "County X"
benchmark_group = "industry"
pollutants = { cod = 1.0, nox = 1.0 }
classes = { method = "thresholds", thresholds = { A = 120.0, B = 100.0, C = 80.0 } }
energy_quotas = [{ year = 2026, annual_tce = 12000.0 }]

[[jurisdictions.indicators]]
indicator = "tax_per_mu"
weight = 30.0
cap = 1.5

[[jurisdictions.indicators]]
indicator = "value_added_per_mu"
weight = 20.0
cap = 1.5

[[jurisdictions.indicators]]
indicator = "value_added_per_tce"
weight = 20.0
cap = 1.5

[[jurisdictions.indicators]]
indicator = "value_added_per_emission"
weight = 10.0
cap = 1.5

[[jurisdictions.indicators]]
indicator = "rd_share"
weight = 10.0
cap = 1.5

[[jurisdictions.indicators]]
indicator = "labour_productivity"
weight = 10.0
cap = 1.5
"""


def financials() -> str:
    rows = ["site,month,output_value_yuan,value_added_yuan_comparable,tax_paid_yuan,"
            "main_revenue_yuan,rd_expenditure_yuan,employees,emission_cod_t,emission_nox_t"]
    for year, factor in ((2026, 1.0), (2025, 0.5)):
        for enterprise, (_, tax, va, rev, rd, emp, cod, nox, _) in ENTERPRISES.items():
            site = f"site-{enterprise.split('-')[1]}"
            money = [x * 10_000 * factor if x is not None else None
                     for x in (2 * va, va, tax, rev, rd)]
            cells = ["" if x is None else f"{x:.0f}" for x in money]
            rows.append(f"{site},{year}-01,{','.join(cells)},{emp:g},{cod:g},{nox:g}")
    rows.append("site-y,2026-01,1000000,500000,10000,100000,1000,10,1,1")
    return "\n".join(rows) + "\n"


def report_toml(*, url: str, database: str) -> str:
    h = {k: hash_token(v) for k, v in TOKENS.items()}
    plants = ", ".join(f'"plant-{e}.toml"' for e in [*ENTERPRISES, "ent-y"])
    return f"""
plants = [{plants}]
financials = "financials.csv"
each_mu = "each-mu.toml"
audit_log = "audit.jsonl"

[influx]
url = "{url}"
database = "{database}"

[rate_limit]
per_minute = 6000
burst = 1000

[[regulators]]
id = "county-x"
name = "County X economic bureau"
token_sha256 = "{h['county']}"
scope = [{", ".join(f'"{e}"' for e in ENTERPRISES)}]

[[regulators]]
id = "partial"
name = "Partial"
token_sha256 = "{h['one']}"
scope = ["ent-1"]

[[regulators]]
id = "park"
name = "Park"
token_sha256 = "{h['site']}"
scope = ["site-1", "site-2", "site-3", "site-4", "site-5"]

[[regulators]]
id = "county-y"
name = "County Y"
token_sha256 = "{h['other']}"
scope = ["ent-y"]
"""


def write_configs(directory: Path, *, url: str, database: str) -> Path:
    for enterprise, row in ENTERPRISES.items():
        (directory / f"plant-{enterprise}.toml").write_text(plant(enterprise, land=row[0]))
    (directory / "plant-ent-y.toml").write_text(plant("ent-y", jurisdiction="county-y",
                                                      land=5.0))
    (directory / "financials.csv").write_text(financials())
    (directory / "each-mu.toml").write_text(EACH_MU)
    path = directory / "reports.toml"
    path.write_text(report_toml(url=url, database=database))
    return path


def _ms(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(0), tzinfo=ZONE).timestamp() * 1000)


def lines() -> list[str]:
    out = []
    for year in (2025, 2026):
        for enterprise, row in [*ENTERPRISES.items(), ("ent-y", ENTERPRISES["ent-1"])]:
            n = enterprise.split("-")[1]
            kwh = row[8]
            # two points in January (first and last local day), none in February
            for day, share in ((dt.date(year, 1, 1), 0.25), (dt.date(year, 1, 31), 0.75)):
                out.append(f"energy,site=site-{n},line=line-{n},machine=m-{n},"
                           f"carrier=electricity quantity={kwh * share!r},unit=\"kWh\","
                           f"covered_s=86400.0,interval_s=86400.0 {_ms(day)}")
            # February 1st 00:00 local belongs to February: outside the period
            out.append(f"energy,site=site-{n},line=line-{n},machine=m-{n},"
                       f"carrier=electricity quantity=99999.0,unit=\"kWh\","
                       f"covered_s=60.0,interval_s=60.0 {_ms(dt.date(year, 2, 1))}")
    return out
