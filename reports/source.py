"""Reading the figures a report needs from InfluxDB (InfluxQL over the v1 API).

Every read is bounded by a half-open range of epoch milliseconds at local midnights
and groups days with `tz('<zone>')`, so days start at 00:00 local time. The `raw`
source aggregates `energy` / `production`; the `rollup` source reads the rollups
`plantstream.rollups.energy` writes (`energy_1d`, `energy_1mo`, `energy_site_1d`,
`production_1d`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from plantstream.reports.periods import local_midnight_ms
from plantstream.store.influxql import InfluxQL, Series

__all__ = [
    "DailyEnergy",
    "MeterBalance",
    "MeterEvents",
    "ProductionTotal",
    "Source",
    "daily_carrier_totals",
    "daily_energy",
    "interval_energy",
    "meter_balance",
    "meter_events",
    "monthly_meter_energy",
    "monthly_raw_totals",
    "production_totals",
    "site_filter",
    "split_months",
]

SourceKind = Literal["raw", "rollup"]


@dataclass(frozen=True, slots=True)
class Source:
    client: InfluxQL
    kind: SourceKind


@dataclass(frozen=True, slots=True)
class DailyEnergy:
    day: dt.date
    site: str
    line: str
    machine: str
    carrier: str
    quantity: float
    covered_s: float


@dataclass(frozen=True, slots=True)
class MeterEvents:
    site: str
    machine: str
    carrier: str
    jitter: int
    resets: int
    rejected: int


@dataclass(frozen=True, slots=True)
class ProductionTotal:
    site: str
    line: str
    product: str
    good: int
    scrap: int
    rework: int


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def site_filter(sites: Sequence[str]) -> str:
    return "(" + " OR ".join(f'"site" = {_quote(s)}' for s in sites) + ")"


def _time(start_ms: int, end_ms: int) -> str:
    return f"time >= {start_ms}ms AND time < {end_ms}ms"


def _tz(zone: ZoneInfo) -> str:
    return f"tz({_quote(zone.key)})"


def _day(ms: int, zone: ZoneInfo) -> dt.date:
    return dt.datetime.fromtimestamp(ms / 1000, tz=zone).date()


def _num(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _meter_rows(source: Source, q: str, zone: ZoneInfo,
                day: dt.date | None = None) -> list[DailyEnergy]:
    out: list[DailyEnergy] = []
    for series in source.client.query(q):
        tags = series.tags
        for t, quantity, covered in series.values:
            if quantity is None:
                continue
            out.append(DailyEnergy(day=day or _day(t, zone), site=tags.get("site", ""),
                                   line=tags.get("line", ""), machine=tags.get("machine", ""),
                                   carrier=tags.get("carrier", ""), quantity=_num(quantity),
                                   covered_s=_num(covered)))
    return out


_METER = '"site", "line", "machine", "carrier"'


def daily_energy(source: Source, sites: Sequence[str], start_ms: int, end_ms: int,
                 zone: ZoneInfo) -> list[DailyEnergy]:
    """Quantity and covered seconds per local day, meter (machine, carrier) and site."""
    where = f"{site_filter(sites)} AND {_time(start_ms, end_ms)}"
    if source.kind == "rollup":
        q = f'SELECT "quantity", "covered_s" FROM "energy_1d" WHERE {where} GROUP BY {_METER}'
    else:
        q = (f'SELECT sum("quantity") AS "quantity", sum("covered_s") AS "covered_s" '
             f'FROM "energy" WHERE {where} GROUP BY time(1d), {_METER} fill(none) {_tz(zone)}')
    return _meter_rows(source, q, zone)


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def split_months(start: dt.date, end: dt.date) -> tuple[tuple[dt.date, dt.date] | None,
                                                       list[tuple[dt.date, dt.date]]]:
    """[start, end) as one block of whole calendar months (or None) and the partial-month
    day ranges before and after it (each inside one month)."""
    first_whole = start if start.day == 1 else _next_month(start)
    last_whole = dt.date(end.year, end.month, 1)
    if first_whole >= last_whole:  # no whole month: split at month starts
        edges, cursor = [], start
        while cursor < end:
            nxt = min(_next_month(cursor), end)
            edges.append((cursor, nxt))
            cursor = nxt
        return None, edges
    edges = [(start, first_whole)] if start < first_whole else []
    if last_whole < end:
        edges.append((last_whole, end))
    return (first_whole, last_whole), edges


def monthly_meter_energy(source: Source, sites: Sequence[str], start: dt.date, end: dt.date,
                         zone: ZoneInfo) -> list[DailyEnergy]:
    """Quantity and covered seconds per meter and calendar month, clipped to
    [start, end); `day` is the first day of the clipped month. The rollup source reads
    `energy_1mo` for the whole months and `energy_1d` for the partial ones."""
    if source.kind == "raw":
        merged: dict[tuple[dt.date, str, str, str, str], list[float]] = {}
        for r in daily_energy(source, sites, local_midnight_ms(start, zone),
                              local_midnight_ms(end, zone), zone):
            clipped = max(start, dt.date(r.day.year, r.day.month, 1))
            acc = merged.setdefault((clipped, r.site, r.line, r.machine, r.carrier), [0.0, 0.0])
            acc[0] += r.quantity
            acc[1] += r.covered_s
        return [DailyEnergy(day=k[0], site=k[1], line=k[2], machine=k[3], carrier=k[4],
                            quantity=v[0], covered_s=v[1]) for k, v in merged.items()]
    block, edges = split_months(start, end)
    out: list[DailyEnergy] = []
    if block is not None:
        where = (f"{site_filter(sites)} AND "
                 f"{_time(local_midnight_ms(block[0], zone), local_midnight_ms(block[1], zone))}")
        out += _meter_rows(source, f'SELECT "quantity", "covered_s" FROM "energy_1mo" '
                                   f"WHERE {where} GROUP BY {_METER}", zone)
    for lo, hi in edges:
        where = (f"{site_filter(sites)} AND "
                 f"{_time(local_midnight_ms(lo, zone), local_midnight_ms(hi, zone))}")
        out += _meter_rows(source, 'SELECT sum("quantity") AS "quantity", '
                                   'sum("covered_s") AS "covered_s" FROM "energy_1d" '
                                   f"WHERE {where} GROUP BY {_METER}", zone, day=lo)
    return out


def daily_carrier_totals(source: Source, sites: Sequence[str], start_ms: int, end_ms: int,
                         zone: ZoneInfo) -> dict[tuple[dt.date, str], float]:
    """Quantity per (local day, carrier) summed over the sites: the cheap read for
    comparison periods and the real-time feed's daily totals."""
    where = f"{site_filter(sites)} AND {_time(start_ms, end_ms)}"
    if source.kind == "rollup":  # one point per site, carrier and day
        q = f'SELECT "quantity" FROM "energy_site_1d" WHERE {where} GROUP BY "carrier"'
    else:
        q = (f'SELECT sum("quantity") AS "quantity" FROM "energy" WHERE {where} '
             f'GROUP BY time(1d), "carrier" fill(none) {_tz(zone)}')
    out: dict[tuple[dt.date, str], float] = {}
    for series in source.client.query(q):
        carrier = series.tags.get("carrier", "")
        for t, quantity in series.values:
            if quantity is not None:
                key = (_day(t, zone), carrier)
                out[key] = out.get(key, 0.0) + _num(quantity)
    return out


