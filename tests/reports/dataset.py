"""A small dataset with hand-computed figures (the expected values are in test_figures.py).

Enterprise `ent-a` (jurisdiction `prov-zj`), site `site-a` (Asia/Shanghai), lines
`line-1` (machine m1) and `line-2` (machine m2). Enterprise `ent-b` (jurisdiction
`prov-js`), site `site-b`. Energy points are daily batches at 00:00 local time unless
said otherwise; October 2026 is the report period.

site-a, October 2026 (31 days):
  m1 electricity   1,000 kWh a day, covered 86,400 s; except 10 Oct: 500 kWh, 43,200 s
  m1 natural_gas   100 m3 a day
  m1 steam_export  1,000 kg a day (sent off site; coefficient row steam_1_0mpa)
  m2 electricity   800 kWh a day, 1-20 Oct only (a gap 21-31 Oct)
  m2 green_power   200 kWh a day (certified renewable; coefficient row electricity)
  m2 diesel_feed   10 kg a day (feedstock; coefficient row diesel)
  production m1 line-1 widget: good 100, scrap 5, rework 2 a day
  production m2 line-2 gadget: good 50 a day, 1-20 Oct
Outside October, site-a: m1 electricity 50,000 kWh on the 15th of January to
September, 1,000 kWh on 30 Sep 23:59 local (September), 9,999 kWh on 1 Nov 00:00
local (November: outside the report), 40,000 kWh on 15 Oct 2025 (last year).
Financials: site-a 2026-01..09 value added 1,000,000 yuan, output 4,000,000;
2026-10 value added 1,200,000, output 5,000,000; 2025-10 value added 1,000,000.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from plantstream.reports.config import hash_token

ZONE = ZoneInfo("Asia/Shanghai")

TOKENS = {
    "zj": "token-zhejiang-platform",
    "js": "token-jiangsu-platform",
    "park": "token-park-site-a-only",
    "revoked": "token-revoked",
    "expired": "token-expired",
}

PLANT_A = """
[enterprise]
id = "ent-a"
name = "Alpha Components"
jurisdiction = "prov-zj"

[[sites]]
id = "site-a"
name = "Alpha Ningbo"

[[lines]]
id = "line-1"
site = "site-a"

[[lines]]
id = "line-2"
site = "site-a"

[[gateways]]
id = "gw-a"
site = "site-a"

[[machines]]
id = "m1"
line = "line-1"
gateway = "gw-a"

[[machines]]
id = "m2"
line = "line-2"
gateway = "gw-a"
"""

PLANT_B = """
[enterprise]
id = "ent-b"
name = "Beta Castings"
jurisdiction = "prov-js"

[[sites]]
id = "site-b"

[[lines]]
id = "line-b"
site = "site-b"

[[gateways]]
id = "gw-b"
site = "site-b"

[[machines]]
id = "b1"
line = "line-b"
gateway = "gw-b"
"""

FINANCIALS = "\n".join(
    ["site,month,output_value_yuan,value_added_yuan_comparable"]
    + [f"site-a,2026-{m:02d},4000000,1000000" for m in range(1, 10)]
    + ["site-a,2026-10,5000000,1200000", "site-a,2025-10,3800000,1000000",
       "site-b,2026-10,1000000,300000"]) + "\n"


def report_toml(*, url: str, database: str, audit: str, source: str = "raw") -> str:
    h = {k: hash_token(v) for k, v in TOKENS.items()}
    return f"""
plants = ["plant-a.toml", "plant-b.toml"]
financials = "financials.csv"
base_year = 2024
audit_log = "{audit}"

[influx]
url = "{url}"
database = "{database}"
source = "{source}"

[carriers]
feedstock = ["diesel_feed"]
renewable_certified = ["green_power"]
sent_off_site = ["steam_export"]

[carriers.coefficient_of]
green_power = "electricity"
diesel_feed = "diesel"
steam_export = "steam_1_0mpa"

[[products]]
product = "widget"
unit = "piece"
standard = "GB 99999-2026 (test)"
lines = ["line-1"]
grades = {{ "1" = 2.0, "2" = 2.5, "3" = 3.0 }}

[[products]]
product = "gadget"
unit = "piece"
lines = ["line-2"]
grades = {{ "2" = 1.0, "3" = 20.0 }}

[[quotas]]
scope = "site-a"
year = 2026
annual_tce = 100.0
intensity_target_tce_per_10k_yuan = 0.05

[rate_limit]
per_minute = 6000
burst = 1000

[auth_failure_limit]
per_minute = 6000
burst = 1000

[[regulators]]
id = "zj-platform"
name = "Zhejiang energy monitoring platform"
token_sha256 = "{h['zj']}"
scope = ["ent-a"]

[[regulators]]
id = "js-platform"
name = "Jiangsu energy monitoring platform"
token_sha256 = "{h['js']}"
scope = ["ent-b"]

[[regulators]]
id = "ningbo-park"
name = "Ningbo industrial park"
token_sha256 = "{h['park']}"
scope = ["site-a"]
lang = "zh-CN"

[[regulators]]
id = "old-platform"
name = "Revoked"
token_sha256 = "{h['revoked']}"
scope = ["ent-a"]
revoked = true

