"""Daily rollups for fast long-period reports: `energy_1d` and `production_1d`.

Computed inside InfluxDB from the raw points with `SELECT ... INTO`, one local day per
point (timestamp = 00:00 local, `tz()`), tags kept (`GROUP BY *`):

    energy_1d      tags site, line, machine, carrier; fields quantity, covered_s,
                   interval_s, kgce, kgco2 (sums of the raw fields), points (count)
    energy_1mo     like energy_1d, one point per local calendar month (timestamp = 00:00
                   local on the 1st), recomputed whole for every month the range touches
    energy_site_1d tags site, carrier; field quantity: the daily totals per carrier
    production_1d  tags site, line, product; fields good, scrap, rework (sums)

Rewriting a range overwrites the same points (same tags and timestamps), so a rollup
can be recomputed for days that received late batches. Until it is, the report's
daily-vs-monthly check (rollup days against raw monthly sums) shows the difference.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from plantstream.reports.periods import local_midnight_ms, month_starts
from plantstream.reports.source import site_filter
from plantstream.store.influxql import InfluxQL

__all__ = ["rollup_daily"]

_ENERGY_FIELDS = ('sum("quantity") AS "quantity", sum("covered_s") AS "covered_s", '
                  'sum("interval_s") AS "interval_s", sum("kgce") AS "kgce", '
                  'sum("kgco2") AS "kgco2", count("quantity") AS "points"')

log = logging.getLogger(__name__)


def rollup_daily(client: InfluxQL, *, sites: Sequence[str], start: dt.date, end: dt.date,
                 zone: ZoneInfo) -> None:
    """(Re)compute the daily rollups of `sites` for the local days [start, end) and the
    monthly rollup of every month those days touch."""
    where = (f"{site_filter(sites)} AND time >= {local_midnight_ms(start, zone)}ms "
             f"AND time < {local_midnight_ms(end, zone)}ms")
    tz = f"tz('{zone.key}')"
    client.query(f'SELECT {_ENERGY_FIELDS} INTO "energy_1d" FROM "energy" WHERE {where} '
                 f"GROUP BY time(1d), * fill(none) {tz}")
    client.query(f'SELECT sum("quantity") AS "quantity" INTO "energy_site_1d" FROM "energy" '
                 f'WHERE {where} GROUP BY time(1d), "site", "carrier" fill(none) {tz}')
    client.query(
        'SELECT sum("good") AS "good", sum("scrap") AS "scrap", sum("rework") AS "rework" '
        f'INTO "production_1d" FROM "production" WHERE {where} '
        f'GROUP BY time(1d), "site", "line", "product" fill(none) {tz}')
    log.info("rollups written for %s, %s to %s", ",".join(sites), start, end)
    for first in month_starts(start, end):
        nxt = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
        # no GROUP BY time: the point's timestamp is the lower time bound, 00:00 local
        client.query(
            f'SELECT {_ENERGY_FIELDS} INTO "energy_1mo" FROM "energy" WHERE '
            f"{site_filter(sites)} AND time >= {local_midnight_ms(first, zone)}ms "
            f"AND time < {local_midnight_ms(nxt, zone)}ms GROUP BY *")