def monthly_raw_totals(client: InfluxQL, sites: Sequence[str],
                       months: Sequence[tuple[str, int, int]], *,
                       measurement: str = "energy") -> dict[tuple[str, str], float]:
    """Quantity per (month label, carrier) from the raw `energy` points (or the monthly
    rollup `energy_1mo`), one statement per month range: the reference for the
    daily-vs-monthly check."""
    if not months:
        return {}
    statements = [
        f'SELECT sum("quantity") AS "quantity" FROM "{measurement}" WHERE '
        f'{site_filter(sites)} AND {_time(start, end)} GROUP BY "carrier"'
        for _, start, end in months]
    # one request per month: InfluxQL.query flattens the results of several statements
    out: dict[tuple[str, str], float] = {}
    for (label, _, _), statement in zip(months, statements, strict=True):
        for series in client.query(statement):
            carrier = series.tags.get("carrier", "")
            for _, quantity in series.values:
                if quantity is not None:
                    out[(label, carrier)] = _num(quantity)
    return out


def meter_events(client: InfluxQL, sites: Sequence[str], start_ms: int,
                 end_ms: int) -> list[MeterEvents]:
    """Steps of the register rule per meter (site, machine, carrier) in [start, end): the
    `jitter`, `resets` and `rejected` counts of the raw `energy` points (the rollups do not
    carry them). Points written before the counts existed count 0."""
    q = (f'SELECT sum("jitter") AS "jitter", sum("resets") AS "resets", '
         f'sum("rejected") AS "rejected" FROM "energy" WHERE {site_filter(sites)} AND '
         f'{_time(start_ms, end_ms)} GROUP BY "site", "machine", "carrier"')
    totals: dict[tuple[str, str, str], list[int]] = {}
    for series in client.query(q):
        tags = series.tags
        key = (tags.get("site", ""), tags.get("machine", ""), tags.get("carrier", ""))
        acc = totals.setdefault(key, [0, 0, 0])
        for _, jitter, resets, rejected in series.values:
            acc[0] += int(_num(jitter))
            acc[1] += int(_num(resets))
            acc[2] += int(_num(rejected))
    return [MeterEvents(site=k[0], machine=k[1], carrier=k[2], jitter=v[0], resets=v[1],
                        rejected=v[2]) for k, v in sorted(totals.items())]