[[regulators]]
id = "expired-platform"
name = "Expired"
token_sha256 = "{h['expired']}"
scope = ["ent-a"]
expires = 2026-01-01T00:00:00Z
"""


def write_configs(directory: Path, *, url: str, database: str, source: str = "raw") -> Path:
    (directory / "plant-a.toml").write_text(PLANT_A)
    (directory / "plant-b.toml").write_text(PLANT_B)
    (directory / "financials.csv").write_text(FINANCIALS)
    path = directory / "reports.toml"
    path.write_text(report_toml(url=url, database=database, audit="audit.jsonl",
                                source=source))
    return path


def _ms(day: dt.date, hour: int = 0, minute: int = 0) -> int:
    return int(dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZONE).timestamp() * 1000)


def _energy(site: str, line: str, machine: str, carrier: str, unit: str, quantity: float,
            covered_s: float, t_ms: int) -> str:
    return (f"energy,site={site},line={line},machine={machine},carrier={carrier} "
            f"quantity={quantity!r},unit=\"{unit}\",covered_s={covered_s!r},"
            f"interval_s={covered_s!r} {t_ms}")


# register-rule steps (jitter, resets, rejected) carried by some daily points, for the
# report's data quality: site-a m1 electricity 5 Oct (3, 0, 0) and 12 Oct (2, 0, 1), m2
# green_power 7 Oct (0, 1, 0), m1 natural_gas 3 Oct (0, 0, 0: no event, not listed);
# outside the October report of site-a: m1 electricity 1 Nov (7, 7, 7), site-b 5 Oct
# (5, 0, 0).
METER_EVENTS: dict[tuple[str, str, str, dt.date], tuple[int, int, int]] = {
    ("site-a", "m1", "electricity", dt.date(2026, 10, 5)): (3, 0, 0),
    ("site-a", "m1", "electricity", dt.date(2026, 10, 12)): (2, 0, 1),
    ("site-a", "m2", "green_power", dt.date(2026, 10, 7)): (0, 1, 0),
    ("site-a", "m1", "natural_gas", dt.date(2026, 10, 3)): (0, 0, 0),
    ("site-a", "m1", "electricity", dt.date(2026, 11, 1)): (7, 7, 7),
    ("site-b", "b1", "electricity", dt.date(2026, 10, 5)): (5, 0, 0),
}


def _production(site: str, line: str, machine: str, product: str, good: int, scrap: int,
                rework: int, t_ms: int) -> str:
    return (f"production,site={site},line={line},machine={machine},product={product} "
            f"good={good}i,scrap={scrap}i,rework={rework}i {t_ms}")


def lines() -> list[str]:
    out: list[str] = []
    for d in range(1, 32):
        day = dt.date(2026, 10, d)
        t = _ms(day)
        full = 86_400.0
        if d == 10:
            out.append(_energy("site-a", "line-1", "m1", "electricity", "kWh", 500.0, 43_200.0,
                               t))
        else:
            out.append(_energy("site-a", "line-1", "m1", "electricity", "kWh", 1000.0, full, t))
        out.append(_energy("site-a", "line-1", "m1", "natural_gas", "m3", 100.0, full, t))
        out.append(_energy("site-a", "line-1", "m1", "steam_export", "kg", 1000.0, full, t))
        if d <= 20:
            out.append(_energy("site-a", "line-2", "m2", "electricity", "kWh", 800.0, full, t))
            out.append(_production("site-a", "line-2", "m2", "gadget", 50, 0, 0, t))
        out.append(_energy("site-a", "line-2", "m2", "green_power", "kWh", 200.0, full, t))
        out.append(_energy("site-a", "line-2", "m2", "diesel_feed", "kg", 10.0, full, t))
        out.append(_production("site-a", "line-1", "m1", "widget", 100, 5, 2, t))
        out.append(_energy("site-b", "line-b", "b1", "electricity", "kWh", 300.0, full, t))
    for month in range(1, 10):
        out.append(_energy("site-a", "line-1", "m1", "electricity", "kWh", 50_000.0, 86_400.0,
                           _ms(dt.date(2026, month, 15))))
    out.append(_energy("site-a", "line-1", "m1", "electricity", "kWh", 1000.0, 60.0,
                       _ms(dt.date(2026, 9, 30), 23, 59)))
    out.append(_energy("site-a", "line-1", "m1", "electricity", "kWh", 9999.0, 900.0,
                       _ms(dt.date(2026, 11, 1))))
    out.append(_energy("site-a", "line-1", "m1", "electricity", "kWh", 40_000.0, 86_400.0,
                       _ms(dt.date(2025, 10, 15))))
    return [_with_events(point) for point in out]


def _with_events(point: str) -> str:
    head, fields, t_ms = point.split(" ")
    if not head.startswith("energy,"):
        return point
    tags = dict(tag.split("=") for tag in head.split(",")[1:])
    day = dt.datetime.fromtimestamp(int(t_ms) / 1000, tz=ZONE).date()
    events = METER_EVENTS.get((tags["site"], tags["machine"], tags["carrier"], day))
    if events is None:
        return point
    return f"{head} {fields},jitter={events[0]}i,resets={events[1]}i,rejected={events[2]}i {t_ms}"


def write_points(url: str, database: str, points: list[str]) -> None:
    r = httpx.post(f"{url}/write", params={"db": database, "precision": "ms"},
                   content="\n".join(points).encode(), timeout=30.0)
    r.raise_for_status()