@dataclass(frozen=True, slots=True)
class MeterBalance:
    site: str
    carrier: str
    main_meters: tuple[str, ...]
    main_quantity: float  # sum of the main incoming meters (`energy_main`)
    sub_quantity: float  # sum of every other meter (`energy`)


def meter_balance(client: InfluxQL, sites: Sequence[str], start_ms: int,
                  end_ms: int) -> list[MeterBalance]:
    """Per site and carrier with a main incoming meter: its quantity in [start, end)
    and the sum of the site's other meters of that carrier."""
    where = f"{site_filter(sites)} AND {_time(start_ms, end_ms)}"
    main: dict[tuple[str, str], float] = defaultdict(float)
    mains: dict[tuple[str, str], set[str]] = defaultdict(set)
    for series in client.query(f'SELECT sum("quantity") FROM "energy_main" WHERE {where} '
                               f'GROUP BY "site", "carrier", "machine"'):
        key = (series.tags.get("site", ""), series.tags.get("carrier", ""))
        mains[key].add(series.tags.get("machine", ""))
        main[key] += math.fsum(_num(v) for _, v in series.values if v is not None)
    if not main:
        return []
    sub: dict[tuple[str, str], float] = defaultdict(float)
    for series in client.query(f'SELECT sum("quantity") FROM "energy" WHERE {where} '
                               f'GROUP BY "site", "carrier"'):
        key = (series.tags.get("site", ""), series.tags.get("carrier", ""))
        sub[key] += math.fsum(_num(v) for _, v in series.values if v is not None)
    return [MeterBalance(site=k[0], carrier=k[1], main_meters=tuple(sorted(mains[k])),
                         main_quantity=main[k], sub_quantity=sub.get(k, 0.0))
            for k in sorted(main)]


def production_totals(source: Source, sites: Sequence[str], start_ms: int,
                      end_ms: int) -> list[ProductionTotal]:
    measurement = "production_1d" if source.kind == "rollup" else "production"
    q = (f'SELECT sum("good") AS "good", sum("scrap") AS "scrap", sum("rework") AS "rework" '
         f'FROM "{measurement}" WHERE {site_filter(sites)} AND {_time(start_ms, end_ms)} '
         f'GROUP BY "site", "line", "product"')
    out: list[ProductionTotal] = []
    for series in source.client.query(q):
        tags = series.tags
        for _, good, scrap, rework in series.values:
            out.append(ProductionTotal(site=tags.get("site", ""), line=tags.get("line", ""),
                                       product=tags.get("product", ""),
                                       good=int(_num(good)), scrap=int(_num(scrap)),
                                       rework=int(_num(rework))))
    return out


def interval_energy(client: InfluxQL, site: str, start_ms: int, end_ms: int, minutes: int,
                    zone: ZoneInfo) -> list[tuple[int, str, float, float]]:
    """(interval start ms, carrier, quantity, covered_s) every `minutes` from raw points."""
    q = (f'SELECT sum("quantity") AS "quantity", sum("covered_s") AS "covered_s" '
         f'FROM "energy" WHERE {site_filter([site])} AND {_time(start_ms, end_ms)} '
         f'GROUP BY time({minutes}m), "carrier" fill(none) {_tz(zone)}')
    out: list[tuple[int, str, float, float]] = []
    series: Series
    for series in client.query(q):
        carrier = series.tags.get("carrier", "")
        for t, quantity, covered in series.values:
            if quantity is not None:
                out.append((int(t), carrier, _num(quantity), _num(covered)))
    out.sort()
    return out
